//! The replication core driven directly, as quinn-proto and bevy_replicon
//! test theirs: no sockets, no clock. A model transport (one latest-wins
//! slot per player, as the server's outbox has) reports each delivery, and
//! a client applies exactly what reached its wire, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickwire_protocol::{
    ClientState, Delivery, Limits, Replicator, Sink, SnapshotBody, decode_snapshot_message,
};
use tickwire_types::{
    FieldDecl, Interest, KindDecl, NetId, PlayerId, Quantization, Rect, ReplicatedEntity, Schema,
};

fn schema() -> Schema {
    let int = Quantization::Int { min: 0, max: 1000 };
    let field = |id: u8, name: &str| FieldDecl {
        id,
        name: name.into(),
        quant: int,
    };
    Schema {
        game: "dots".into(),
        kinds: vec![KindDecl {
            id: 0,
            name: "dot".into(),
            fields: vec![field(0, "x"), field(1, "y")],
        }],
        input: vec![],
        events: vec![],
    }
}

fn dot(id: u32, x: i32) -> ReplicatedEntity {
    let mut values = [0; 8];
    values[0] = x;
    values[1] = id as i32 % 1000;
    ReplicatedEntity {
        id: NetId(id),
        kind: 0,
        values,
    }
}

/// The rows of `tick`: dots drift right and wrap; one is replaced by a new
/// id every few ticks, so states differ in spawns and despawns too.
fn rows(tick: u32) -> Vec<ReplicatedEntity> {
    (0..12)
        .map(|i| {
            let id = i + 100 * (tick / (3 + i)) * u32::from(i % 4 == 0);
            (id, dot(id, ((i * 80 + tick * 7) % 1000) as i32))
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect()
}

/// The game's side: players with an odd id see the left half of the world;
/// the others see everything; player 6 sees everything every third tick
/// and the left half otherwise (a death camera, say).
struct Game {
    tick: u32,
    rows: Vec<ReplicatedEntity>,
}

impl Game {
    fn at(tick: u32) -> Self {
        Self {
            tick,
            rows: rows(tick),
        }
    }
}

const LEFT: Rect = Rect {
    min: glam::Vec2::new(0.0, 0.0),
    max: glam::Vec2::new(500.0, 1000.0),
};

impl Interest for Game {
    fn view(&self, player: PlayerId) -> Option<Rect> {
        match player.0 {
            6 => (self.tick % 3 != 0).then_some(LEFT),
            p => (p % 2 == 1).then_some(LEFT),
        }
    }
    fn entities_in(&self, view: Rect, out: &mut Vec<NetId>) {
        out.extend(self.rows.iter().filter(|e| in_view(view, e)).map(|e| e.id));
    }
    fn last_applied_input(&self, player: PlayerId) -> Option<u32> {
        Some(player.0 * 10)
    }
}

fn in_view(view: Rect, e: &ReplicatedEntity) -> bool {
    let x = e.values[0] as f32;
    x >= view.min.x && x <= view.max.x
}

/// What `player` should hold after a snapshot of `tick`.
fn expected(game_player: PlayerId, tick: u32) -> Vec<ReplicatedEntity> {
    let game = Game::at(tick);
    match game.view(game_player) {
        Some(view) => game.rows.into_iter().filter(|e| in_view(view, e)).collect(),
        None => game.rows,
    }
}

/// One player's transport, as the server's outbox behaves: a message is
/// written at once when nothing waits and the socket takes it, otherwise it
/// waits in a one-message slot, replacing what waited there.
#[derive(Default)]
struct Transport {
    writable: bool,
    slot: Option<(u32, Vec<u8>)>,
    written: Option<u32>,
    wire: Vec<Vec<u8>>,
    closed: bool,
}

impl Transport {
    fn drain(&mut self) {
        if let Some((tick, message)) = self.slot.take() {
            self.written = Some(tick);
            self.wire.push(message);
        }
    }
}

#[derive(Default)]
struct Transports {
    players: BTreeMap<PlayerId, Transport>,
    order: Vec<PlayerId>,
}

impl Sink<()> for Transports {
    fn written(&mut self, player: PlayerId, _: &()) -> Option<u32> {
        self.players.get(&player).and_then(|t| t.written)
    }

    fn deliver(&mut self, player: PlayerId, _: &(), tick: u32, message: &mut Vec<u8>) -> Delivery {
        self.order.push(player);
        let t = self.players.entry(player).or_default();
        if t.closed {
            return Delivery::Closed;
        }
        if t.writable && t.slot.is_none() {
            t.written = Some(tick);
            t.wire.push(message.clone());
            return Delivery::Written;
        }
        let written = t.written;
        match t.slot.replace((tick, message.clone())) {
            Some(_) => Delivery::Replaced { written },
            None => Delivery::Waiting { written },
        }
    }
}

fn decode(message: &[u8]) -> (Option<u32>, SnapshotBody) {
    let snapshot = decode_snapshot_message(&schema(), message, &Limits::default()).unwrap();
    (snapshot.last_input, snapshot.body)
}

/// A core with `players`, every transport writable.
fn room(players: &[u32]) -> (Replicator<()>, Transports) {
    let mut core = Replicator::new(schema(), None).unwrap();
    let mut sink = Transports::default();
    for &p in players {
        core.add(PlayerId(p), ());
        sink.players.insert(
            PlayerId(p),
            Transport {
                writable: true,
                ..Transport::default()
            },
        );
    }
    (core, sink)
}

fn replicate(core: &mut Replicator<()>, sink: &mut Transports, tick: u32) {
    let game = Game::at(tick);
    let report = core.replicate(tick, &game.rows, &game, sink).unwrap();
    assert_eq!(report.failed, 0);
}

#[test]
fn players_are_encoded_once_each_in_id_order() {
    let (mut core, mut sink) = room(&[3, 1, 2]);
    replicate(&mut core, &mut sink, 1);
    assert_eq!(sink.order, [PlayerId(1), PlayerId(2), PlayerId(3)]);
    core.remove(PlayerId(2));
    sink.order.clear();
    replicate(&mut core, &mut sink, 2);
    assert_eq!(sink.order, [PlayerId(1), PlayerId(3)]);
}

#[test]
fn a_written_snapshot_is_the_next_baseline() {
    let (mut core, mut sink) = room(&[1, 2]);
    for tick in 1..=3 {
        replicate(&mut core, &mut sink, tick);
        assert_eq!(core.baseline(PlayerId(1)), Some(tick));
        assert_eq!(core.baseline(PlayerId(2)), Some(tick));
    }
    for p in [1, 2] {
        let wire = &sink.players[&PlayerId(p)].wire;
        let baselines: Vec<_> = wire.iter().map(|m| decode(m).1.baseline).collect();
        assert_eq!(baselines, [None, Some(1), Some(2)], "player {p}");
        assert!(wire.iter().all(|m| decode(m).0 == Some(p * 10)));
    }
}

#[test]
fn a_waiting_snapshot_is_not_a_baseline_until_the_transport_writes_it() {
    let (mut core, mut sink) = room(&[2]);
    let me = PlayerId(2);
    replicate(&mut core, &mut sink, 1);
    sink.players.get_mut(&me).unwrap().writable = false;
    replicate(&mut core, &mut sink, 2); // waits
    assert_eq!(core.baseline(me), Some(1));
    sink.players.get_mut(&me).unwrap().drain(); // the writer task writes 2
    replicate(&mut core, &mut sink, 3); // waits, encoded against 2
    assert_eq!(core.baseline(me), Some(2));
    sink.players.get_mut(&me).unwrap().drain();
    let wire = &sink.players[&me].wire;
    let bodies: Vec<_> = wire.iter().map(|m| decode(m).1).collect();
    let ticks: Vec<_> = bodies.iter().map(|b| (b.tick, b.baseline)).collect();
    assert_eq!(ticks, [(1, None), (2, Some(1)), (3, Some(2))]);
}

#[test]
fn a_replaced_snapshot_is_never_a_baseline_for_either_kind_of_player() {
    // Player 1 has a view (its tracker must forget the replaced state);
    // player 2 sees everything (the history path).
    let (mut core, mut sink) = room(&[1, 2]);
    replicate(&mut core, &mut sink, 1);
    for t in sink.players.values_mut() {
        t.writable = false;
    }
    replicate(&mut core, &mut sink, 2); // waits
    replicate(&mut core, &mut sink, 3); // replaces 2
    for p in [1, 2] {
        assert_eq!(core.baseline(PlayerId(p)), Some(1));
    }
    for t in sink.players.values_mut() {
        t.drain(); // 3 is written
        t.writable = true;
    }
    replicate(&mut core, &mut sink, 4); // written, against 3
    replicate(&mut core, &mut sink, 5); // against 4
    for p in [1, 2] {
        let me = PlayerId(p);
        let mut client = ClientState::new(schema()).unwrap();
        let mut seen = Vec::new();
        for message in &sink.players[&me].wire {
            let (_, body) = decode(message);
            seen.push((body.tick, body.baseline));
            let state = client.apply(&body).unwrap().to_vec();
            assert_eq!(
                state,
                expected(me, body.tick),
                "player {p} at {}",
                body.tick
            );
        }
        assert_eq!(
            seen,
            [(1, None), (3, Some(1)), (4, Some(3)), (5, Some(4))],
            "player {p}"
        );
    }
}

#[test]
fn a_resume_sets_the_baseline_only_before_anything_is_written() {
    let (mut core, mut sink) = room(&[1, 2]);
    for tick in 1..=3 {
        replicate(&mut core, &mut sink, tick);
    }
    core.add(PlayerId(4), ());
    assert!(
        !core.resume(PlayerId(4), 3),
        "the newest tick is no baseline"
    );
    assert!(!core.resume(PlayerId(4), 40), "a tick never recorded");
    assert!(core.resume(PlayerId(4), 2));
    assert_eq!(core.baseline(PlayerId(4)), Some(2));
    assert!(!core.resume(PlayerId(1), 2), "player 1 has a baseline");
    assert_eq!(core.baseline(PlayerId(1)), Some(3));
}

#[test]
fn a_closed_transport_keeps_the_baseline_and_others_go_on() {
    let (mut core, mut sink) = room(&[1, 2]);
    replicate(&mut core, &mut sink, 1);
    sink.players.get_mut(&PlayerId(1)).unwrap().closed = true;
    let game = Game::at(2);
    let report = core.replicate(2, &game.rows, &game, &mut sink).unwrap();
    assert_eq!((report.closed, report.written), (1, 1));
    assert_eq!(core.baseline(PlayerId(1)), Some(1));
    assert_eq!(core.baseline(PlayerId(2)), Some(2));
}

#[test]
fn rows_that_cannot_be_recorded_are_an_error_and_the_next_tick_recovers() {
    let (mut core, mut sink) = room(&[1, 2]);
    replicate(&mut core, &mut sink, 1);
    let mut unsorted = rows(2);
    unsorted.reverse();
    let game = Game {
        tick: 2,
        rows: unsorted.clone(),
    };
    assert!(core.replicate(2, &unsorted, &game, &mut sink).is_err());
    for p in [1, 2] {
        assert_eq!(core.baseline(PlayerId(p)), Some(1), "nobody moved on");
    }
    replicate(&mut core, &mut sink, 3);
    for p in [1, 2] {
        let wire = &sink.players[&PlayerId(p)].wire;
        assert_eq!(decode(wire.last().unwrap()).1.baseline, Some(1));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the transports do (write at once, wait, replace, drain
    /// later), every message that reaches a client applies to the newest
    /// state it holds (a client may keep only one, as the swarm's bots do)
    /// and gives it exactly its view of that tick.
    #[test]
    fn every_message_that_reaches_a_client_applies_to_what_it_holds(
        schedule in proptest::collection::vec((any::<u8>(), any::<u8>()), 1..60)
    ) {
        let players = [1, 2, 3, 4, 6];
        let (mut core, mut sink) = room(&players);
        for (i, &(writable, drains)) in schedule.iter().enumerate() {
            for (k, &p) in players.iter().enumerate() {
                let t = sink.players.get_mut(&PlayerId(p)).unwrap();
                t.writable = writable & (1 << k) != 0;
                if drains & (1 << k) != 0 {
                    t.drain();
                }
            }
            replicate(&mut core, &mut sink, i as u32 + 1);
        }
        for &p in &players {
            let me = PlayerId(p);
            let mut client = ClientState::with_capacity(schema(), 1, Limits::default()).unwrap();
            for message in &sink.players[&me].wire {
                let (_, body) = decode(message);
                let state = client.apply(&body).unwrap().to_vec();
                prop_assert_eq!(state, expected(me, body.tick));
            }
        }
    }
}

#[test]
fn a_replaced_snapshot_is_forgotten_at_once() {
    // However long the socket stalls, the view tracker holds the baseline
    // and the snapshot waiting, not one state per tick of the stall; and
    // the snapshot that waited out the stall is a delta against it.
    let (mut core, mut sink) = room(&[1]);
    let me = PlayerId(1);
    replicate(&mut core, &mut sink, 1);
    sink.players.get_mut(&me).unwrap().writable = false;
    for tick in 2..20 {
        replicate(&mut core, &mut sink, tick);
        assert!(
            core.states_held(me) <= 2,
            "tick {tick}: {}",
            core.states_held(me)
        );
    }
    let t = sink.players.get_mut(&me).unwrap();
    t.drain();
    t.writable = true;
    replicate(&mut core, &mut sink, 20);
    let wire = &sink.players[&me].wire;
    let seen: Vec<_> = wire.iter().map(|m| decode(m).1).collect();
    let seen: Vec<_> = seen.iter().map(|b| (b.tick, b.baseline)).collect();
    assert_eq!(seen, [(1, None), (19, Some(1)), (20, Some(19))]);
}

/// A resumed player's new transport: writable, nothing written yet.
fn reconnect(sink: &mut Transports, player: PlayerId) -> Transport {
    let fresh = Transport {
        writable: true,
        ..Transport::default()
    };
    sink.players.insert(player, fresh).unwrap_or_default()
}

#[test]
fn a_held_player_is_sent_nothing_and_resumes_with_a_delta_against_what_it_holds() {
    // Player 1 has a view (its tracker is kept while held); player 2 sees
    // everything (the room-wide history); player 4 stays connected.
    let (mut core, mut sink) = room(&[1, 2, 4]);
    for tick in 1..=3 {
        replicate(&mut core, &mut sink, tick);
    }
    for p in [1, 2] {
        assert!(core.hold(PlayerId(p)));
        assert!(!core.hold(PlayerId(p)), "held once");
        assert!(core.is_held(PlayerId(p)));
    }
    assert_eq!(
        core.attached().map(|(p, _)| p.0).collect::<Vec<_>>(),
        [4],
        "held players are not attached"
    );
    let before: Vec<usize> = [1, 2].map(|p| sink.players[&PlayerId(p)].wire.len()).into();
    for tick in 4..=6 {
        replicate(&mut core, &mut sink, tick);
    }
    let mut old = Vec::new();
    for (i, p) in [1, 2].into_iter().enumerate() {
        let me = PlayerId(p);
        assert_eq!(
            sink.players[&me].wire.len(),
            before[i],
            "player {p} is sent nothing while held"
        );
        old.push(reconnect(&mut sink, me));
        // The client holds tick 2 (tick 3 was lost with the socket).
        assert!(core.attach(me, (), Some(2)).is_some());
        assert!(!core.is_held(me));
        assert!(core.attach(me, (), Some(2)).is_none(), "not held");
    }
    replicate(&mut core, &mut sink, 7);
    for (i, p) in [1, 2].into_iter().enumerate() {
        let me = PlayerId(p);
        let wire = &sink.players[&me].wire;
        assert_eq!(wire.len(), 1, "player {p}");
        let (last_input, body) = decode(&wire[0]);
        assert_eq!(last_input, Some(p * 10));
        assert_eq!((body.tick, body.baseline), (7, Some(2)), "player {p}");
        let mut client = ClientState::new(schema()).unwrap();
        for message in &old[i].wire[..2] {
            client.apply(&decode(message).1).unwrap();
        }
        let state = client.apply(&body).unwrap().to_vec();
        assert_eq!(state, expected(me, 7), "player {p}");
    }
}

#[test]
fn a_resume_from_a_tick_no_longer_held_is_a_full_snapshot() {
    // Players 3 and 4 keep the room recording (for views and for the
    // whole room) while 1 and 2 are held: tick 1 leaves both memories.
    let (mut core, mut sink) = room(&[1, 2, 3, 4]);
    replicate(&mut core, &mut sink, 1);
    for p in [1, 2] {
        assert!(core.hold(PlayerId(p)));
    }
    for tick in 2..=40 {
        replicate(&mut core, &mut sink, tick);
    }
    for p in [1, 2] {
        reconnect(&mut sink, PlayerId(p));
        assert!(core.attach(PlayerId(p), (), Some(1)).is_some());
        assert_eq!(core.baseline(PlayerId(p)), None);
    }
    assert!(core.hold(PlayerId(2)));
    assert!(
        core.attach(PlayerId(2), (), None).is_some(),
        "holds nothing"
    );
    replicate(&mut core, &mut sink, 41);
    for p in [1, 2] {
        let me = PlayerId(p);
        let (_, body) = decode(sink.players[&me].wire.last().unwrap());
        assert_eq!((body.tick, body.baseline), (41, None), "player {p}");
        let mut client = ClientState::new(schema()).unwrap();
        assert_eq!(client.apply(&body).unwrap().to_vec(), expected(me, 41));
    }
}
