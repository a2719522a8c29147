//! Lag compensation, in the arena: a shot checked against the world as its
//! shooter saw it, within the max rewind, replayed identically.
//!
//! The scene: a shooter a short way from a target that stands still, then
//! steps out of the line of fire in a few ticks and stops. The shooter
//! fires at where the target stood before it stepped out, saying (in its
//! input's viewed tick) that it saw that tick: the shot hits. The same shot
//! from a shooter that says it saw the present misses: the target is no
//! longer there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use glam::Vec2;
use tickwire_sim::games::arena::{self, Arena, ArenaConfig, ArenaEntity, ArenaInput, Avatar};
use tickwire_sim::{
    Input, MatchRecord, PlayerId, PlayerInput, Recording, Simulation, World, setup,
};

/// Ticks the target takes to step out of the line of fire: at 200 units a
/// second, 33 units, past the 24 of the avatar radius.
const STEP_OUT: u64 = 5;

/// A simulation that holds an arena world: a world, or a world recorded.
trait Holds: Simulation {
    fn world(&self) -> &World<Arena>;
}

impl Holds for World<Arena> {
    fn world(&self) -> &World<Arena> {
        self
    }
}

impl Holds for Recording<World<Arena>, Vec<u8>> {
    fn world(&self) -> &World<Arena> {
        self.inner()
    }
}

fn config() -> ArenaConfig {
    ArenaConfig {
        arena_size: 400.0,
        ..ArenaConfig::default()
    }
}

fn avatar(w: &World<Arena>, p: PlayerId) -> Avatar {
    match w.entities().get(w.avatar(p).unwrap()).unwrap() {
        ArenaEntity::Avatar(a) => a.clone(),
        ArenaEntity::Projectile(_) => panic!("not an avatar"),
    }
}

/// The axis values of a direction, at full speed.
fn stick(dir: Vec2) -> (i8, i8) {
    let d = dir.normalize_or_zero() * 127.0;
    (d.x.round() as i8, d.y.round() as i8)
}

/// The aim along `d`, in 1/65536 turn.
fn aim_along(d: Vec2) -> u16 {
    let turns = d.y.atan2(d.x) / std::f32::consts::TAU;
    (turns.rem_euclid(1.0) * 65536.0).round() as u32 as u16
}

/// The scene, on any simulation that holds an arena world.
struct Scene<S> {
    sim: S,
    shooter: PlayerId,
    target: PlayerId,
    seq: [u32; 2],
    /// The tick the target last stood in the line of fire, and where.
    then: u64,
    at_then: Vec2,
}

impl<S: Holds> Scene<S> {
    /// The shooter walks to between 45 and 70 units from the target (a
    /// flight of two ticks), both stand still a moment, then the target
    /// steps out of the line of fire for [`STEP_OUT`] ticks and stops.
    fn new(mut sim: S) -> Self {
        let shooter = sim.join("shooter").unwrap().player;
        let target = sim.join("target").unwrap().player;
        let mut scene = Self {
            sim,
            shooter,
            target,
            seq: [0, 0],
            then: 0,
            at_then: Vec2::ZERO,
        };
        for _ in 0..300 {
            let gap = scene.pos(target) - scene.pos(shooter);
            let dir = if gap.length() > 70.0 {
                gap
            } else if gap.length() < 45.0 {
                -gap
            } else {
                break;
            };
            scene.hold(shooter, ArenaInput::moving(dir), 0);
            scene.sim.step();
        }
        let gap = scene.pos(target) - scene.pos(shooter);
        assert!((45.0..=70.0).contains(&gap.length()), "{gap}");
        scene.hold(shooter, ArenaInput::default(), 0);
        for _ in 0..3 {
            scene.sim.step();
        }
        scene.then = scene.sim.tick();
        scene.at_then = scene.pos(target);
        // Out of the line of fire, on the side with more room.
        let side = Vec2::new(-gap.y, gap.x);
        let centre = Vec2::splat(200.0);
        let side = if (scene.at_then + side.normalize() * 40.0).distance(centre)
            < (scene.at_then - side.normalize() * 40.0).distance(centre)
        {
            side
        } else {
            -side
        };
        scene.hold(target, ArenaInput::moving(side), 0);
        for _ in 0..STEP_OUT {
            scene.sim.step();
        }
        scene.hold(target, ArenaInput::default(), 0);
        scene
    }

    fn pos(&self, p: PlayerId) -> Vec2 {
        avatar(self.sim.world(), p).pos
    }

