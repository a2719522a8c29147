//! Asteroids: the second game that ships with Tickwire, and the proof that
//! the platform is not one game. Nothing in the server, the protocol or the
//! swarm knows it; it is written against the public game API only, as any
//! game developer's would be.
//!
//! Each player flies a ship that turns, thrusts and fires (no twin-stick:
//! its input is a turn axis and two buttons). The field wraps around at its
//! edges. Asteroids drift; a bullet that hits one splits it into two smaller
//! ones (the smallest break up) and scores for the shooter. A bullet that
//! hits another ship destroys it and scores a kill. A ship that flies into
//! an asteroid crashes: a death nobody caused. A destroyed ship comes back
//! at a free spot after a delay. New large asteroids drift in from the edge
//! whenever the field holds fewer than its minimum.
//!
//! One tick:
//! 1. ships: the wrecked count down (and maybe come back); the living turn,
//!    thrust, drift and fire;
//! 2. bullets fly, expire, or hit an asteroid or a ship;
//! 3. asteroids drift; ships that touch one crash;
//! 4. split fragments, new bullets and new asteroids spawn.

use glam::Vec2;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tickwire_sim::prelude::*;

/// The game's settings: `--config FILE` (TOML) overrides any of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsteroidsConfig {
    /// Side of the square field, which wraps around (default 2000).
    pub field_size: f32,
    /// Side of the square each player sees around its ship (default 1200).
    pub view_size: f32,
    /// Most players in one match (default 32).
    pub max_players: u32,
    /// Fewest large asteroids' worth of rock on the field: new large ones
    /// drift in while there is less (default 12).
    pub min_asteroids: u32,
    /// Turn rate at full stick, radians per second (default 4).
    pub turn_rate: f32,
    /// Acceleration while thrusting, units per second squared (default 400).
    pub thrust: f32,
    /// Top speed of a ship, units per second (default 350).
    pub max_speed: f32,
    /// Bullet speed, units per second (default 700).
    pub bullet_speed: f32,
    /// Seconds a bullet flies (default 1).
    pub bullet_lifetime: f32,
    /// Seconds between two shots of one ship (default 0.2).
    pub fire_interval: f32,
    /// Seconds a destroyed ship waits to come back (default 2).
    pub respawn_delay: f32,
}

impl Default for AsteroidsConfig {
    fn default() -> Self {
        Self {
            field_size: 2000.0,
            view_size: 1200.0,
            max_players: 32,
            min_asteroids: 12,
            turn_rate: 4.0,
            thrust: 400.0,
            max_speed: 350.0,
            bullet_speed: 700.0,
            bullet_lifetime: 1.0,
            fire_interval: 0.2,
            respawn_delay: 2.0,
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("asteroids config: `{field}` is {value}, it must be {rule}")]
pub struct ConfigError {
    /// The setting.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
    /// What it must be.
    pub rule: &'static str,
}

impl AsteroidsConfig {
    /// Checks every setting is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field, value: f32, max: f32| {
            if value.is_finite() && value > 0.0 && value <= max {
                Ok(())
            } else {
                Err(ConfigError {
                    field,
                    value: f64::from(value),
                    rule: "positive and not absurdly large",
                })
            }
        };
        positive("field_size", self.field_size, 1.0e5)?;
        positive("view_size", self.view_size, 1.0e5)?;
        positive("turn_rate", self.turn_rate, 100.0)?;
        positive("thrust", self.thrust, 1.0e5)?;
        positive("max_speed", self.max_speed, 1.0e5)?;
        positive("bullet_speed", self.bullet_speed, 1.0e5)?;
        positive("bullet_lifetime", self.bullet_lifetime, 60.0)?;
        positive("fire_interval", self.fire_interval, 60.0)?;
        positive("respawn_delay", self.respawn_delay, 600.0)?;
        if !(1..=10_000).contains(&self.max_players) {
            return Err(ConfigError {
                field: "max_players",
                value: f64::from(self.max_players),
                rule: "1 to 10000",
            });
        }
        if self.min_asteroids > 1000 {
            return Err(ConfigError {
                field: "min_asteroids",
                value: f64::from(self.min_asteroids),
                rule: "at most 1000",
            });
        }
        Ok(())
    }
}

/// Radius of a ship.
pub const SHIP_RADIUS: f32 = 14.0;
/// Radius of an asteroid of size 1; size `s` has `s` times this.
pub const ROCK_RADIUS: f32 = 16.0;
/// Largest asteroid size.
pub const LARGEST: u8 = 3;
/// Fastest an asteroid drifts, units per second.
pub const ROCK_MAX_SPEED: f32 = 150.0;

