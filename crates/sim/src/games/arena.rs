//! The arena: the demo game, written against the public game API only.
//!
//! Each player owns one avatar for its whole session. An avatar moves in
//! the direction its player holds at [`ArenaConfig::player_speed`], faces
//! its aim, and while fire is held shoots a projectile every
//! [`ArenaConfig::fire_interval`]. A projectile flies straight, hits the
//! nearest living enemy avatar within [`ArenaConfig::avatar_radius`], and
//! expires after its lifetime or when it leaves the arena. An avatar at 0
//! hit points is dead: it neither moves nor fires, its `respawn` field
//! counts ticks down, and at 0 it comes back at a random spot with full
//! hit points. Every kill scores one for the shooter and emits
//! [`ArenaEvent::Kill`].
//!
//! One tick:
//! 1. avatars: the dead count down (and maybe respawn); the living move,
//!    aim, and queue a shot if fire is held and their gun is ready;
//! 2. projectiles: fly, expire, or hit (found through the grid, checked
//!    against the avatars' positions as the shooter saw them: lag
//!    compensation, below);
//! 3. avatars whose countdown ended respawn (after the projectiles, so a
//!    respawn is never hit in its first tick), and the queued shots spawn,
//!    to fly from the next tick on.
//!
//! **Lag compensation.** A shooter sees the others drawn in the past, by
//! its round trip and interpolation delay. A projectile remembers how far
//! back its shooter saw the world when it fired (`ctx.rewind.ticks`, in
//! ticks, bounded by the max rewind) and flies in the shooter's time: each
//! tick it is checked against the avatars as they stood that many ticks
//! before (`ctx.rewind.grid`), so a shot aimed at where a moving avatar was
//! drawn hits it. An avatar that was dead or not yet in the match at that
//! tick is not hit. A projectile of a shooter who saw the present (rewind
//! 0) is checked against the avatars' current positions.

mod config;

use glam::Vec2;
use rand::Rng;

pub use config::{ArenaConfig, ConfigError, DEFAULT_TOML};

use crate::entities::EntityKey;
use crate::game::{Ctx, Game, SimRng};
use crate::grid::GridSpec;
use crate::replicate::{NetId, PlayerId, Rect};
use crate::simulation::JoinError;
use crate::typed::IntField;
use crate::world::{DEFAULT_TICK_RATE, World};
use crate::{Event, Input, Replicate, StateHash};

use super::GameError;

/// Kind id of avatars.
pub const AVATAR: u8 = 0;
/// Kind id of projectiles.
pub const PROJECTILE: u8 = 1;

/// A player's avatar.
#[derive(Clone, Debug, PartialEq, StateHash, serde::Serialize, serde::Deserialize)]
pub struct Avatar {
    /// The player who owns it.
    pub player: PlayerId,
    /// Position, within `[0, arena_size]` on both axes.
    pub pos: Vec2,
    /// Facing, radians: the aim of the latest input.
    pub heading: f32,
    /// Hit points, `0..=max_hp`; 0 is dead.
    pub hp: i32,
    /// Kills scored.
    pub score: i32,
    /// Ticks until a dead avatar respawns; 0 while alive.
    pub respawn: u32,
    /// Ticks until the gun can fire again.
    pub cooldown: u32,
    /// The latest input applied: what the player holds.
    pub input: ArenaInput,
    /// The tick it last came to life (joined or respawned): a rewound hit
    /// test does not hit it at a tick before.
    pub alive_since: u64,
}

/// A projectile in flight.
#[derive(Clone, Debug, PartialEq, StateHash, serde::Serialize, serde::Deserialize)]
pub struct Projectile {
    /// Who fired it (scores the kill).
    pub owner: PlayerId,
    /// The shooter's avatar, to credit the score.
    pub owner_avatar: EntityKey,
    /// Position.
    pub pos: Vec2,
    /// Velocity, units per second.
    pub vel: Vec2,
    /// Direction of flight, radians.
    pub heading: f32,
    /// Ticks left before it expires.
    pub life: u32,
    /// How many ticks back its shooter saw the world when it fired: it hits
    /// the avatars where they stood that long before each tick of its flight.
    pub rewind: u32,
}