    /// Sends `held` as `p`'s next input, showing tick `view`.
    fn hold(&mut self, p: PlayerId, held: ArenaInput, view: u32) {
        let i = usize::from(p != self.shooter);
        self.seq[i] += 1;
        self.sim.input(
            p,
            PlayerInput::new(self.seq[i], &held.to_values()).viewing(view),
        );
    }

    /// Waits `ticks`, then fires one shot at `at` saying it saw tick
    /// `view`, and lets it fly. Returns whether it hit, and the rewind the
    /// projectile took.
    fn shoot(&mut self, wait: u64, at: Vec2, view: u32) -> (bool, u32) {
        for _ in 0..wait {
            self.sim.step();
        }
        let hp = avatar(self.sim.world(), self.target).hp;
        let aim = aim_along(at - self.pos(self.shooter));
        let fire = ArenaInput {
            aim,
            buttons: ArenaInput::FIRE,
            ..ArenaInput::default()
        };
        self.hold(self.shooter, fire, view);
        self.sim.step();
        let rewind = self
            .sim
            .world()
            .entities()
            .iter()
            .find_map(|(_, _, e)| match e {
                ArenaEntity::Projectile(p) => Some(p.rewind),
                ArenaEntity::Avatar(_) => None,
            })
            .expect("the shot was fired");
        self.hold(
            self.shooter,
            ArenaInput {
                aim,
                ..ArenaInput::default()
            },
            0,
        );
        for _ in 0..10 {
            self.sim.step();
        }
        (avatar(self.sim.world(), self.target).hp < hp, rewind)
    }
}

trait Moving {
    fn moving(dir: Vec2) -> Self;
}

impl Moving for ArenaInput {
    fn moving(dir: Vec2) -> Self {
        let (move_x, move_y) = stick(dir);
        Self {
            move_x,
            move_y,
            ..Self::default()
        }
    }
}

fn scene(seed: u64) -> Scene<World<Arena>> {
    Scene::new(arena::new_world(seed, config()).unwrap())
}

/// The seeds every test plays: different spots, directions and distances.
const SEEDS: [u64; 4] = [1, 2, 3, 4];

#[test]
fn the_target_stood_in_the_line_of_fire_and_has_left_it() {
    for seed in SEEDS {
        let s = scene(seed);
        let shooter = s.pos(s.shooter);
        let line = (s.at_then - shooter).normalize();
        let off = |p: Vec2| (p - shooter).perp_dot(line).abs();
        assert!(off(s.at_then) < 0.01, "seed {seed}");
        let radius = s.sim.game().config().avatar_radius;
        assert!(off(s.pos(s.target)) > radius + 5.0, "seed {seed}");
    }
}

#[test]
fn a_shot_at_where_the_target_was_seen_hits_and_without_rewind_misses() {
    for seed in SEEDS {
        // The shooter saw the tick before the target stepped out.
        let mut s = scene(seed);
        let (at, then) = (s.at_then, s.then as u32);
        assert_eq!(s.sim.tick(), s.then + STEP_OUT);
        let (hit, rewind) = s.shoot(0, at, then);
        assert!(hit, "seed {seed}: the shot at what the shooter saw missed");
        assert_eq!(u64::from(rewind), STEP_OUT + 1, "fired the tick after");

        // The same shot, from a shooter that claims nothing (view 0), the
        // tick being computed, or the future: the present, and a miss.
        for view in [0, then + STEP_OUT as u32 + 1, u32::MAX] {
            let mut s = scene(seed);
            let (hit, rewind) = s.shoot(0, at, view);
            assert_eq!(rewind, 0, "seed {seed}, view {view}");
            assert!(!hit, "seed {seed}, view {view}: hit without rewind");
        }
    }
}

#[test]
fn a_claim_beyond_the_max_rewind_is_clamped_to_it() {
    for seed in SEEDS {
        // Ten ticks after the target stopped, a shooter claims it saw the
        // target still in the line of fire, 16 ticks back: more than the
        // 200 ms (6 ticks at 30 Hz) the world believes.
        let mut s = scene(seed);
        assert_eq!(s.sim.max_rewind(), 6);
        let (at, then) = (s.at_then, s.then as u32);
        let (hit, rewind) = s.shoot(10, at, then);
        assert_eq!(rewind, 6, "seed {seed}: clamped to the max rewind");
        assert!(!hit, "seed {seed}: 6 ticks back, the target had left");

        // Clamped, not refused: the same claim checks the world of 6 ticks
        // back, where the target stood after it stepped out.
        let mut s = scene(seed);
        let now = s.pos(s.target);
        let (hit, rewind) = s.shoot(10, now, then);
        assert_eq!(rewind, 6);
        assert!(hit, "seed {seed}: the clamped rewind hits what stood there");

        // A world that believes 20 ticks takes the same claim at its word.
        let world = arena::new_world(seed, config())
            .unwrap()
            .with_max_rewind(20);
        let mut s = Scene::new(world);
        let (hit, rewind) = s.shoot(10, at, then);
        assert_eq!(u64::from(rewind), STEP_OUT + 11);
        assert!(hit, "seed {seed}: within a deeper max rewind");
    }
}

