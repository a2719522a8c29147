//! Tag: a second game written against the public API, the worked example
//! of `docs/extending.md`.
//!
//! Runners move like arena avatars. One runner is "it"; when "it" comes
//! within [`TAG_RADIUS`] of another runner, that runner becomes "it" and is
//! frozen for [`FREEZE_TICKS`] ticks, so it cannot tag straight back. Each
//! runner counts the ticks it has spent being "it": low is good.
//!
//! `cargo run -p tickwire-sim --example tag` plays a short match with bots,
//! records it, replays the recording and checks the two agree.

use tickwire_sim::prelude::*;
use tickwire_sim::{MatchRecord, MatchSetup, PlayerInput, Recording};

/// Runner speed, units per second.
pub const SPEED: f32 = 200.0;
/// How close "it" must come to tag.
pub const TAG_RADIUS: f32 = 30.0;
/// Ticks a freshly tagged runner stands still; it may tag again on the
/// last of them.
pub const FREEZE_TICKS: u32 = 30;
/// Kind id of runners, the only kind.
pub const RUNNER: u8 = 0;

/// A runner: one per player.
#[derive(Clone, Debug, StateHash)]
pub struct Runner {
    pub player: PlayerId,
    pub pos: Vec2,
    /// The direction of the latest input.
    pub dir: Vec2,
    pub it: bool,
    /// Ticks left standing still after being tagged.
    pub frozen: u32,
    /// Ticks spent being "it".
    pub it_ticks: u32,
}

/// What a runner's player holds: a direction, each axis in -1..=1, sent
/// in 127 steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Input)]
pub struct TagInput {
    #[axis(127)]
    pub move_x: f32,
    #[axis(127)]
    pub move_y: f32,
}

impl TagInput {
    /// The direction with its length clamped to 1.
    pub fn direction(&self) -> Vec2 {
        let v = Vec2::new(self.move_x, self.move_y);
        let len2 = v.length_squared();
        if len2 > 1.0 { v / libm::sqrtf(len2) } else { v }
    }
}

/// What goes on the wire for a runner: the schema's one kind, `runner`.
#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
#[tickwire(name = "runner")]
pub struct RunnerRow {
    #[fixed(16)]
    pub x: f32,
    #[fixed(16)]
    pub y: f32,
    pub it: bool,
    #[int(0, FREEZE_TICKS as i32)]
    pub frozen: u32,
    pub it_ticks: u32,
}

/// The rules: the field's size, and who is "it" (state outside the
/// entities, so it goes into [`Game::hash_state`]).
#[derive(Debug)]
pub struct Tag {
    pub size: f32,
    pub it: Option<EntityKey>,
}

impl Tag {
    pub fn new(size: f32) -> Self {
        Self { size, it: None }
    }
}

impl Game for Tag {
    type Entity = Runner;
    type Row = RunnerRow;
    type Input = TagInput;
    type Event = NoEvents;
    const NAME: &'static str = "tag";

