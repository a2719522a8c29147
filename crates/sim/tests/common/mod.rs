//! Shared test helpers: seeded pseudo-random players.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use tickwire_sim::games::arena::ArenaInput;
use tickwire_sim::{Input, PlayerId, PlayerInput, Simulation};

/// Bots that send seeded pseudo-random inputs: a direction held for about a
/// second, an aim that drifts, fire held half the time, sometimes two inputs
/// in one tick delivered out of order, sometimes none.
#[derive(Debug)]
pub struct Bots {
    rng: Pcg32,
    bots: Vec<Bot>,
}

#[derive(Debug, Clone, Copy)]
struct Bot {
    player: PlayerId,
    seq: u32,
    held: ArenaInput,
}

impl Bots {
    /// `count` bots joined to `sim`.
    pub fn join(sim: &mut dyn Simulation, count: usize, seed: u64) -> Self {
        let bots = (0..count)
            .map(|i| Bot {
                player: sim.join(&format!("bot{i}")).expect("join").player,
                seq: 0,
                held: ArenaInput::default(),
            })
            .collect();
        Self {
            rng: Pcg32::seed_from_u64(seed),
            bots,
        }
    }

    /// The inputs of one tick, in delivery order.
    pub fn inputs(&mut self) -> Vec<(PlayerId, PlayerInput)> {
        let mut out = Vec::new();
        for bot in &mut self.bots {
            let r = &mut self.rng;
            if r.random_ratio(1, 30) {
                bot.held.move_x = r.random_range(-127..=127);
                bot.held.move_y = r.random_range(-127..=127);
                bot.held.buttons = u8::from(r.random_bool(0.5));
            }
            bot.held.aim = bot.held.aim.wrapping_add(r.random_range(0..2000));
            match r.random_range(0..10) {
                0 => {}
                1 => {
                    // Two inputs, the newer delivered first.
                    let values = bot.held.to_values();
                    let first = PlayerInput::new(bot.seq + 1, &values);
                    let second = PlayerInput::new(bot.seq + 2, &values);
                    bot.seq += 2;
                    out.push((bot.player, second));
                    out.push((bot.player, first));
                }
                _ => {
                    bot.seq += 1;
                    out.push((bot.player, PlayerInput::new(bot.seq, &bot.held.to_values())));
                }
            }
        }
        out
    }
}

/// Runs `ticks` ticks of `sim` with `players` bots, returning the state hash
/// after every tick. `tamper` may change the inputs of a tick (given its
/// number) before they are delivered.
pub fn run_hashes(
    sim: &mut dyn Simulation,
    players: usize,
    ticks: u64,
    input_seed: u64,
    mut tamper: impl FnMut(u64, &mut Vec<(PlayerId, PlayerInput)>),
) -> Vec<u64> {
    let mut bots = Bots::join(sim, players, input_seed);
    let mut hashes = Vec::with_capacity(ticks as usize);
    for tick in 1..=ticks {
        let mut inputs = bots.inputs();
        tamper(tick, &mut inputs);
        for (player, input) in inputs {
            sim.input(player, input);
        }
        sim.step();
        hashes.push(sim.state_hash());
    }
    hashes
}
