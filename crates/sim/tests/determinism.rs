//! Same seed and same ordered calls give the same state after every tick;
//! a recording replays to the same hashes; one changed input shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufReader;

use common::run_hashes;
use tickwire_sim::games::arena::{ArenaEvent, ArenaInput};
use tickwire_sim::games::{self, arena};
use tickwire_sim::{Event, Input, MatchRecord, PlayerInput, Recording, Simulation};

const SEED: u64 = 0x7ac4_0001;
const INPUT_SEED: u64 = 99;
const PLAYERS: usize = 64;
const TICKS: u64 = 10_000;

fn arena_sim() -> Box<dyn Simulation> {
    games::new_simulation("arena", None, None, SEED).unwrap()
}

#[test]
fn arena_runs_identically_twice_for_ten_thousand_ticks() {
    let a = run_hashes(arena_sim().as_mut(), PLAYERS, TICKS, INPUT_SEED, |_, _| {});
    let b = run_hashes(arena_sim().as_mut(), PLAYERS, TICKS, INPUT_SEED, |_, _| {});
    assert_eq!(a.len(), TICKS as usize);
    if let Some(t) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!("runs diverge at tick {}", t + 1);
    }
    // A run whose state never changes would pass trivially.
    let distinct: std::collections::BTreeSet<_> = a.iter().collect();
    assert_eq!(distinct.len(), a.len());
}

#[test]
fn the_seeded_arena_run_includes_kills() {
    // The determinism run is only worth something if the whole game is
    // exercised: shots, hits, deaths, respawns.
    let mut sim = arena::new_world(SEED, arena::ArenaConfig::default()).unwrap();
    let mut bots = common::Bots::join(&mut sim, PLAYERS, INPUT_SEED);
    let mut kills = 0;
    let mut events = Vec::new();
    for _ in 0..3_000 {
        for (p, i) in bots.inputs() {
            sim.input(p, i);
        }
        sim.step();
        sim.drain_events(&mut events);
        kills += events
            .drain(..)
            .filter(|e| matches!(ArenaEvent::from_wire(e), Some(ArenaEvent::Kill { .. })))
            .count();
    }
    assert!(kills > 10, "only {kills} kills in 3000 ticks");
}

#[test]
fn different_seeds_give_different_matches() {
    let a = run_hashes(arena_sim().as_mut(), 8, 10, INPUT_SEED, |_, _| {});
    let mut other = games::new_simulation("arena", None, None, SEED + 1).unwrap();
    let b = run_hashes(other.as_mut(), 8, 10, INPUT_SEED, |_, _| {});
    assert_ne!(a[0], b[0]);
}

#[test]
fn recorded_match_replays_to_the_same_hashes() {
    let setup = games::setup("arena", None, None, SEED).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = std::io::BufWriter::new(file.reopen().unwrap());
    let mut recording = Recording::new(games::build(&setup).unwrap(), &setup, out, true).unwrap();
    let live = run_hashes(&mut recording, PLAYERS, 2_000, INPUT_SEED, |_, _| {});
    let (_, out) = recording.finish();
    drop(out.unwrap());

    let record = MatchRecord::read(BufReader::new(file.reopen().unwrap())).unwrap();
    assert_eq!(record.setup, setup);
    assert_eq!(record.ticks.len(), 2_000);
    let replay = games::replay(&record).unwrap();
    assert_eq!(replay.first_divergence, None);
    assert_eq!(replay.hashes, live);
}

#[test]
fn replay_names_the_first_tick_that_differs_from_the_recording() {
    let setup = games::setup("arena", None, None, SEED).unwrap();
    let mut recording =
        Recording::new(games::build(&setup).unwrap(), &setup, Vec::new(), true).unwrap();
    run_hashes(&mut recording, 4, 50, INPUT_SEED, |_, _| {});
    let (_, out) = recording.finish();
    let mut record = MatchRecord::read(out.unwrap().as_slice()).unwrap();
    record.ticks[29].hash = record.ticks[29].hash.map(|h| h ^ 1);
    assert_eq!(games::replay(&record).unwrap().first_divergence, Some(30));
}

#[test]
fn changing_one_input_changes_the_hash_from_that_tick_on_and_not_before() {
    // A changed input's trace can vanish later in a match (its avatar
    // pinned to a wall, or killed and respawned from the shared generator):
    // with this seed a change at tick 5,000 vanished at 5,222 once a
    // backlog of three inputs waited (`MAX_INPUT_BACKLOG`); at 6,000 it
    // lasts to the end, which is what this test needs.
    const CHANGED: u64 = 6_000;
    let base = run_hashes(arena_sim().as_mut(), PLAYERS, TICKS, INPUT_SEED, |_, _| {});
    let tampered = run_hashes(
        arena_sim().as_mut(),
        PLAYERS,
        TICKS,
        INPUT_SEED,
        |tick, inputs| {
            if tick == CHANGED {
                let (_, input): &mut (_, PlayerInput) = inputs.first_mut().unwrap();
                let mut arena = ArenaInput::from_values(&input.values);
                arena.move_x = arena.move_x.wrapping_add(64);
                input.values = arena.to_values();
            }
        },
    );
    let before = (CHANGED - 1) as usize;
    assert_eq!(
        base[..before],
        tampered[..before],
        "hashes differ before the change"
    );
    for (i, (a, b)) in base.iter().zip(&tampered).enumerate().skip(before) {
        assert_ne!(a, b, "hashes agree again at tick {}", i + 1);
    }
}

#[test]
fn a_clone_runs_on_exactly_as_the_original() {
    // The replay viewer seeks from copies of the match kept as keyframes:
    // a copy taken mid-match must reach the same states as the match.
    let mut sim = arena::new_world(SEED, arena::ArenaConfig::default()).unwrap();
    let mut bots = common::Bots::join(&mut sim, 16, INPUT_SEED);
    let mut inputs = Vec::new();
    for _ in 0..300 {
        let tick = bots.inputs();
        for &(p, i) in &tick {
            sim.input(p, i);
        }
        sim.step();
        inputs.push(tick);
    }
    // Inputs buffered and not yet applied are part of the copy too.
    let late = bots.inputs();
    for &(p, i) in &late {
        sim.input(p, i);
    }
    let mut copy = sim.clone();
    assert_eq!(copy.state_hash(), sim.state_hash());
    let mut events = (Vec::new(), Vec::new());
    for _ in 0..600 {
        for (p, i) in bots.inputs() {
            sim.input(p, i);
            copy.input(p, i);
        }
        sim.step();
        copy.step();
        assert_eq!(copy.state_hash(), sim.state_hash(), "tick {}", sim.tick());
        sim.drain_events(&mut events.0);
        copy.drain_events(&mut events.1);
    }
    assert_eq!(events.0, events.1);
    assert!(!events.0.is_empty(), "no events in 600 ticks: a weak test");
    // The copy is apart: stepping it leaves the original where it was.
    let before = sim.state_hash();
    copy.step();
    assert_eq!(sim.state_hash(), before);
    assert_ne!(copy.state_hash(), before);
}
