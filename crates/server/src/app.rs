//! A game server in one call: [`run`] for one game, [`Games`] for several
//! (the bundled `tickwire` binary).
//!
//! ```no_run
//! use tickwire_sim::games::arena::Arena;
//!
//! fn main() -> std::process::ExitCode {
//!     tickwire::run::<Arena>()
//! }
//! ```
//!
//! The binary this makes parses the server's flags ([`Config`]) and the
//! standard game flags ([`GameFlags`]: `--config`, `--tick-rate`,
//! `--record`, `--arena-size`, `--view-size`, `--max-rewind-ms`), and
//! `--game NAME` when it serves more than one game. It checks the game's
//! setup before it listens
//! (a flag the game cannot honour is an error naming it), logs to stderr
//! (`RUST_LOG`, `--log-format`), prints the URL it serves on, and on SIGINT
//! or SIGTERM closes every player with 1001 and waits for the rooms to
//! write their records (a cluster node and an Agones GameServer drain
//! first: [`Server::drain`]). Its subcommands: `replay FILE` (replays a record
//! on a match rebuilt from the record's own setup and compares every
//! tick's state hash) and `ticket` (prints a signed join ticket).

use std::ffi::OsString;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgMatches, Args, FromArgMatches as _, Subcommand};
use tickwire_sim::record::{MatchRecord, MatchSetup, Replay};
use tickwire_sim::setup::{self, Configure, SetupError};
use tracing_subscriber::EnvFilter;

use crate::game::{GameOptions, factory};
use crate::replay::recorded::{self, Replayable};
use crate::replay::{Timeline, TimelineOptions, Viewer, ViewerOptions};
use crate::{Config, GameFactory, LogFormat, Page, Server};

/// Serves the game `G` with the standard flags, as the binary's `main`
/// does: `fn main() -> ExitCode { tickwire::run::<MyGame>() }`. Returns
/// when the server has shut down, or at once for `--help`, a subcommand or
/// a mistake (printed on stderr, with a failure code).
pub fn run<G>() -> ExitCode
where
    G: Configure + Clone,
    G::Entity: Clone,
{
    Games::new().game::<G>().run()
}

/// [`run`], serving `page` at `/`: the game's own page, embedded in the
/// binary with [`page!`](crate::page!):
/// `tickwire::run_with_page::<MyGame>(tickwire::page!("web"))`.
pub fn run_with_page<G>(page: Page) -> ExitCode
where
    G: Configure + Clone,
    G::Entity: Clone,
{
    Games::new().game::<G>().page(page).run()
}

/// The standard game flags of a game server, for any game.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Game")]
pub struct GameFlags {
    /// Ticks per second (1 to 240); default: 30.
    #[arg(long, env = "TICKWIRE_TICK_RATE", value_parser = clap::value_parser!(u32).range(1..=240))]
    pub tick_rate: Option<u32>,

    /// The game's config, as a TOML file of its config type (the arena:
    /// `assets/arena.toml`); default: the game's defaults.
    #[arg(long, env = "TICKWIRE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Side of the square world in world units (overrides the config
    /// file). A game without this setting refuses it at start-up.
    #[arg(long, env = "TICKWIRE_ARENA_SIZE")]
    pub arena_size: Option<f32>,

    /// Side of the square each player sees, in world units (overrides the
    /// config file); players are sent only what is in view. The arena
    /// sees its config's `view_size` (2000) without it, the bench game
    /// everything. A game without this setting refuses it at start-up.
    #[arg(long, env = "TICKWIRE_VIEW_SIZE")]
    pub view_size: Option<f32>,

    /// Write every match's record, for `replay`, into this directory.
    #[arg(long, env = "TICKWIRE_RECORD")]
    pub record: Option<PathBuf>,

    /// Lag compensation: how far back, in milliseconds, a player's input
    /// is believed about the tick it was showing when a game checks its
    /// shots against the world as it saw it (0 to 1000; default 200).
    /// Rounded down to whole ticks; each room keeps that many ticks of
    /// positions.
    #[arg(long, env = "TICKWIRE_MAX_REWIND_MS", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_rewind_ms: Option<u32>,
}

