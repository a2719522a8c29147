//! The bench game does exactly what the arena benchmark scenario says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use glam::Vec2;
use tickwire_sim::games::bench::{self, Bench, BenchConfig, BenchInput};
use tickwire_sim::{Input, PlayerId, PlayerInput, Quantization, Simulation, World};

/// The wire input a player sends holding `held`.
fn input(seq: u32, held: BenchInput) -> PlayerInput {
    PlayerInput::new(seq, &held.to_values())
}

fn state(w: &World<Bench>, p: PlayerId) -> bench::BenchAvatar {
    w.entities().get(w.avatar(p).unwrap()).unwrap().clone()
}

#[test]
fn avatars_spawn_inside_with_full_hp() {
    let mut w = bench::new_world(5, BenchConfig::default()).unwrap();
    for i in 0..200 {
        let p = w.join(&format!("b{i}")).unwrap().player;
        let a = state(&w, p);
        assert!((0.0..4000.0).contains(&a.pos.x) && (0.0..4000.0).contains(&a.pos.y));
        assert_eq!(a.hp, 100);
    }
}

#[test]
fn each_input_moves_the_avatar_for_one_tick_by_the_scenario_formula() {
    let mut w = bench::new_world(5, BenchConfig::default()).unwrap();
    let p = w.join("b").unwrap().player;
    let before = state(&w, p).pos;
    let first = BenchInput {
        move_x: -127,
        ..BenchInput::default()
    };
    let second = BenchInput {
        move_x: 90,
        move_y: 90,
        ..BenchInput::default()
    };
    // Out of order and between the same two ticks: sequence order, one per
    // tick.
    w.input(p, input(2, second));
    w.input(p, input(1, first));
    let mut expected = before;
    for held in [first, second] {
        w.step();
        let dir = held.direction();
        let velocity = dir * 200.0;
        expected += velocity * (1.0f32 / 30.0);
        expected = expected.clamp(Vec2::ZERO, Vec2::splat(4000.0));
        let a = state(&w, p);
        assert_eq!(a.pos, expected);
        assert_eq!(a.heading, libm::atan2f(dir.y, dir.x));
        assert_eq!(a.hp, 100);
    }
}

#[test]
fn a_zero_direction_keeps_the_heading_and_the_position() {
    let mut w = bench::new_world(5, BenchConfig::default()).unwrap();
    let p = w.join("b").unwrap().player;
    w.input(
        p,
        input(
            1,
            BenchInput {
                move_y: 127,
                ..BenchInput::default()
            },
        ),
    );
    w.step();
    w.input(p, input(2, BenchInput::default()));
    let before = state(&w, p);
    w.step();
    let after = state(&w, p);
    assert_eq!(after.pos, before.pos);
    assert_eq!(after.heading, before.heading);
}

#[test]
fn avatars_are_clamped_to_the_arena() {
    let mut w = bench::new_world(
        5,
        BenchConfig {
            arena_size: 50.0,
            ..BenchConfig::default()
        },
    )
    .unwrap();
    let p = w.join("b").unwrap().player;
    w.input(
        p,
        input(
            1,
            BenchInput {
                move_x: 127,
                move_y: -127,
                ..BenchInput::default()
            },
        ),
    );
    for _ in 0..30 {
        w.step();
    }
    assert_eq!(state(&w, p).pos, Vec2::new(50.0, 0.0));
}

#[test]
fn the_schema_is_the_scenario_avatar() {
    let w = bench::new_world(5, BenchConfig::default()).unwrap();
    let kind = &w.schema().kinds[0];
    assert_eq!(kind.name, "avatar");
    let fields: Vec<(&str, Quantization)> = kind
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.quant))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("x", Quantization::Fixed { scale: 16 }),
            ("y", Quantization::Fixed { scale: 16 }),
            ("heading", Quantization::Angle { steps: 256 }),
            ("hp", Quantization::Int { min: 0, max: 255 }),
        ]
    );
}

#[test]
fn everyone_sees_everything_unless_a_view_is_set() {
    let mut w = bench::new_world(5, BenchConfig::default()).unwrap();
    let p = w.join("b").unwrap().player;
    assert_eq!(w.view(p), None);
    let mut open = bench::new_world(5, BenchConfig::open_world(400)).unwrap();
    assert_eq!(open.game().config().arena_size, 8000.0);
    let q = open.join("b").unwrap().player;
    let view = open.view(q).unwrap();
    assert_eq!(view.max - view.min, Vec2::splat(2000.0));
}

#[test]
fn open_world_interest_finds_the_neighbours_only() {
    let mut w = bench::new_world(9, BenchConfig::open_world(1_000)).unwrap();
    let players: Vec<PlayerId> = (0..1_000)
        .map(|i| w.join(&format!("b{i}")).unwrap().player)
        .collect();
    w.step();
    let mut seen = Vec::new();
    let view = w.view(players[0]).unwrap();
    w.entities_in(view, &mut seen);
    let brute = w
        .entities()
        .iter()
        .filter(|(_, _, a)| view.contains(a.pos))
        .count();
    assert_eq!(seen.len(), brute);
    // About 25 at this density, far from everyone.
    assert!((5..100).contains(&seen.len()), "{} in view", seen.len());
}
