//! The swarm's command line: what to load, for how long, and the thresholds
//! that decide the verdict.

use std::time::Duration;

use clap::Parser;

/// Load-tests a Tickwire server with many bots speaking the real protocol:
/// each bot joins, sends an input every 100 ms built from the game's
/// declared input by its behaviour, and decodes every snapshot it receives.
///
/// Exit status: 0 when the run holds every threshold, 1 when one is missed,
/// 2 for bad arguments.
#[derive(Clone, Debug, Parser)]
#[command(name = "tickwire-swarm", version)]
pub struct Args {
    /// WebSocket URL of the server's game endpoint.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:8080/ws",
        env = "TICKWIRE_SWARM_URL"
    )]
    pub url: String,

    /// Place every bot through a Tickwire cluster's matchmaking: `POST
    /// /api/matchmake` on `--url`'s host, then connect to the node it names
    /// with the seat ticket it gives. With or without it, a bot follows
    /// one cluster redirect (the room is on another node).
    #[arg(long)]
    pub matchmake: bool,

    /// Number of bots.
    #[arg(long, default_value_t = 100)]
    pub bots: usize,

    /// Bots per room; 0 puts every bot in one room.
    #[arg(long, default_value_t = 0)]
    pub room_size: usize,

    /// Prefix of the room names the bots join (`PREFIX-0`, `PREFIX-1`...).
    #[arg(long, default_value = "swarm")]
    pub room_prefix: String,

    /// How long to measure, after the warm-up (`30s`, `500ms`, `2m`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Time after the last bot connected before measuring starts.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Bots connected per second while ramping up.
    #[arg(long, default_value_t = 500.0)]
    pub ramp_up: f64,

    /// Seed of the bots' random generators: the same seed sends the same
    /// inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// What the bots play: `random` (random valid values of every declared
    /// input field, buttons included; any game) or `scenario` (the arena
    /// benchmark scenario: full speed in a random direction, a new one each
    /// second, through `move_x`, `move_y` and `aim`; what the benchmark
    /// figures are measured with).
    #[arg(
        long,
        default_value = "random",
        value_parser = clap::builder::PossibleValuesParser::new(crate::behaviour::NAMES)
    )]
    pub behaviour: String,

    /// Churn: bots that leave per minute, each replaced at once by a new
    /// bot joining a new room, as a count (`50`) or a share of `--bots`
    /// (`10%`). The oldest bots leave first, so rooms of `--room-size` empty
    /// and close while new ones open. Churn starts once every bot has
    /// connected and runs until the end of the measured window.
    #[arg(long, value_name = "N|P%", value_parser = parse_churn)]
    pub churn_per_minute: Option<Churn>,

    /// Bots that leave together in each churn wave (and as many join): with
    /// `--room-size 10` and waves of 10, a whole room closes and a new one
    /// opens at each wave.
    #[arg(long, default_value_t = 1)]
    pub churn_batch: usize,

    /// Write a report every `--interval` of the measured window, one JSON
    /// line each, to FILE (`-` for standard error): the verdict over time.
    #[arg(long, value_name = "FILE")]
    pub interval_json: Option<String>,

    /// Length of each report over time (`--interval-json`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Write the report as JSON to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,

    /// Hide the progress bar (it is hidden anyway when stderr is no terminal).
    #[arg(long)]
    pub quiet: bool,

    /// Holds only if every bot receives at least this many snapshots per second.
    #[arg(long, default_value_t = 29.0)]
    pub min_snapshot_rate: f64,

    /// Holds only if the p99 gap between snapshots is at most this (ms).
    #[arg(long, default_value_t = 50.0)]
    pub max_gap_p99_ms: f64,

    /// Holds only if there are at most this many errors.
    #[arg(long, default_value_t = 0)]
    pub max_errors: u64,

    /// Optional: holds only if the p99 input round trip is at most this (ms).
    #[arg(long)]
    pub max_rtt_p99_ms: Option<f64>,

    /// Optional: holds only if each bot receives at most this many bytes/s.
    #[arg(long)]
    pub max_bytes_per_bot: Option<f64>,

    /// Largest message a bot accepts from the server, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_message_size: usize,

    /// Connect timeout per bot: matchmaking, TCP, the WebSocket handshake
    /// and the welcome (a redirect's second connection included).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// How long after its socket dropped a bot keeps trying to take its
    /// seat back: on the node it was on, then, when that node cannot be
    /// reached (the connect fails, or a cluster answers 1013 while the
    /// dead node's lease runs out), through `--url` (the entry) with the
    /// room named, with a backoff. It is an error only once this has
    /// passed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub resume_timeout: Duration,

    /// At the end of the run, write one JSON line per bot to FILE: its
    /// room, the player id of each welcome, every input it sent (sequence
    /// number and values) and the highest input each connection saw
    /// acknowledged (`docs/load-testing.md`).
    #[arg(long, value_name = "FILE")]
    pub input_log: Option<String>,

    /// Most inputs (and connections) the input log keeps per bot; past it
    /// the bot's line says `"truncated": true`. Each costs about 36 bytes.
    #[arg(long, default_value_t = 10_000)]
    pub input_log_limit: usize,

    /// Worker threads of the swarm's runtime (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Network lab: latency added to every message of every bot, each way
    /// (`150ms`): its inputs leave this much later, and what the server
    /// sends is handled, and measured, this much later.
    #[arg(long, default_value = "0ms", value_parser = parse_lab_duration)]
    pub lag: Duration,

    /// Network lab: each message waits `--lag` plus or minus up to this,
    /// uniformly (`40ms`), and never before the one before it (TCP never
    /// reorders).
    #[arg(long, default_value = "0ms", value_parser = parse_lab_duration)]
    pub jitter: Duration,

    /// Network lab: each bot's link freezes, both ways, for this long
    /// (`1s`) once every `--stall-every`; what it held back goes through at
    /// the end of the freeze, in order.
    #[arg(long, default_value = "0s", value_parser = parse_lab_duration)]
    pub stall: Duration,

    /// Network lab: time between the starts of two stalls; the first
    /// starts `--stall-every` minus `--stall` after the bot connected.
    #[arg(long, default_value = "10s", value_parser = parse_lab_duration)]
    pub stall_every: Duration,
}

