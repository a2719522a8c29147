//! The arena's rules, one at a time, in small deterministic matches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tickwire_sim::games::arena::{
    self, Arena, ArenaConfig, ArenaEntity, ArenaEvent, ArenaInput, Avatar,
};
use tickwire_sim::{Event, Input, PlayerId, PlayerInput, Simulation, World};

/// The wire input a player sends holding `held`.
fn input(seq: u32, held: ArenaInput) -> PlayerInput {
    PlayerInput::new(seq, &held.to_values())
}

fn avatar(w: &World<Arena>, p: PlayerId) -> Avatar {
    match w.entities().get(w.avatar(p).unwrap()).unwrap() {
        ArenaEntity::Avatar(a) => a.clone(),
        ArenaEntity::Projectile(_) => panic!("not an avatar"),
    }
}

fn projectiles(w: &World<Arena>) -> usize {
    w.entities()
        .iter()
        .filter(|(_, _, e)| matches!(e, ArenaEntity::Projectile(_)))
        .count()
}

/// Aim from `from` at `to`, in 1/65536 turn.
fn aim_at(w: &World<Arena>, from: PlayerId, to: PlayerId) -> u16 {
    let d = avatar(w, to).pos - avatar(w, from).pos;
    let turns = d.y.atan2(d.x) / std::f32::consts::TAU;
    (turns.rem_euclid(1.0) * 65536.0).round() as u32 as u16
}

/// Two players in a small arena, the second standing still.
fn duel() -> (World<Arena>, PlayerId, PlayerId) {
    let config = ArenaConfig {
        arena_size: 300.0,
        respawn_delay: 1.0,
        ..ArenaConfig::default()
    };
    let mut w = arena::new_world(3, config).unwrap();
    let a = w.join("shooter").unwrap().player;
    let b = w.join("target").unwrap().player;
    (w, a, b)
}

#[test]
fn avatars_move_by_the_prediction_formula() {
    let mut w = arena::new_world(1, ArenaConfig::default()).unwrap();
    let p = w.join("a").unwrap().player;
    let before = avatar(&w, p).pos;
    let held = ArenaInput {
        move_x: 127,
        move_y: -60,
        ..ArenaInput::default()
    };
    w.input(p, input(1, held));
    w.step();
    let velocity = held.direction() * 200.0;
    let mut expected = before + velocity * (1.0f32 / 30.0);
    expected.x = expected.x.clamp(0.0, 4000.0);
    expected.y = expected.y.clamp(0.0, 4000.0);
    assert_eq!(avatar(&w, p).pos, expected);
}