/// What a player sends: a turn and two buttons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Input, StateHash, Serialize, Deserialize)]
pub struct ShipInput {
    /// Turn, -1.0 (left) to 1.0 (right), in 1/127 steps.
    #[axis(127)]
    pub turn: f32,
    /// Thrust held.
    pub thrust: bool,
    /// Fire held.
    pub fire: bool,
}

/// A player's ship.
#[derive(Clone, Debug, PartialEq, StateHash, Serialize, Deserialize)]
pub struct Ship {
    /// Its player.
    pub player: PlayerId,
    /// Position.
    pub pos: Vec2,
    /// Velocity, units per second.
    pub vel: Vec2,
    /// Facing, radians.
    pub heading: f32,
    /// Score: asteroids broken and ships destroyed.
    pub score: u32,
    /// Ticks until a destroyed ship comes back; 0 while flying.
    pub wrecked: u32,
    /// Ticks until the gun can fire again.
    pub cooldown: u32,
    /// What the player holds.
    pub input: ShipInput,
}

/// A drifting rock.
#[derive(Clone, Debug, PartialEq, StateHash, Serialize, Deserialize)]
pub struct Asteroid {
    /// Position.
    pub pos: Vec2,
    /// Velocity.
    pub vel: Vec2,
    /// Size, 1 to [`LARGEST`].
    pub size: u8,
}

/// A bullet in flight.
#[derive(Clone, Debug, PartialEq, StateHash, Serialize, Deserialize)]
pub struct Bullet {
    /// Who fired it.
    pub owner: PlayerId,
    /// Position.
    pub pos: Vec2,
    /// Velocity.
    pub vel: Vec2,
    /// Ticks left to fly.
    pub life: u32,
}

/// Every entity of the game.
#[derive(Clone, Debug, PartialEq, StateHash, Serialize, Deserialize)]
pub enum Thing {
    /// A ship.
    Ship(Ship),
    /// An asteroid.
    Asteroid(Asteroid),
    /// A bullet.
    Bullet(Bullet),
}

/// A ship's `status` on the wire: flying.
pub const FLYING: u8 = 0;
/// A ship's `status` on the wire: flying with its thrust on.
pub const THRUSTING: u8 = 1;
/// A ship's `status` on the wire: wrecked, waiting to come back.
pub const WRECKED: u8 = 2;

/// What goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
pub enum AsteroidsRow {
    /// A ship.
    Ship {
        /// Position x.
        #[fixed(8)]
        x: f32,
        /// Position y.
        #[fixed(8)]
        y: f32,
        /// Facing.
        #[angle(256)]
        heading: f32,
        /// Velocity x, in 1/8 units per second: what a client needs to
        /// predict its own ship.
        #[fixed(8)]
        vx: f32,
        /// Velocity y.
        #[fixed(8)]
        vy: f32,
        /// Its player, named from the roster.
        player: PlayerId,
        /// Score.
        score: u32,
        /// [`FLYING`], [`THRUSTING`] (to draw the flame) or [`WRECKED`]
        /// (waiting to come back).
        #[int(0, 2)]
        status: u8,
    },
    /// An asteroid.
    Asteroid {
        /// Position x.
        #[fixed(8)]
        x: f32,
        /// Position y.
        #[fixed(8)]
        y: f32,
        /// Size, 1 to 3.
        #[int(1, 3)]
        size: u8,
    },
    /// A bullet.
    Bullet {
        /// Position x.
        #[fixed(8)]
        x: f32,
        /// Position y.
        #[fixed(8)]
        y: f32,
    },
}

/// What players hear.
#[derive(Clone, Copy, Debug, PartialEq, Event)]
pub enum AsteroidsEvent {
    /// `by` broke an asteroid of `size`.
    Broke {
        /// The shooter.
        by: PlayerId,
        /// The asteroid's size before it broke.
        #[int(1, 3)]
        size: u8,
    },
    /// `killer` shot down `victim`.
    Kill {
        /// The shooter.
        killer: PlayerId,
        /// The ship's player.
        victim: PlayerId,
    },
    /// `player` flew into an asteroid: nobody scores.
    Crash {
        /// The ship's player.
        player: PlayerId,
    },
}