/// Most any network lab figure may be (a typo, not a network, past it).
const MAX_LAB: Duration = Duration::from_secs(60);

/// Parses a network lab figure: a duration with its unit (`150ms`, `1s`),
/// at most a minute. A bare number is refused, since `--lag 150` would be
/// 150 seconds.
pub fn parse_lab_duration(s: &str) -> Result<Duration, String> {
    if s.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("`{s}` needs a unit, like 150ms or 1s"));
    }
    let d = parse_duration(s)?;
    if d > MAX_LAB {
        return Err(format!("`{s}` is more than a minute"));
    }
    Ok(d)
}

/// Parses `250ms`, `30s`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{s}` (use ms, s or m)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A churn rate: bots per minute, or a share of the bots per minute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Churn {
    /// Bots per minute.
    Count(f64),
    /// Percent of `--bots` per minute.
    Percent(f64),
}

/// Parses `50` (bots a minute) or `10%` (of the bots, a minute).
pub fn parse_churn(s: &str) -> Result<Churn, String> {
    let s = s.trim();
    let (num, percent) = match s.strip_suffix('%') {
        Some(num) => (num.trim(), true),
        None => (s, false),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a churn rate like 50 or 10%"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` is not a churn rate"));
    }
    Ok(if percent {
        Churn::Percent(value)
    } else {
        Churn::Count(value)
    })
}

impl Args {
    /// The network lab the flags ask for; `None` when they add nothing, an
    /// error when a stall would never end.
    pub fn lab(&self) -> Result<Option<crate::lab::LabSettings>, String> {
        crate::lab::LabSettings::new(self.lag, self.jitter, self.stall, self.stall_every)
    }

    /// Bots that leave (and join) per minute; 0 without churn.
    pub fn churn_bots_per_minute(&self) -> f64 {
        match self.churn_per_minute {
            None => 0.0,
            Some(Churn::Count(n)) => n,
            Some(Churn::Percent(p)) => p / 100.0 * self.bots as f64,
        }
    }

    /// Time between two churn waves, if the swarm churns.
    pub fn churn_period(&self) -> Option<Duration> {
        let per_minute = self.churn_bots_per_minute();
        if per_minute <= 0.0 {
            return None;
        }
        let batch = self.churn_batch.max(1) as f64;
        Some(Duration::from_secs_f64(60.0 * batch / per_minute))
    }

