//! The server's configuration: every flag, its environment variable, its
//! default and its unit.
//!
//! [`Config`] is both the clap command line of the `tickwire` binary and the
//! plain struct that tests and embedders fill in (it implements `Default`),
//! so a limit added here is a flag, an environment variable and a field at
//! once. `docs/operations.md` lists every one of them.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything the server needs to start, whatever game it serves. Each
/// field is a flag (`--bind`) and an environment variable (`TICKWIRE_BIND`);
/// flags win. A game's own flags are its binary's (the bundled games':
/// `crates/server/src/main.rs`).
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "TICKWIRE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Most snapshot bytes per second per player that sees a view (off by
    /// default). Over it, the changes nearest the player go first and the
    /// rest wait, gaining priority each tick until they are sent.
    #[arg(long, env = "TICKWIRE_BANDWIDTH_BUDGET", value_parser = clap::value_parser!(u64).range(1..))]
    pub bandwidth_budget: Option<u64>,

    /// Most players in one room; default: the game's
    /// (`GameFactory::room_player_limit`; 64 for the arena, 10,000 for bench).
    /// A join over it is refused with close code 1013.
    #[arg(long, env = "TICKWIRE_MAX_ROOM_PLAYERS")]
    pub max_room_players: Option<usize>,

    /// Most open WebSocket connections; over it `/ws` answers HTTP 503.
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Largest client message in bytes; over it the socket is closed with 1009.
    #[arg(long, env = "TICKWIRE_MAX_MESSAGE_SIZE", default_value_t = 64 * 1024)]
    pub max_message_size: usize,

    /// Frames a player may send per second, of every kind: inputs, chat,
    /// acks, pings, joins, WebSocket pings, pongs and closes, fragments
    /// (a burst of one second's worth is allowed). The excess is dropped
    /// unread and counted; a real client sends about 70 a second.
    #[arg(long, env = "TICKWIRE_MAX_FRAMES_PER_SECOND", default_value_t = 240)]
    pub max_frames_per_second: u32,

    /// Inputs a player may send per second (a burst of one second's worth is
    /// allowed), within the frame budget; the excess is dropped and counted.
    #[arg(long, env = "TICKWIRE_MAX_INPUTS_PER_SECOND", default_value_t = 120)]
    pub max_inputs_per_second: u32,

    /// Chat lines a player may send per second, within the frame budget;
    /// the excess is dropped and counted.
    #[arg(long, env = "TICKWIRE_MAX_CHAT_PER_SECOND", default_value_t = 2)]
    pub max_chat_per_second: u32,

    /// Chat lines a player may send at once, before `--max-chat-per-second`
    /// applies: each line goes to every player in the room.
    #[arg(long, env = "TICKWIRE_CHAT_BURST", default_value_t = 5)]
    pub chat_burst: u32,

    /// Seconds of sustained flooding (frames or inputs over their budget,
    /// dropped with no pause of a second) after which the socket is closed
    /// with 1008.
    #[arg(long, env = "TICKWIRE_FLOOD_SECONDS", default_value_t = 3)]
    pub flood_seconds: u32,

    /// Seconds a client has to send its HTTP request headers and complete
    /// the WebSocket upgrade.
    #[arg(long, env = "TICKWIRE_HANDSHAKE_TIMEOUT", value_parser = parse_secs, default_value = "10")]
    pub handshake_timeout: Duration,

    /// Seconds without any frame from a client before it is closed (1001 is
    /// not used: the close code is 1008). The server pings at a third of it.
    #[arg(long, env = "TICKWIRE_IDLE_TIMEOUT", value_parser = parse_secs, default_value = "30")]
    pub idle_timeout: Duration,

    /// Seconds a socket may stay unwritable (one frame write not completing)
    /// before it is dropped. Until then a slow socket skips stale snapshots.
    #[arg(long, env = "TICKWIRE_OUTBOX_LAG", value_parser = parse_secs, default_value = "10")]
    pub outbox_lag: Duration,

    /// Catch-up ticks a late room may run back to back before it drops the
    /// remaining time (counted in `tickwire_catchup_ticks_dropped_total`).
    #[arg(long, env = "TICKWIRE_MAX_CATCH_UP", default_value_t = 4)]
    pub max_catch_up: u32,

    /// Worker threads of the server's runtime (0: one per core): HTTP and
    /// the players' sessions are tasks spread over them.
    #[arg(long, env = "TICKWIRE_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Threads of the rooms' own runtime, where every room ticks: work on
    /// the sessions' runtime (a flood of frames, say) cannot delay a tick.
    #[arg(long, env = "TICKWIRE_ROOM_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub room_threads: u16,

    /// Log line format.
    #[arg(long, env = "TICKWIRE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        // Must equal the command line with no arguments; a test checks it.
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bandwidth_budget: None,
            max_room_players: None,
            max_connections: 10_000,
            max_message_size: 64 * 1024,
            max_frames_per_second: 240,
            max_inputs_per_second: 120,
            max_chat_per_second: 2,
            chat_burst: 5,
            flood_seconds: 3,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            outbox_lag: Duration::from_secs(10),
            max_catch_up: 4,
            threads: 0,
            room_threads: 1,
            log_format: LogFormat::Text,
        }
    }
}

/// Parses seconds, fractions allowed (`0.5`).
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("`{s}` must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The server's flags alone, as a binary flattens them.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let argv = std::iter::once("tickwire").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.config)
    }

    #[test]
    fn default_struct_matches_empty_command_line() {
        let parsed = parse(&[]);
        assert!(parsed.is_ok(), "{parsed:?}");
        if let Ok(parsed) = parsed {
            let d = Config::default();
            assert_eq!(format!("{parsed:?}"), format!("{d:?}"));
        }
    }

    #[test]
    fn the_bandwidth_budget_parses_and_refuses_zero() {
        let parsed = parse(&["--bandwidth-budget", "3000"]);
        assert!(matches!(
            parsed,
            Ok(Config {
                bandwidth_budget: Some(3000),
                ..
            })
        ));
        assert!(parse(&["--bandwidth-budget", "0"]).is_err());
    }

    #[test]
    fn seconds_parse_fractions_and_refuse_nonsense() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("abc").is_err());
    }
}
