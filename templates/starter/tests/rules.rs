//! The starter's rules, driven directly: a runner that reaches a gem
//! collects it, scores, and is heard; the same inputs give the same match.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tickwire_sim::{Event, Input, PlayerInput, Simulation, World};
use tickwire_starter::{Heard, Move, Starter, StarterConfig, Thing};

fn world(seed: u64) -> World<Starter> {
    let config = StarterConfig {
        field_size: 200.0,
        gems: 40,
        ..StarterConfig::default()
    };
    World::new(Starter::new(config), seed).unwrap()
}

/// Runs `ticks` ticks with one player sweeping the small field; returns
/// the hashes and what was heard.
fn sweep(seed: u64, ticks: u32) -> (World<Starter>, Vec<u64>, Vec<Heard>) {
    let mut w = world(seed);
    let player = w.join("sweeper").unwrap().player;
    let (mut hashes, mut heard, mut wire) = (Vec::new(), Vec::new(), Vec::new());
    for tick in 1..=ticks {
        // Right for a while, then down, then left...: a lawnmower path.
        let phase = (tick / 20) % 4;
        let (x, y) = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, 1.0)][phase as usize];
        let input = Move {
            x,
            y,
            dash: tick % 3 == 0,
        };
        w.input(
            player,
            PlayerInput {
                seq: tick,
                values: input.to_values(),
                view: 0,
            },
        );
        w.step();
        hashes.push(w.state_hash());
        w.drain_events(&mut wire);
        heard.extend(wire.drain(..).map(|e| Heard::from_wire(&e).unwrap()));
    }
    (w, hashes, heard)
}

#[test]
fn a_runner_collects_gems_and_scores_each_once() {
    let (w, _, heard) = sweep(3, 300);
    assert!(
        !heard.is_empty(),
        "nothing collected in 10 s on a small field"
    );
    let score: u32 = w
        .entities()
        .iter()
        .filter_map(|(_, _, t)| match t {
            Thing::Runner { score, .. } => Some(*score),
            Thing::Gem { .. } => None,
        })
        .sum();
    assert_eq!(score as usize, heard.len());
    // Collected gems reappear: the field always holds all of them.
    let gems = w
        .entities()
        .iter()
        .filter(|(_, _, t)| matches!(t, Thing::Gem { .. }))
        .count();
    assert_eq!(gems, 40);
}

#[test]
fn the_same_inputs_give_the_same_match() {
    assert_eq!(sweep(5, 200).1, sweep(5, 200).1);
}
