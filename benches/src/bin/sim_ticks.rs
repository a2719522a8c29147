//! A fixed run of simulation ticks, for counting instructions under
//! `valgrind --tool=cachegrind` (machine-independent, unlike times): the
//! arena with 60 players (the default limit is 64) in 4,000 units, one in four holding
//! fire, inputs viewing three ticks back; or the bench game with 1,000
//! players. Prints the XOR of every tick's state hash, which two builds
//! that run the same match print alike.
//!
//! ```text
//! cargo build --release -p tickwire-benches --bin sim-ticks
//! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/sim-ticks --game arena --ticks 6000
//! ```

use clap::{Parser, ValueEnum};
use tickwire_sim::games::arena::{self, ArenaConfig, ArenaInput};
use tickwire_sim::games::bench::{self, BenchConfig};
use tickwire_sim::{Input as _, PlayerInput, Simulation};

/// Which game to tick.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum GameName {
    /// 60 arena players in a 4,000-unit arena.
    Arena,
    /// 1,000 bench players in the default 4,000-unit room.
    Bench,
}

#[derive(Parser, Debug)]
#[command(name = "sim-ticks", about = "A fixed run of simulation ticks")]
struct Args {
    /// The game.
    #[arg(long, value_enum, default_value_t = GameName::Arena)]
    game: GameName,
    /// Ticks to run.
    #[arg(long, default_value_t = 6000)]
    ticks: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (mut sim, players): (Box<dyn Simulation>, usize) = match args.game {
        GameName::Arena => {
            let config = ArenaConfig {
                arena_size: 4000.0,
                ..ArenaConfig::default()
            };
            (Box::new(arena::new_world(1, config)?), 60)
        }
        GameName::Bench => (Box::new(bench::new_world(1, BenchConfig::default())?), 1000),
    };
    let ids = (0..players)
        .map(|i| sim.join(&format!("b{i}")).map(|j| j.player))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hash = 0u64;
    let mut rows = Vec::new();
    for t in 1..=args.ticks {
        for (i, &p) in ids.iter().enumerate() {
            let k = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(t / 30);
            let input = ArenaInput {
                move_x: (k % 255) as i8,
                move_y: ((k >> 8) % 255) as i8,
                aim: (k >> 3) as u16,
                buttons: u8::from(i % 4 == 0),
            };
            sim.input(
                p,
                PlayerInput {
                    seq: t,
                    values: input.to_values(),
                    view: t.saturating_sub(3),
                },
            );
        }
        sim.step();
        rows.clear();
        sim.replicated(&mut rows);
        hash ^= sim.state_hash();
    }
    println!("{hash:016x}");
    Ok(())
}