#[test]
fn heading_follows_the_aim() {
    let mut w = arena::new_world(1, ArenaConfig::default()).unwrap();
    let p = w.join("a").unwrap().player;
    w.input(
        p,
        input(
            1,
            ArenaInput {
                aim: 16384,
                ..ArenaInput::default()
            },
        ),
    );
    w.step();
    assert!((avatar(&w, p).heading - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
}

#[test]
fn holding_fire_shoots_at_the_fire_rate() {
    let mut w = arena::new_world(1, ArenaConfig::default()).unwrap();
    let p = w.join("a").unwrap().player;
    // Aim at the centre so no shot leaves the arena during the test.
    let to_centre = glam::Vec2::splat(2000.0) - avatar(&w, p).pos;
    let aim =
        ((to_centre.y.atan2(to_centre.x) / std::f32::consts::TAU).rem_euclid(1.0) * 65536.0) as u16;
    w.input(
        p,
        input(
            1,
            ArenaInput {
                aim,
                buttons: ArenaInput::FIRE,
                ..ArenaInput::default()
            },
        ),
    );
    // 0.25 s at 30 Hz is 8 ticks: shots on ticks 1, 9, 17.
    for _ in 0..20 {
        w.step();
    }
    assert_eq!(projectiles(&w), 3);
}

#[test]
fn shots_hit_kill_score_and_the_dead_respawn() {
    let (mut w, a, b) = duel();
    let mut events = Vec::new();
    let mut died_at = None;
    for seq in 1..=200 {
        let aim = aim_at(&w, a, b);
        let firing = avatar(&w, b).hp > 0;
        let buttons = if firing { ArenaInput::FIRE } else { 0 };
        w.input(
            a,
            input(
                seq,
                ArenaInput {
                    aim,
                    buttons,
                    ..ArenaInput::default()
                },
            ),
        );
        w.step();
        w.drain_events(&mut events);
        if died_at.is_none() && avatar(&w, b).hp == 0 {
            died_at = Some(w.tick());
            assert_eq!(avatar(&w, b).respawn, w.game().respawn_ticks());
        }
        if died_at.is_some() && avatar(&w, b).hp > 0 {
            break;
        }
    }
    let died_at = died_at.expect("the target never died");
    assert_eq!(
        events,
        vec![
            ArenaEvent::Kill {
                killer: a,
                victim: b
            }
            .to_wire()
        ]
    );
    assert_eq!(
        ArenaEvent::from_wire(&events[0]),
        Some(ArenaEvent::Kill {
            killer: a,
            victim: b
        })
    );
    assert_eq!(avatar(&w, a).score, 1);
    assert_eq!(w.tick() - died_at, u64::from(w.game().respawn_ticks()));
    assert_eq!(avatar(&w, b).hp, 100);
}

#[test]
fn the_dead_neither_move_nor_fire() {
    let (mut w, a, b) = duel();
    let mut seq = 0;
    while avatar(&w, b).hp > 0 {
        seq += 1;
        let aim = aim_at(&w, a, b);
        w.input(
            a,
            input(
                seq,
                ArenaInput {
                    aim,
                    buttons: ArenaInput::FIRE,
                    ..ArenaInput::default()
                },
            ),
        );
        w.step();
        assert!(w.tick() < 300, "the target never died");
    }
    w.input(a, input(seq + 1, ArenaInput::default()));
    w.input(
        b,
        input(
            1,
            ArenaInput {
                move_x: 127,
                buttons: ArenaInput::FIRE,
                ..ArenaInput::default()
            },
        ),
    );
    let at = avatar(&w, b).pos;
    // Dead for 30 ticks (1 s): watch 20 of them.
    for _ in 0..20 {
        w.step();
    }
    assert_eq!(avatar(&w, b).pos, at);
    assert_eq!(projectiles(&w), 0);
}

#[test]
fn projectiles_leaving_the_arena_expire() {
    let config = ArenaConfig {
        arena_size: 100.0,
        ..ArenaConfig::default()
    };
    let mut w = arena::new_world(1, config).unwrap();
    let p = w.join("a").unwrap().player;
    w.input(
        p,
        input(
            1,
            ArenaInput {
                buttons: ArenaInput::FIRE,
                ..ArenaInput::default()
            },
        ),
    );
    w.step();
    assert_eq!(projectiles(&w), 1);
    w.input(p, input(2, ArenaInput::default()));
    // 900 units/s crosses 100 units in 4 ticks, far short of its lifetime.
    for _ in 0..5 {
        w.step();
    }
    assert_eq!(projectiles(&w), 0);
}

#[test]
fn the_view_is_centred_on_the_avatar() {
    let mut w = arena::new_world(1, ArenaConfig::default()).unwrap();
    let p = w.join("a").unwrap().player;
    let view = w.view(p).unwrap();
    assert!(((view.max - view.min).x - 2000.0).abs() < 1e-2);
    assert!(((view.min + view.max) * 0.5).distance(avatar(&w, p).pos) < 1e-2);
}

#[test]
fn a_projectile_outlives_its_leaving_owner_without_panicking() {
    let mut w = arena::new_world(1, ArenaConfig::default()).unwrap();
    let p = w.join("a").unwrap().player;
    w.input(
        p,
        input(
            1,
            ArenaInput {
                buttons: ArenaInput::FIRE,
                ..ArenaInput::default()
            },
        ),
    );
    w.step();
    w.leave(p);
    w.step();
    assert_eq!(projectiles(&w), 1);
    assert!(w.avatar(p).is_none());
}

#[test]
fn a_dropped_player_stands_still_and_holds_its_fire_by_default() {
    let (mut w, a, _) = duel();
    let held = ArenaInput {
        move_x: 127,
        buttons: 1,
        ..ArenaInput::default()
    };
    w.input(a, input(1, held));
    w.input(a, input(2, held));
    w.step();
    let moving = avatar(&w, a).pos;
    w.dropped(a);
    for _ in 0..10 {
        w.step();
    }
    assert_eq!(
        avatar(&w, a).pos,
        moving,
        "idle: the buffered input 2 was dropped"
    );
    assert_eq!(avatar(&w, a).input, ArenaInput::default());
    assert_eq!(w.last_applied_input(a), Some(1));
}
