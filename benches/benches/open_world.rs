//! One open-world tick of a single room of 10,000 players, with no sockets:
//! what the room task does between two sends.
//!
//! The tick is [`tickwire_benches::open_world::Room::tick`]: inputs and
//! the simulation step, the rows recorded once for the views, and every
//! player's view, interest query, delta and framed snapshot, as the
//! server's room does it.
//!
//! `open_world_tick/10000` runs without a budget, `.../budget` with each
//! player held to 2,000 bytes per second. The goal is under 10 ms on one
//! core. Each run also prints the mean snapshot size.
//!
//! Run: `cargo bench -p tickwire-benches --bench open_world`.
//!
//! A run's figure is the mean over whatever the machine gave during it; on
//! a shared machine, `open-world-ticks --time N` shows the same tick tick
//! by tick, part by part, beside controls of the machine's core and caches.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tickwire_benches::open_world::{PLAYERS, Room};
use tickwire_protocol::Budget;

fn open_world(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_world_tick");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));
    for (name, budget) in [
        ("10000", None),
        ("10000/budget", Some(Budget::per_second(2_000, 30))),
    ] {
        let mut room = Room::new(budget);
        let (mut total, mut ticks) = (0usize, 0usize);
        group.bench_function(name, |b| {
            b.iter(|| {
                total += black_box(room.tick());
                ticks += 1;
            })
        });
        if ticks > 0 {
            println!(
                "open_world_tick/{name}: {ticks} ticks, mean snapshot {:.1} bytes per player ({:.0} B/s at 30 Hz)",
                total as f64 / (ticks * PLAYERS) as f64,
                30.0 * total as f64 / (ticks * PLAYERS) as f64
            );
        }
    }
    group.finish();
}

criterion_group!(benches, open_world);
criterion_main!(benches);
