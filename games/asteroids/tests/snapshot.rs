//! Asteroids opts in to snapshots: a match saved mid-play and restored
//! continues exactly as the original does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};
use tickwire_asteroids::{Asteroids, AsteroidsConfig, ShipInput};
use tickwire_sim::{Input, PlayerId, PlayerInput, Simulation, World, setup};

/// One tick of inputs for `players`, from `rng`.
fn inputs(
    rng: &mut rand_pcg::Pcg64Mcg,
    players: &[PlayerId],
    tick: u32,
) -> Vec<(PlayerId, PlayerInput)> {
    players
        .iter()
        .map(|&p| {
            let held = ShipInput {
                turn: rng.random_range(-127..=127) as f32 / 127.0,
                thrust: rng.random_bool(0.6),
                fire: rng.random_bool(0.5),
            };
            (p, PlayerInput::new(tick, &held.to_values()))
        })
        .collect()
}

#[test]
fn a_restored_asteroids_match_continues_exactly() {
    let config = AsteroidsConfig::default();
    let mut original = setup::world::<Asteroids>(&config, 5, 30)
        .unwrap()
        .with_snapshots();
    let mut players: Vec<PlayerId> = (0..6)
        .map(|i| original.join(&format!("p{i}")).unwrap().player)
        .collect();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
    let mut events = Vec::new();
    for tick in 1..=200 {
        for (p, i) in inputs(&mut rng, &players, tick) {
            original.input(p, i);
        }
        original.step();
        original.drain_events(&mut events);
    }
    original.leave(players.remove(2));
    let bytes = Simulation::save(&original).unwrap().unwrap();
    let mut restored = World::<Asteroids>::restore(&bytes, original.schema()).unwrap();
    assert_eq!(restored.state_hash(), original.state_hash());
    let late_a = original.join("late").unwrap();
    let late_b = restored.join("late").unwrap();
    assert_eq!(late_a, late_b);
    players.push(late_a.player);
    let (mut ev_a, mut ev_b) = (Vec::new(), Vec::new());
    for tick in 201..=500 {
        for (p, i) in inputs(&mut rng, &players, tick) {
            original.input(p, i);
            restored.input(p, i);
        }
        original.step();
        restored.step();
        assert_eq!(original.state_hash(), restored.state_hash(), "tick {tick}");
        let (mut rows_a, mut rows_b) = (Vec::new(), Vec::new());
        original.replicated(&mut rows_a);
        restored.replicated(&mut rows_b);
        assert_eq!(rows_a, rows_b, "tick {tick}");
        original.drain_events(&mut ev_a);
        restored.drain_events(&mut ev_b);
    }
    assert_eq!(ev_a, ev_b);
    assert!(!ev_a.is_empty(), "something happened after the restore");
}
