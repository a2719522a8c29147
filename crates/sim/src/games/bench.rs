//! The bench game: exactly the movement-only game of the arena benchmark
//! scenario, so capacity runs measure what the scenario says.
//!
//! A square arena (4000 units by default; `400 * sqrt(N)` for the
//! open-world layout), nothing in it but avatars. Each avatar spawns at a
//! uniformly random position with 100 hit points that never change. The
//! latest input received before a tick is the one the tick applies: each
//! tick, `velocity = direction * 200`, `position += velocity / 30`, clamp
//! to the arena, and `heading = atan2(direction)` when the direction is not
//! zero.

use glam::Vec2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::entities::EntityKey;
use crate::game::{Ctx, Game};
use crate::grid::GridSpec;
use crate::replicate::{PlayerId, Rect};
use crate::typed::NoEvents;
use crate::{Replicate, StateHash};

pub use super::arena::ArenaInput as BenchInput;
use crate::simulation::JoinError;
use crate::world::{DEFAULT_TICK_RATE, World};

use super::GameError;

/// Kind id of avatars, the only kind.
pub const AVATAR: u8 = 0;

/// Avatar speed, units per second.
pub const SPEED: f32 = 200.0;

/// Hit points of every avatar, forever.
pub const HP: u8 = 100;

/// The bench game's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchConfig {
    /// Side of the square arena (default 4000).
    pub arena_size: f32,
    /// Side of the square each player sees, or `None` to see everything
    /// (default `None`; the open-world layout uses `Some(2000.0)`).
    pub view_size: Option<f32>,
    /// Most players in one room (default 10,000).
    pub max_players: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            arena_size: 4000.0,
            view_size: None,
            max_players: 10_000,
        }
    }
}

impl BenchConfig {
    /// The open-world layout for `players` players: side `400 * sqrt(N)`,
    /// 2000-unit views.
    pub fn open_world(players: usize) -> Self {
        Self {
            arena_size: 400.0 * (players.max(1) as f32).sqrt(),
            view_size: Some(2000.0),
            max_players: players.max(1),
        }
    }

    /// Checks the values can work.
    pub fn validate(&self) -> Result<(), GameError> {
        let bad = |field: &'static str, problem: String| {
            Err(GameError::Config(super::arena::ConfigError::Field {
                file: "bench config".into(),
                field,
                problem,
            }))
        };
        if !(self.arena_size.is_finite() && self.arena_size > 0.0) {
            return bad(
                "arena_size",
                format!("must be > 0, got {}", self.arena_size),
            );
        }
        if let Some(v) = self.view_size.filter(|v| !(v.is_finite() && *v > 0.0)) {
            return bad("view_size", format!("must be > 0, got {v}"));
        }
        if self.max_players == 0 || self.max_players > 100_000 {
            return bad(
                "max_players",
                format!("must be within 1..=100000, got {}", self.max_players),
            );
        }
        Ok(())
    }
}

/// A bench avatar: the scenario's state, plus the direction being held.
#[derive(Clone, Debug, PartialEq, StateHash, Serialize, Deserialize)]
pub struct BenchAvatar {
    /// Position.
    pub pos: Vec2,
    /// Facing, radians.
    pub heading: f32,
    /// Hit points: always [`HP`].
    pub hp: u8,
    /// The direction of the latest input (length at most 1).
    pub dir: Vec2,
}

/// The bench game's rules.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bench {
    config: BenchConfig,
}

impl Bench {
    /// The rules for `config` (which [`new_world`] validates).
    pub fn new(config: BenchConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &BenchConfig {
        &self.config
    }
}

/// The bench game's one replicated kind.
#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
#[tickwire(name = "avatar")]
pub struct BenchRow {
    /// Position x.
    #[fixed(16)]
    pub x: f32,
    /// Position y.
    #[fixed(16)]
    pub y: f32,
    /// Facing, radians.
    #[angle(256)]
    pub heading: f32,
    /// Hit points (always 100).
    pub hp: u8,
}

impl Game for Bench {
    type Entity = BenchAvatar;
    type Row = BenchRow;
    type Input = BenchInput;
    type Event = NoEvents;
    const NAME: &'static str = "bench";

    fn max_players(&self) -> usize {
        self.config.max_players
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, BenchAvatar>,
        _player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        let side = self.config.arena_size;
        let pos = Vec2::new(
            ctx.rng.random::<f32>() * side,
            ctx.rng.random::<f32>() * side,
        );
        Ok(ctx.entities.spawn(BenchAvatar {
            pos,
            heading: 0.0,
            hp: HP,
            dir: Vec2::ZERO,
        }))
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, BenchAvatar>,
        _player: PlayerId,
        avatar: EntityKey,
        input: &BenchInput,
    ) {
        // Inputs arrive in sequence order, so the last one here is the
        // latest: the one this tick applies.
        if let Some(a) = ctx.entities.get_mut(avatar) {
            a.dir = input.direction();
            // The scenario sets the heading every tick from the direction;
            // the direction only changes here, at the start of a tick, so
            // setting it here gives the same state without an atan2 per
            // avatar per tick.
            if a.dir != Vec2::ZERO {
                a.heading = libm::atan2f(a.dir.y, a.dir.x);
            }
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, BenchAvatar>) {
        let side = self.config.arena_size;
        for (_, _, a) in ctx.entities.iter_mut() {
            let velocity = a.dir * SPEED;
            a.pos += velocity * ctx.dt;
            a.pos.x = a.pos.x.clamp(0.0, side);
            a.pos.y = a.pos.y.clamp(0.0, side);
        }
    }

    fn replicate(&self, a: &BenchAvatar) -> Option<BenchRow> {
        Some(BenchRow {
            x: a.pos.x,
            y: a.pos.y,
            heading: a.heading,
            hp: a.hp,
        })
    }

    fn position(&self, a: &BenchAvatar) -> Option<Vec2> {
        Some(a.pos)
    }

    fn grid(&self) -> GridSpec {
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(self.config.arena_size),
            },
            // Views are 2000 wide: cells of 250 keep a view query to ~81 cells.
            cell_size: 250.0,
        }
    }

    fn client_constants(&self) -> Vec<(String, f32)> {
        vec![
            ("arena_size".into(), self.config.arena_size),
            ("player_speed".into(), SPEED),
        ]
    }

    /// Nearness to the view's centre: every kind's first two fields are
    /// its `x` and `y`, in sixteenths of a unit.
    fn priority(&self, view: Rect, row: &crate::ReplicatedEntity) -> f32 {
        let at = Vec2::new(row.values[0] as f32, row.values[1] as f32) / 16.0;
        crate::nearness(view, at)
    }

    fn view(&self, _player: PlayerId, a: &BenchAvatar) -> Option<Rect> {
        self.config
            .view_size
            .map(|side| Rect::centred(a.pos, Vec2::splat(side)))
    }
}

/// A bench match at [`DEFAULT_TICK_RATE`], its RNG seeded from `seed`.
pub fn new_world(seed: u64, config: BenchConfig) -> Result<World<Bench>, GameError> {
    new_world_at(seed, config, DEFAULT_TICK_RATE)
}

/// A bench match ticking `tick_rate` times per second, answering
/// [`crate::Simulation::save`] with a snapshot.
pub fn new_world_at(
    seed: u64,
    config: BenchConfig,
    tick_rate: u32,
) -> Result<World<Bench>, GameError> {
    config.validate()?;
    Ok(World::with_tick_rate(Bench::new(config), seed, tick_rate)?.with_snapshots())
}
