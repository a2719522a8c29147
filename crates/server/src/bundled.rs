//! The games bundled with Tickwire (the arena and the bench game) as a
//! [`GameFactory`], with match recording.
//!
//! Each room gets a fresh match built by the simulation crate from the
//! game's name and its [`BundledOptions`]. With a record directory the
//! match is wrapped in the simulation crate's recorder, which writes every
//! call into `DIR/<room>-<serial>-<seed>.jsonl` for replay. The server
//! itself knows nothing of these games: the `tickwire` binary's flags
//! (`--game`, `--arena-size`, ...) fill the options, and tests and
//! embedders call [`bundled`] as the binary does.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tickwire_sim::Simulation;
use tickwire_sim::games::{self, GameError};
use tickwire_sim::record::{MatchSetup, Recording};

use crate::GameFactory;

/// How a bundled game is set up; every field defaults to the game's own.
#[derive(Clone, Debug, Default)]
pub struct BundledOptions {
    /// The game's constants, as a TOML file (the arena: `assets/arena.toml`).
    pub config_file: Option<PathBuf>,
    /// Ticks per second; default: the game's own rate (30).
    pub tick_rate: Option<u32>,
    /// Side of the square arena in world units (overrides the config file).
    pub arena_size: Option<f32>,
    /// Side of the square each player sees, in world units (overrides the
    /// config file).
    pub view_size: Option<f32>,
    /// Write every match's record, for replay, into this directory.
    pub record_dir: Option<PathBuf>,
}

/// One of the bundled games, with its options.
#[derive(Debug)]
pub struct BundledGame {
    name: String,
    options: BundledOptions,
    /// Most players one match takes, as the game's config declares it.
    max_players: usize,
}

/// The bundled game called `name` (`arena` or `bench`). Checks the name, the
/// game's config file and the record directory now, so a mistake stops the
/// server at start rather than at the first join.
pub fn bundled(name: &str, options: BundledOptions) -> anyhow::Result<Arc<dyn GameFactory>> {
    let mut game = BundledGame {
        name: name.to_owned(),
        options,
        max_players: 0,
    };
    let setup = game.setup(0)?;
    let sample = games::build(&setup).context("the game could not be built")?;
    game.max_players = sample.max_players();
    if let Some(dir) = &game.options.record_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the record directory {}", dir.display()))?;
    }
    Ok(Arc::new(game))
}

impl BundledGame {
    fn setup(&self, seed: u64) -> Result<MatchSetup, GameError> {
        let options = &self.options;
        let mut setup = games::setup(
            &self.name,
            options.config_file.as_deref(),
            options.tick_rate,
            seed,
        )?;
        if let (Some(size), Some(config)) = (options.arena_size, setup.config.as_object_mut()) {
            config.insert("arena_size".into(), serde_json::json!(size));
        }
        if let (Some(size), Some(config)) = (options.view_size, setup.config.as_object_mut()) {
            config.insert("view_size".into(), serde_json::json!(size));
        }
        Ok(setup)
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

impl GameFactory for BundledGame {
    fn name(&self) -> &str {
        &self.name
    }

    fn room_player_limit(&self) -> usize {
        // What the game's config declares (the arena 64, the bench game
        // 10,000: one room of it is the open-world scenario).
        self.max_players
    }

    fn new_match(&self, room: &str, serial: u64) -> anyhow::Result<Box<dyn Simulation>> {
        let seed = seed_for(serial);
        let setup = self.setup(seed)?;
        let sim = games::build(&setup)?;
        let Some(dir) = &self.options.record_dir else {
            return Ok(sim);
        };
        let path = dir.join(format!("{room}-{serial}-{seed:016x}.jsonl"));
        let file = File::create(&path)
            .with_context(|| format!("cannot create the match record {}", path.display()))?;
        tracing::info!(room, record = %path.display(), "recording the match");
        // Per-tick state hashes let a replay name the first tick that
        // diverges; they cost one pass over the state per tick.
        Ok(Box::new(Recording::new(
            sim,
            &setup,
            BufWriter::new(file),
            true,
        )?))
    }

    // Dropping the recording flushes it: `match_over`'s default is enough.
}