impl GameFlags {
    /// The options these flags give.
    pub fn options(&self) -> GameOptions {
        GameOptions {
            config_file: self.config.clone(),
            tick_rate: self.tick_rate,
            arena_size: self.arena_size,
            view_size: self.view_size,
            record_dir: self.record.clone(),
            max_rewind_ms: self.max_rewind_ms,
        }
    }
}

/// What the binary does other than serve.
#[derive(Debug, Subcommand)]
enum Command {
    /// Replays a match record (`--record`) on a match rebuilt from the
    /// record's own game, config, seed and tick rate, and compares every
    /// tick's state hash with the recorded one. Exits non-zero at a
    /// divergence, naming the first tick that differs. With --serve,
    /// opens the match in the browser: the replay viewer.
    Replay(ReplayFlags),
    /// Prints a signed join ticket, as a game backend issues them
    /// (`tickwire::ticket::issue`): for trying `--ticket-secret` out, and
    /// for scripts.
    Ticket(TicketFlags),
}

/// The `replay` subcommand's arguments.
#[derive(Debug, Args)]
struct ReplayFlags {
    /// The record, a `.jsonl` file that `--record DIR` wrote.
    file: PathBuf,
    /// Opens the match in the browser instead: serves the replay viewer,
    /// the game drawn by its own page, until Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Where the viewer listens (with --serve); port 0 picks a free one.
    /// The URL to open is printed.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:0",
        requires = "serve"
    )]
    listen: std::net::SocketAddr,
    /// Seconds of match between two keyframes the viewer seeks from (with
    /// --serve): a seek re-simulates at most this much.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, requires = "serve")]
    keyframe_seconds: f64,
    /// Measure what each player was sent under this bandwidth budget, in
    /// bytes per second, as `--bandwidth-budget` does in a server (with
    /// --serve).
    #[arg(long, value_name = "BYTES_PER_S", requires = "serve")]
    bandwidth_budget: Option<u64>,
    /// Serve the game's page from this folder instead of the binary's
    /// (with --serve), as the server's --client-dir does.
    #[arg(long, value_name = "DIR", requires = "serve")]
    client_dir: Option<PathBuf>,
    /// Sockets open at once, game pages and viewer pages together (with
    /// --serve); more get HTTP 503.
    #[arg(long, value_name = "N", default_value_t = 16, requires = "serve")]
    max_connections: usize,
}

impl ReplayFlags {
    /// The timeline's options, for a match at `tick_rate`.
    fn timeline_options(&self, tick_rate: u32) -> anyhow::Result<TimelineOptions> {
        anyhow::ensure!(
            self.keyframe_seconds.is_finite() && self.keyframe_seconds > 0.0,
            "--keyframe-seconds must be above 0, not {}",
            self.keyframe_seconds
        );
        let ticks = (self.keyframe_seconds * f64::from(tick_rate)).round();
        Ok(TimelineOptions {
            // At least one tick; beyond u64 is beyond any match.
            keyframe_ticks: ticks.clamp(1.0, u64::MAX as f64) as u64,
            bandwidth_budget: self.bandwidth_budget,
        })
    }
}

/// The `ticket` subcommand's flags.
#[derive(Debug, Args)]
struct TicketFlags {
    /// The shared secret the server was given.
    #[arg(long, env = "TICKWIRE_TICKET_SECRET", hide_env_values = true)]
    secret: crate::config::Secret,
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
        let mut claims = crate::ticket::Claims::new(
            self.subject.clone(),
            crate::ticket::now_unix().saturating_add(self.ttl),
        );
        claims.room.clone_from(&self.room);
        crate::ticket::issue(self.secret.expose().as_bytes(), &claims)
    }
}

/// One game a binary serves.
#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    factory: fn(&GameOptions) -> anyhow::Result<Arc<dyn GameFactory>>,
    replay: fn(&MatchRecord) -> Result<Replay, SetupError>,
    fresh: fn(&MatchSetup) -> Result<Box<dyn Replayable>, SetupError>,
}

/// The games one binary serves, and its command line: `--game NAME` picks
/// one when there are several (default: the first registered).
///
/// ```no_run
/// use tickwire_sim::games::{arena::Arena, bench::Bench};
///
/// fn main() -> std::process::ExitCode {
///     tickwire::Games::new().game::<Arena>().game::<Bench>().run()
/// }
/// ```
#[derive(Clone, Default)]
pub struct Games {
    games: Vec<Entry>,
    about: Option<&'static str>,
    version: Option<&'static str>,
    page: Page,
}

