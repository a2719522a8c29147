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
//! 2. the replicated rows, recorded once for the views
//!    (`ViewEncoder::record`: the rows by id and each row's change since
//!    the previous tick);
//! 3. for every player, as the server's room does it: its view, the grid
//!    query for the ids of the entities in it, the delta against the
//!    player's baseline (the previous tick, as over a socket that keeps up)
//!    through its view tracker, and the snapshot message with the player's
//!    header (`ViewEncoder::encode_message`), written into one reused frame
//!    buffer after the room for the frame's head, and the head written, as
//!    the room does before it offers the frame to the player's socket.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fastwebsockets::OpCode;
use tickwire::frame;
use tickwire_protocol::{Budget, Nearness, ViewEncoder, ViewTracker};
use tickwire_sim::games::bench::{self, BenchConfig};
use tickwire_sim::{NetId, PlayerId, PlayerInput, ReplicatedEntity, Simulation};

/// Players in the room: the figure the open-world goal is set at.
pub const PLAYERS: usize = 10_000;

/// A room's worth of state for the open world, as the server's room keeps
/// it.
#[derive(Debug)]
pub struct Room {
    sim: Box<dyn Simulation>,
    players: Vec<(PlayerId, PlayerInput, ViewTracker)>,
    encoder: ViewEncoder,
    rows: Vec<ReplicatedEntity>,
    ids: Vec<NetId>,
    /// The room's scratch: one frame, reused per player, the snapshot
    /// message written into it after the room for the frame's head.
    frame: Vec<u8>,
    budget: Option<Budget>,
    rng: u64,
    phases: Phases,
}

/// How long the parts of the last tick took: the wall clock around each,
/// for `open-world-ticks --time`, which shows where a slow tick went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    /// Inputs and the simulation step.
    pub step: Duration,
    /// The replicated rows, and their record.
    pub record: Duration,
    /// Every player's view, interest query and framed snapshot.
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
        let players = (0..PLAYERS)
            .filter_map(|i| sim.join(&format!("bot{i}")).ok())
            .map(|j| (j.player, PlayerInput::default(), ViewTracker::new()))
            .collect::<Vec<_>>();
        assert_eq!(players.len(), PLAYERS);
        let encoder = match ViewEncoder::new(sim.schema().clone()) {
            Ok(e) => e,
            Err(e) => panic!("the bench schema is valid: {e}"),
        };
        let mut room = Self {
            sim,
            players,
            encoder,
            rows: Vec::new(),
            ids: Vec::new(),
            frame: Vec::new(),
            budget,
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
        for i in 0..self.players.len() {
            if (tick as usize + i) % 3 != 0 {
                continue; // an input every 100 ms
            }
            let turn = (tick as usize + i) % 30 == 0;
            let (mx, my) = (self.random() as i8, self.random() as i8);
            let (player, input, _) = &mut self.players[i];
            input.seq += 1;
            if turn || input.seq == 1 {
                input.move_x = mx;
                input.move_y = my;
            }
            self.sim.input(*player, *input);
        }
        self.sim.step();

        // interest and encoding
        let stepped = Instant::now();
        let tick = self.sim.tick() as u32;
        self.rows.clear();
        self.sim.replicated(&mut self.rows);
        if let Err(e) = self.encoder.record(tick, &self.rows) {
            panic!("the bench game's rows record: {e}");
        }
        let recorded = Instant::now();
        let mut bytes = 0;
        for (player, _, tracker) in &mut self.players {
            let Some(view) = self.sim.view(*player) else {
                continue;
            };
            self.ids.clear();
            self.sim.entities_in(view, &mut self.ids);
            let baseline = tracker.latest_tick();
            let nearness = self
                .budget
                .map(|_| Nearness::new(self.encoder.schema(), view));
            frame::begin(&mut self.frame);
            let out = self.encoder.encode_message(
                tracker,
                baseline,
                &self.ids,
                self.budget,
                |e| nearness.as_ref().map_or(1.0, |n| n.priority(e)),
                self.sim.last_applied_input(*player),
                &mut self.frame,
            );
            if let Err(e) = out {
                panic!("the bench game's rows encode: {e}");
            }
            bytes += black_box(frame::finish(&mut self.frame, OpCode::Binary)).len();
        }
        self.phases = Phases {
            step: stepped - start,
            record: recorded - stepped,
            players: recorded.elapsed(),
        };
        bytes
    }

    /// How long the parts of the last tick took.
    pub fn phases(&self) -> Phases {
        self.phases
    }
}