/// The rules, resolved to ticks, and scratch buffers. A snapshot holds
/// the rules, not the scratch buffers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Asteroids {
    config: AsteroidsConfig,
    fire_ticks: u32,
    bullet_ticks: u32,
    respawn_ticks: u32,
    /// Scratch: what spawns at the end of the tick.
    #[serde(skip)]
    spawns: Vec<Thing>,
    /// Scratch: the bullets to move this tick.
    #[serde(skip)]
    bullets: Vec<EntityKey>,
    /// Scratch: the players and their ships, to check for crashes.
    #[serde(skip)]
    ships: Vec<(PlayerId, EntityKey)>,
}

impl Asteroids {
    /// The rules for `config` at `tick_rate`.
    pub fn new(config: AsteroidsConfig, tick_rate: u32) -> Self {
        let ticks = |seconds: f32| (libm::roundf(seconds * tick_rate as f32) as u32).max(1);
        Self {
            fire_ticks: ticks(config.fire_interval),
            bullet_ticks: ticks(config.bullet_lifetime),
            respawn_ticks: ticks(config.respawn_delay),
            config,
            spawns: Vec::new(),
            bullets: Vec::new(),
            ships: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AsteroidsConfig {
        &self.config
    }

    /// `p` wrapped into the field.
    fn wrap(&self, p: Vec2) -> Vec2 {
        let side = self.config.field_size;
        Vec2::new(p.x.rem_euclid(side), p.y.rem_euclid(side))
    }

    fn random_spot(&self, rng: &mut SimRng) -> Vec2 {
        let side = self.config.field_size;
        Vec2::new(rng.random::<f32>() * side, rng.random::<f32>() * side)
    }

    fn random_drift(rng: &mut SimRng, speed: f32) -> Vec2 {
        let angle = rng.random::<f32>() * core::f32::consts::TAU;
        Vec2::new(libm::cosf(angle), libm::sinf(angle)) * speed * (0.5 + rng.random::<f32>())
    }

    /// Step 1: ships.
    fn tick_ships(&mut self, ctx: &mut Ctx<'_, Thing>) {
        let dt = ctx.dt;
        for (_, _, thing) in ctx.entities.iter_mut() {
            let Thing::Ship(ship) = thing else { continue };
            if ship.wrecked > 0 {
                ship.wrecked -= 1;
                if ship.wrecked == 0 {
                    // Back at a random spot, still.
                    let side = self.config.field_size;
                    ship.pos = Vec2::new(
                        ctx.rng.random::<f32>() * side,
                        ctx.rng.random::<f32>() * side,
                    );
                    ship.vel = Vec2::ZERO;
                }
                continue;
            }
            ship.heading = (ship.heading + ship.input.turn * self.config.turn_rate * dt)
                .rem_euclid(core::f32::consts::TAU);
            let facing = Vec2::new(libm::cosf(ship.heading), libm::sinf(ship.heading));
            if ship.input.thrust {
                ship.vel += facing * self.config.thrust * dt;
            }
            let speed = ship.vel.length();
            if speed > self.config.max_speed {
                ship.vel *= self.config.max_speed / speed;
            }
            ship.pos = self.wrap(ship.pos + ship.vel * dt);
            ship.cooldown = ship.cooldown.saturating_sub(1);
            if ship.input.fire && ship.cooldown == 0 {
                ship.cooldown = self.fire_ticks;
                self.spawns.push(Thing::Bullet(Bullet {
                    owner: ship.player,
                    pos: ship.pos + facing * SHIP_RADIUS,
                    vel: ship.vel + facing * self.config.bullet_speed,
                    life: self.bullet_ticks,
                }));
            }
        }
    }

    /// Step 2: bullets fly, expire or hit.
    fn tick_bullets(&mut self, ctx: &mut Ctx<'_, Thing>) {
        let dt = ctx.dt;
        let mut bullets = std::mem::take(&mut self.bullets);
        bullets.clear();
        bullets.extend(
            ctx.entities
                .iter()
                .filter(|(_, _, t)| matches!(t, Thing::Bullet(_)))
                .map(|(k, _, _)| k),
        );
        for &key in &bullets {
            let Some(Thing::Bullet(bullet)) = ctx.entities.get_mut(key) else {
                continue;
            };
            bullet.pos = self.wrap(bullet.pos + bullet.vel * dt);
            bullet.life = bullet.life.saturating_sub(1);
            let (pos, owner, life) = (bullet.pos, bullet.owner, bullet.life);
            if life == 0 {
                ctx.entities.despawn(key);
                continue;
            }
            // The nearest thing hit, lowest net id first on a tie.
            // The grid holds where things were when the tick began: widen
            // the search by the most anything moved since.
            let reach =
                ROCK_RADIUS * f32::from(LARGEST) + (self.config.max_speed + ROCK_MAX_SPEED) * dt;
            let mut hit: Option<(f32, NetId, EntityKey)> = None;
            for item in ctx.grid.query_radius(pos, reach) {
                let radius = match ctx.entities.get(item.key) {
                    Some(Thing::Asteroid(a)) => ROCK_RADIUS * f32::from(a.size),
                    Some(Thing::Ship(s)) if s.player != owner && s.wrecked == 0 => SHIP_RADIUS,
                    _ => continue,
                };
                let Some(at) = ctx.entities.get(item.key).and_then(position) else {
                    continue;
                };
                let d2 = at.distance_squared(pos);
                if d2 <= radius * radius && hit.is_none_or(|(bd, bid, _)| (d2, item.id) < (bd, bid))
                {
                    hit = Some((d2, item.id, item.key));
                }
            }
            let Some((_, _, target)) = hit else { continue };
            ctx.entities.despawn(key);
            match ctx.entities.get_mut(target) {
                Some(Thing::Asteroid(rock)) => {
                    let (size, at, vel) = (rock.size, rock.pos, rock.vel);
                    ctx.entities.despawn(target);
                    if size > 1 {
                        for _ in 0..2 {
                            let vel = (vel + Self::random_drift(ctx.rng, 60.0))
                                .clamp_length_max(ROCK_MAX_SPEED);
                            self.spawns.push(Thing::Asteroid(Asteroid {
                                pos: at,
                                vel,
                                size: size - 1,
                            }));
                        }
                    }
                    self.credit(ctx, owner);
                    ctx.emit(AsteroidsEvent::Broke { by: owner, size });
                }
                Some(Thing::Ship(ship)) => {
                    ship.wrecked = self.respawn_ticks;
                    let victim = ship.player;
                    self.credit(ctx, owner);
                    ctx.emit(AsteroidsEvent::Kill {
                        killer: owner,
                        victim,
                    });
                }
                _ => {}
            }
        }
        self.bullets = bullets;
    }

    /// One point for `player`, if it is still here.
    fn credit(&self, ctx: &mut Ctx<'_, Thing>, player: PlayerId) {
        if let Some(Thing::Ship(ship)) = ctx.avatar(player).and_then(|k| ctx.entities.get_mut(k)) {
            ship.score = ship.score.saturating_add(1);
        }
    }

    /// Step 3: asteroids drift; ships that touch one crash.
    fn tick_asteroids(&mut self, ctx: &mut Ctx<'_, Thing>) {
        let dt = ctx.dt;
        let mut rock_mass = 0u32;
        for (_, _, thing) in ctx.entities.iter_mut() {
            if let Thing::Asteroid(rock) = thing {
                rock.pos = self.wrap(rock.pos + rock.vel * dt);
                rock_mass += u32::from(rock.size);
            }
        }
        let mut ships = std::mem::take(&mut self.ships);
        ships.clear();
        ships.extend(ctx.players());
        for &(player, key) in &ships {
            let Some(Thing::Ship(ship)) = ctx.entities.get(key) else {
                continue;
            };
            if ship.wrecked > 0 {
                continue;
            }
            let pos = ship.pos;
            let reach = SHIP_RADIUS + ROCK_RADIUS * f32::from(LARGEST) + ROCK_MAX_SPEED * dt;
            let crashed = ctx.grid.query_radius(pos, reach).any(|item| {
                matches!(ctx.entities.get(item.key), Some(Thing::Asteroid(rock))
                    if rock.pos.distance(pos) <= SHIP_RADIUS + ROCK_RADIUS * f32::from(rock.size))
            });
            if crashed {
                if let Some(Thing::Ship(ship)) = ctx.entities.get_mut(key) {
                    ship.wrecked = self.respawn_ticks;
                }
                ctx.emit(AsteroidsEvent::Crash { player });
            }
        }
        self.ships = ships;
        // Keep the field stocked: a large rock drifts in from the left edge.
        let wanted = self.config.min_asteroids * u32::from(LARGEST);
        let mut mass = rock_mass + self.spawned_mass();
        while mass < wanted {
            let y = ctx.rng.random::<f32>() * self.config.field_size;
            let vel = Self::random_drift(ctx.rng, 50.0);
            self.spawns.push(Thing::Asteroid(Asteroid {
                pos: Vec2::new(0.0, y),
                vel,
                size: LARGEST,
            }));
            mass += u32::from(LARGEST);
        }
    }

    fn spawned_mass(&self) -> u32 {
        self.spawns
            .iter()
            .map(|t| match t {
                Thing::Asteroid(rock) => u32::from(rock.size),
                _ => 0,
            })
            .sum()
    }
}

/// Where a thing is.
fn position(thing: &Thing) -> Option<Vec2> {
    Some(match thing {
        Thing::Ship(s) => s.pos,
        Thing::Asteroid(a) => a.pos,
        Thing::Bullet(b) => b.pos,
    })
}

impl Game for Asteroids {
    type Entity = Thing;
    type Row = AsteroidsRow;
    type Input = ShipInput;
    type Event = AsteroidsEvent;
    const NAME: &'static str = "asteroids";

    fn max_players(&self) -> usize {
        self.config.max_players as usize
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Thing>,
        player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        let pos = self.random_spot(ctx.rng);
        let heading = ctx.rng.random::<f32>() * core::f32::consts::TAU;
        Ok(ctx.entities.spawn(Thing::Ship(Ship {
            player,
            pos,
            vel: Vec2::ZERO,
            heading,
            score: 0,
            // Starts wrecked for a moment, like a respawn: never inside a
            // rock on the first tick.
            wrecked: 1,
            cooldown: 0,
            input: ShipInput::default(),
        })))
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Thing>,
        _player: PlayerId,
        avatar: EntityKey,
        input: &ShipInput,
    ) {
        if let Some(Thing::Ship(ship)) = ctx.entities.get_mut(avatar) {
            ship.input = *input;
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Thing>) {
        self.tick_ships(ctx);
        self.tick_bullets(ctx);
        self.tick_asteroids(ctx);
        for thing in self.spawns.drain(..) {
            ctx.entities.spawn(thing);
        }
    }

    fn replicate(&self, thing: &Thing) -> Option<AsteroidsRow> {
        Some(match thing {
            Thing::Ship(s) => AsteroidsRow::Ship {
                x: s.pos.x,
                y: s.pos.y,
                heading: s.heading,
                vx: s.vel.x,
                vy: s.vel.y,
                player: s.player,
                score: s.score,
                status: if s.wrecked > 0 {
                    WRECKED
                } else if s.input.thrust {
                    THRUSTING
                } else {
                    FLYING
                },
            },
            Thing::Asteroid(a) => AsteroidsRow::Asteroid {
                x: a.pos.x,
                y: a.pos.y,
                size: a.size,
            },
            Thing::Bullet(b) => AsteroidsRow::Bullet {
                x: b.pos.x,
                y: b.pos.y,
            },
        })
    }

    fn position(&self, thing: &Thing) -> Option<Vec2> {
        position(thing)
    }

    fn grid(&self) -> GridSpec {
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(self.config.field_size),
            },
            cell_size: 100.0,
        }
    }

    fn view(&self, _player: PlayerId, ship: &Thing) -> Option<Rect> {
        position(ship).map(|at| Rect::centred(at, Vec2::splat(self.config.view_size)))
    }

    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        // x and y are the first two fields of every kind, in 1/8 units.
        let at = Vec2::new(row.values[0] as f32, row.values[1] as f32) / 8.0;
        nearness(view, at)
    }