/// An arena entity.
#[derive(Clone, Debug, PartialEq, StateHash, serde::Serialize, serde::Deserialize)]
pub enum ArenaEntity {
    /// A player's avatar.
    Avatar(Avatar),
    /// A projectile.
    Projectile(Projectile),
}

/// The arena's input: a twin-stick shooter's move vector, aim and buttons.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Input,
    StateHash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ArenaInput {
    /// Movement x in -127..=127 (127 is full speed right).
    #[axis(127)]
    pub move_x: i8,
    /// Movement y in -127..=127 (127 is full speed down, screen coordinates).
    #[axis(127)]
    pub move_y: i8,
    /// Aim angle in 1/65536 turn, 0 pointing along +x, increasing toward +y.
    #[angle(65536)]
    pub aim: u16,
    /// Buttons held: bit 0 is fire.
    #[buttons("fire")]
    pub buttons: u8,
}

impl ArenaInput {
    /// Button bit: fire.
    pub const FIRE: u8 = 1;

    /// The movement direction with its length clamped to 1.
    pub fn direction(&self) -> Vec2 {
        let v = Vec2::new(
            f32::from(self.move_x.max(-127)) / 127.0,
            f32::from(self.move_y.max(-127)) / 127.0,
        );
        let len2 = v.length_squared();
        if len2 > 1.0 { v / libm::sqrtf(len2) } else { v }
    }

    /// The aim angle in radians.
    pub fn aim_radians(&self) -> f32 {
        f32::from(self.aim) / 65536.0 * core::f32::consts::TAU
    }

    /// Whether the fire button is held.
    pub fn firing(&self) -> bool {
        self.buttons & Self::FIRE != 0
    }
}

/// What the arena replicates: avatars and projectiles.
#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
pub enum ArenaRow {
    /// A player's avatar.
    Avatar {
        /// Position x.
        #[fixed(16)]
        x: f32,
        /// Position y.
        #[fixed(16)]
        y: f32,
        /// Facing, radians.
        #[angle(256)]
        heading: f32,
        /// Hit points.
        hp: u32,
        /// Kills scored.
        score: u32,
        /// Ticks until respawn.
        respawn: u32,
        /// Who owns the avatar, so a client can put the roster's names on
        /// avatars. Never changes, so it costs nothing in deltas.
        player: PlayerId,
    },
    /// A projectile.
    Projectile {
        /// Position x.
        #[fixed(16)]
        x: f32,
        /// Position y.
        #[fixed(16)]
        y: f32,
        /// Direction of flight, radians.
        #[angle(256)]
        heading: f32,
    },
}

/// What the arena's players hear: the kill feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Event)]
pub enum ArenaEvent {
    /// `killer` scored a kill on `victim`.
    Kill {
        /// Who scored.
        killer: PlayerId,
        /// Who died.
        victim: PlayerId,
    },
}

/// The arena's rules: its configuration resolved to ticks, plus scratch
/// buffers reused every tick. Its snapshot ([`crate::snapshot`]) holds the
/// configuration and the ticks, not the scratch buffers.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ArenaSaved")]
pub struct Arena {
    config: ArenaConfig,
    /// Ticks between two shots.
    fire_ticks: u32,
    /// Ticks a projectile lives.
    life_ticks: u32,
    /// Ticks a dead avatar waits.
    respawn_ticks: u32,
    /// Scratch: shots queued this tick.
    #[serde(skip)]
    shots: Vec<Projectile>,
    /// Scratch: projectiles to resolve this tick.
    #[serde(skip)]
    flying: Vec<Flying>,
    /// Scratch: projectiles expired this tick.
    #[serde(skip)]
    expired: Vec<EntityKey>,
    /// Scratch: avatars whose countdown ended this tick.
    #[serde(skip)]
    respawning: Vec<EntityKey>,
}

/// An [`Arena`] as a snapshot holds it (its fields but the scratch
/// buffers, in order): restored only if the configuration validates and
/// the ticks are at least one, as [`Arena::new`] makes them.
#[derive(serde::Deserialize)]
struct ArenaSaved {
    config: ArenaConfig,
    fire_ticks: u32,
    life_ticks: u32,
    respawn_ticks: u32,
}

