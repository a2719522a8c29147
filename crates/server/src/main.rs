//! The `tickwire` binary: the server with the bundled games. It parses the
//! command line (the server's flags, then the bundled games' own), sets up
//! logging, and serves until SIGINT or SIGTERM. Everything else is in the
//! library.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tickwire::{BundledOptions, Config, LogFormat, Server};
use tracing_subscriber::EnvFilter;

/// The command line: the server's flags and the bundled games'.
#[derive(Debug, Parser)]
#[command(
    name = "tickwire",
    version,
    about = "Tickwire: an authoritative multiplayer game-state server"
)]
struct Cli {
    #[command(flatten)]
    server: Config,
    #[command(flatten)]
    game: GameFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What else the binary does than serve.
#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a signed join ticket, as a game backend issues them
    /// (`tickwire::ticket::issue`): for trying `--ticket-secret` out, and
    /// for scripts.
    Ticket(TicketFlags),
}

/// The `ticket` subcommand's flags.
#[derive(Debug, Args)]
struct TicketFlags {
    /// The shared secret the server was given.
    #[arg(long, env = "TICKWIRE_TICKET_SECRET", hide_env_values = true)]
    secret: tickwire::config::Secret,
    /// Who the player is: becomes its identity.
    #[arg(long)]
    subject: String,
    /// Seconds until the ticket expires.
    #[arg(long, default_value_t = 60)]
    ttl: u64,
    /// The only room the ticket is good for (default: any).
    #[arg(long)]
    room: Option<String>,
}

impl TicketFlags {
    fn issue(&self) -> String {
        let mut claims = tickwire::ticket::Claims::new(
            self.subject.clone(),
            tickwire::ticket::now_unix().saturating_add(self.ttl),
        );
        claims.room.clone_from(&self.room);
        tickwire::ticket::issue(self.secret.expose().as_bytes(), &claims)
    }
}

/// Which bundled game the rooms run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GameKind {
    /// The demo arena: movement, aiming, projectiles, kills, respawns.
    Arena,
    /// The movement-only game of the arena benchmark scenario.
    Bench,
}

impl GameKind {
    /// The name used on the command line and in `/api/rooms`.
    fn name(self) -> &'static str {
        match self {
            Self::Arena => "arena",
            Self::Bench => "bench",
        }
    }
}

/// The bundled games' flags.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Bundled games")]
struct GameFlags {
    /// The game every room runs.
    #[arg(long, env = "TICKWIRE_GAME", value_enum, default_value = "arena")]
    game: GameKind,

    /// Ticks per second; default: the game's own rate (30).
    #[arg(long, env = "TICKWIRE_TICK_RATE", value_parser = clap::value_parser!(u32).range(1..=240))]
    tick_rate: Option<u32>,

    /// The game's constants, as a TOML file (the arena: `assets/arena.toml`).
    #[arg(long, env = "TICKWIRE_CONFIG")]
    config: Option<PathBuf>,

    /// Side of the square arena in world units (overrides the config file).
    #[arg(long, env = "TICKWIRE_ARENA_SIZE")]
    arena_size: Option<f32>,

    /// Side of the square each player sees, in world units (overrides the
    /// config file): the bench game sees everything without it, the arena
    /// sees its config's `view_size` (2000). Players are sent only what is
    /// in view.
    #[arg(long, env = "TICKWIRE_VIEW_SIZE")]
    view_size: Option<f32>,

    /// Write every match's record, for replay, into this directory.
    #[arg(long, env = "TICKWIRE_RECORD")]
    record: Option<PathBuf>,
}

impl GameFlags {
    fn options(&self) -> BundledOptions {
        BundledOptions {
            config_file: self.config.clone(),
            tick_rate: self.tick_rate,
            arena_size: self.arena_size,
            view_size: self.view_size,
            record_dir: self.record.clone(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let Cli {
        server: config,
        game,
        command,
    } = Cli::parse();
    if let Some(Command::Ticket(ticket)) = command {
        println!("{}", ticket.issue());
        return Ok(());
    }
    init_logging(config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(serve(config, game))
}

async fn serve(config: Config, flags: GameFlags) -> anyhow::Result<()> {
    let name = flags.game.name();
    let game = tickwire::bundled(name, flags.options())?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let server = Server::start(config, listener, game)?;
    let addr = server.local_addr();
    tracing::info!(%addr, game = name, "tickwire listening");
    println!("Tickwire is serving the {name} game: open http://{addr}/");

    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tickwire").chain(args.iter().copied()))
    }

    #[test]
    fn the_default_is_the_arena_with_the_server_defaults() {
        let cli = parse(&[]);
        assert!(cli.is_ok(), "{cli:?}");
        if let Ok(cli) = cli {
            assert_eq!(cli.game.game, GameKind::Arena);
            assert_eq!(
                format!("{:?}", cli.server),
                format!("{:?}", Config::default())
            );
        }
    }

    #[test]
    fn open_world_flags_parse() {
        let cli = parse(&[
            "--game",
            "bench",
            "--arena-size",
            "12649",
            "--view-size",
            "2000",
            "--bandwidth-budget",
            "3000",
        ]);
        assert!(cli.is_ok(), "{cli:?}");
        if let Ok(cli) = cli {
            assert_eq!(cli.game.game, GameKind::Bench);
            let options = cli.game.options();
            assert_eq!(options.arena_size, Some(12649.0));
            assert_eq!(options.view_size, Some(2000.0));
            assert_eq!(cli.server.bandwidth_budget, Some(3000));
        }
    }

    #[test]
    fn the_ticket_subcommand_issues_a_ticket_the_server_accepts() {
        let secret = "a secret of sixteen bytes";
        let cli = parse(&[
            "ticket",
            "--secret",
            secret,
            "--subject",
            "ann",
            "--room",
            "r1",
        ]);
        assert!(cli.is_ok(), "{cli:?}");
        if let Ok(Cli {
            command: Some(Command::Ticket(flags)),
            ..
        }) = cli
        {
            let now = tickwire::ticket::now_unix();
            let claims = tickwire::ticket::verify(secret.as_bytes(), &flags.issue(), now);
            assert!(
                matches!(&claims, Ok(c) if c.sub == "ann" && c.room.as_deref() == Some("r1") && c.exp > now),
                "{claims:?}"
            );
        } else {
            panic!("not the ticket subcommand");
        }
    }

    #[test]
    fn room_limit_defaults_depend_on_the_game() -> anyhow::Result<()> {
        let arena = tickwire::bundled("arena", BundledOptions::default())?;
        let bench = tickwire::bundled("bench", BundledOptions::default())?;
        assert_eq!(arena.room_player_limit(), 64);
        assert_eq!(bench.room_player_limit(), 10_000);
        assert!(tickwire::bundled("chess", BundledOptions::default()).is_err());
        Ok(())
    }
}