    fn client_constants(&self) -> Vec<(String, f32)> {
        // The page draws with the sizes and predicts its own ship with the
        // ship's rules.
        vec![
            ("field_size".into(), self.config.field_size),
            ("ship_radius".into(), SHIP_RADIUS),
            ("rock_radius".into(), ROCK_RADIUS),
            ("turn_rate".into(), self.config.turn_rate),
            ("thrust".into(), self.config.thrust),
            ("max_speed".into(), self.config.max_speed),
        ]
    }
}

/// How the standard game-server flags reach the game: `--config` is an
/// [`AsteroidsConfig`] in TOML, `--arena-size` sets the field's side and
/// `--view-size` the view's.
impl Configure for Asteroids {
    type Config = AsteroidsConfig;

    fn build(config: &AsteroidsConfig, tick_rate: u32) -> Result<Self, SetupError> {
        config.validate().map_err(SetupError::invalid)?;
        Ok(Self::new(config.clone(), tick_rate))
    }

    fn shape(config: &mut AsteroidsConfig, shape: Shape) -> Result<(), SetupError> {
        match shape {
            Shape::ArenaSize(side) => config.field_size = side,
            Shape::ViewSize(side) => config.view_size = side,
        }
        Ok(())
    }

    /// The game and its entities implement serde: its rooms can be saved
    /// and continued on another node.
    fn snapshots(world: World<Self>) -> World<Self> {
        world.with_snapshots()
    }
}