impl TryFrom<ArenaSaved> for Arena {
    type Error = String;

    fn try_from(saved: ArenaSaved) -> Result<Self, String> {
        saved
            .config
            .validate("arena snapshot")
            .map_err(|e| e.to_string())?;
        if saved.fire_ticks == 0 || saved.life_ticks == 0 {
            return Err("arena snapshot: a tick count is 0".into());
        }
        Ok(Self {
            config: saved.config,
            fire_ticks: saved.fire_ticks,
            life_ticks: saved.life_ticks,
            respawn_ticks: saved.respawn_ticks,
            shots: Vec::new(),
            flying: Vec::new(),
            expired: Vec::new(),
            respawning: Vec::new(),
        })
    }
}

/// A projectile to resolve this tick.
#[derive(Clone, Copy, Debug)]
struct Flying {
    /// The projectile.
    shot: EntityKey,
    /// Where it is now.
    pos: Vec2,
    /// Who fired it.
    owner: PlayerId,
    /// The shooter's avatar.
    owner_avatar: EntityKey,
    /// How far back its shooter saw, in ticks.
    rewind: u32,
}

/// A uniformly random spot in a square arena of side `side`.
fn random_spot(side: f32, rng: &mut SimRng) -> Vec2 {
    Vec2::new(rng.random::<f32>() * side, rng.random::<f32>() * side)
}

/// Seconds to whole ticks, at least one.
fn ticks(seconds: f32, tick_rate: u32) -> u32 {
    (libm::ceilf(seconds * tick_rate as f32 - 1e-3) as u32).max(1)
}

