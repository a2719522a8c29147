//! One tick of many small rooms, as the server runs them: for each room,
//! drain the inputs, step the bench game, record the history, encode each
//! player's snapshot, frame it and offer it to the player's outbox. The
//! sockets are `tokio::io::sink()`, so this is the server's own work per
//! room tick, without the kernel's cost of the sends (which the bare
//! fan-out measures, see `BENCHMARKS.md`).
//!
//! Fifty rooms of ten are ticked one after the other, as `rooms-of-10-500`
//! has them: each room's state is cold again by the time it ticks next, as
//! on the server.
//!
//! Run: `cargo bench -p tickwire-benches --bench room_tick`

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parking_lot::Mutex;
use tickwire::bench::TickTimes;
use tickwire::bench::{PlayerLink, Room, RoomInfo, RoomSettings, Spectating};
use tickwire_sim::Simulation;
use tickwire_sim::games::arena::ArenaInput;
use tickwire_sim::games::bench::{BenchConfig, new_world};
use tickwire_sim::{Input as _, PlayerInput};

/// Rooms ticked per iteration, and players in each.
const ROOMS: usize = 50;
const ROOM_SIZE: usize = 10;

struct Bench {
    room: Room,
    links: Vec<Arc<PlayerLink>>,
}

fn room(serial: u64) -> Option<Bench> {
    let world = new_world(serial, BenchConfig::default()).ok()?;
    let sim: Box<dyn Simulation> = Box::new(world);
    let tick_rate = sim.tick_rate();
    let info = Arc::new(RoomInfo {
        name: format!("r{serial}"),
        game: "bench".to_owned(),
        max_players: ROOM_SIZE,
        tick_rate,
        schema_hash: sim.schema().hash(),
        match_id: serial,
        players: Default::default(),
        held: Default::default(),
        tick: Default::default(),
        times: Mutex::new(TickTimes::new(tick_rate * 10, tick_rate)),
        links: Mutex::new(BTreeMap::new()),
        spectators: Default::default(),
        max_spectators: 0,
        record: None,
    });
    let settings = RoomSettings {
        max_catch_up: 2,
        phase: 0.0,
        epoch: tokio::time::Instant::now(),
        bandwidth_budget: None,
        spectating: Spectating::default(),
    };
    let mut room = Room::new(sim, info, settings).ok()?;
    let mut links = Vec::new();
    for i in 0..ROOM_SIZE {
        let link = Arc::new(PlayerLink::new(format!("bot{i}")));
        room.join(&link).ok()?;
        link.outbox.attach(Box::new(tokio::io::sink()));
        links.push(link);
    }
    Some(Bench { room, links })
}

fn rooms_of_ten(c: &mut Criterion) {
    // The server's recorder, so the tick's metrics cost what they cost.
    let _ = tickwire::bench::prometheus();
    let Some(mut rooms) = (1..=ROOMS as u64).map(room).collect::<Option<Vec<_>>>() else {
        panic!("bench rooms");
    };
    let mut group = c.benchmark_group("room_tick");
    group.throughput(Throughput::Elements(ROOMS as u64));
    let mut tick = 0u32;
    group.bench_function("50_rooms_of_10", |b| {
        b.iter(|| {
            tick += 1;
            for (r, bench) in rooms.iter_mut().enumerate() {
                // An input every 100 ms, a new direction every second, as
                // the scenario's bots send them.
                if tick % 3 == 0 {
                    for (i, link) in bench.links.iter().enumerate() {
                        let a = ((tick / 30) as usize * 7 + i * 3 + r) as f32 * 0.9;
                        let input = ArenaInput {
                            move_x: (a.cos() * 127.0) as i8,
                            move_y: (a.sin() * 127.0) as i8,
                            aim: 0,
                            buttons: 0,
                        };
                        link.push_input(PlayerInput {
                            seq: tick / 3,
                            values: input.to_values(),
                            view: 0,
                        });
                    }
                }
                bench.room.tick();
            }
        });
    });
    group.finish();
}

criterion_group!(benches, rooms_of_ten);
criterion_main!(benches);
