//! Encode and decode of a delta snapshot of 1,000 changed entities (arena
//! avatars, x and y moving by about 107 quantization steps per tick, a few
//! turning): the per-tick cost of one shared body on the server, and of one
//! snapshot on a client. Goal: each under 20 µs.
//!
//! Run: `cargo bench -p tickwire-benches --bench protocol_codec`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickwire_protocol::{
    Limits, SnapshotBody, apply_snapshot, decode_snapshot_message, encode_delta,
    write_snapshot_message,
};

#[path = "../../crates/protocol/tests/support/arena.rs"]
mod arena;

fn delta_of_1000(c: &mut Criterion) {
    let schema = arena::arena_schema();
    let mut scenario = arena::ArenaScenario::new(1000, 1);
    let base = scenario.step();
    let cur = scenario.step();
    let mut body = Vec::new();
    if encode_delta(&schema, 1, &base, 2, &cur, &mut body).is_err() {
        return;
    }
    let mut message = Vec::new();
    write_snapshot_message(&mut message, Some(12), &body);
    println!("delta of 1,000 entities: {} bytes", message.len());

    let mut group = c.benchmark_group("delta_1000_changed");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let _ = encode_delta(&schema, 1, black_box(&base), 2, black_box(&cur), &mut out);
            black_box(out.len())
        });
    });
    let limits = Limits::default();
    group.bench_function("decode", |b| {
        b.iter(|| {
            black_box(decode_snapshot_message(
                &schema,
                black_box(&message),
                &limits,
            ))
        });
    });
    let Ok(decoded) = SnapshotBody::decode(&schema, &body, &limits) else {
        return;
    };
    group.bench_function("apply", |b| {
        b.iter(|| black_box(apply_snapshot(&schema, black_box(&base), &decoded, &limits)));
    });
    group.finish();
}

criterion_group!(benches, delta_of_1000);
criterion_main!(benches);