    fn max_players(&self) -> usize {
        16
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Runner>,
        player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        let pos = Vec2::new(ctx.rng.random::<f32>(), ctx.rng.random::<f32>()) * self.size;
        let first = self.it.is_none();
        let key = ctx.entities.spawn(Runner {
            player,
            pos,
            dir: Vec2::ZERO,
            it: first,
            frozen: 0,
            it_ticks: 0,
        });
        if first {
            self.it = Some(key);
        }
        Ok(key)
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Runner>, _player: PlayerId, avatar: EntityKey) {
        if self.it != Some(avatar) {
            return;
        }
        // Hand "it" to the oldest other runner: a rule, so no randomness.
        self.it = ctx
            .entities
            .iter()
            .filter(|&(key, _, _)| key != avatar)
            .min_by_key(|&(_, id, _)| id)
            .map(|(key, _, _)| key);
        if let Some(r) = self.it.and_then(|k| ctx.entities.get_mut(k)) {
            r.it = true;
        }
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Runner>,
        _player: PlayerId,
        avatar: EntityKey,
        input: &TagInput,
    ) {
        if let Some(r) = ctx.entities.get_mut(avatar) {
            r.dir = input.direction();
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Runner>) {
        for (_, _, r) in ctx.entities.iter_mut() {
            if r.frozen > 0 {
                r.frozen -= 1;
                continue;
            }
            r.pos += r.dir * SPEED * ctx.dt;
            r.pos = r.pos.clamp(Vec2::ZERO, Vec2::splat(self.size));
        }

        let Some(it_key) = self.it else { return };
        let Some(it) = ctx.entities.get_mut(it_key) else {
            return;
        };
        it.it_ticks += 1;
        if it.frozen > 0 {
            return;
        }
        let at = it.pos;
        // The grid holds last tick's positions: search one step wider, then
        // check the current position.
        let reach = TAG_RADIUS + SPEED * ctx.dt;
        let mut victim: Option<(f32, NetId, EntityKey)> = None;
        for item in ctx.grid.query_radius(at, reach) {
            if item.key == it_key {
                continue;
            }
            let Some(r) = ctx.entities.get(item.key) else {
                continue;
            };
            let d2 = r.pos.distance_squared(at);
            if d2 <= TAG_RADIUS * TAG_RADIUS
                && victim.is_none_or(|(bd, bid, _)| (d2, item.id) < (bd, bid))
            {
                victim = Some((d2, item.id, item.key));
            }
        }
        let Some((_, _, victim)) = victim else { return };
        if let Some(old) = ctx.entities.get_mut(it_key) {
            old.it = false;
        }
        if let Some(new) = ctx.entities.get_mut(victim) {
            new.it = true;
            new.frozen = FREEZE_TICKS;
        }
        self.it = Some(victim);
    }

    fn replicate(&self, r: &Runner) -> Option<RunnerRow> {
        Some(RunnerRow {
            x: r.pos.x,
            y: r.pos.y,
            it: r.it,
            frozen: r.frozen,
            it_ticks: r.it_ticks,
        })
    }

    fn position(&self, r: &Runner) -> Option<Vec2> {
        Some(r.pos)
    }

    fn grid(&self) -> GridSpec {
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(self.size),
            },
            cell_size: 64.0,
        }
    }

    fn hash_state(&self, h: &mut StateHasher) {
        h.feed(&self.it);
    }
}

/// Runs `ticks` ticks with `bots` bots whose inputs come from `seed`.
fn play(sim: &mut dyn Simulation, bots: u32, ticks: u32, seed: u64) {
    let players: Vec<PlayerId> = (0..bots)
        .filter_map(|i| sim.join(&format!("bot{i}")).ok())
        .map(|j| j.player)
        .collect();
    let mut rng = <SimRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut held = vec![TagInput::default(); players.len()];
    for t in 1..=ticks {
        for (&p, input) in players.iter().zip(&mut held) {
            // A new direction about once a second.
            if rng.random_ratio(1, 30) {
                input.move_x = rng.random_range(-127..=127) as f32 / 127.0;
                input.move_y = rng.random_range(-127..=127) as f32 / 127.0;
            }
            sim.input(p, PlayerInput::new(t, &input.to_values()));
        }
        sim.step();
    }
}

/// Builds the world a setup describes: a recording's header is all a
/// replay needs.
fn build(setup: &MatchSetup) -> anyhow::Result<World<Tag>> {
    let size = setup.config["size"].as_f64().unwrap_or(300.0) as f32;
    Ok(
        World::with_tick_rate(Tag::new(size), setup.seed, setup.tick_rate)?
            .with_max_rewind(setup.max_rewind),
    )
}