#[test]
fn a_rewind_is_bounded_by_the_history_at_the_start_of_a_match() {
    // Two ticks into a match, a claim of tick 1 is one tick back... and a
    // claim of tick 0 is no claim at all.
    let mut w = arena::new_world(9, config()).unwrap();
    let a = w.join("a").unwrap().player;
    w.step();
    w.step();
    let fire = |seq, view| {
        PlayerInput::new(
            seq,
            &ArenaInput {
                buttons: ArenaInput::FIRE,
                ..ArenaInput::default()
            }
            .to_values(),
        )
        .viewing(view)
    };
    w.input(a, fire(1, 1));
    w.step();
    let rewinds: Vec<u32> = w
        .entities()
        .iter()
        .filter_map(|(_, _, e)| match e {
            ArenaEntity::Projectile(p) => Some(p.rewind),
            ArenaEntity::Avatar(_) => None,
        })
        .collect();
    assert_eq!(rewinds, vec![2], "tick 3 computed, tick 1 seen: 2 back");
    assert!(w.history().at(1).is_some());
    assert!(
        w.history().at(0).is_some(),
        "the empty grid before the match"
    );
}

#[test]
fn a_recorded_match_with_rewinds_replays_to_the_same_hashes() {
    let game_setup = setup::match_setup::<Arena>(&config(), 4, 30);
    assert_eq!(game_setup.max_rewind, 6);
    let world = setup::world::<Arena>(&config(), 4, 30).unwrap();
    let recording = Recording::new(world, &game_setup, Vec::new(), true).unwrap();
    let mut s = Scene::new(recording);
    let (at, then) = (s.at_then, s.then as u32);
    let (hit, rewind) = s.shoot(0, at, then);
    assert!(hit && rewind > 0, "the recorded match rewinds");
    let (world, bytes) = s.sim.finish();
    let record = MatchRecord::read(bytes.unwrap().as_slice()).unwrap();
    assert_eq!(record.setup.max_rewind, 6);
    assert!(
        record.ticks.iter().flat_map(|t| &t.calls).any(|c| matches!(
            c,
            tickwire_sim::Call::Input { input, .. } if input.view == then
        )),
        "the viewed tick is recorded"
    );

    let replay = setup::replay::<Arena>(&record).unwrap();
    assert_eq!(replay.first_divergence, None);
    assert_eq!(replay.hashes.len(), record.ticks.len());
    assert_eq!(replay.hashes.last(), Some(&world.state_hash()));
    // The bundled games' own replay agrees.
    let bundled = tickwire_sim::games::replay(&record).unwrap();
    assert_eq!(bundled.hashes, replay.hashes);

    // The max rewind is part of the setup: replayed believing nothing, the
    // shot misses and the hashes part from the tick it flew.
    let mut shallow = record.clone();
    shallow.setup.max_rewind = 0;
    let diverged = setup::replay::<Arena>(&shallow).unwrap();
    assert!(diverged.first_divergence.is_some());
}

#[test]
fn the_viewed_tick_is_part_of_the_state_hash() {
    let run = |view: u32| {
        let mut w = arena::new_world(5, config()).unwrap();
        let a = w.join("a").unwrap().player;
        for _ in 0..10 {
            w.step();
        }
        w.input(a, PlayerInput::new(1, &[]).viewing(view));
        w.step();
        w.state_hash()
    };
    assert_ne!(run(8), run(7));
}

#[test]
fn records_without_views_still_read() {
    // A record made before inputs carried a view: no max rewind in the
    // header, three fields in an input.
    let text = concat!(
        r#"{"game":"arena","seed":5,"tick_rate":30,"config":null}"#,
        "\n",
        r#"{"t":1,"c":[{"j":"ada"},{"i":[0,1,[100]]}]}"#,
        "\n"
    );
    let record = MatchRecord::read(text.as_bytes()).unwrap();
    assert_eq!(record.setup.max_rewind, 0);
    assert_eq!(
        record.ticks[0].calls[1],
        tickwire_sim::Call::Input {
            player: PlayerId(0),
            input: PlayerInput::new(1, &[100]),
        }
    );
}