impl Arena {
    /// The rules for `config` at `tick_rate`. The config must be valid
    /// ([`ArenaConfig::validate`]); [`new_world`] checks it.
    pub fn new(config: ArenaConfig, tick_rate: u32) -> Self {
        Self {
            fire_ticks: ticks(config.fire_interval, tick_rate),
            life_ticks: ticks(config.projectile_lifetime, tick_rate),
            respawn_ticks: ticks(config.respawn_delay, tick_rate),
            config,
            shots: Vec::new(),
            flying: Vec::new(),
            expired: Vec::new(),
            respawning: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ArenaConfig {
        &self.config
    }

    /// Ticks a dead avatar waits before it respawns.
    pub fn respawn_ticks(&self) -> u32 {
        self.respawn_ticks
    }

    /// Ticks a projectile flies.
    pub fn projectile_life_ticks(&self) -> u32 {
        self.life_ticks
    }

    /// Most projectiles one player can have in flight at the end of a tick.
    pub fn max_projectiles_per_player(&self) -> usize {
        self.life_ticks.div_ceil(self.fire_ticks) as usize
    }

    fn inside(&self, p: Vec2) -> bool {
        let side = self.config.arena_size;
        p.x >= 0.0 && p.y >= 0.0 && p.x <= side && p.y <= side
    }

    fn max_hp(&self) -> i32 {
        self.config.max_hp as i32
    }

    /// The living enemy avatar a flying projectile hits, if any: the
    /// nearest within the avatar radius (equal distances go to the older
    /// entity), where the avatars stood `rewind` ticks ago, or now for a
    /// rewind of 0.
    fn target(&self, ctx: &Ctx<'_, ArenaEntity>, f: &Flying) -> Option<EntityKey> {
        let radius = self.config.avatar_radius;
        let mut best: Option<(f32, NetId, EntityKey)> = None;
        let mut consider = |d2: f32, id: NetId, key: EntityKey| {
            if d2 <= radius * radius && best.is_none_or(|(bd, bid, _)| (d2, id) < (bd, bid)) {
                best = Some((d2, id, key));
            }
        };
        let enemy = |key: EntityKey| match ctx.entities.get(key) {
            Some(ArenaEntity::Avatar(a)) if a.player != f.owner && a.hp > 0 => Some(a),
            _ => None,
        };
        match ctx.rewind.grid(f.rewind) {
            // The shooter saw the past: the positions of that tick, exactly,
            // of the avatars alive then and now.
            Some(past) => {
                let then = ctx.rewind.tick_of(f.rewind);
                for item in past.query_radius(f.pos, radius) {
                    if enemy(item.key).is_some_and(|a| a.alive_since <= then) {
                        consider(item.pos.distance_squared(f.pos), item.id, item.key);
                    }
                }
            }
            // The present. The grid holds positions from before this tick's
            // moves: widen the search by one step, then check the current
            // position exactly.
            None => {
                let reach = radius + self.config.player_speed * ctx.dt;
                for item in ctx.grid.query_radius(f.pos, reach) {
                    if let Some(a) = enemy(item.key) {
                        consider(a.pos.distance_squared(f.pos), item.id, item.key);
                    }
                }
            }
        }
        best.map(|(_, _, key)| key)
    }

    /// Step 1 of a tick: every avatar.
    fn tick_avatars(&mut self, ctx: &mut Ctx<'_, ArenaEntity>) {
        let side = self.config.arena_size;
        for (key, _, e) in ctx.entities.iter_mut() {
            let ArenaEntity::Avatar(a) = e else { continue };
            if a.hp <= 0 {
                a.respawn = a.respawn.saturating_sub(1);
                if a.respawn == 0 {
                    self.respawning.push(key);
                }
                continue;
            }
            // Exactly the browser client's prediction: keep in step with it.
            let velocity = a.input.direction() * self.config.player_speed;
            a.pos += velocity * ctx.dt;
            a.pos.x = a.pos.x.clamp(0.0, side);
            a.pos.y = a.pos.y.clamp(0.0, side);
            a.heading = a.input.aim_radians();
            a.cooldown = a.cooldown.saturating_sub(1);
            if a.input.firing() && a.cooldown == 0 {
                a.cooldown = self.fire_ticks;
                let dir = Vec2::from_angle(a.heading);
                self.shots.push(Projectile {
                    owner: a.player,
                    owner_avatar: key,
                    pos: a.pos,
                    vel: dir * self.config.projectile_speed,
                    heading: a.heading,
                    life: self.life_ticks,
                    rewind: ctx.rewind.ticks(a.player),
                });
            }
        }
    }

    /// Step 2 of a tick: every projectile flies, then expires or hits.
    fn tick_projectiles(&mut self, ctx: &mut Ctx<'_, ArenaEntity>) {
        for (key, _, e) in ctx.entities.iter_mut() {
            let ArenaEntity::Projectile(p) = e else {
                continue;
            };
            p.pos += p.vel * ctx.dt;
            p.life = p.life.saturating_sub(1);
            if p.life == 0 || !self.inside(p.pos) {
                self.expired.push(key);
            } else {
                self.flying.push(Flying {
                    shot: key,
                    pos: p.pos,
                    owner: p.owner,
                    owner_avatar: p.owner_avatar,
                    rewind: p.rewind,
                });
            }
        }
        for key in self.expired.drain(..) {
            ctx.entities.despawn(key);
        }

        for f in &self.flying {
            let Flying {
                shot,
                owner,
                owner_avatar,
                ..
            } = *f;
            let Some(victim_key) = self.target(ctx, f) else {
                continue;
            };
            ctx.entities.despawn(shot);
            let Some(ArenaEntity::Avatar(victim)) = ctx.entities.get_mut(victim_key) else {
                continue;
            };
            victim.hp = (victim.hp - self.config.projectile_damage as i32).max(0);
            if victim.hp > 0 {
                continue;
            }
            victim.respawn = self.respawn_ticks;
            let victim = victim.player;
            if let Some(ArenaEntity::Avatar(killer)) = ctx.entities.get_mut(owner_avatar) {
                killer.score = killer.score.saturating_add(1);
            }
            ctx.emit(ArenaEvent::Kill {
                killer: owner,
                victim,
            });
        }
        self.flying.clear();
    }
}

impl Game for Arena {
    type Entity = ArenaEntity;
    type Row = ArenaRow;
    type Input = ArenaInput;
    type Event = ArenaEvent;
    const NAME: &'static str = "arena";

    fn max_players(&self) -> usize {
        self.config.max_players as usize
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, ArenaEntity>,
        player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        let pos = random_spot(self.config.arena_size, ctx.rng);
        Ok(ctx.entities.spawn(ArenaEntity::Avatar(Avatar {
            player,
            pos,
            heading: 0.0,
            hp: self.max_hp(),
            score: 0,
            respawn: 0,
            cooldown: 0,
            input: ArenaInput::default(),
            alive_since: ctx.tick,
        })))
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, ArenaEntity>,
        _player: PlayerId,
        avatar: EntityKey,
        input: &ArenaInput,
    ) {
        if let Some(ArenaEntity::Avatar(a)) = ctx.entities.get_mut(avatar) {
            a.input = *input;
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, ArenaEntity>) {
        self.tick_avatars(ctx);
        self.tick_projectiles(ctx);
        let (side, max_hp) = (self.config.arena_size, self.max_hp());
        for key in self.respawning.drain(..) {
            let spot = random_spot(side, ctx.rng);
            if let Some(ArenaEntity::Avatar(a)) = ctx.entities.get_mut(key) {
                a.pos = spot;
                a.hp = max_hp;
                a.cooldown = 0;
                a.alive_since = ctx.tick;
            }
        }
        for shot in self.shots.drain(..) {
            ctx.entities.spawn(ArenaEntity::Projectile(shot));
        }
    }

    fn replicate(&self, entity: &ArenaEntity) -> Option<ArenaRow> {
        Some(match entity {
            ArenaEntity::Avatar(a) => ArenaRow::Avatar {
                x: a.pos.x,
                y: a.pos.y,
                heading: a.heading,
                hp: u32::from_wire(a.hp),
                score: u32::from_wire(a.score),
                respawn: a.respawn,
                player: a.player,
            },
            ArenaEntity::Projectile(p) => ArenaRow::Projectile {
                x: p.pos.x,
                y: p.pos.y,
                heading: p.heading,
            },
        })
    }

    fn client_constants(&self) -> Vec<(String, f32)> {
        vec![
            ("arena_size".into(), self.config.arena_size),
            ("player_speed".into(), self.config.player_speed),
            ("max_hp".into(), self.config.max_hp as f32),
            // What the page needs to draw its own shots at once.
            ("projectile_speed".into(), self.config.projectile_speed),
            ("fire_ticks".into(), self.fire_ticks as f32),
            ("projectile_life_ticks".into(), self.life_ticks as f32),
        ]
    }

    fn position(&self, entity: &ArenaEntity) -> Option<Vec2> {
        Some(match entity {
            ArenaEntity::Avatar(a) => a.pos,
            ArenaEntity::Projectile(p) => p.pos,
        })
    }

    fn grid(&self) -> GridSpec {
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(self.config.arena_size),
            },
            // Hit queries reach about one avatar radius; view queries reach
            // 1000 units. 256 keeps both to a handful of cells, and the
            // cell count (what a rebuild clears) small even in big arenas.
            cell_size: (self.config.avatar_radius * 4.0).max(256.0),
        }
    }

    /// Nearness to the view's centre: every kind's first two fields are
    /// its `x` and `y`, in sixteenths of a unit.
    fn priority(&self, view: Rect, row: &crate::ReplicatedEntity) -> f32 {
        let at = Vec2::new(row.values[0] as f32, row.values[1] as f32) / 16.0;
        crate::nearness(view, at)
    }

    fn view(&self, _player: PlayerId, avatar: &ArenaEntity) -> Option<Rect> {
        let ArenaEntity::Avatar(a) = avatar else {
            return None;
        };
        Some(Rect::centred(a.pos, Vec2::splat(self.config.view_size)))
    }
}

/// An arena match at [`DEFAULT_TICK_RATE`], its RNG seeded from `seed`.
pub fn new_world(seed: u64, config: ArenaConfig) -> Result<World<Arena>, GameError> {
    new_world_at(seed, config, DEFAULT_TICK_RATE)
}

/// An arena match ticking `tick_rate` times per second, answering
/// [`crate::Simulation::save`] with a snapshot.
pub fn new_world_at(
    seed: u64,
    config: ArenaConfig,
    tick_rate: u32,
) -> Result<World<Arena>, GameError> {
    config.validate("arena config")?;
    Ok(World::with_tick_rate(Arena::new(config, tick_rate), seed, tick_rate)?.with_snapshots())
}