fn main() -> anyhow::Result<()> {
    let setup = MatchSetup {
        game: "tag".into(),
        seed: 7,
        tick_rate: 30,
        config: serde_json::json!({ "size": 300.0 }),
        // Tag checks no hits: it never rewinds.
        max_rewind: 0,
    };
    let mut recording = Recording::new(build(&setup)?, &setup, Vec::new(), true)?;
    play(&mut recording, 8, 1800, 1);
    let (world, bytes) = recording.finish();
    let bytes = bytes?;
    for (_, _, r) in world.entities().by_net_id() {
        println!("player {}: it for {:>4} ticks", r.player.0, r.it_ticks);
    }

    let record = MatchRecord::read(bytes.as_slice())?;
    let replay = record.replay_on(&mut build(&record.setup)?);
    if let Some(tick) = replay.first_divergence {
        anyhow::bail!("the replay diverged at tick {tick}");
    }
    anyhow::ensure!(replay.hashes.last() == Some(&world.state_hash()));
    println!(
        "{} ticks recorded in {} bytes; the replay agrees",
        record.ticks.len(),
        bytes.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn runner(w: &World<Tag>, p: PlayerId) -> Runner {
        w.entities().get(w.avatar(p).unwrap()).unwrap().clone()
    }

    #[test]
    fn the_runner_kind_is_x_y_it_frozen_and_it_ticks() {
        use tickwire_sim::{FieldDecl, KindDecl, Quantization};
        let field = |id, name: &str, quant| FieldDecl {
            id,
            name: name.into(),
            quant,
        };
        let int = |max| Quantization::Int { min: 0, max };
        let runner = KindDecl {
            id: RUNNER,
            name: "runner".into(),
            fields: vec![
                field(0, "x", Quantization::Fixed { scale: 16 }),
                field(1, "y", Quantization::Fixed { scale: 16 }),
                field(2, "it", int(1)),
                field(3, "frozen", int(FREEZE_TICKS as i32)),
                field(4, "it_ticks", int(i32::MAX)),
            ],
        };
        let schema = Tag::new(300.0).schema();
        assert_eq!(schema.game, "tag");
        assert_eq!(schema.kinds, vec![runner]);
        let names: Vec<&str> = schema.input.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["move_x", "move_y"]);
        assert!(schema.events.is_empty());
    }

    #[test]
    fn the_first_runner_to_join_is_it() {
        let mut w = World::new(Tag::new(400.0), 1).unwrap();
        let a = w.join("a").unwrap().player;
        let b = w.join("b").unwrap().player;
        assert!(runner(&w, a).it);
        assert!(!runner(&w, b).it);
    }

    #[test]
    fn touching_passes_it_on_and_freezes_the_tagged() {
        // A field smaller than the tag radius: "it" touches at once.
        let mut w = World::new(Tag::new(20.0), 1).unwrap();
        let a = w.join("a").unwrap().player;
        let b = w.join("b").unwrap().player;
        w.step(); // the grid now holds both
        w.step();
        assert!(!runner(&w, a).it);
        assert!(runner(&w, b).it);
        assert_eq!(runner(&w, b).frozen, FREEZE_TICKS);
    }

    #[test]
    fn the_tagged_cannot_tag_back_while_frozen() {
        let mut w = World::new(Tag::new(20.0), 1).unwrap();
        let a = w.join("a").unwrap().player;
        let b = w.join("b").unwrap().player;
        w.step();
        w.step();
        // The countdown reaches 0 on the last frozen tick, which may tag.
        for _ in 1..FREEZE_TICKS {
            w.step();
            assert!(runner(&w, b).it, "tagged back at tick {}", w.tick());
        }
        w.step();
        assert!(runner(&w, a).it);
    }

    #[test]
    fn when_it_leaves_the_oldest_runner_is_it() {
        let mut w = World::new(Tag::new(400.0), 1).unwrap();
        let a = w.join("a").unwrap().player;
        let b = w.join("b").unwrap().player;
        let c = w.join("c").unwrap().player;
        w.leave(a);
        assert!(runner(&w, b).it);
        assert!(!runner(&w, c).it);
    }

    #[test]
    fn a_recorded_match_replays_to_the_same_hashes() {
        let setup = MatchSetup {
            game: "tag".into(),
            seed: 3,
            tick_rate: 30,
            config: serde_json::Value::Null,
            max_rewind: 0,
        };
        let world = World::new(Tag::new(300.0), 3).unwrap();
        let mut rec = Recording::new(world, &setup, Vec::new(), true).unwrap();
        play(&mut rec, 8, 600, 2);
        let (_, bytes) = rec.finish();
        let record = MatchRecord::read(bytes.unwrap().as_slice()).unwrap();
        let mut again = World::new(Tag::new(300.0), 3).unwrap();
        assert_eq!(record.replay_on(&mut again).first_divergence, None);
    }
}