impl std::fmt::Debug for Games {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.games.iter().map(|g| g.name))
            .finish()
    }
}

/// The outcome of one replay, as `replay` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Every tick that has a recorded hash has it again.
    Equal {
        /// Ticks compared.
        ticks: usize,
    },
    /// The first tick whose state hash differs.
    Diverged {
        /// The tick (the first is 1).
        tick: u64,
        /// The hash in the record.
        recorded: u64,
        /// The hash of the replay.
        replayed: u64,
    },
}

impl std::fmt::Display for ReplayVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Equal { ticks } => write!(f, "all {ticks} ticks' state hashes are equal"),
            Self::Diverged {
                tick,
                recorded,
                replayed,
            } => write!(
                f,
                "tick {tick} diverges: recorded hash {recorded}, replayed hash {replayed}"
            ),
        }
    }
}

impl Games {
    /// No games yet: add them with [`Games::game`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `G` too, under its [`Game::NAME`](tickwire_sim::Game::NAME).
    /// The game and its entities are `Clone`: the replay viewer keeps
    /// copies of a match to seek from.
    #[must_use]
    pub fn game<G>(mut self) -> Self
    where
        G: Configure + Clone,
        G::Entity: Clone,
    {
        self.games.push(Entry {
            name: G::NAME,
            factory: factory::<G>,
            replay: setup::replay::<G>,
            fresh: recorded::fresh::<G>,
        });
        self
    }

    /// The one-line description `--help` starts with.
    #[must_use]
    pub fn about(mut self, about: &'static str) -> Self {
        self.about = Some(about);
        self
    }

    /// The version `--version` prints (give `env!("CARGO_PKG_VERSION")`);
    /// without one there is no `--version`.
    #[must_use]
    pub fn version(mut self, version: &'static str) -> Self {
        self.version = Some(version);
        self
    }

    /// Serves `page` at `/`, for every game: the binary's own page,
    /// embedded with [`page!`](crate::page!). Without one, the SDK's generic
    /// page ([`Page::minimal`]). `--client-dir DIR` serves a folder
    /// instead of either.
    #[must_use]
    pub fn page(mut self, page: Page) -> Self {
        self.page = page;
        self
    }

    /// The page served at `/` ([`Games::page`]).
    pub fn served_page(&self) -> Page {
        self.page.clone()
    }

