//! Snapshots: a world saved at any point between calls and restored
//! continues the match exactly as the original does, and bytes that are not
//! a snapshot of the game asked for are refused with an error, never a
//! panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use tickwire_sim::games::arena::{self, Arena, ArenaConfig, ArenaEntity, ArenaInput};
use tickwire_sim::games::bench::{self, Bench, BenchConfig};
use tickwire_sim::{
    GameEvent, Input, NetId, PlayerId, PlayerInput, ReplicatedEntity, Simulation, SnapshotError,
    World,
};

/// One call the driver makes between two steps.
#[derive(Debug, Clone)]
enum Call {
    Join(String),
    Leave(PlayerId),
    Dropped(PlayerId),
    Input(PlayerId, PlayerInput),
}

/// Seeded pseudo-random players for the arena: joins, leaves, dropped
/// connections, and inputs (fire half the time, sometimes two out of order,
/// sometimes none) whose viewed tick lies up to ten ticks back, so shots
/// are checked against rewound grids.
struct Driver {
    rng: Pcg32,
    /// Whether players leave and drop.
    churn: bool,
    joined: u32,
    /// Each player's last sequence number and held input.
    players: Vec<(PlayerId, u32, ArenaInput)>,
}

impl Driver {
    fn new(seed: u64) -> Self {
        Self {
            rng: Pcg32::seed_from_u64(seed),
            churn: true,
            joined: 0,
            players: Vec::new(),
        }
    }

    /// The calls before the step that makes tick `next`.
    fn calls(&mut self, next: u64) -> Vec<Call> {
        let r = &mut self.rng;
        let mut out = Vec::new();
        if self.players.len() < 10 && (self.players.len() < 3 || r.random_ratio(1, 15)) {
            self.joined += 1;
            out.push(Call::Join(format!("p{}", self.joined)));
        }
        if self.churn && !self.players.is_empty() && r.random_ratio(1, 40) {
            let i = r.random_range(0..self.players.len());
            out.push(Call::Leave(self.players.remove(i).0));
        }
        if self.churn && !self.players.is_empty() && r.random_ratio(1, 50) {
            let i = r.random_range(0..self.players.len());
            out.push(Call::Dropped(self.players[i].0));
        }
        for (player, seq, held) in &mut self.players {
            if r.random_ratio(1, 20) {
                held.move_x = r.random_range(-127..=127);
                held.move_y = r.random_range(-127..=127);
            }
            held.buttons = u8::from(r.random_bool(0.5));
            held.aim = held.aim.wrapping_add(r.random_range(0..4000));
            let view = if r.random_ratio(1, 5) {
                0
            } else {
                next.saturating_sub(r.random_range(1..=10)) as u32
            };
            let input = |seq: u32| PlayerInput {
                view,
                ..PlayerInput::new(seq, &held.to_values())
            };
            match r.random_range(0..8) {
                0 => {}
                1 => {
                    *seq += 2;
                    out.push(Call::Input(*player, input(*seq)));
                    out.push(Call::Input(*player, input(*seq - 1)));
                }
                _ => {
                    *seq += 1;
                    out.push(Call::Input(*player, input(*seq)));
                }
            }
        }
        out
    }

    /// Makes `calls` on `sim`; the players who join become the driver's.
    fn apply(&mut self, sim: &mut dyn Simulation, calls: &[Call]) -> Vec<String> {
        let mut log = Vec::new();
        for call in calls {
            match call {
                Call::Join(name) => {
                    let joined = sim.join(name);
                    if let Ok(j) = &joined {
                        if !self.players.iter().any(|p| p.0 == j.player) {
                            self.players.push((j.player, 0, ArenaInput::default()));
                        }
                    }
                    log.push(format!("{joined:?}"));
                }
                Call::Leave(p) => sim.leave(*p),
                Call::Dropped(p) => sim.dropped(*p),
                Call::Input(p, i) => sim.input(*p, *i),
            }
        }
        log
    }
}

