//! The world's contract, driven through a probe game that logs its calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tickwire_sim::prelude::*;
use tickwire_sim::world::{MAX_INPUT_BACKLOG, MAX_PENDING_INPUTS};
use tickwire_sim::{EntityKey, InputTiming, JoinError, PlayerInput, ReplicatedEntity};

/// A game that logs every input and moves a dot right by its input's x.
#[derive(Debug, Default)]
struct Probe {
    log: Vec<(PlayerId, u32)>,
    limit: usize,
    /// The `n` every dot's row carries.
    n: u8,
}

#[derive(Debug, Clone, StateHash)]
struct Dot {
    pos: Vec2,
    turn: f32,
}

/// The probe's input: how far to nudge the dot, and the sequence number
/// it was sent with (the game never sees the wire's), for the log.
#[derive(Clone, Copy, Debug, Default, Input)]
struct Nudge {
    dx: i8,
    seq: u32,
}

#[derive(Replicate)]
enum ProbeRow {
    Dot {
        #[fixed(16)]
        x: f32,
        #[angle(256)]
        turn: f32,
        #[int(0, 10)]
        n: u8,
    },
}

impl Game for Probe {
    type Entity = Dot;
    type Row = ProbeRow;
    type Input = Nudge;
    type Event = NoEvents;
    const NAME: &'static str = "probe";
    fn max_players(&self) -> usize {
        if self.limit == 0 { 8 } else { self.limit }
    }
    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Dot>,
        player: PlayerId,
        _: &str,
    ) -> Result<EntityKey, JoinError> {
        if player.0 == 99 {
            return Err(JoinError::Refused("no".into()));
        }
        Ok(ctx.entities.spawn(Dot {
            pos: Vec2::new(player.0 as f32 * 100.0, 0.0),
            turn: 0.0,
        }))
    }
    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Dot>,
        player: PlayerId,
        avatar: EntityKey,
        input: &Nudge,
    ) {
        self.log.push((player, input.seq));
        if let Some(d) = ctx.entities.get_mut(avatar) {
            d.pos.x += f32::from(input.dx);
        }
    }
    fn tick(&mut self, _: &mut Ctx<'_, Dot>) {}
    fn replicate(&self, d: &Dot) -> Option<ProbeRow> {
        Some(ProbeRow::Dot {
            x: d.pos.x,
            turn: d.turn,
            n: self.n,
        })
    }
    fn position(&self, d: &Dot) -> Option<Vec2> {
        Some(d.pos)
    }
}

fn world() -> World<Probe> {
    World::new(Probe::default(), 1).unwrap()
}

/// Input `seq`, nudging by 1.
fn input(seq: u32) -> PlayerInput {
    nudge(seq, 1)
}

/// Input `seq`, nudging by `dx`.
fn nudge(seq: u32, dx: i8) -> PlayerInput {
    PlayerInput::new(seq, &Nudge { dx, seq }.to_values())
}

#[test]
fn each_tick_applies_one_input_per_player_in_player_then_sequence_order() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    let b = w.join("b").unwrap().player;
    for (p, s) in [(b, 2), (a, 2), (b, 1), (a, 1)] {
        w.input(p, input(s));
    }
    w.step();
    assert_eq!(w.game().log, vec![(a, 1), (b, 1)]);
    assert_eq!(w.last_applied_input(a), Some(1));
    w.step();
    assert_eq!(w.game().log, vec![(a, 1), (b, 1), (a, 2), (b, 2)]);
    assert_eq!(w.last_applied_input(a), Some(2));
    // Nothing buffered: nothing applied, the acknowledgement stays.
    w.step();
    assert_eq!(w.game().log.len(), 4);
    assert_eq!(w.last_applied_input(b), Some(2));
}

#[test]
fn two_inputs_between_two_ticks_each_move_for_a_tick() {
    // The client predicts one tick of movement per input; an input that
    // arrives early must not cut short the one before it.
    let mut w = world();
    let a = w.join("a").unwrap().player;
    let x = |w: &World<Probe>| w.entities().iter().next().unwrap().2.pos.x;
    let start = x(&w);
    w.input(a, input(1));
    w.input(a, input(2));
    w.step();
    assert_eq!(x(&w) - start, 1.0);
    w.step();
    assert_eq!(x(&w) - start, 2.0);
    assert_eq!(w.last_applied_input(a), Some(2));
}

#[test]
fn a_backlog_is_caught_up_down_to_its_bound() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    for s in 1..=6 {
        w.input(a, input(s));
    }
    w.step();
    // Six waiting: all but MAX_INPUT_BACKLOG go now, and those wait one
    // tick each.
    assert_eq!(w.last_applied_input(a), Some(6 - MAX_INPUT_BACKLOG as u32));
    for _ in 0..MAX_INPUT_BACKLOG {
        w.step();
    }
    assert_eq!(w.last_applied_input(a), Some(6));
    let applied: Vec<u32> = w.game().log.iter().map(|&(_, s)| s).collect();
    assert_eq!(applied, (1..=6).collect::<Vec<_>>());
}

