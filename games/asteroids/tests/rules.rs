//! The rules of asteroids, run in-process: a match is deterministic, its
//! shooting breaks rocks and scores, and a crash is a death nobody caused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};
use tickwire_asteroids::{Asteroids, AsteroidsConfig, AsteroidsEvent, ShipInput, Thing};
use tickwire_sim::{Event, Input, PlayerId, PlayerInput, Quantization, Simulation, World};

/// A match of `players` ships on a small field, each holding a random
/// input for a few ticks at a time; returns the world, every tick's hash
/// and every event.
fn play(
    seed: u64,
    players: usize,
    ticks: u32,
) -> (World<Asteroids>, Vec<u64>, Vec<AsteroidsEvent>) {
    let config = AsteroidsConfig {
        field_size: 800.0,
        ..AsteroidsConfig::default()
    };
    let mut world = World::with_tick_rate(Asteroids::new(config, 30), seed, 30).unwrap();
    let ids: Vec<PlayerId> = (0..players)
        .map(|i| world.join(&format!("pilot{i}")).unwrap().player)
        .collect();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ 0x5eed);
    let mut held = vec![ShipInput::default(); players];
    let (mut hashes, mut events, mut wire) = (Vec::new(), Vec::new(), Vec::new());
    for tick in 0..ticks {
        for (i, &id) in ids.iter().enumerate() {
            if tick % 10 == 0 {
                held[i] = ShipInput {
                    turn: rng.random_range(-1.0..=1.0),
                    thrust: rng.random_bool(0.5),
                    fire: rng.random_bool(0.7),
                };
            }
            let values = held[i].to_values();
            world.input(
                id,
                PlayerInput {
                    seq: tick + 1,
                    values,
                    view: 0,
                },
            );
        }
        world.step();
        hashes.push(world.state_hash());
        world.drain_events(&mut wire);
        events.extend(
            wire.drain(..)
                .map(|e| AsteroidsEvent::from_wire(&e).unwrap()),
        );
    }
    (world, hashes, events)
}

#[test]
fn the_same_seed_and_inputs_give_the_same_match() {
    let (_, a, _) = play(7, 6, 300);
    let (_, b, _) = play(7, 6, 300);
    assert_eq!(a, b);
    let (_, c, _) = play(8, 6, 300);
    assert_ne!(a, c, "another seed is another match");
}

#[test]
fn bullets_break_rocks_into_smaller_ones_and_score() {
    let (world, _, events) = play(11, 6, 900);
    let broke: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AsteroidsEvent::Broke { by, size } => Some((*by, *size)),
            _ => None,
        })
        .collect();
    assert!(!broke.is_empty(), "no rock was broken in 30 s: {events:?}");
    // A large rock breaks into two of size 2: some rocks smaller than the
    // largest exist or existed.
    assert!(broke.iter().any(|&(_, size)| size == 3), "{broke:?}");
    assert!(broke.iter().any(|&(_, size)| size < 3), "{broke:?}");
    // Every break and kill scored one for the shooter.
    let kills = events
        .iter()
        .filter(|e| matches!(e, AsteroidsEvent::Kill { .. }))
        .count();
    let scores: u32 = world
        .entities()
        .iter()
        .filter_map(|(_, _, t)| match t {
            Thing::Ship(s) => Some(s.score),
            _ => None,
        })
        .sum();
    assert_eq!(scores as usize, broke.len() + kills);
}

#[test]
fn a_crash_into_a_rock_is_a_death_nobody_caused() {
    let (_, _, events) = play(11, 6, 900);
    let crashes: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, AsteroidsEvent::Crash { .. }))
        .collect();
    assert!(!crashes.is_empty(), "no ship crashed in 30 s: {events:?}");
    // The schema says so too: a crash names one player, and no killer.
    let schema = World::new(Asteroids::new(AsteroidsConfig::default(), 30), 1)
        .unwrap()
        .schema()
        .clone();
    let crash = schema.events.iter().find(|e| e.name == "crash").unwrap();
    let fields: Vec<_> = crash
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.quant))
        .collect();
    assert_eq!(fields, [("player", Quantization::Player)]);
}

#[test]
fn the_input_is_a_turn_and_two_buttons() {
    let names: Vec<_> = ShipInput::fields().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["turn", "thrust", "fire"]);
    let input = ShipInput {
        turn: -1.0,
        thrust: false,
        fire: true,
    };
    assert_eq!(input.to_values()[..3], [-127, 0, 1]);
    assert_eq!(ShipInput::from_values(&input.to_values()), input);
}