/// Everything a client or the server can see of a world after a tick.
#[derive(Debug, PartialEq)]
struct Seen {
    tick: u64,
    hash: u64,
    rows: Vec<ReplicatedEntity>,
    events: Vec<GameEvent>,
    /// Per player: the last input applied, the view and what is in it.
    players: Vec<(PlayerId, Option<u32>, Vec<NetId>)>,
}

fn seen(sim: &mut dyn Simulation, players: &[PlayerId]) -> Seen {
    let mut rows = Vec::new();
    sim.replicated(&mut rows);
    let mut events = Vec::new();
    sim.drain_events(&mut events);
    let players = players
        .iter()
        .map(|&p| {
            let mut ids = Vec::new();
            if let Some(rect) = sim.view(p) {
                sim.entities_in(rect, &mut ids);
            }
            (p, sim.last_applied_input(p), ids)
        })
        .collect();
    Seen {
        tick: sim.tick(),
        hash: sim.state_hash(),
        rows,
        events,
        players,
    }
}

fn small_arena() -> ArenaConfig {
    ArenaConfig {
        arena_size: 300.0,
        ..ArenaConfig::default()
    }
}

/// What [`run`] counted, to show the scenario exercised what it should.
#[derive(Debug, Default)]
struct Counts {
    /// Projectiles in flight with a rewind at the save.
    rewound_shots_at_save: usize,
    /// Kills after the restore.
    kills_after: usize,
}

/// Runs an arena match `before` ticks (plus, if `mid_tick`, the calls of
/// the next tick without its step; if `undrained`, the last tick's events
/// left in the world), saves it, restores the save, then drives the
/// original and the restored world with the same calls for `after` ticks,
/// checking they agree on everything after every tick.
fn run(
    seed: u64,
    input_seed: u64,
    before: u64,
    after: u64,
    mid_tick: bool,
    undrained: bool,
) -> Counts {
    let mut counts = Counts::default();
    let mut original = arena::new_world(seed, small_arena()).unwrap();
    let mut driver = Driver::new(input_seed);
    let mut scratch = Vec::new();
    for t in 1..=before {
        let calls = driver.calls(t);
        driver.apply(&mut original, &calls);
        original.step();
        if !(undrained && t == before) {
            original.drain_events(&mut scratch);
        }
    }
    let mut pending = Vec::new();
    if mid_tick {
        pending = driver.calls(before + 1);
        driver.apply(&mut original, &pending);
    }
    counts.rewound_shots_at_save = original
        .entities()
        .iter()
        .filter(|(_, _, e)| matches!(e, ArenaEntity::Projectile(p) if p.rewind > 0))
        .count();

    let bytes = original.save().unwrap();
    let dyn_bytes = Simulation::save(&original).unwrap().unwrap();
    assert_eq!(bytes, dyn_bytes, "Simulation::save is World::save");
    let mut restored = World::<Arena>::restore(&bytes, original.schema()).unwrap();
    assert_eq!(restored.state_hash(), original.state_hash());
    assert_eq!(
        restored.save().unwrap(),
        bytes,
        "a restored world saves the same bytes"
    );

    let players = |d: &Driver| d.players.iter().map(|p| p.0).collect::<Vec<_>>();
    for t in 1..=after {
        let calls = if t == 1 && mid_tick {
            Vec::new()
        } else {
            driver.calls(original.tick() + 1)
        };
        let mut twin = Driver {
            rng: Pcg32::seed_from_u64(0),
            churn: true,
            joined: 0,
            players: driver.players.clone(),
        };
        let a = driver.apply(&mut original, &calls);
        let b = twin.apply(&mut restored, &calls);
        assert_eq!(a, b, "joins answer the same");
        original.step();
        restored.step();
        let ps = players(&driver);
        let seen_a = seen(&mut original, &ps);
        let seen_b = seen(&mut restored, &ps);
        counts.kills_after += seen_a.events.len();
        assert_eq!(seen_a, seen_b, "tick {t} after the restore");
    }
    assert_eq!(original.save().unwrap(), restored.save().unwrap());
    let _ = pending;
    counts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random seeds, players joining, leaving, dropping and shooting with
    /// views in the past; a save at a random point between calls: the
    /// restored world agrees with the original, tick after tick, on the
    /// state hash, the replicated rows, the events, each player's view and
    /// last applied input.
    #[test]
    fn a_restored_arena_continues_the_match_exactly(
        seed in any::<u64>(),
        input_seed in any::<u64>(),
        before in 0u64..150,
        after in 1u64..90,
        mid_tick in any::<bool>(),
        undrained in any::<bool>(),
    ) {
        run(seed, input_seed, before, after, mid_tick, undrained);
    }
}

