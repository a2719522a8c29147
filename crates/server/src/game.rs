//! Any game built from its own config ([`Configure`]) as a
//! [`GameFactory`], with the standard options and match recording.
//!
//! [`factory`] resolves [`GameOptions`] (a config file, a tick rate, the
//! world-shape settings, the max rewind, a record directory) against the
//! game once, at start-up, so that a mistake stops the server before the
//! first join: a config the game refuses, a world-shape setting it does
//! not have, a record directory that cannot be made. Each room then gets a
//! fresh match of that config with a seed of its own, keeping the history
//! of positions its max rewind needs; with a record directory the
//! match is wrapped in the simulation crate's recorder, which writes every
//! call and every tick's state hash into `DIR/<room>-<serial>-<seed>.jsonl`
//! for `tickwire replay`.

use std::fs::File;
use std::io::BufWriter;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tickwire_sim::record::Recording;
use tickwire_sim::rewind::{MAX_REWIND_MS, rewind_ticks};
use tickwire_sim::setup::{self, Configure, Shape};
use tickwire_sim::{DEFAULT_TICK_RATE, Simulation};

use crate::GameFactory;

/// How a game is set up; every field defaults to the game's own. The
/// standard game flags of a game server fill it (`--config`,
/// `--tick-rate`, `--arena-size`, `--view-size`, `--record`,
/// `--max-rewind-ms`).
#[derive(Clone, Debug, Default)]
pub struct GameOptions {
    /// The game's config, as a TOML file of its [`Configure::Config`] (the
    /// arena: `assets/arena.toml`).
    pub config_file: Option<PathBuf>,
    /// Ticks per second; default: 30.
    pub tick_rate: Option<u32>,
    /// Side of the square world in world units (overrides the config
    /// file); refused by a game without the setting.
    pub arena_size: Option<f32>,
    /// Side of the square each player sees, in world units (overrides the
    /// config file); refused by a game without the setting.
    pub view_size: Option<f32>,
    /// Write every match's record, for replay, into this directory.
    pub record_dir: Option<PathBuf>,
    /// How far back, in milliseconds, a player's input is believed about
    /// the tick it was showing (lag compensation); default 200
    /// ([`tickwire_sim::rewind::DEFAULT_MAX_REWIND_MS`]), at most
    /// [`MAX_REWIND_MS`].
    pub max_rewind_ms: Option<u32>,
}

/// The flag each world-shape option comes from, for errors.
fn shapes(options: &GameOptions) -> impl Iterator<Item = (&'static str, Shape)> {
    let arena = options
        .arena_size
        .map(|size| ("--arena-size", Shape::ArenaSize(size)));
    let view = options
        .view_size
        .map(|size| ("--view-size", Shape::ViewSize(size)));
    arena.into_iter().chain(view)
}

/// The game `G` with its resolved config: makes every room's match.
pub struct Configured<G: Configure> {
    config: G::Config,
    tick_rate: u32,
    /// How far back players' views are believed, in ticks.
    max_rewind: u32,
    record_dir: Option<PathBuf>,
    /// Most players one match takes, as the game declares it.
    max_players: usize,
    game: PhantomData<fn() -> G>,
}

impl<G: Configure> std::fmt::Debug for Configured<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("game", &G::NAME)
            .field("config", &self.config)
            .field("tick_rate", &self.tick_rate)
            .field("max_rewind", &self.max_rewind)
            .field("record_dir", &self.record_dir)
            .finish()
    }
}

/// The game `G` set up with `options`, for [`Server::start`](crate::Server::start).
/// Reads the config file, applies the world-shape options, builds one
/// match to check it all, and creates the record directory: every mistake
/// is an error now, naming the flag, rather than at the first join.
pub fn factory<G: Configure>(options: &GameOptions) -> anyhow::Result<Arc<dyn GameFactory>> {
    Ok(Arc::new(Configured::<G>::new(options)?))
}

impl<G: Configure> Configured<G> {
    /// `G` set up with `options` (see [`factory`]).
    pub fn new(options: &GameOptions) -> anyhow::Result<Self> {
        let mut config = setup::load_config::<G>(options.config_file.as_deref())
            .with_context(|| format!("cannot set up the game `{}`", G::NAME))?;
        for (flag, shape) in shapes(options) {
            G::shape(&mut config, shape)
                .with_context(|| format!("{flag} {} cannot be honoured", shape.value()))?;
        }
        let mut game = Self::with_config(config, options.tick_rate.unwrap_or(DEFAULT_TICK_RATE))?
            .recording_into(options.record_dir.clone())?;
        if let Some(ms) = options.max_rewind_ms {
            game = game.max_rewind_ms(ms)?;
        }
        Ok(game)
    }

