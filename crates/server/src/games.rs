//! The bundled games (arena, bench) as a [`GameFactory`], and match
//! recording.
//!
//! Each room gets a fresh match built by the simulation crate from the
//! game's name, the `--config` file and the `--tick-rate`. With `--record
//! DIR` the match is wrapped in the simulation crate's recorder, which
//! writes every call into `DIR/<room>-<serial>-<seed>.jsonl` for replay.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tickwire_sim::Simulation;
use tickwire_sim::games::{self, GameError};
use tickwire_sim::record::{MatchSetup, Recording};

use crate::{Config, GameFactory, GameKind};

/// One of the bundled games, configured from the command line.
#[derive(Debug)]
pub struct BundledGame {
    kind: GameKind,
    config_file: Option<PathBuf>,
    tick_rate: Option<u32>,
    arena_size: Option<f32>,
    view_size: Option<f32>,
    record_dir: Option<PathBuf>,
}

/// The bundled game `config` asks for. Checks the game's config file and
/// the record directory now, so a mistake stops the server at start rather
/// than at the first join.
pub fn bundled(config: &Config) -> anyhow::Result<Arc<dyn GameFactory>> {
    let game = BundledGame {
        kind: config.game,
        config_file: config.config.clone(),
        tick_rate: config.tick_rate,
        arena_size: config.arena_size,
        view_size: config.view_size,
        record_dir: config.record.clone(),
    };
    let setup = game.setup(0)?;
    games::build(&setup).context("the game could not be built")?;
    if let Some(dir) = &game.record_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the record directory {}", dir.display()))?;
    }
    Ok(Arc::new(game))
}

impl BundledGame {
    fn setup(&self, seed: u64) -> Result<MatchSetup, GameError> {
        let mut setup = games::setup(
            self.kind.name(),
            self.config_file.as_deref(),
            self.tick_rate,
            seed,
        )?;
        if let (Some(size), Some(config)) = (self.arena_size, setup.config.as_object_mut()) {
            config.insert("arena_size".into(), serde_json::json!(size));
        }
        if let (Some(size), Some(config)) = (self.view_size, setup.config.as_object_mut()) {
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
        self.kind.name()
    }

    fn new_match(&self, room: &str, serial: u64) -> anyhow::Result<Box<dyn Simulation>> {
        let seed = seed_for(serial);
        let setup = self.setup(seed)?;
        let sim = games::build(&setup)?;
        let Some(dir) = &self.record_dir else {
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
