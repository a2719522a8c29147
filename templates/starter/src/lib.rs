//! The starter game: each player moves a runner around a square field and
//! collects gems; holding `dash` doubles the speed. A gem touched scores one
//! and reappears somewhere else. Small on purpose: every piece a game has,
//! and nothing else. Rename it, then change the rules.
//!
//! See `docs/extending.md` for what each piece is, and `docs/client-sdk.md`
//! for the page in `web/`.

use glam::Vec2;
use serde::{Deserialize, Serialize};
use tickwire_sim::prelude::*;

/// The game's settings: `--config FILE` (TOML) overrides any of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StarterConfig {
    /// Side of the square field (default 1000; `--arena-size`).
    pub field_size: f32,
    /// Runner speed, units per second (default 250).
    pub speed: f32,
    /// Gems on the field (default 20).
    pub gems: u32,
    /// Most players in one match (default 16).
    pub max_players: u32,
}

impl Default for StarterConfig {
    fn default() -> Self {
        Self {
            field_size: 1000.0,
            speed: 250.0,
            gems: 20,
            max_players: 16,
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("starter config: {0}")]
pub struct ConfigError(&'static str);

impl StarterConfig {
    /// Checks every setting is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fine = |v: f32| v.is_finite() && v > 0.0 && v <= 1.0e5;
        if !fine(self.field_size) {
            return Err(ConfigError("field_size must be in 0..=100000"));
        }
        if !fine(self.speed) {
            return Err(ConfigError("speed must be in 0..=100000"));
        }
        if self.gems > 1000 {
            return Err(ConfigError("gems must be at most 1000"));
        }
        if !(1..=1000).contains(&self.max_players) {
            return Err(ConfigError("max_players must be 1 to 1000"));
        }
        Ok(())
    }
}

/// How close a runner must come to a gem to collect it.
pub const REACH: f32 = 24.0;

/// What a player sends each tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Input, StateHash)]
pub struct Move {
    /// Left (-1) to right (1).
    #[axis(127)]
    pub x: f32,
    /// Up (-1) to down (1), screen coordinates.
    #[axis(127)]
    pub y: f32,
    /// Held: twice the speed.
    pub dash: bool,
}

/// Every entity: the players' runners and the gems.
#[derive(Clone, Debug, PartialEq, StateHash)]
pub enum Thing {
    /// A player's runner.
    Runner {
        /// Its player.
        player: PlayerId,
        /// Where it is.
        pos: Vec2,
        /// Gems collected.
        score: u32,
        /// What its player holds.
        input: Move,
    },
    /// A gem to collect.
    Gem {
        /// Where it is.
        pos: Vec2,
    },
}

/// What goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
pub enum Row {
    /// A runner.
    Runner {
        /// x, in 1/8 units.
        #[fixed(8)]
        x: f32,
        /// y, in 1/8 units.
        #[fixed(8)]
        y: f32,
        /// Its player, named from the roster.
        player: PlayerId,
        /// Gems collected.
        score: u32,
    },
    /// A gem.
    Gem {
        /// x, in 1/8 units.
        #[fixed(8)]
        x: f32,
        /// y, in 1/8 units.
        #[fixed(8)]
        y: f32,
    },
}

/// What players hear once.
#[derive(Clone, Copy, Debug, PartialEq, Event)]
pub enum Heard {
    /// `player` collected a gem.
    Collected {
        /// Who.
        player: PlayerId,
    },
}

/// The rules.
#[derive(Clone, Debug)]
pub struct Starter {
    config: StarterConfig,
    /// Scratch: gems collected this tick.
    collected: Vec<(EntityKey, PlayerId)>,
}

impl Starter {
    /// The rules for `config`.
    pub fn new(config: StarterConfig) -> Self {
        Self {
            config,
            collected: Vec::new(),
        }
    }

    fn random_spot(&self, rng: &mut SimRng) -> Vec2 {
        Vec2::new(rng.random::<f32>(), rng.random::<f32>()) * self.config.field_size
    }
}

impl Game for Starter {
    type Entity = Thing;
    type Row = Row;
    type Input = Move;
    type Event = Heard;
    const NAME: &'static str = "starter";

    fn max_players(&self) -> usize {
        self.config.max_players as usize
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Thing>,
        player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        // The first player finds the gems laid out.
        if ctx.players().next().is_none() && ctx.entities.is_empty() {
            for _ in 0..self.config.gems {
                let pos = self.random_spot(ctx.rng);
                ctx.entities.spawn(Thing::Gem { pos });
            }
        }
        let pos = self.random_spot(ctx.rng);
        Ok(ctx.entities.spawn(Thing::Runner {
            player,
            pos,
            score: 0,
            input: Move::default(),
        }))
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Thing>,
        _player: PlayerId,
        runner: EntityKey,
        input: &Move,
    ) {
        if let Some(Thing::Runner { input: held, .. }) = ctx.entities.get_mut(runner) {
            *held = *input;
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Thing>) {
        let side = self.config.field_size;
        for (_, _, thing) in ctx.entities.iter_mut() {
            if let Thing::Runner { pos, input, .. } = thing {
                let dir = Vec2::new(input.x, input.y).clamp_length_max(1.0);
                let speed = if input.dash { 2.0 } else { 1.0 } * self.config.speed;
                // `+ 0.0` keeps a clamped -0.0 from ever meeting a rule
                // that tells it from +0.0 (see the determinism rules).
                *pos = (*pos + dir * speed * ctx.dt).clamp(Vec2::ZERO, Vec2::splat(side)) + 0.0;
            }
        }
        // Gems within reach of a runner, found through the grid (whose
        // positions are from the start of the tick: widen by a step).
        let reach = REACH + 2.0 * self.config.speed * ctx.dt;
        for (player, key) in ctx.players() {
            let Some(Thing::Runner { pos, .. }) = ctx.entities.get(key) else {
                continue;
            };
            let at = *pos;
            for item in ctx.grid.query_radius(at, reach) {
                if let Some(Thing::Gem { pos }) = ctx.entities.get(item.key) {
                    let taken = self.collected.iter().any(|(k, _)| *k == item.key);
                    if pos.distance(at) <= REACH && !taken {
                        self.collected.push((item.key, player));
                    }
                }
            }
        }
        for (gem, player) in std::mem::take(&mut self.collected) {
            let spot = self.random_spot(ctx.rng);
            if let Some(Thing::Gem { pos }) = ctx.entities.get_mut(gem) {
                *pos = spot;
            }
            if let Some(Thing::Runner { score, .. }) =
                ctx.avatar(player).and_then(|k| ctx.entities.get_mut(k))
            {
                *score += 1;
            }
            ctx.emit(Heard::Collected { player });
        }
    }

    fn replicate(&self, thing: &Thing) -> Option<Row> {
        Some(match *thing {
            Thing::Runner {
                player, pos, score, ..
            } => Row::Runner {
                x: pos.x,
                y: pos.y,
                player,
                score,
            },
            Thing::Gem { pos } => Row::Gem { x: pos.x, y: pos.y },
        })
    }

    fn position(&self, thing: &Thing) -> Option<Vec2> {
        match thing {
            Thing::Runner { pos, .. } | Thing::Gem { pos } => Some(*pos),
        }
    }

    fn grid(&self) -> GridSpec {
        let side = self.config.field_size;
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(side),
            },
            cell_size: 64.0,
        }
    }

    fn client_constants(&self) -> Vec<(String, f32)> {
        vec![
            ("field_size".into(), self.config.field_size),
            ("speed".into(), self.config.speed),
            ("reach".into(), REACH),
        ]
    }
}

impl Configure for Starter {
    type Config = StarterConfig;

    fn build(config: &StarterConfig, _tick_rate: u32) -> Result<Self, SetupError> {
        config.validate().map_err(SetupError::invalid)?;
        Ok(Self::new(config.clone()))
    }

    fn shape(config: &mut StarterConfig, shape: Shape) -> Result<(), SetupError> {
        match shape {
            Shape::ArenaSize(side) => {
                config.field_size = side;
                Ok(())
            }
            // Everyone sees the whole field: there is no view to size.
            Shape::ViewSize(_) => Err(SetupError::Unsupported {
                game: Self::NAME,
                shape,
            }),
        }
    }
}