    /// The names of the games, in the order they were added.
    pub fn names(&self) -> Vec<&'static str> {
        self.games.iter().map(|g| g.name).collect()
    }

    /// The game called `name` set up with `options`, for
    /// [`Server::start`]: what `--game NAME` serves.
    pub fn factory(
        &self,
        name: &str,
        options: &GameOptions,
    ) -> anyhow::Result<Arc<dyn GameFactory>> {
        (self.entry(name)?.factory)(options)
    }

    /// Replays `record` with the game it names, and compares its hashes.
    pub fn replay(&self, record: &MatchRecord) -> anyhow::Result<ReplayVerdict> {
        let entry = self.entry(&record.setup.game)?;
        let replay = (entry.replay)(record)
            .with_context(|| format!("cannot replay the `{}` record", entry.name))?;
        verdict(record, &replay)
    }

    /// Replays `record` with the game it names into a [`Timeline`], for
    /// the replay viewer ([`Viewer`]); `name` is what the viewer calls it.
    pub fn timeline(
        &self,
        name: &str,
        record: MatchRecord,
        options: TimelineOptions,
    ) -> anyhow::Result<Timeline> {
        let entry = self.entry(&record.setup.game)?;
        let fresh = (entry.fresh)(&record.setup)
            .with_context(|| format!("cannot replay the `{}` record", entry.name))?;
        Timeline::build(name, record, fresh, options)
    }

    fn entry(&self, name: &str) -> anyhow::Result<&Entry> {
        self.games
            .iter()
            .find(|g| g.name == name)
            .with_context(|| format!("no game `{name}` here (known: {})", self.names().join(", ")))
    }

    /// The command line: the server's flags, the game flags, `--game` with
    /// more than one game, and the subcommands.
    pub fn command(&self) -> clap::Command {
        let name = match self.games.as_slice() {
            [only] => only.name,
            _ => "tickwire",
        };
        let about = self.about.map_or_else(
            || format!("A Tickwire game server: {}", self.names().join(", ")),
            str::to_owned,
        );
        let mut command = Config::augment_args(clap::Command::new(name));
        if let [first, _, ..] = self.games.as_slice() {
            command = command.arg(
                Arg::new("game")
                    .long("game")
                    .env("TICKWIRE_GAME")
                    .value_name("NAME")
                    .help("The game every room runs")
                    .value_parser(PossibleValuesParser::new(self.names()))
                    .default_value(first.name)
                    .help_heading("Game"),
            );
        }
        command = GameFlags::augment_args(command);
        // Last: the subcommands' derive sets the command's own about.
        command = Command::augment_subcommands(command).about(about);
        if let Some(version) = self.version {
            command = command.version(version);
        }
        command
    }

    /// Runs the binary with the process's arguments (see the module docs).
    pub fn run(self) -> ExitCode {
        self.run_from(std::env::args_os())
    }

    /// Runs the binary with `args` (the first is the binary's name): prints
    /// help, a mistake or a replay's verdict, or serves until SIGINT or
    /// SIGTERM.
    pub fn run_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        match self.try_run_from(args) {
            Ok(code) => code,
            Err(error) => match error.downcast::<clap::Error>() {
                Ok(usage) => {
                    let _ = usage.print();
                    ExitCode::from(u8::try_from(usage.exit_code()).unwrap_or(2))
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::FAILURE
                }
            },
        }
    }

    /// [`Games::run_from`], handing back what went wrong instead of
    /// printing it: a [`clap::Error`] for `--help`, `--version` and a
    /// command line that does not parse, another error for a setup the
    /// game refuses, a record that cannot be read or a server that cannot
    /// start. A replay that diverges is not an error: its verdict is
    /// printed and the code is a failure.
    pub fn try_run_from<I, T>(self, args: I) -> anyhow::Result<ExitCode>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        if self.games.is_empty() {
            anyhow::bail!("no game to serve: add one with `Games::game`");
        }
        if let Some(twice) = self
            .games
            .iter()
            .enumerate()
            .find(|(i, g)| self.games[..*i].iter().any(|h| h.name == g.name))
        {
            anyhow::bail!("two games are named `{}`", twice.1.name);
        }
        let matches = self.command().try_get_matches_from(args)?;
        match subcommand(&matches)? {
            Some(Command::Ticket(ticket)) => {
                println!("{}", ticket.issue());
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Replay(replay)) if replay.serve => self.view_file(&replay),
            Some(Command::Replay(replay)) => self.replay_file(&replay.file),
            None => {
                let config = Config::from_arg_matches(&matches)?;
                let flags = GameFlags::from_arg_matches(&matches)?;
                // `--game` exists only with more than one game.
                let name = match matches.try_get_one::<String>("game") {
                    Ok(Some(name)) => name.as_str(),
                    _ => self.games.first().map_or("", |g| g.name),
                };
                // Checked before anything listens: a refused flag, a bad
                // config file, a record directory that cannot be made.
                let game = self.factory(name, &flags.options())?;
                serve(config, game, self.page)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    /// `replay FILE`: prints the verdict; a divergence is a failure.
    fn replay_file(&self, file: &std::path::Path) -> anyhow::Result<ExitCode> {
        let record = read_record(file)?;
        let verdict = self.replay(&record)?;
        println!("{}: {verdict}", file.display());
        Ok(match verdict {
            ReplayVerdict::Equal { .. } => ExitCode::SUCCESS,
            ReplayVerdict::Diverged { .. } => ExitCode::FAILURE,
        })
    }
}

impl Games {
    /// `replay FILE --serve`: replays the record into a timeline, prints
    /// its verdict and the viewer's URL, and serves the viewer until
    /// SIGINT or SIGTERM. A divergence is shown, not a failure.
    fn view_file(&self, flags: &ReplayFlags) -> anyhow::Result<ExitCode> {
        let file = &flags.file;
        let record = read_record(file)?;
        let options = flags.timeline_options(record.setup.tick_rate)?;
        let name = file
            .file_stem()
            .map_or_else(|| "replay".to_owned(), |s| s.to_string_lossy().into_owned());
        let page = match &flags.client_dir {
            Some(dir) => Page::dir(dir),
            None => self.page.clone(),
        };
        page.check()?;
        init_logging(LogFormat::Text);
        let timeline = self.timeline(&name, record, options)?;
        let verdict = match timeline.divergences().next() {
            Some(d) => ReplayVerdict::Diverged {
                tick: d.tick,
                recorded: d.recorded,
                replayed: d.replayed,
            },
            None => ReplayVerdict::Equal {
                ticks: timeline.hashed_ticks(),
            },
        };
        if timeline.hashed_ticks() == 0 {
            println!(
                "{}: the record holds no state hashes: shown unchecked",
                file.display()
            );
        } else {
            println!("{}: {verdict}", file.display());
        }
        let viewer_options = ViewerOptions {
            max_connections: flags.max_connections,
        };
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?
            .block_on(async move {
                let listener = tokio::net::TcpListener::bind(flags.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", flags.listen))?;
                let viewer = Viewer::start(timeline, page, listener, viewer_options)?;
                tracing::info!(addr = %viewer.local_addr(), "replay viewer listening");
                println!(
                    "Tickwire is showing the record {}: open {}",
                    file.display(),
                    viewer.url()
                );
                let _ = std::io::Write::flush(&mut std::io::stdout());
                shutdown_signal().await;
                viewer.shutdown().await;
                Ok(ExitCode::SUCCESS)
            })
    }
}

/// Reads a record file.
fn read_record(file: &std::path::Path) -> anyhow::Result<MatchRecord> {
    let reader = std::fs::File::open(file)
        .with_context(|| format!("cannot open the record {}", file.display()))?;
    MatchRecord::read(BufReader::new(reader))
        .with_context(|| format!("cannot read the record {}", file.display()))
}

fn subcommand(matches: &ArgMatches) -> Result<Option<Command>, clap::Error> {
    if matches.subcommand_name().is_none() {
        return Ok(None);
    }
    Command::from_arg_matches(matches).map(Some)
}

/// Compares a replay's hashes with the record's.
fn verdict(record: &MatchRecord, replay: &Replay) -> anyhow::Result<ReplayVerdict> {
    if let Some(tick) = replay.first_divergence {
        // Ticks are numbered from 1 without gaps (`MatchRecord::read`).
        let i = usize::try_from(tick.saturating_sub(1)).unwrap_or(usize::MAX);
        let recorded = record.ticks.get(i).and_then(|t| t.hash);
        if let (Some(recorded), Some(&replayed)) = (recorded, replay.hashes.get(i)) {
            return Ok(ReplayVerdict::Diverged {
                tick,
                recorded,
                replayed,
            });
        }
    }
    let ticks = record.ticks.iter().filter(|t| t.hash.is_some()).count();
    anyhow::ensure!(
        ticks > 0,
        "the record holds no state hashes: nothing to compare ({} ticks replayed)",
        replay.hashes.len()
    );
    Ok(ReplayVerdict::Equal { ticks })
}

/// Serves `game`, and `page` at `/`, until SIGINT or SIGTERM, then shuts
/// down gracefully (draining first, in cluster mode and with `--agones`).
fn serve(config: Config, game: Arc<dyn GameFactory>, page: Page) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(async move {
            let name = game.name().to_owned();
            // `--agones`: the sidecar first (it may give the public URL).
            #[cfg(feature = "agones")]
            let (config, sidecar) = {
                let mut config = config;
                let sidecar = crate::agones::Sidecar::for_config(&mut config).await?;
                (config, sidecar)
            };
            let listener = tokio::net::TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.bind))?;
            let builder = Server::builder(config, game).page(page);
            #[cfg(feature = "agones")]
            let builder = match sidecar {
                Some(sidecar) => builder.agones(sidecar),
                None => builder,
            };
            let server = builder.start(listener)?;
            // Cluster mode: registered in Redis before saying so; Agones:
            // Ready.
            server.ready().await?;
            let addr = server.local_addr();
            tracing::info!(%addr, game = name, "tickwire listening");
            println!("Tickwire is serving the {name} game: open http://{addr}/");
            shutdown_signal().await;
            if server.drains() {
                tokio::select! {
                    () = server.drain() => {}
                    () = shutdown_signal() => {
                        tracing::warn!("a second signal: not waiting for the drain");
                    }
                }
            }
            server.shutdown().await;
            Ok(())
        })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). A second call