/// The scenario reaches what the property is about: shots in flight that
/// rewind at the save, and kills after the restore (each checked equal).
#[test]
fn the_scenario_saves_rewound_shots_and_kills_after_the_restore() {
    let mut rewound = 0;
    let mut kills = 0;
    for seed in 0..6 {
        let c = run(seed, seed + 100, 120, 150, seed % 2 == 0, false);
        rewound += c.rewound_shots_at_save;
        kills += c.kills_after;
    }
    assert!(rewound > 0, "no rewound shot in flight at any save");
    assert!(kills > 0, "no kill after any restore");
}

/// The free slots are reused in the same order after a restore: the
/// storage order and keys of later spawns match.
#[test]
fn later_spawns_take_the_same_slots() {
    let mut w = bench::new_world(7, BenchConfig::default()).unwrap();
    let joined: Vec<PlayerId> = (0..50)
        .map(|i| w.join(&format!("b{i}")).unwrap().player)
        .collect();
    // Leave in a scattered order, so the free list is not in slot order.
    for &p in joined
        .iter()
        .step_by(7)
        .chain(joined.iter().skip(3).step_by(11))
    {
        w.leave(p);
    }
    w.step();
    let mut r = World::<Bench>::restore(&w.save().unwrap(), w.schema()).unwrap();
    for i in 0..20 {
        let a = w.join(&format!("n{i}")).unwrap();
        let b = r.join(&format!("n{i}")).unwrap();
        assert_eq!(a, b);
        assert_eq!(w.avatar(a.player), r.avatar(b.player));
    }
    let keys = |w: &World<Bench>| {
        w.entities()
            .iter()
            .map(|(k, id, _)| (k, id))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&w), keys(&r));
    w.step();
    r.step();
    assert_eq!(w.state_hash(), r.state_hash());
}

fn arena_bytes() -> (World<Arena>, Vec<u8>) {
    let mut w = arena::new_world(3, ArenaConfig::default()).unwrap();
    let mut d = Driver::new(4);
    for t in 1..=60 {
        let calls = d.calls(t);
        d.apply(&mut w, &calls);
        w.step();
    }
    let bytes = w.save().unwrap();
    (w, bytes)
}

#[test]
fn a_snapshot_of_another_game_or_schema_is_refused() {
    let (arena, bytes) = arena_bytes();
    let bench = bench::new_world(1, BenchConfig::default()).unwrap();
    let err = World::<Bench>::restore(&bytes, bench.schema()).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Game { found, expected } if found == "arena" && expected == "bench"),
        "{err}"
    );
    assert!(err.to_string().contains("`arena`"), "{err}");

    let mut other = arena.schema().clone();
    other.kinds[0].name.push('2');
    let err = World::<Arena>::restore(&bytes, &other).unwrap_err();
    assert!(matches!(err, SnapshotError::Schema { .. }), "{err}");

    let bench_bytes = bench.save().unwrap();
    let err = World::<Arena>::restore(&bench_bytes, arena.schema()).unwrap_err();
    assert!(matches!(err, SnapshotError::Game { .. }), "{err}");

    // Another format version.
    let mut newer = bytes.clone();
    newer[4] = newer[4].wrapping_add(1);
    let err = World::<Arena>::restore(&newer, arena.schema()).unwrap_err();
    assert!(matches!(err, SnapshotError::Format { .. }), "{err}");
}

