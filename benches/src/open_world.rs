//! One open-world tick of a single room of 10,000 players, with no sockets:
//! what the room task does between two sends. Shared by the criterion bench
//! (`benches/open_world.rs`), which times it, and the `open-world-ticks`
//! binary, which runs a fixed number of ticks for an instruction count.
//!
//! The `open-world-N` layout of the arena benchmark scenario at N = 10,000:
//! the bench game in a square of side `400 * sqrt(N)` (40,000 units), each
//! player seeing the 2000 x 2000 square centred on its avatar (about 25
//! avatars). A tick is:
//!
//! 1. the inputs of the tick (each bot sends one every 100 ms, so a third of
//!    the players per tick, and turns once per second), and the simulation
//!    step;
//! 2. the replicated rows taken from the world;
//! 3. for every player, by the server's own replication core
//!    (`tickwire_protocol::Replicator::replicate`, the call the room makes):
//!    its view, the grid query for the ids of the entities in it, the delta
//!    against the player's baseline through its view tracker, and the
//!    snapshot message with the player's header, written into one reused
//!    frame buffer after the room for the frame's head; the bench's sink
//!    writes the head, as the room's does, and counts the frame's bytes
//!    where the room would offer it to a socket that keeps up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fastwebsockets::OpCode;
use tickwire::bench::frame;
use tickwire_protocol::{Budget, Delivery, Replicator, Sink};
use tickwire_sim::games::bench::{self, BenchConfig};
use tickwire_sim::{PlayerId, PlayerInput, ReplicatedEntity, Simulation};

/// Players in the room: the figure the open-world goal is set at.
pub const PLAYERS: usize = 10_000;

/// A room's worth of state for the open world: the simulation, the bots'
/// inputs, and the server's replication core.
#[derive(Debug)]
pub struct Room {
    sim: Box<dyn Simulation>,
    /// Each bot's id and its last input.
    bots: Vec<(PlayerId, PlayerInput)>,
    players: Replicator<()>,
    rows: Vec<ReplicatedEntity>,
    rng: u64,
    phases: Phases,
}

/// Frames every message as the room does and counts its bytes, as over
/// sockets that keep up.
#[derive(Debug, Default)]
struct Frames {
    bytes: usize,
}

impl Sink<()> for Frames {
    fn begin(&mut self, message: &mut Vec<u8>) {
        frame::begin(message);
    }

    fn deliver(&mut self, _: PlayerId, _: &(), _: u32, message: &mut Vec<u8>) -> Delivery {
        self.bytes += black_box(frame::finish(message, OpCode::Binary)).len();
        Delivery::Written
    }
}

/// How long the parts of the last tick took: the wall clock around each,
/// for `open-world-ticks --time`, which shows where a slow tick went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    /// Inputs and the simulation step.
    pub step: Duration,
    /// The replicated rows taken from the world.
    pub record: Duration,
    /// The replication core: the rows recorded once for the views (by id,
    /// with each row's change since the previous tick), then every
    /// player's view, interest query and framed snapshot.
    pub players: Duration,
}

impl Room {
    /// A room of [`PLAYERS`] bench-game players, each held to `budget`
    /// if given, after three ticks: everyone has had a full snapshot and
    /// then deltas.
    pub fn new(budget: Option<Budget>) -> Self {
        let mut sim: Box<dyn Simulation> =
            match bench::new_world(7, BenchConfig::open_world(PLAYERS)) {
                Ok(world) => Box::new(world),
                Err(e) => panic!("the bench game builds: {e}"),
            };
        let mut players = match Replicator::new(sim.schema().clone(), budget) {
            Ok(core) => core,
            Err(e) => panic!("the bench schema is valid: {e}"),
        };
        let bots = (0..PLAYERS)
            .filter_map(|i| sim.join(&format!("bot{i}")).ok())
            .map(|j| (j.player, PlayerInput::default()))
            .collect::<Vec<_>>();
        assert_eq!(bots.len(), PLAYERS);
        for (player, _) in &bots {
            players.add(*player, ());
        }
        let mut room = Self {
            sim,
            bots,
            players,
            rows: Vec::new(),
            rng: 0x2545_f491_4f6c_dd1d,
            phases: Phases::default(),
        };
        // Warm up: everyone gets a full snapshot, then deltas.
        for _ in 0..3 {
            room.tick();
        }
        room
    }

    fn random(&mut self) -> u32 {
        self.rng = self
            .rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.rng >> 33) as u32
    }

    /// One tick; returns the bytes of every snapshot frame.
    pub fn tick(&mut self) -> usize {
        // simulate
        let start = Instant::now();
        let tick = self.sim.tick() + 1;
        for i in 0..self.bots.len() {
            if (tick as usize + i) % 3 != 0 {
                continue; // an input every 100 ms
            }
            let turn = (tick as usize + i) % 30 == 0;
            let (mx, my) = (self.random() as i8, self.random() as i8);
            let (player, input) = &mut self.bots[i];
            input.seq += 1;
            if turn || input.seq == 1 {
                input.values[0] = i32::from(mx);
                input.values[1] = i32::from(my);
            }
            self.sim.input(*player, *input);
        }
        self.sim.step();

        // replicate, as the room does
        let stepped = Instant::now();
        let tick = self.sim.tick() as u32;
        self.rows.clear();
        self.sim.replicated(&mut self.rows);
        let recorded = Instant::now();
        let mut frames = Frames::default();
        if let Err(e) = self
            .players
            .replicate(tick, &self.rows, &*self.sim, &mut frames)
        {
            panic!("the bench game's rows replicate: {e}");
        }
        self.phases = Phases {
            step: stepped - start,
            record: recorded - stepped,
            players: recorded.elapsed(),
        };
        frames.bytes
    }

    /// How long the parts of the last tick took.
    pub fn phases(&self) -> Phases {
        self.phases
    }
}