#[test]
fn input_timing_counts_what_a_client_could_not_predict() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    let b = w.join("b").unwrap().player;
    // Before a player's first input, waiting for it is no miss.
    w.step();
    assert_eq!(w.input_timing(), InputTiming::default());
    // One input a tick: each in a tick of its own.
    for s in 1..=3 {
        w.input(a, input(s));
        w.input(b, input(s));
        w.step();
    }
    assert_eq!(w.input_timing(), InputTiming::default());
    // A stall, then a burst of six: three go in one tick (two of them
    // bunched behind the first), then one a tick.
    for s in 4..=9 {
        w.input(a, input(s));
    }
    w.input(b, input(4));
    w.step();
    let t = w.input_timing();
    assert_eq!(
        (t.bunched, t.starved),
        (6 - MAX_INPUT_BACKLOG as u64 - 1, 0)
    );
    // b sends nothing for two ticks: its game runs on its last input.
    w.step();
    w.step();
    assert_eq!(w.input_timing().starved, 2);
    // A dropped connection sends nothing, and is not a miss.
    w.dropped(b);
    w.step();
    assert_eq!(w.input_timing().starved, 2);
    assert_eq!(w.input_timing().bunched, 2);
}

#[test]
fn inputs_jittered_by_40_ms_either_way_each_get_a_tick_of_their_own() {
    // A client sends an input every tick; each reaches the room 150 ms
    // later, give or take up to 40 (the network lab's `lag=150&jitter=40`),
    // and never before the one sent before it (TCP keeps the order). So
    // arrivals bunch up behind a late one and thin out after it, up to
    // 80 ms (2.4 ticks) apart from their schedule. The backlog the world
    // waits out covers that: no tick applies two inputs, so the client's
    // prediction, one tick an input, stays exact.
    let interval = 1000.0 / 30.0;
    for phase in [0.0, 11.0, 22.0] {
        let mut seed: u64 = 7;
        let mut random = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut arrivals = Vec::new();
        let mut last = 0.0f64;
        for seq in 1..=18_000u32 {
            let sent = f64::from(seq) * interval;
            let at = (sent + 150.0 + 40.0 * (2.0 * random() - 1.0)).max(last);
            last = at;
            arrivals.push((at, seq));
        }
        let mut w = world();
        let a = w.join("a").unwrap().player;
        let mut next = 0;
        let mut tick = 0u32;
        while w.game().log.len() < arrivals.len() {
            tick += 1;
            let now = f64::from(tick) * interval + phase;
            while next < arrivals.len() && arrivals[next].0 <= now {
                w.input(a, input(arrivals[next].1));
                next += 1;
            }
            let before = w.game().log.len();
            w.step();
            let applied = w.game().log.len() - before;
            assert!(
                applied <= 1,
                "phase {phase} ms, tick {tick}: {applied} inputs in one tick"
            );
        }
        let applied: Vec<u32> = w.game().log.iter().map(|&(_, s)| s).collect();
        assert_eq!(
            applied,
            (1..=18_000).collect::<Vec<_>>(),
            "every input, in order"
        );
    }
}

#[test]
fn stale_and_repeated_inputs_are_dropped() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    w.input(a, input(5));
    w.input(a, input(5));
    w.step();
    w.input(a, input(4));
    w.input(a, input(5));
    w.input(a, input(6));
    w.step();
    w.step();
    assert_eq!(w.game().log, vec![(a, 5), (a, 6)]);
}

#[test]
fn a_flood_of_inputs_keeps_only_the_newest() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    for s in 1..=100 {
        w.input(a, input(s));
    }
    w.step();
    let applied: Vec<u32> = w.game().log.iter().map(|&(_, s)| s).collect();
    let kept = 101 - MAX_PENDING_INPUTS as u32;
    let expected: Vec<u32> = (kept..=100 - MAX_INPUT_BACKLOG as u32).collect();
    assert_eq!(applied, expected);
    assert_eq!(
        w.last_applied_input(a),
        Some(100 - MAX_INPUT_BACKLOG as u32)
    );
}

#[test]
fn inputs_of_unknown_players_are_ignored() {
    let mut w = world();
    w.input(PlayerId(7), input(1));
    w.step();
    assert!(w.game().log.is_empty());
}

#[test]
fn net_ids_and_player_ids_are_never_reused() {
    let mut w = world();
    let first = w.join("a").unwrap();
    w.leave(first.player);
    let second = w.join("b").unwrap();
    assert!(second.avatar > first.avatar);
    assert!(second.player > first.player);
}

