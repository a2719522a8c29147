//! Writes the prediction fixture of the browser client: input sequences fed
//! to the arena game one per tick, and the avatar's replicated (quantized)
//! position after each tick. The client's prediction test replays the inputs
//! and must land on these positions within quantization error.
//!
//! Run: `cargo run -p tickwire-sim --example prediction_fixture > client-web/test/fixtures/prediction.json`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use tickwire_sim::games::arena::{self, ArenaConfig, ArenaInput};
use tickwire_sim::{Input, PlayerInput, ReplicatedEntity, Simulation};

/// xorshift64: the fixture needs variety, not quality.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn axis(&mut self) -> i8 {
        match self.next() % 4 {
            0 => 127,
            1 => -127,
            _ => ((self.next() % 255) as i32 - 127) as i8,
        }
    }
}

fn main() {
    let config = ArenaConfig::default();
    let scale = 16;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sequences = Vec::new();
    for seed in 1..=4u64 {
        let mut sim = arena::new_world(seed, config.clone()).expect("arena");
        let joined = sim.join("fixture").expect("join");
        let mut state = Vec::new();
        let position = |sim: &dyn Simulation, state: &mut Vec<ReplicatedEntity>| {
            state.clear();
            sim.replicated(state);
            let e = state
                .iter()
                .find(|e| e.id == joined.avatar)
                .expect("avatar");
            (e.values[0], e.values[1])
        };
        sim.step();
        let start = position(&sim, &mut state);
        let (mut inputs, mut positions) = (String::new(), String::new());
        let (mut mx, mut my) = (0i8, 0i8);
        for seq in 1..=450u32 {
            if seq % 15 == 1 {
                // Runs into walls and corners as well as across open floor.
                (mx, my) = (rng.axis(), rng.axis());
            }
            let aim = (rng.next() % 65536) as u16;
            sim.input(
                joined.player,
                PlayerInput::new(
                    seq,
                    &ArenaInput {
                        move_x: mx,
                        move_y: my,
                        aim,
                        buttons: 0,
                    }
                    .to_values(),
                ),
            );
            sim.step();
            let (x, y) = position(&sim, &mut state);
            let sep = if seq == 1 { "" } else { "," };
            write!(inputs, "{sep}[{seq},{mx},{my}]").unwrap();
            write!(positions, "{sep}[{x},{y}]").unwrap();
        }
        sequences.push(format!(
            "{{\"seed\":{seed},\"start\":[{},{}],\"inputs\":[{inputs}],\"positions\":[{positions}]}}",
            start.0, start.1
        ));
    }
    println!(
        "{{\"source\":\"tickwire-sim arena game, one input per tick\",\"tick_rate\":{},\"arena_size\":{},\"speed\":{},\"scale\":{scale},\"sequences\":[{}]}}",
        tickwire_sim::DEFAULT_TICK_RATE,
        config.arena_size,
        config.player_speed,
        sequences.join(",")
    );
}
