//! Building a game from its own configuration: what a server needs to run
//! any game with the standard flags, and to replay its records.
//!
//! A game implements [`Configure`]: its config type (read from a TOML file,
//! stored as JSON in every record), how the rules are built from it, and
//! which world-shape settings ([`Shape`]) the standard flags may change in
//! it. The free functions below do the rest, the same way for every game:
//! [`load_config`] reads a config file, [`match_setup`] is a record's
//! header, [`world`] builds a match, and [`replay`] replays a record on a
//! match rebuilt from the record's own config.
//!
//! ```
//! use tickwire_sim::games::arena::Arena;
//! use tickwire_sim::setup::{self, Configure, Shape};
//!
//! let mut config = setup::load_config::<Arena>(None).unwrap();
//! Arena::shape(&mut config, Shape::ArenaSize(1000.0)).unwrap();
//! let world = setup::world::<Arena>(&config, 7, 30).unwrap();
//! assert_eq!(tickwire_sim::Simulation::tick_rate(&world), 30);
//! ```

use std::fmt::Debug;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::game::Game;
use crate::record::{MatchRecord, MatchSetup, Replay};
use crate::rewind::{DEFAULT_MAX_REWIND_MS, rewind_ticks};
use crate::world::{World, WorldError};

/// A world-shape setting given from outside the game: the standard
/// `--arena-size` and `--view-size` flags of a game server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// Side of the square world, in world units (`--arena-size`).
    ArenaSize(f32),
    /// Side of the square each player sees, in world units
    /// (`--view-size`): players are sent only what is in view.
    ViewSize(f32),
}

impl Shape {
    /// The setting's name, in words.
    pub fn setting(self) -> &'static str {
        match self {
            Self::ArenaSize(_) => "arena size",
            Self::ViewSize(_) => "view size",
        }
    }

    /// The value given.
    pub fn value(self) -> f32 {
        match self {
            Self::ArenaSize(v) | Self::ViewSize(v) => v,
        }
    }
}

/// Why a game could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The game has no such world-shape setting.
    #[error("the game `{game}` has no {} setting", shape.setting())]
    Unsupported {
        /// The game's name ([`Game::NAME`]).
        game: &'static str,
        /// The setting it was given.
        shape: Shape,
    },
    /// The config file could not be read.
    #[error("cannot read the config file {file}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not TOML of the game's config type.
    #[error("the config file {file} does not parse: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What the TOML parser said.
        message: String,
    },
    /// A record's config is not JSON of the game's config type.
    #[error("the record's config does not fit the game `{game}`")]
    RecordConfig {
        /// The game's name.
        game: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A record of another game.
    #[error("the record is of the game `{recorded}`, not `{game}`")]
    OtherGame {
        /// The game asked to replay it.
        game: &'static str,
        /// The game the record names.
        recorded: String,
    },
    /// The game refused its config.
    #[error("the game's config is refused")]
    Invalid(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The world could not be built (a bad tick rate, an invalid schema).
    #[error(transparent)]
    World(#[from] WorldError),
}

impl SetupError {
    /// The game's own error about its config.
    pub fn invalid(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Invalid(Box::new(error))
    }
}

/// A game that can be built from a config of its own type: what
/// `tickwire::run` needs to serve it with the standard flags (`--config`,
/// `--tick-rate`, `--record`, `--arena-size`, `--view-size`) and to replay
/// its records.
pub trait Configure: Game + Sized {
    /// The game's constants. Read from `--config FILE` as TOML (missing
    /// fields may take their defaults with `#[serde(default)]`), stored in
    /// every record as JSON; `Default` is the game without a file.
    type Config: Serialize + DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static;

    /// The rules for `config`, in a match ticking `tick_rate` times per
    /// second. Checks the config: a bad one is refused here, at start-up.
    fn build(config: &Self::Config, tick_rate: u32) -> Result<Self, SetupError>;

    /// Applies a world-shape setting from the command line to `config`.
    /// The default refuses every one ([`SetupError::Unsupported`]): a game
    /// that has no such setting says so rather than ignore the flag.
    fn shape(config: &mut Self::Config, shape: Shape) -> Result<(), SetupError> {
        let _ = config;
        Err(SetupError::Unsupported {
            game: Self::NAME,
            shape,
        })
    }

    /// Opts the game's matches in to snapshots: a game whose struct and
    /// entity type implement serde's `Serialize` and `Deserialize` returns
    /// `world.with_snapshots()` here, and its rooms can then be saved and
    /// continued elsewhere (a cluster's failover, `docs/scaling.md`). The
    /// default returns the world as it is: no snapshots, no failover.
    fn snapshots(world: World<Self>) -> World<Self> {
        world
    }
}

/// The game's config: the TOML file at `path`, or the default without one.
pub fn load_config<G: Configure>(path: Option<&Path>) -> Result<G::Config, SetupError> {
    let Some(path) = path else {
        return Ok(G::Config::default());
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SetupError::Read {
        file: file.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| SetupError::Parse {
        file,
        message: e.message().to_owned(),
    })
}

/// A record's header for a match of `G` with `config`, believing players'
/// views [`DEFAULT_MAX_REWIND_MS`] back (as [`world`] builds it; a server
/// with another `--max-rewind-ms` sets [`MatchSetup::max_rewind`]).
pub fn match_setup<G: Configure>(config: &G::Config, seed: u64, tick_rate: u32) -> MatchSetup {
    MatchSetup {
        game: G::NAME.to_owned(),
        seed,
        tick_rate,
        // A config that does not serialize would only be recorded as
        // "defaults"; the replay then says the record's config does not fit.
        config: serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
        max_rewind: rewind_ticks(DEFAULT_MAX_REWIND_MS, tick_rate),
    }
}

/// A match of `G` with `config`, its RNG seeded from `seed`, believing
/// players' views [`DEFAULT_MAX_REWIND_MS`] back
/// ([`World::with_max_rewind`] changes it).
pub fn world<G: Configure>(
    config: &G::Config,
    seed: u64,
    tick_rate: u32,
) -> Result<World<G>, SetupError> {
    let game = G::build(config, tick_rate)?;
    Ok(G::snapshots(World::with_tick_rate(game, seed, tick_rate)?))
}

/// The config a record of `G` was made with (`null`: the default).
pub fn recorded_config<G: Configure>(setup: &MatchSetup) -> Result<G::Config, SetupError> {
    if setup.game != G::NAME {
        return Err(SetupError::OtherGame {
            game: G::NAME,
            recorded: setup.game.clone(),
        });
    }
    if setup.config.is_null() {
        return Ok(G::Config::default());
    }
    G::Config::deserialize(&setup.config).map_err(|source| SetupError::RecordConfig {
        game: G::NAME,
        source,
    })
}

/// Replays `record` on a match of `G` rebuilt from the record's setup (its
/// config, seed, tick rate and max rewind).
pub fn replay<G: Configure>(record: &MatchRecord) -> Result<Replay, SetupError> {
    let setup = &record.setup;
    let config = recorded_config::<G>(setup)?;
    let mut world =
        world::<G>(&config, setup.seed, setup.tick_rate)?.with_max_rewind(setup.max_rewind);
    Ok(record.replay_on(&mut world))
}
