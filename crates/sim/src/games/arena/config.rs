//! The arena's constants: `assets/arena.toml`, loaded and validated.
//!
//! Every field has a default (the bundled file, embedded in the binary), so
//! the arena runs with no file at all, and a file only needs the fields it
//! changes. A value that cannot work is refused with an error naming the
//! field and the problem, e.g. `arena.toml: field 'player_speed': must be >
//! 0, got -3`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The bundled configuration file.
pub const DEFAULT_TOML: &str = include_str!("../../../../../assets/arena.toml");

/// The arena's constants. Distances in world units, times in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArenaConfig {
    /// Side of the square arena (default 4000).
    pub arena_size: f32,
    /// Most players in one room (default 64).
    pub max_players: i64,
    /// Side of the square a player sees around its avatar (default 2000).
    pub view_size: f32,
    /// Avatar speed, units per second (default 200).
    pub player_speed: f32,
    /// Hit radius of an avatar (default 24).
    pub avatar_radius: f32,
    /// Hit points of a fresh avatar (default 100).
    pub max_hp: i64,
    /// Projectile speed, units per second (default 900).
    pub projectile_speed: f32,
    /// Hit points one hit takes (default 25).
    pub projectile_damage: i64,
    /// Seconds a projectile flies before it expires (default 1).
    pub projectile_lifetime: f32,
    /// Seconds between shots while fire is held (default 0.25).
    pub fire_interval: f32,
    /// Seconds a dead avatar waits to respawn (default 3).
    pub respawn_delay: f32,
}

impl Default for ArenaConfig {
    /// The values of the bundled `assets/arena.toml`.
    fn default() -> Self {
        Self {
            arena_size: 4000.0,
            max_players: 64,
            view_size: 2000.0,
            player_speed: 200.0,
            avatar_radius: 24.0,
            max_hp: 100,
            projectile_speed: 900.0,
            projectile_damage: 25,
            projectile_lifetime: 1.0,
            fire_interval: 0.25,
            respawn_delay: 3.0,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file, as given.
        file: String,
        /// What the OS said.
        message: String,
    },
    /// The file is not TOML of the expected shape (a typo'd field name, a
    /// string where a number goes...).
    #[error("{file}: {message}")]
    Parse {
        /// The file, as given.
        file: String,
        /// What the TOML parser said.
        message: String,
    },
    /// A field's value cannot work.
    #[error("{file}: field '{field}': {problem}")]
    Field {
        /// The file, as given.
        file: String,
        /// The field's name.
        field: &'static str,
        /// What is wrong, with the value.
        problem: String,
    },
}

/// Checks that a float lies in `(0, max]`.
fn positive(file: &str, field: &'static str, v: f32, max: f32) -> Result<(), ConfigError> {
    let problem = if !v.is_finite() {
        format!("must be a finite number, got {v}")
    } else if v <= 0.0 {
        format!("must be > 0, got {v}")
    } else if v > max {
        format!("must be at most {max}, got {v}")
    } else {
        return Ok(());
    };
    Err(ConfigError::Field {
        file: file.into(),
        field,
        problem,
    })
}

/// Checks that an integer lies in `min..=max`.
fn within(file: &str, field: &'static str, v: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    if (min..=max).contains(&v) {
        return Ok(());
    }
    Err(ConfigError::Field {
        file: file.into(),
        field,
        problem: format!("must be within {min}..={max}, got {v}"),
    })
}

impl ArenaConfig {
    /// Parses and validates TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.into(),
            message: e.message().to_owned(),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &file)
    }

    /// Checks every field; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        positive(file, "arena_size", self.arena_size, 1.0e6)?;
        within(file, "max_players", self.max_players, 1, 100_000)?;
        positive(file, "view_size", self.view_size, 1.0e6)?;
        positive(file, "player_speed", self.player_speed, 1.0e5)?;
        positive(file, "avatar_radius", self.avatar_radius, 1.0e4)?;
        within(file, "max_hp", self.max_hp, 1, 1_000_000)?;
        positive(file, "projectile_speed", self.projectile_speed, 1.0e6)?;
        within(
            file,
            "projectile_damage",
            self.projectile_damage,
            1,
            1_000_000,
        )?;
        positive(file, "projectile_lifetime", self.projectile_lifetime, 60.0)?;
        positive(file, "fire_interval", self.fire_interval, 60.0)?;
        positive(file, "respawn_delay", self.respawn_delay, 600.0)?;
        Ok(())
    }
}
