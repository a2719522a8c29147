//! Runs open-world ticks of 10,000 players (the `open_world` bench's tick,
//! see [`tickwire_benches::open_world`]) either for an instruction count or
//! for the distribution of their times.
//!
//! Without arguments it runs a fixed number of ticks for an instruction
//! count, which unlike a time does not move with the machine's load:
//!
//! ```text
//! cargo build --release -p tickwire-benches --bin open-world-ticks
//! valgrind --tool=callgrind --toggle-collect='*measured_ticks*' \
//!     target/release/open-world-ticks
//! ```
//!
//! Callgrind then counts only the measured ticks, after five to warm up;
//! divide its total by the ticks printed.
//!
//! `--budget BYTES_PER_S` holds every player to a bandwidth budget, as
//! the criterion bench's `open_world_tick/10000/budget` (2000) does.
//!
//! With `--time N` it times N ticks one by one, each part of each tick
//! too, and after every tick loops of fixed work as controls of what the
//! machine gave in that moment: `compute` (eight independent integer
//! chains, no memory) and three chases of dependent loads, through 16 KiB
//! (`l1`, inside a core's first-level cache), 256 KiB (`l2`, inside its
//! second) and 8 MiB (`l3`, more than a core's L2 and less than the shared
//! L3). It prints the percentiles of each, and the controls' means beside
//! the fastest and the slowest fifth of the ticks: on a shared machine,
//! whether slow ticks came with a slow core or with slow memory, and which.
//!
//! ```text
//! target/release/open-world-ticks --time 300
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::{Rng, SeedableRng};
use tickwire_benches::open_world::{PLAYERS, Room};
use tickwire_protocol::Budget;
use tickwire_sim::SimRng;

/// Ticks counted.
const TICKS: usize = 5;

#[derive(Parser, Debug)]
#[command(
    name = "open-world-ticks",
    about = "Open-world ticks of 10,000 players: a fixed few for an instruction count, or timed one by one"
)]
struct Args {
    /// Time this many ticks one by one, with controls after each, and
    /// print their distribution (without it: five ticks for callgrind).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(5..=100_000))]
    time: Option<u32>,
    /// Hold every player to this many bytes a second, as the server's
    /// `--bandwidth-budget` does (the criterion bench's `.../budget` case
    /// is 2000).
    #[arg(long, value_name = "BYTES_PER_S", value_parser = clap::value_parser!(u64).range(1..))]
    budget: Option<u64>,
}

/// A room of the bench, after five ticks to warm up.
fn warmed_room(budget: Option<Budget>) -> Room {
    let mut room = Room::new(budget);
    for _ in 0..5 {
        black_box(room.tick());
    }
    room
}

/// The counted ticks; a function of its own so that callgrind can count
/// only them. Returns the bytes of every snapshot frame.
#[inline(never)]
fn measured_ticks(room: &mut Room) -> usize {
    (0..TICKS).map(|_| room.tick()).sum()
}

/// Fixed work on the core alone: eight independent chains of integer
/// operations, enough to keep the core's units busy, touching no memory.
fn compute(state: &mut [u64; 8]) {
    for _ in 0..1_000_000 {
        for (k, x) in state.iter_mut().enumerate() {
            *x = x.wrapping_add(k as u64 + 1) ^ (*x << 1);
        }
        *state = black_box(*state);
    }
}

/// Fixed work on memory: `steps` dependent loads through `next`, a single
/// random cycle, so that each load waits for the one before.
fn chase(next: &[u32], steps: usize) {
    let mut i = 0;
    for _ in 0..steps {
        i = next.get(i as usize).copied().unwrap_or(0);
    }
    black_box(i);
}

/// A random cycle through `n` slots (Sattolo's shuffle), from a fixed seed.
fn cycle(n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = SimRng::seed_from_u64(7);
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..i));
    }
    let mut next = vec![0u32; n];
    for w in 0..n {
        next[order[w] as usize] = order[(w + 1) % n];
    }
    next
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One timed tick: the tick, its parts, and the controls after it.
#[derive(Clone, Copy)]
struct Sample {
    tick: f64,
    step: f64,
    record: f64,
    players: f64,
    compute: f64,
    l1: f64,
    l2: f64,
    l3: f64,
}

/// The time `work` takes, in milliseconds.
fn timed(work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    ms(start.elapsed())
}

fn row(name: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<10} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>8.2}",
        at(0.0),
        at(0.1),
        at(0.5),
        at(0.9),
        at(0.9) / at(0.0)
    );
}

fn time(n: usize, budget: Option<Budget>) {
    let mut room = warmed_room(budget);
    // Slots of 4 bytes: 16 KiB, 256 KiB and 8 MiB.
    let (l1, l2, l3) = (cycle(4 << 10), cycle(64 << 10), cycle(2 << 20));
    let mut state = [1, 2, 3, 4, 5, 6, 7, 8];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let tick = timed(|| {
            black_box(room.tick());
        });
        let phases = room.phases();
        samples.push(Sample {
            tick,
            step: ms(phases.step),
            record: ms(phases.record),
            players: ms(phases.players),
            compute: timed(|| compute(&mut state)),
            l1: timed(|| chase(&l1, 1_000_000)),
            l2: timed(|| chase(&l2, 500_000)),
            l3: timed(|| chase(&l3, 50_000)),
        });
    }
    println!("{n} ticks of {PLAYERS} players, each followed by the controls (ms)");
    println!(
        "{:<10} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "", "min", "p10", "p50", "p90", "p90/min"
    );
    let column = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
    row("tick", column(|s| s.tick));
    row(" step", column(|s| s.step));
    row(" record", column(|s| s.record));
    row(" players", column(|s| s.players));
    row("compute", column(|s| s.compute));
    row("l1 chase", column(|s| s.l1));
    row("l2 chase", column(|s| s.l2));
    row("l3 chase", column(|s| s.l3));
    let mut by_tick = samples.clone();
    by_tick.sort_by(|a, b| a.tick.total_cmp(&b.tick));
    let fifth = (n / 5).max(1);
    for (name, part) in [
        ("fastest", &by_tick[..fifth]),
        ("slowest", &by_tick[n - fifth..]),
    ] {
        let mean = |f: fn(&Sample) -> f64| part.iter().map(f).sum::<f64>() / part.len() as f64;
        println!(
            "the {name} fifth of ticks: tick {:.2}; compute {:.2}, l1 {:.2}, l2 {:.2}, l3 {:.2} (means)",
            mean(|s| s.tick),
            mean(|s| s.compute),
            mean(|s| s.l1),
            mean(|s| s.l2),
            mean(|s| s.l3)
        );
    }
}

fn main() {
    let args = Args::parse();
    let budget = args.budget.map(|b| Budget::per_second(b, 30));
    match args.time {
        Some(n) => time(n as usize, budget),
        None => {
            let bytes = measured_ticks(&mut warmed_room(budget));
            println!("{TICKS} ticks, {bytes} bytes of snapshot frames");
        }
    }
}
