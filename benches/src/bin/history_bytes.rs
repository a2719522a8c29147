//! What lag compensation's history costs a room in memory: the bytes the
//! ring of grids holds (`GridHistory::heap_bytes`) in a bench-game room of
//! N entities, against the one grid a room kept before.
//!
//! ```text
//! cargo run --release -p tickwire-benches --bin history-bytes -- --entities 1000
//! ```
//!
//! The players move (every third holds a direction) for a few ticks more
//! than the ring is deep, so that every grid of it has been rebuilt.

use clap::Parser;
use tickwire_sim::games::bench::{self, BenchConfig, BenchInput};
use tickwire_sim::rewind::{DEFAULT_MAX_REWIND_MS, rewind_ticks};
use tickwire_sim::{Input as _, PlayerInput, Simulation, World};

#[derive(Parser, Debug)]
#[command(
    name = "history-bytes",
    about = "Bytes a room's history of positions holds, for lag compensation"
)]
struct Args {
    /// Entities in the room (bench-game players, one avatar each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    entities: u32,
    /// Ticks per second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=240))]
    tick_rate: u32,
    /// The max rewind, as the server's `--max-rewind-ms`.
    #[arg(long, default_value_t = DEFAULT_MAX_REWIND_MS, value_parser = clap::value_parser!(u32).range(0..=1000))]
    max_rewind_ms: u32,
    /// Side of the arena; default the open-world density, `400 * sqrt(N)`
    /// (the capacity runner's rooms of ten play the bench game's 4000).
    #[arg(long)]
    arena_size: Option<f32>,
}

/// A bench room of `n` players in an arena of side `side`, played for a
/// few ticks more than `max_rewind` ticks.
fn room(n: u32, side: f32, tick_rate: u32, max_rewind: u32) -> anyhow::Result<World<bench::Bench>> {
    let config = BenchConfig {
        arena_size: side,
        view_size: Some(2000.0),
        ..BenchConfig::default()
    };
    let mut world = bench::new_world_at(1, config, tick_rate)?.with_max_rewind(max_rewind);
    let players: Vec<_> = (0..n)
        .map(|i| world.join(&format!("p{i}")).map(|j| j.player))
        .collect::<Result<_, _>>()?;
    for tick in 1..=max_rewind + 5 {
        for (i, &p) in players.iter().enumerate().step_by(3) {
            let held = BenchInput {
                move_x: if i % 2 == 0 { 127 } else { -127 },
                move_y: 64,
                ..BenchInput::default()
            };
            world.input(p, PlayerInput::new(tick, &held.to_values()));
        }
        world.step();
    }
    Ok(world)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let depth = rewind_ticks(args.max_rewind_ms, args.tick_rate);
    let side = args
        .arena_size
        .unwrap_or(400.0 * (args.entities as f32).sqrt());
    let with = room(args.entities, side, args.tick_rate, depth)?;
    let without = room(args.entities, side, args.tick_rate, 0)?;
    let ring = with.history().heap_bytes();
    let one = without.history().heap_bytes();
    println!(
        "{} entities in {} units, {} ms at {} Hz: {} grids hold {} bytes ({:.1} KiB); one grid held \
         {} bytes; the history adds {} bytes ({:.1} KiB, {:.0} bytes an entity)",
        args.entities,
        side,
        args.max_rewind_ms,
        args.tick_rate,
        with.history().depth(),
        ring,
        ring as f64 / 1024.0,
        one,
        ring.saturating_sub(one),
        ring.saturating_sub(one) as f64 / 1024.0,
        ring.saturating_sub(one) as f64 / f64::from(args.entities),
    );
    Ok(())
}
