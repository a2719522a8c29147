//! Fan-out of one tick's snapshot to many players, by the room's own
//! replication core and its sink over the outboxes (the calls `Room::tick`
//! makes): one body encoded for the tick, then for each player the
//! WebSocket frame (frame header, per-player message header, shared body)
//! written into one reused buffer and offered to the player's outbox,
//! which writes it to the socket at once. The
//! sockets here are `tokio::io::sink()`, which takes everything: this is
//! the server's per-player cost of the "send" phase without the socket's
//! own cost (the bare socket write on this stack costs about 7 µs per
//! message, see `BENCHMARKS.md`).
//!
//! Also: what a bot or a client pays to decode and apply one snapshot of a
//! 100-avatar room (the swarm must be cheap: well under 1 µs per entity).
//!
//! Run: `cargo bench -p tickwire-benches --bench fanout`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

use tickwire::bench::{Outboxes, PlayerLink};
use tickwire_protocol::{
    ClientState, Limits, Replicator, ServerHistory, decode_snapshot_message, write_snapshot_message,
};
use tickwire_sim::games::arena::ArenaInput;
use tickwire_sim::games::bench::{BenchConfig, new_world};
use tickwire_sim::{Input as _, PlayerId, PlayerInput, ReplicatedEntity, Simulation};

/// A bench-game room of `players` moving avatars, stepped twice, with the
/// replicated rows of both ticks.
fn bench_room(
    players: usize,
) -> (
    Box<dyn Simulation>,
    Vec<ReplicatedEntity>,
    Vec<ReplicatedEntity>,
) {
    let Ok(mut world) = new_world(7, BenchConfig::default()) else {
        panic!("bench world");
    };
    let mut ids = Vec::new();
    for i in 0..players {
        if let Ok(joined) = world.join(&format!("bot{i}")) {
            ids.push(joined.player);
        }
    }
    let mut rows = [Vec::new(), Vec::new()];
    for (step, out) in rows.iter_mut().enumerate() {
        for (i, &p) in ids.iter().enumerate() {
            let a = i as f32 * 0.7;
            world.input(
                p,
                PlayerInput {
                    seq: step as u32 + 1,
                    values: ArenaInput {
                        move_x: (a.cos() * 127.0) as i8,
                        move_y: (a.sin() * 127.0) as i8,
                        aim: 0,
                        buttons: 0,
                    }
                    .to_values(),
                    view: 0,
                },
            );
        }
        world.step();
        world.replicated(out);
    }
    let [a, b] = rows;
    (Box::new(world), a, b)
}

fn fanout(c: &mut Criterion) {
    let (world, base, cur) = bench_room(100);
    let mut group = c.benchmark_group("fanout_one_body");
    for players in [100usize, 1_000, 10_000] {
        // The room's own replication core and its sink over the players'
        // outboxes, as `Room::tick` drives them: every player without a
        // view, so one body is encoded per tick and framed and offered to
        // each, written at once.
        let Ok(mut core) = Replicator::new(world.schema().clone(), None) else {
            return;
        };
        for i in 0..players {
            let link = Arc::new(PlayerLink::new(format!("p{i}")));
            link.outbox.attach(Box::new(tokio::io::sink()));
            core.add(PlayerId(1_000_000 + i as u32), link);
        }
        let mut sink = Outboxes::new();
        // Two ticks first, so that every player holds a baseline.
        for tick in [1, 2] {
            let rows = if tick % 2 == 0 { &base } else { &cur };
            match core.replicate(tick, rows, &*world, &mut sink) {
                Ok(report) => assert_eq!(report.written, players as u64),
                Err(e) => panic!("the bench rows replicate: {e}"),
            }
        }
        group.throughput(Throughput::Elements(players as u64));
        // Ticks go on across criterion's calls (warm-up, then samples): a
        // tick is recorded once.
        let mut tick = 2u32;
        group.bench_with_input(BenchmarkId::from_parameter(players), &players, |b, _| {
            b.iter(|| {
                tick += 1;
                // The two recorded states in turn: each tick a delta of 100
                // moving avatars against the one before.
                let rows = if tick % 2 == 0 { &base } else { &cur };
                sink.begin_tick(u64::from(tick));
                match core.replicate(tick, rows, &*world, &mut sink) {
                    Ok(report) => black_box(report.written),
                    Err(e) => panic!("the bench rows replicate: {e}"),
                };
            });
        });
    }
    group.finish();
}

fn client_apply_100(c: &mut Criterion) {
    let (world, base, cur) = bench_room(100);
    let schema = world.schema().clone();
    let Ok(mut history) = ServerHistory::new(schema.clone()) else {
        return;
    };
    let (Ok(()), Ok(())) = (history.record(1, base), history.record(2, cur)) else {
        return;
    };
    let (Some(full), Some(delta)) = (history.encode_body(None), history.encode_body(Some(1)))
    else {
        return;
    };
    let mut full_msg = Vec::new();
    write_snapshot_message(&mut full_msg, None, &full.bytes);
    let mut delta_msg = Vec::new();
    write_snapshot_message(&mut delta_msg, Some(3), &delta.bytes);
    // A bot's keeper: one state, as the swarm holds, so a delta is applied
    // in place.
    let limits = Limits::default();
    let Ok(mut template) = ClientState::with_capacity(schema.clone(), 1, limits) else {
        return;
    };
    let Ok(first) = decode_snapshot_message(&schema, &full_msg, &limits) else {
        return;
    };
    if template.apply(&first.body).is_err() {
        return;
    }
    let mut group = c.benchmark_group("client_decode_apply_100_entities");
    group.throughput(Throughput::Elements(100));
    group.bench_function("delta", |b| {
        b.iter_batched(
            || template.clone(),
            |mut state| {
                let Ok(snapshot) = decode_snapshot_message(&schema, black_box(&delta_msg), &limits)
                else {
                    return 0;
                };
                state.apply(&snapshot.body).map(|s| s.len()).unwrap_or(0)
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, fanout, client_apply_100);
criterion_main!(benches);
