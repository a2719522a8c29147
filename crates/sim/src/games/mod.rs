//! The bundled games, and building any of them by name.
//!
//! The server builds a room's simulation from a game name, an optional
//! config file and a tick rate: [`setup`] resolves those into a
//! [`MatchSetup`] (the header a recording starts with), and [`build`] turns
//! a setup into a `Box<dyn Simulation>`. [`new_simulation`] does both.

pub mod arena;
pub mod bench;

use std::path::Path;

use serde::Serialize;

use crate::record::{MatchRecord, MatchSetup, Replay};
use crate::rewind::{DEFAULT_MAX_REWIND_MS, rewind_ticks};
use crate::simulation::Simulation;
use crate::world::{DEFAULT_TICK_RATE, WorldError};

use arena::{ArenaConfig, ConfigError};
use bench::BenchConfig;

/// Names of the bundled games.
pub const GAMES: [&str; 2] = ["arena", "bench"];

/// Why a game could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GameError {
    /// No bundled game has this name.
    #[error("unknown game '{0}' (known: arena, bench)")]
    UnknownGame(String),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The world could not be built (bad tick rate or schema).
    #[error(transparent)]
    World(#[from] WorldError),
}

/// A setup for `game` with an already-resolved configuration, believing
/// players' views [`DEFAULT_MAX_REWIND_MS`] back.
pub fn setup_with(game: &str, seed: u64, tick_rate: u32, config: &impl Serialize) -> MatchSetup {
    MatchSetup {
        game: game.into(),
        seed,
        tick_rate,
        // Plain structs of numbers serialize infallibly; `Null` would only
        // mean "defaults" on the way back.
        config: serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
        max_rewind: rewind_ticks(DEFAULT_MAX_REWIND_MS, tick_rate),
    }
}

/// Resolves a game name, an optional config file (TOML) and an optional
/// tick rate (default 30) into a validated [`MatchSetup`].
pub fn setup(
    game: &str,
    config_path: Option<&Path>,
    tick_rate: Option<u32>,
    seed: u64,
) -> Result<MatchSetup, GameError> {
    let tick_rate = tick_rate.unwrap_or(DEFAULT_TICK_RATE);
    match game {
        "arena" => {
            let config = match config_path {
                Some(path) => ArenaConfig::load(path)?,
                None => ArenaConfig::default(),
            };
            Ok(setup_with(game, seed, tick_rate, &config))
        }
        "bench" => {
            let config = match config_path {
                Some(path) => load_bench(path)?,
                None => BenchConfig::default(),
            };
            config.validate()?;
            Ok(setup_with(game, seed, tick_rate, &config))
        }
        other => Err(GameError::UnknownGame(other.into())),
    }
}

fn load_bench(path: &Path) -> Result<BenchConfig, GameError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| {
        GameError::Config(ConfigError::Parse {
            file,
            message: e.message().to_owned(),
        })
    })
}

fn config_from<T: serde::de::DeserializeOwned + Default>(
    setup: &MatchSetup,
) -> Result<T, GameError> {
    if setup.config.is_null() {
        return Ok(T::default());
    }
    T::deserialize(&setup.config).map_err(|e| {
        GameError::Config(ConfigError::Parse {
            file: format!("{} setup", setup.game),
            message: e.to_string(),
        })
    })
}

/// Builds the simulation a setup describes.
pub fn build(setup: &MatchSetup) -> Result<Box<dyn Simulation>, GameError> {
    match setup.game.as_str() {
        "arena" => Ok(Box::new(
            arena::new_world_at(setup.seed, config_from(setup)?, setup.tick_rate)?
                .with_max_rewind(setup.max_rewind),
        )),
        "bench" => Ok(Box::new(
            bench::new_world_at(setup.seed, config_from(setup)?, setup.tick_rate)?
                .with_max_rewind(setup.max_rewind),
        )),
        other => Err(GameError::UnknownGame(other.into())),
    }
}

/// Builds a bundled game by name: [`setup`], then [`build`].
///
/// ```
/// let sim = tickwire_sim::games::new_simulation("arena", None, None, 42).unwrap();
/// assert_eq!(sim.tick_rate(), 30);
/// assert_eq!(sim.schema().game, "arena");
/// ```
pub fn new_simulation(
    game: &str,
    config_path: Option<&Path>,
    tick_rate: Option<u32>,
    seed: u64,
) -> Result<Box<dyn Simulation>, GameError> {
    build(&setup(game, config_path, tick_rate, seed)?)
}

/// Replays a recording of a bundled game on a fresh simulation.
pub fn replay(record: &MatchRecord) -> Result<Replay, GameError> {
    let mut sim = build(&record.setup)?;
    Ok(record.replay_on(sim.as_mut()))
}

impl crate::setup::Configure for arena::Arena {
    type Config = ArenaConfig;

    fn build(config: &ArenaConfig, tick_rate: u32) -> Result<Self, crate::SetupError> {
        config
            .validate("arena config")
            .map_err(crate::SetupError::invalid)?;
        Ok(Self::new(config.clone(), tick_rate))
    }

    fn shape(config: &mut ArenaConfig, shape: crate::Shape) -> Result<(), crate::SetupError> {
        match shape {
            crate::Shape::ArenaSize(size) => config.arena_size = size,
            crate::Shape::ViewSize(size) => config.view_size = size,
        }
        Ok(())
    }

    fn snapshots(world: crate::World<Self>) -> crate::World<Self> {
        world.with_snapshots()
    }
}

impl crate::setup::Configure for bench::Bench {
    type Config = BenchConfig;

    fn build(config: &BenchConfig, _tick_rate: u32) -> Result<Self, crate::SetupError> {
        config.validate().map_err(crate::SetupError::invalid)?;
        Ok(Self::new(config.clone()))
    }

    fn shape(config: &mut BenchConfig, shape: crate::Shape) -> Result<(), crate::SetupError> {
        match shape {
            crate::Shape::ArenaSize(size) => config.arena_size = size,
            crate::Shape::ViewSize(size) => config.view_size = Some(size),
        }
        Ok(())
    }

    fn snapshots(world: crate::World<Self>) -> crate::World<Self> {
        world.with_snapshots()
    }
}
