//! One simulation tick, at growing player counts.
//!
//! `arena_tick/N`: the arena with N avatars at the density of 100 players in
//! 4000 x 4000 (side `400 * sqrt(N)`), every player moving, aiming, and one
//! in four holding fire, so projectiles are in flight, hitting, killing and
//! expiring. A measured tick includes delivering one input per player.
//! `bench_tick/N`: the benchmark scenario's movement-only game, N avatars in
//! one 4000 x 4000 room. `arena_replicated/N`: quantizing the arena's state
//! into snapshot rows after a tick, which the server does every tick.
//!
//! Run: `cargo bench -p tickwire-benches --bench sim_tick`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tickwire_sim::games::arena::{self, ArenaConfig, ArenaInput};
use tickwire_sim::games::bench::{self, BenchConfig};
use tickwire_sim::{Input as _, PlayerId, PlayerInput, Simulation};

/// Players with a held input each; `inputs` sends them all, one seq later.
struct Players {
    held: Vec<(PlayerId, u32, ArenaInput)>,
}

impl Players {
    fn join(sim: &mut dyn Simulation, n: usize) -> Self {
        // A small LCG: the bench needs variety, not quality.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let held = (0..n)
            .filter_map(|i| sim.join(&format!("bot{i}")).ok())
            .map(|j| {
                let input = ArenaInput {
                    move_x: (next() % 255) as i8,
                    move_y: (next() % 255) as i8,
                    aim: next() as u16,
                    buttons: u8::from(next() % 4 == 0),
                };
                (j.player, 0, input)
            })
            .collect();
        Self { held }
    }

    fn send(&mut self, sim: &mut dyn Simulation) {
        for (player, seq, input) in &mut self.held {
            *seq += 1;
            input.aim = input.aim.wrapping_add(300);
            sim.input(
                *player,
                PlayerInput {
                    seq: *seq,
                    values: input.to_values(),
                    view: 0,
                },
            );
        }
    }
}

fn arena_world(n: usize) -> (Box<dyn Simulation>, Players) {
    let config = ArenaConfig {
        arena_size: 400.0 * (n as f32).sqrt(),
        max_players: n as i64,
        ..ArenaConfig::default()
    };
    let mut sim: Box<dyn Simulation> =
        Box::new(arena::new_world(1, config).unwrap_or_else(|e| panic!("{e}")));
    let mut players = Players::join(sim.as_mut(), n);
    // Three seconds of play: projectiles in flight reach their steady count.
    for _ in 0..90 {
        players.send(sim.as_mut());
        sim.step();
    }
    let mut rows = Vec::new();
    sim.replicated(&mut rows);
    let projectiles = rows.iter().filter(|r| r.kind == arena::PROJECTILE).count();
    eprintln!("arena with {n} avatars: {projectiles} projectiles in flight");
    (sim, players)
}

fn arena_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("arena_tick");
    for n in [100, 1_000, 10_000] {
        let (mut sim, mut players) = arena_world(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                players.send(sim.as_mut());
                sim.step();
            });
        });
    }
    group.finish();
}

fn arena_replicated(c: &mut Criterion) {
    let mut group = c.benchmark_group("arena_replicated");
    for n in [1_000, 10_000] {
        let (sim, _) = arena_world(n);
        let mut rows = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                rows.clear();
                sim.replicated(&mut rows);
                black_box(rows.len())
            });
        });
    }
    group.finish();
}

fn bench_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("bench_tick");
    for n in [1_000, 10_000] {
        let config = BenchConfig {
            max_players: n,
            ..BenchConfig::default()
        };
        let mut sim: Box<dyn Simulation> =
            Box::new(bench::new_world(1, config).unwrap_or_else(|e| panic!("{e}")));
        let mut players = Players::join(sim.as_mut(), n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                players.send(sim.as_mut());
                sim.step();
            });
        });
    }
    group.finish();
}

criterion_group!(benches, arena_tick, arena_replicated, bench_tick);
criterion_main!(benches);