#[test]
fn truncated_or_garbage_bytes_are_an_error_not_a_panic() {
    let (arena, bytes) = arena_bytes();
    let schema = arena.schema();
    assert!(matches!(
        World::<Arena>::restore(b"", schema),
        Err(SnapshotError::NotASnapshot)
    ));
    assert!(matches!(
        World::<Arena>::restore(b"hello, world", schema),
        Err(SnapshotError::NotASnapshot)
    ));
    // Every truncation.
    for len in 0..bytes.len() {
        assert!(
            World::<Arena>::restore(&bytes[..len], schema).is_err(),
            "{len}"
        );
    }
    // A byte too many.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        World::<Arena>::restore(&longer, schema),
        Err(SnapshotError::Trailing(1))
    ));
    // Flipped bytes: an error or a world, never a panic; a length claimed
    // huge fails without allocating it.
    let mut rng = Pcg32::seed_from_u64(9);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(4..b.len());
            b[i] = rng.random();
        }
        if let Ok(mut w) = World::<Arena>::restore(&b, schema) {
            w.step();
            let _ = w.state_hash();
        }
    }
    let mut huge = bytes[..40.min(bytes.len())].to_vec();
    huge.extend([253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(World::<Arena>::restore(&huge, schema).is_err());
}

/// A world not opted in has no snapshots through the trait; a game opts
/// in its worlds with `with_snapshots`, and the server's rooms through its
/// `Configure::snapshots` (as the arena does).
#[test]
fn a_world_not_opted_in_answers_none() {
    let w = World::with_tick_rate(Arena::new(ArenaConfig::default(), 30), 1, 30).unwrap();
    assert!(!w.has_snapshots());
    assert!(Simulation::save(&w).is_none());
    assert!(Simulation::save(&w.with_snapshots()).is_some());
    let w = tickwire_sim::setup::world::<Arena>(&ArenaConfig::default(), 1, 30).unwrap();
    assert!(w.has_snapshots(), "the arena's Configure opts its rooms in");
    assert!(Simulation::save(&w).is_some());
}

/// The snapshot sizes in BENCHMARKS.md: an arena world of 10 players after
/// ten seconds of play, and a bench world of 1,000 avatars. Run with
/// `cargo test -p tickwire-sim --test snapshot snapshot_sizes -- --nocapture`.
#[test]
fn snapshot_sizes() {
    let mut a = arena::new_world(1, ArenaConfig::default()).unwrap();
    let mut d = Driver::new(2);
    d.churn = false;
    for t in 1..=300 {
        let calls = d.calls(t);
        d.apply(&mut a, &calls);
        a.step();
    }
    assert_eq!(a.player_count(), 10);
    let arena_size = a.save().unwrap().len();

    let bench_world = |max_rewind: u32| {
        let mut b = bench::new_world(1, BenchConfig::default())
            .unwrap()
            .with_max_rewind(max_rewind);
        for i in 0..1000 {
            b.join(&format!("bot{i}")).unwrap();
        }
        for _ in 0..30 {
            b.step();
        }
        assert_eq!(b.entities().len(), 1000);
        b
    };
    let b = bench_world(6);
    let bench_size = b.save().unwrap().len();
    let one_grid = bench_world(0).save().unwrap().len();
    println!(
        "snapshot: arena, 10 players, tick 300, {} entities, max rewind {}: {arena_size} bytes",
        a.entities().len(),
        a.max_rewind()
    );
    println!(
        "snapshot: bench, 1000 avatars, tick 30, max rewind {}: {bench_size} bytes \
         ({one_grid} bytes with max rewind 0: one grid)",
        b.max_rewind()
    );
    assert!(arena_size > 0 && bench_size > arena_size);
}