#[test]
fn leaving_despawns_the_avatar() {
    let mut w = world();
    let a = w.join("a").unwrap();
    w.join("b").unwrap();
    w.leave(a.player);
    assert_eq!(w.player_count(), 1);
    assert_eq!(w.entities().len(), 1);
    let mut rows = Vec::new();
    w.replicated(&mut rows);
    assert!(rows.iter().all(|r| r.id != a.avatar));
}

#[test]
fn joins_beyond_the_limit_are_refused() {
    let mut w = World::new(
        Probe {
            limit: 2,
            ..Probe::default()
        },
        1,
    )
    .unwrap();
    w.join("a").unwrap();
    w.join("b").unwrap();
    assert_eq!(w.join("c"), Err(JoinError::Full(2)));
}

#[test]
fn replicated_rows_are_sorted_by_id_and_quantized_per_schema() {
    let probe = Probe {
        n: 10,
        ..Probe::default()
    };
    let mut w = World::new(probe, 1).unwrap();
    let a = w.join("a").unwrap();
    let b = w.join("b").unwrap();
    w.leave(a.player);
    let c = w.join("c").unwrap(); // reuses a's storage slot
    w.input(c.player, nudge(1, 3));
    w.step();
    let mut rows = Vec::new();
    w.replicated(&mut rows);
    let ids: Vec<NetId> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![b.avatar, c.avatar]);
    // c is player 2 at x = 200, moved 3: 203 * 16.
    assert_eq!(
        rows[1],
        ReplicatedEntity {
            id: c.avatar,
            kind: 0,
            values: [203 * 16, 0, 10, 0, 0, 0, 0, 0]
        }
    );
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the range of an #[int] field is a debug assertion"
)]
#[should_panic(expected = "field `dot.n` is 42, outside its declared 0..=10")]
fn a_row_field_outside_its_declared_range_is_a_bug_named_by_the_field() {
    let probe = Probe {
        n: 42,
        ..Probe::default()
    };
    let mut w = World::new(probe, 1).unwrap();
    w.join("a").unwrap();
    w.step();
    w.replicated(&mut Vec::new());
}

#[test]
fn the_grid_answers_which_entities_are_in_a_rect() {
    let mut w = world();
    let ids: Vec<NetId> = (0..4)
        .map(|i| w.join(&format!("p{i}")).unwrap().avatar)
        .collect();
    w.step();
    let mut found = Vec::new();
    w.entities_in(
        Rect {
            min: Vec2::new(50.0, -1.0),
            max: Vec2::new(250.0, 1.0),
        },
        &mut found,
    );
    found.sort();
    assert_eq!(found, vec![ids[1], ids[2]]);
}

#[test]
fn the_state_hash_covers_entity_state() {
    let mut a = world();
    let mut b = world();
    let pa = a.join("a").unwrap().player;
    let pb = b.join("a").unwrap().player;
    a.input(pa, input(1));
    b.input(pb, nudge(1, 2));
    a.step();
    b.step();
    assert_ne!(a.state_hash(), b.state_hash());
}

#[test]
fn the_tick_counter_and_dt_follow_the_tick_rate() {
    let mut w = World::with_tick_rate(Probe::default(), 1, 60).unwrap();
    assert_eq!(w.tick(), 0);
    w.step();
    w.step();
    assert_eq!(w.tick(), 2);
    assert_eq!(w.dt(), 1.0 / 60.0);
    assert_eq!(w.tick_rate(), 60);
}

#[test]
fn a_world_is_usable_as_a_boxed_simulation() {
    let mut sim: Box<dyn Simulation> = Box::new(world());
    let joined = sim.join("a").unwrap();
    sim.step();
    assert_eq!(sim.schema().game, "probe");
    assert_eq!(sim.view(joined.player), None);
}

#[test]
fn a_dropped_player_keeps_its_avatar_idle_and_its_input_sequence() {
    let mut w = world();
    let a = w.join("a").unwrap().player;
    let b = w.join("b").unwrap().player;
    w.input(a, input(1));
    w.input(a, input(2));
    w.step();
    assert_eq!(w.last_applied_input(a), Some(1));
    // Input 2 was buffered when the connection dropped: it is dropped, and
    // the game is told, by default through the neutral input.
    w.dropped(a);
    assert_eq!(w.game().log.last(), Some(&(a, 0)), "the neutral input");
    w.dropped(PlayerId(77)); // an unknown player is ignored
    w.step();
    assert_eq!(w.game().log.len(), 2, "nothing buffered is applied");
    assert_eq!(w.last_applied_input(a), Some(1), "the sequence carries on");
    assert!(w.avatar(a).is_some(), "the avatar stays");
    assert_eq!(w.player_count(), 2);
    // An input already applied is still stale; a newer one applies.
    w.input(a, input(1));
    w.input(a, input(3));
    w.input(b, input(1));
    w.step();
    assert_eq!(&w.game().log[2..], [(a, 3), (b, 1)]);
}
