//! The arena benchmark scenario (`bench/arena-scenario.md` of the project's
//! shared notes) reduced to what replication sees: N avatars moving at
//! 200 units/s in a 4000 x 4000 arena at 30 Hz, each bot picking a new
//! uniformly random direction once per second and sending an input every
//! 100 ms. Shared by the bandwidth test and the bandwidth bench, so the
//! figure the bench prints is the one the test guards.

#![allow(dead_code)]

use std::sync::Arc;

use tickwire_protocol::{ServerHistory, write_snapshot_message};
use tickwire_sim::{
    FieldDecl, KindDecl, NetId, Quantization, ReplicatedEntity, Schema,
    replicate::{quantize_angle, quantize_fixed},
};

/// Ticks per second.
pub const TICK_RATE: u32 = 30;
/// Side of the arena, in units.
pub const ARENA: f32 = 4000.0;
/// Avatar speed, units per second.
pub const SPEED: f32 = 200.0;

/// The avatar schema: position at 1/16 unit, heading in 1/256 turn, hit
/// points.
pub fn arena_schema() -> Schema {
    let field = |id: u8, name: &str, quant| FieldDecl {
        id,
        name: name.into(),
        quant,
    };
    Schema {
        game: "arena".into(),
        kinds: vec![KindDecl {
            id: 0,
            name: "avatar".into(),
            fields: vec![
                field(0, "x", Quantization::Fixed { scale: 16 }),
                field(1, "y", Quantization::Fixed { scale: 16 }),
                field(2, "heading", Quantization::Angle { steps: 256 }),
                field(3, "hp", Quantization::Int { min: 0, max: 100 }),
            ],
        }],
        input: vec![],
        events: vec![],
    }
}

/// A small deterministic generator (SplitMix64): the scenario must give the
/// same figure on every run and needs no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Debug, Clone)]
struct Bot {
    pos: (f32, f32),
    dir: (f32, f32),
    heading: f32,
    /// Tick within each second at which this bot turns.
    turn_phase: u32,
}

/// The room: every avatar, stepped one tick at a time.
#[derive(Debug, Clone)]
pub struct ArenaScenario {
    rng: SplitMix,
    bots: Vec<Bot>,
    tick: u32,
}

impl ArenaScenario {
    pub fn new(players: usize, seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let bots = (0..players)
            .map(|_| {
                let pos = (rng.unit() * ARENA, rng.unit() * ARENA);
                let turn_phase = (rng.unit() * TICK_RATE as f32) as u32 % TICK_RATE;
                Bot {
                    pos,
                    dir: (0.0, 0.0),
                    heading: 0.0,
                    turn_phase,
                }
            })
            .collect();
        let mut scenario = Self { rng, bots, tick: 0 };
        for i in 0..players {
            scenario.turn(i);
        }
        scenario
    }

    fn turn(&mut self, i: usize) {
        let angle = self.rng.unit() * std::f32::consts::TAU;
        let bot = &mut self.bots[i];
        bot.dir = (angle.cos(), angle.sin());
        bot.heading = bot.dir.1.atan2(bot.dir.0);
    }

    /// The current tick.
    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// Advances one tick and returns the replicated rows, sorted by id.
    pub fn step(&mut self) -> Vec<ReplicatedEntity> {
        self.tick += 1;
        let dt = 1.0 / TICK_RATE as f32;
        for i in 0..self.bots.len() {
            if self.tick % TICK_RATE == self.bots[i].turn_phase {
                self.turn(i);
            }
            let bot = &mut self.bots[i];
            bot.pos.0 = (bot.pos.0 + bot.dir.0 * SPEED * dt).clamp(0.0, ARENA);
            bot.pos.1 = (bot.pos.1 + bot.dir.1 * SPEED * dt).clamp(0.0, ARENA);
        }
        self.rows()
    }

    /// The replicated rows of the current tick.
    pub fn rows(&self) -> Vec<ReplicatedEntity> {
        self.bots
            .iter()
            .enumerate()
            .map(|(i, bot)| ReplicatedEntity {
                id: NetId(i as u32 + 1),
                kind: 0,
                values: [
                    quantize_fixed(bot.pos.0, 16),
                    quantize_fixed(bot.pos.1, 16),
                    quantize_angle(bot.heading, 256),
                    100,
                    0,
                    0,
                    0,
                    0,
                ],
            })
            .collect()
    }
}

/// Runs the scenario for `warmup + seconds` seconds, each player's baseline
/// being the previous tick (what a socket that keeps up holds), and returns
/// the mean bytes per player per second over the last `seconds`, WebSocket
/// header included. Every player's message is the same shared body behind
/// its own header (last input sequence: one input per 100 ms).
pub fn bytes_per_player_per_second(players: usize, warmup: u32, seconds: u32, seed: u64) -> f64 {
    let mut scenario = ArenaScenario::new(players, seed);
    let Ok(mut history) = ServerHistory::new(arena_schema()) else {
        return f64::INFINITY;
    };
    let mut total = 0usize;
    let mut message = Vec::new();
    for t in 0..(warmup + seconds) * TICK_RATE {
        let rows: Arc<[ReplicatedEntity]> = scenario.step().into();
        let tick = scenario.tick();
        if history.record(tick, rows).is_err() {
            return f64::INFINITY;
        }
        let baseline = tick.checked_sub(1).filter(|&b| b > 0);
        let Some(body) = history.shared_body(baseline) else {
            return f64::INFINITY;
        };
        if t < warmup * TICK_RATE {
            continue;
        }
        // One input every 100 ms since the start.
        let last_input = Some(tick * 10 / TICK_RATE);
        for _ in 0..players {
            message.clear();
            write_snapshot_message(&mut message, last_input, &body.bytes);
            total += message.len() + tickwire_protocol::server_frame_header_bytes(message.len());
        }
    }
    total as f64 / players as f64 / f64::from(seconds)
}