/// (a program that set up its own) leaves the first subscriber in place.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
    use tickwire_sim::games::arena::Arena;
    use tickwire_sim::games::bench::Bench;

    use super::*;

    fn bundled() -> Games {
        Games::new().game::<Arena>().game::<Bench>()
    }

    fn parse(games: &Games, args: &[&str]) -> Result<ArgMatches, clap::Error> {
        games
            .command()
            .try_get_matches_from(std::iter::once("tickwire").chain(args.iter().copied()))
    }

    #[test]
    fn the_default_is_the_first_game_with_the_server_defaults() {
        let matches = parse(&bundled(), &[]);
        assert!(matches.is_ok(), "{matches:?}");
        if let Ok(matches) = matches {
            assert_eq!(
                matches.get_one::<String>("game").map(String::as_str),
                Some("arena")
            );
            let config = Config::from_arg_matches(&matches);
            assert_eq!(
                config.map(|c| format!("{c:?}")).ok(),
                Some(format!("{:?}", Config::default()))
            );
        }
    }

    #[test]
    fn open_world_flags_parse() {
        let matches = parse(
            &bundled(),
            &[
                "--game",
                "bench",
                "--arena-size",
                "12649",
                "--view-size",
                "2000",
                "--bandwidth-budget",
                "3000",
            ],
        );
        assert!(matches.is_ok(), "{matches:?}");
        if let Ok(matches) = matches {
            assert_eq!(
                matches.get_one::<String>("game").map(String::as_str),
                Some("bench")
            );
            let options = GameFlags::from_arg_matches(&matches).map(|f| f.options());
            assert!(
                matches!(&options, Ok(o) if o.arena_size == Some(12649.0) && o.view_size == Some(2000.0)),
                "{options:?}"
            );
            let config = Config::from_arg_matches(&matches);
            assert!(
                matches!(
                    config,
                    Ok(Config {
                        bandwidth_budget: Some(3000),
                        ..
                    })
                ),
                "{config:?}"
            );
        }
    }

    #[test]
    fn one_game_has_no_game_flag() {
        let games = Games::new().game::<Arena>();
        assert!(parse(&games, &["--game", "arena"]).is_err());
        let help = games.command().render_long_help().to_string();
        assert!(!help.contains("--game"), "{help}");
        assert!(
            help.contains("--record") && help.contains("--arena-size"),
            "{help}"
        );
        let help = bundled().command().render_long_help().to_string();
        assert!(help.contains("--game"), "{help}");
    }

    #[test]
    fn an_unknown_game_is_refused() {
        assert!(parse(&bundled(), &["--game", "chess"]).is_err());
        assert!(bundled().factory("chess", &GameOptions::default()).is_err());
    }

    #[test]
    fn the_ticket_subcommand_issues_a_ticket_the_server_accepts() {
        let secret = "a secret of sixteen bytes";
        let matches = parse(
            &bundled(),
            &[
                "ticket",
                "--secret",
                secret,
                "--subject",
                "ann",
                "--room",
                "r1",
            ],
        );
        let command = matches.and_then(|m| subcommand(&m));
        let Ok(Some(Command::Ticket(flags))) = command else {
            panic!("not the ticket subcommand: {command:?}");
        };
        let now = crate::ticket::now_unix();
        let claims = crate::ticket::verify(secret.as_bytes(), &flags.issue(), now);
        assert!(
            matches!(&claims, Ok(c) if c.sub == "ann" && c.room.as_deref() == Some("r1") && c.exp > now),
            "{claims:?}"
        );
    }

    #[test]
    fn the_viewer_flags_go_with_serve_only() {
        let games = bundled();
        let args = [
            "replay",
            "r.jsonl",
            "--serve",
            "--listen",
            "127.0.0.1:0",
            "--keyframe-seconds",
            "2",
            "--bandwidth-budget",
            "3000",
        ];
        let command = parse(&games, &args).and_then(|m| subcommand(&m));
        let Ok(Some(Command::Replay(flags))) = command else {
            panic!("not the replay subcommand: {command:?}");
        };
        assert!(flags.serve);
        assert_eq!(flags.listen.port(), 0);
        assert_eq!(flags.max_connections, 16);
        let options = flags.timeline_options(30);
        assert!(
            matches!(
                options,
                Ok(TimelineOptions {
                    keyframe_ticks: 60,
                    bandwidth_budget: Some(3000)
                })
            ),
            "{options:?}"
        );
        // Without --serve, the viewer's flags are refused.
        assert!(parse(&games, &["replay", "r.jsonl", "--listen", "127.0.0.1:0"]).is_err());
        assert!(parse(&games, &["replay", "r.jsonl", "--keyframe-seconds", "1"]).is_err());
        // A keyframe every 0 seconds is no keyframe.
        let command = parse(
            &games,
            &["replay", "r.jsonl", "--serve", "--keyframe-seconds", "0"],
        )
        .and_then(|m| subcommand(&m));
        let Ok(Some(Command::Replay(flags))) = command else {
            panic!("not the replay subcommand: {command:?}");
        };
        assert!(flags.timeline_options(30).is_err());
        // A hair of a second is still a tick.
        let command = parse(
            &games,
            &[
                "replay",
                "r.jsonl",
                "--serve",
                "--keyframe-seconds",
                "0.001",
            ],
        )
        .and_then(|m| subcommand(&m));
        let Ok(Some(Command::Replay(flags))) = command else {
            panic!("not the replay subcommand: {command:?}");
        };
        assert!(matches!(
            flags.timeline_options(30),
            Ok(TimelineOptions {
                keyframe_ticks: 1,
                ..
            })
        ));
    }

    #[test]
    fn room_limit_defaults_depend_on_the_game() -> anyhow::Result<()> {
        let games = bundled();
        let arena = games.factory("arena", &GameOptions::default())?;
        let bench = games.factory("bench", &GameOptions::default())?;
        assert_eq!(arena.room_player_limit(), 64);
        assert_eq!(bench.room_player_limit(), 10_000);
        Ok(())
    }

    #[test]
    fn the_max_rewind_is_whole_ticks_of_the_tick_rate_and_bounded() -> anyhow::Result<()> {
        let flags = |args: &[&str]| -> anyhow::Result<GameOptions> {
            let matches = parse(&bundled(), args)?;
            Ok(GameFlags::from_arg_matches(&matches)?.options())
        };
        let default = crate::game::Configured::<Arena>::new(&flags(&[])?)?;
        assert_eq!(default.max_rewind(), 6, "200 ms at 30 Hz");
        let options = flags(&["--max-rewind-ms", "250", "--tick-rate", "60"])?;
        assert_eq!(options.max_rewind_ms, Some(250));
        let game = crate::game::Configured::<Arena>::new(&options)?;
        assert_eq!(game.max_rewind(), 15);
        let none = crate::game::Configured::<Arena>::new(&flags(&["--max-rewind-ms", "0"])?)?;
        assert_eq!(none.max_rewind(), 0);
        assert!(parse(&bundled(), &["--max-rewind-ms", "1001"]).is_err());
        let options = GameOptions {
            max_rewind_ms: Some(5000),
            ..GameOptions::default()
        };
        let refused = crate::game::Configured::<Arena>::new(&options).err();
        let message = refused.map(|e| format!("{e:#}"));
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("--max-rewind-ms 5000")),
            "{message:?}"
        );
        Ok(())
    }

    #[test]
    fn the_world_shape_reaches_the_game_through_its_config() -> anyhow::Result<()> {
        let options = GameOptions {
            arena_size: Some(1000.0),
            view_size: Some(300.0),
            ..GameOptions::default()
        };
        let game = crate::game::Configured::<Bench>::new(&options)?;
        assert_eq!(game.config().arena_size, 1000.0);
        assert_eq!(game.config().view_size, Some(300.0));
        let refused = bundled().factory(
            "arena",
            &GameOptions {
                arena_size: Some(-5.0),
                ..GameOptions::default()
            },
        );
        let message = refused.err().map(|e| format!("{e:#}"));
        assert!(
            message.as_deref().is_some_and(|m| m.contains("arena_size")),
            "{message:?}"
        );
        Ok(())
    }
}