    /// `G` with `config` at `tick_rate`, not recording, believing players'
    /// views 200 ms back ([`tickwire_sim::rewind::DEFAULT_MAX_REWIND_MS`]);
    /// checked by building one match.
    pub fn with_config(config: G::Config, tick_rate: u32) -> anyhow::Result<Self> {
        let sample = setup::world::<G>(&config, 0, tick_rate)
            .with_context(|| format!("the game `{}` could not be built", G::NAME))?;
        Ok(Self {
            max_players: sample.max_players(),
            max_rewind: sample.max_rewind(),
            config,
            tick_rate,
            record_dir: None,
            game: PhantomData,
        })
    }

    /// Believes players' views up to `ms` back (`--max-rewind-ms`), in
    /// whole ticks of the tick rate, rounded down; more than
    /// [`MAX_REWIND_MS`] is refused.
    pub fn max_rewind_ms(mut self, ms: u32) -> anyhow::Result<Self> {
        anyhow::ensure!(
            ms <= MAX_REWIND_MS,
            "--max-rewind-ms {ms} is over the limit of {MAX_REWIND_MS}"
        );
        self.max_rewind = rewind_ticks(ms, self.tick_rate);
        Ok(self)
    }

    /// How far back players' views are believed, in ticks.
    pub fn max_rewind(&self) -> u32 {
        self.max_rewind
    }

    /// Records every match into `dir` (created now), or none with `None`.
    pub fn recording_into(mut self, dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the record directory {}", dir.display()))?;
        }
        self.record_dir = dir;
        Ok(self)
    }

    /// The resolved config every match is built from.
    pub fn config(&self) -> &G::Config {
        &self.config
    }
}

/// A seed that differs per room and per run; recorded, so replays need not
/// guess it.
fn seed_for(serial: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ serial.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<G: Configure> GameFactory for Configured<G> {
    fn name(&self) -> &str {
        G::NAME
    }

    fn room_player_limit(&self) -> usize {
        // What the game's config declares (the arena 64, the bench game
        // 10,000: one room of it is the open-world scenario).
        self.max_players
    }

    fn new_match(&self, room: &str, serial: u64) -> anyhow::Result<Box<dyn Simulation>> {
        self.open_match(room, serial).map(|(sim, _)| sim)
    }

    fn open_match(
        &self,
        room: &str,
        serial: u64,
    ) -> anyhow::Result<(Box<dyn Simulation>, Option<PathBuf>)> {
        let seed = seed_for(serial);
        let world =
            setup::world::<G>(&self.config, seed, self.tick_rate)?.with_max_rewind(self.max_rewind);
        let Some(dir) = &self.record_dir else {
            return Ok((Box::new(world), None));
        };
        let path = dir.join(format!("{room}-{serial}-{seed:016x}.jsonl"));
        let file = File::create(&path)
            .with_context(|| format!("cannot create the match record {}", path.display()))?;
        tracing::info!(room, record = %path.display(), "recording the match");
        let mut header = setup::match_setup::<G>(&self.config, seed, self.tick_rate);
        header.max_rewind = self.max_rewind;
        // Per-tick state hashes let a replay name the first tick that
        // diverges; they cost one pass over the state per tick.
        let recording = Recording::new(world, &header, BufWriter::new(file), true)?;
        Ok((Box::new(recording), Some(path)))
    }

    fn restore_match(&self, room: &str, snapshot: &[u8]) -> anyhow::Result<Box<dyn Simulation>> {
        // A fresh world of the game knows how to restore one (and its
        // schema, which the snapshot must match).
        let fresh = setup::world::<G>(&self.config, 0, self.tick_rate)?;
        let world = fresh
            .restore_snapshot(snapshot)
            .with_context(|| format!("the game `{}` does not take snapshots", G::NAME))?
            .with_context(|| format!("cannot restore room {room}"))?;
        if self.record_dir.is_some() {
            // A record starts at the match's first tick; this one starts
            // in the middle, so the match goes on unrecorded here.
            tracing::warn!(room, "a continued match is not recorded (--record)");
        }
        Ok(Box::new(world))
    }

    // Dropping the recording flushes it: `match_over`'s default is enough.
}
