//! Property tests of the arena's rules, over random seeds, player counts,
//! arena sizes and input streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickwire_sim::games::arena::{self, Arena, ArenaConfig, ArenaEntity};
use tickwire_sim::{NetId, Simulation, World};

/// A small, crowded arena so that walls, hits and deaths happen often.
fn crowded(size: f32, respawn_delay: f32, lifetime: f32) -> ArenaConfig {
    ArenaConfig {
        arena_size: size,
        respawn_delay,
        projectile_lifetime: lifetime,
        projectile_damage: 34,
        ..ArenaConfig::default()
    }
}

/// Runs the match, calling `check` after every tick.
fn run(
    world: &mut World<Arena>,
    players: usize,
    ticks: u64,
    input_seed: u64,
    mut check: impl FnMut(&World<Arena>, u64),
) {
    let mut bots = common::Bots::join(world, players, input_seed);
    for tick in 1..=ticks {
        for (p, i) in bots.inputs() {
            world.input(p, i);
        }
        world.step();
        check(world, tick);
    }
}

fn avatars(world: &World<Arena>) -> impl Iterator<Item = (NetId, &arena::Avatar)> {
    world.entities().iter().filter_map(|(_, id, e)| match e {
        ArenaEntity::Avatar(a) => Some((id, a)),
        ArenaEntity::Projectile(_) => None,
    })
}

fn projectiles(world: &World<Arena>) -> impl Iterator<Item = (NetId, &arena::Projectile)> {
    world.entities().iter().filter_map(|(_, id, e)| match e {
        ArenaEntity::Projectile(p) => Some((id, p)),
        ArenaEntity::Avatar(_) => None,
    })
}

fn params() -> impl Strategy<Value = (u64, u64, usize, f32, f32, f32)> {
    (
        any::<u64>(),
        any::<u64>(),
        1usize..16,
        200.0f32..1500.0,
        0.1f32..2.0,
        0.1f32..1.5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_avatar_leaves_the_arena((seed, input_seed, players, size, respawn, life) in params()) {
        let mut world = arena::new_world(seed, crowded(size, respawn, life)).unwrap();
        run(&mut world, players, 300, input_seed, |w, tick| {
            for (id, a) in avatars(w) {
                assert!(
                    (0.0..=size).contains(&a.pos.x) && (0.0..=size).contains(&a.pos.y),
                    "tick {tick}: avatar {id:?} at {:?} outside 0..={size}", a.pos
                );
            }
        });
    }

    #[test]
    fn hit_points_stay_within_zero_and_max((seed, input_seed, players, size, respawn, life) in params()) {
        let mut world = arena::new_world(seed, crowded(size, respawn, life)).unwrap();
        let max = world.game().config().max_hp as i32;
        run(&mut world, players, 300, input_seed, |w, tick| {
            for (id, a) in avatars(w) {
                assert!((0..=max).contains(&a.hp), "tick {tick}: avatar {id:?} has hp {}", a.hp);
            }
        });
    }

    #[test]
    fn the_dead_respawn_within_the_delay((seed, input_seed, players, size, respawn, life) in params()) {
        let mut world = arena::new_world(seed, crowded(size, respawn, life)).unwrap();
        let delay = world.game().respawn_ticks();
        let max = world.game().config().max_hp as i32;
        let mut dead_for: BTreeMap<NetId, u32> = BTreeMap::new();
        run(&mut world, players.max(2), 400, input_seed, |w, tick| {
            for (id, a) in avatars(w) {
                let ticks = dead_for.entry(id).or_default();
                if a.hp == 0 {
                    *ticks += 1;
                    assert!(*ticks <= delay, "tick {tick}: {id:?} dead for {ticks} ticks, delay {delay}");
                    assert!((1..=delay).contains(&a.respawn), "tick {tick}: countdown {}", a.respawn);
                } else {
                    if *ticks > 0 {
                        assert_eq!(a.hp, max, "tick {tick}: {id:?} respawned without full hp");
                    }
                    *ticks = 0;
                    assert_eq!(a.respawn, 0);
                }
            }
        });
    }

    #[test]
    fn projectiles_expire((seed, input_seed, players, size, respawn, life) in params()) {
        let mut world = arena::new_world(seed, crowded(size, respawn, life)).unwrap();
        let life_ticks = u64::from(world.game().projectile_life_ticks());
        let mut born: BTreeMap<NetId, u64> = BTreeMap::new();
        run(&mut world, players, 300, input_seed, |w, tick| {
            for (id, p) in projectiles(w) {
                let first = *born.entry(id).or_insert(tick);
                assert!(tick - first < life_ticks, "tick {tick}: {id:?} alive since {first}");
                assert!(
                    (0.0..=size).contains(&p.pos.x) && (0.0..=size).contains(&p.pos.y),
                    "tick {tick}: projectile {id:?} outside the arena"
                );
            }
        });
    }

    #[test]
    fn entity_count_stays_within_players_and_their_projectiles((seed, input_seed, players, size, respawn, life) in params()) {
        let mut world = arena::new_world(seed, crowded(size, respawn, life)).unwrap();
        let bound = players * (1 + world.game().max_projectiles_per_player());
        run(&mut world, players, 300, input_seed, |w, tick| {
            assert!(w.entities().len() <= bound, "tick {tick}: {} entities, bound {bound}", w.entities().len());
        });
    }
}