    /// The room bot `index` joins.
    pub fn room_of(&self, index: usize) -> String {
        let room = index.checked_div(self.room_size).unwrap_or(0);
        format!("{}-{room}", self.room_prefix)
    }

    /// How many distinct rooms the bots fill.
    pub fn room_count(&self) -> usize {
        self.rooms_for(self.bots)
    }

    /// How many distinct rooms bots `0..bots` fill.
    pub fn rooms_for(&self, bots: usize) -> usize {
        if self.room_size == 0 {
            1.min(bots)
        } else {
            bots.div_ceil(self.room_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn behaviour_is_random_unless_named() {
        let args = Args::parse_from(["tickwire-swarm"]);
        assert_eq!(args.behaviour, "random");
        let args = Args::parse_from(["tickwire-swarm", "--behaviour", "scenario"]);
        assert_eq!(args.behaviour, "scenario");
        assert!(Args::try_parse_from(["tickwire-swarm", "--behaviour", "dance"]).is_err());
    }

    #[test]
    fn churn_is_a_count_or_a_share_of_the_bots() {
        assert_eq!(parse_churn("50"), Ok(Churn::Count(50.0)));
        assert_eq!(parse_churn("10%"), Ok(Churn::Percent(10.0)));
        assert!(parse_churn("-1").is_err());
        assert!(parse_churn("ten").is_err());
        let args = Args::parse_from([
            "tickwire-swarm",
            "--bots",
            "500",
            "--churn-per-minute",
            "10%",
            "--churn-batch",
            "10",
        ]);
        assert!((args.churn_bots_per_minute() - 50.0).abs() < 1e-9);
        // 50 a minute in waves of 10: a wave every 12 s.
        assert_eq!(args.churn_period(), Some(Duration::from_secs(12)));
        let still = Args::parse_from(["tickwire-swarm", "--bots", "500"]);
        assert_eq!(still.churn_period(), None);
    }

    #[test]
    fn the_network_lab_takes_durations_with_units() {
        let none = Args::parse_from(["tickwire-swarm"]);
        assert_eq!(none.lab(), Ok(None));
        let args = Args::parse_from([
            "tickwire-swarm",
            "--lag",
            "150ms",
            "--jitter",
            "40ms",
            "--stall",
            "1s",
        ]);
        let lab = args
            .lab()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no lab"));
        assert_eq!(lab.lag, Duration::from_millis(150));
        assert_eq!(lab.jitter, Duration::from_millis(40));
        assert_eq!(lab.stall, Duration::from_secs(1));
        assert_eq!(lab.stall_every, Duration::from_secs(10));
        assert!(Args::try_parse_from(["tickwire-swarm", "--lag", "150"]).is_err());
        assert!(Args::try_parse_from(["tickwire-swarm", "--lag", "2m"]).is_err());
        let never = Args::parse_from(["tickwire-swarm", "--stall", "10s", "--stall-every", "5s"]);
        assert!(never.lab().is_err());
    }

    #[test]
    fn a_resume_is_tried_for_thirty_seconds_unless_told() {
        let args = Args::parse_from(["tickwire-swarm"]);
        assert_eq!(args.resume_timeout, Duration::from_secs(30));
        assert_eq!(args.input_log, None);
        let args = Args::parse_from([
            "tickwire-swarm",
            "--resume-timeout",
            "5s",
            "--input-log",
            "inputs.jsonl",
        ]);
        assert_eq!(args.resume_timeout, Duration::from_secs(5));
        assert_eq!(args.input_log.as_deref(), Some("inputs.jsonl"));
    }

    #[test]
    fn bots_fill_rooms_of_the_given_size() {
        let mut args = Args::parse_from(["tickwire-swarm", "--bots", "25", "--room-size", "10"]);
        assert_eq!(args.room_of(0), "swarm-0");
        assert_eq!(args.room_of(9), "swarm-0");
        assert_eq!(args.room_of(10), "swarm-1");
        assert_eq!(args.room_count(), 3);
        args.room_size = 0;
        assert_eq!(args.room_of(24), "swarm-0");
        assert_eq!(args.room_count(), 1);
    }
}
