//! Replication converges: whatever snapshots a client skips, whichever held
//! baseline the server encodes against, and however often the client loses
//! its state, every state the client applies equals the server's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::world::RandomWorld;
use tickwire_protocol::{
    ClientState, HISTORY_TICKS, Limits, ServerHistory, SnapshotBody, decode_snapshot_message,
    write_snapshot_message,
};

/// Runs one random match and checks the client after every snapshot it
/// applies.
fn run_match(seed: u64, ticks: u32) {
    let mut world = RandomWorld::new(seed);
    let schema = world.schema.clone();
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    let mut client = ClientState::new(schema.clone()).unwrap();
    let limits = Limits::default();
    let mut applied = 0;
    for tick in 1..=ticks {
        world.step();
        server.record(tick, world.entities.clone()).unwrap();
        let roll = world.rng.next_u64() % 16;
        if roll < 5 {
            continue; // this snapshot never reaches the client
        }
        if roll == 5 {
            client.clear(); // the client lost everything
        }
        // The client names any held tick 1 to 31 ticks old as baseline.
        let held: Vec<u32> = (1..HISTORY_TICKS as u32)
            .filter_map(|age| tick.checked_sub(age))
            .filter(|&t| client.state_at(t).is_some())
            .collect();
        let baseline = if held.is_empty() {
            None
        } else {
            Some(held[(world.rng.next_u64() % held.len() as u64) as usize])
        };
        let body = server.shared_body(baseline).unwrap();
        assert_eq!(body.baseline, baseline, "a held baseline gets a delta");

        let mut message = Vec::new();
        let last_input = Some(tick / 3);
        write_snapshot_message(&mut message, last_input, &body.bytes);
        let snapshot = decode_snapshot_message(&schema, &message, &limits).unwrap();
        assert_eq!(snapshot.last_input, last_input);

        // The decoded form re-encodes to the same bytes: one canonical form.
        let mut again = Vec::new();
        snapshot.body.encode(&schema, &mut again).unwrap();
        assert_eq!(again, &body.bytes[..]);
        assert_eq!(
            SnapshotBody::decode(&schema, &body.bytes, &limits).unwrap(),
            snapshot.body
        );

        let state = client.apply(&snapshot.body).unwrap();
        assert_eq!(state, &world.entities[..], "tick {tick}");
        applied += 1;
    }
    assert!(ticks < 20 || applied > 0);
}

/// Runs one random match as a WebSocket client sees it: every snapshot a
/// delta against the last one it applied (or full after it lost its state),
/// applied by a keeper of one state, which changes that state in place when
/// nothing is created or removed. Checks it against the server's state and
/// against a keeper of many states fed the same bodies.
fn run_single_state_match(seed: u64, ticks: u32) {
    let mut world = RandomWorld::new(seed);
    let schema = world.schema.clone();
    let limits = Limits::default();
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    let mut one = ClientState::with_capacity(schema.clone(), 1, limits).unwrap();
    let mut many = ClientState::new(schema.clone()).unwrap();
    for tick in 1..=ticks {
        world.step();
        server.record(tick, world.entities.clone()).unwrap();
        let roll = world.rng.next_u64() % 16;
        if roll == 0 {
            continue; // the server skipped this tick for the client
        }
        if roll == 1 {
            one.clear();
            many.clear();
        }
        let body = server.shared_body(one.latest_tick()).unwrap();
        let snapshot = SnapshotBody::decode(&schema, &body.bytes, &limits).unwrap();
        let expected = many.apply(&snapshot).unwrap().to_vec();
        assert_eq!(one.apply(&snapshot).unwrap(), &expected[..], "tick {tick}");
        assert_eq!(&expected[..], &world.entities[..], "tick {tick}");
        assert_eq!(one.latest_tick(), Some(tick));
        assert_eq!(one.state_at(tick - 1), None, "one state is kept");
    }
}

#[test]
fn a_refused_delta_leaves_a_single_state_untouched() {
    let mut world = RandomWorld::new(5);
    let schema = world.schema.clone();
    let limits = Limits::default();
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    let mut client = ClientState::with_capacity(schema.clone(), 1, limits).unwrap();
    world.step();
    server.record(1, world.entities.clone()).unwrap();
    let full = server.shared_body(None).unwrap();
    client
        .apply(&SnapshotBody::decode(&schema, &full.bytes, &limits).unwrap())
        .unwrap();
    let before = client.latest().unwrap().to_vec();

    // A delta whose every change is fine but one late in it, which takes a
    // 0..=100 field out of range: refused, and nothing of it is applied.
    let mut entities = before.clone();
    for e in entities.iter_mut() {
        e.values[0] = e.values[0].wrapping_add(1);
    }
    server.record(2, entities).unwrap();
    let body = server.shared_body(Some(1)).unwrap();
    let mut snapshot = SnapshotBody::decode(&schema, &body.bytes, &limits).unwrap();
    assert!(snapshot.removed.is_empty() && snapshot.created.is_empty());
    // The last change of an entity of the first kind, whose field 3 is hp.
    assert_eq!(schema.kinds[0].fields[3].name, "hp");
    let last = snapshot
        .changed
        .iter()
        .rposition(|c| before[c.index as usize].kind == 0)
        .unwrap();
    assert!(last > 0, "good changes come before the bad one");
    snapshot.changed[last].mask |= 1 << 3;
    snapshot.changed[last].deltas[3] = 1_000;
    assert!(matches!(
        client.apply(&snapshot),
        Err(tickwire_protocol::ApplyError::ValueOutOfRange { field: 3, .. })
    ));
    assert_eq!(client.latest_tick(), Some(1));
    assert_eq!(client.latest().unwrap(), &before[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_single_state_keeper_applies_in_place_and_stays_exact(
        seed in any::<u64>(),
        ticks in 1u32..120,
    ) {
        run_single_state_match(seed, ticks);
    }

    #[test]
    fn client_state_equals_server_state_after_every_snapshot(
        seed in any::<u64>(),
        ticks in 1u32..160,
    ) {
        run_match(seed, ticks);
    }
}

#[test]
fn full_snapshot_restores_a_client_that_lost_its_state() {
    let mut world = RandomWorld::new(7);
    let mut server = ServerHistory::new(world.schema.clone()).unwrap();
    let mut client = ClientState::new(world.schema.clone()).unwrap();
    world.step();
    server.record(1, world.entities.clone()).unwrap();
    let body = server.shared_body(None).unwrap();
    let snapshot = SnapshotBody::decode(&world.schema, &body.bytes, &Limits::default()).unwrap();
    assert_eq!(snapshot.baseline, None);
    assert_eq!(client.apply(&snapshot).unwrap(), &world.entities[..]);
}

#[test]
fn baseline_outside_the_ring_gets_a_full_snapshot() {
    let mut world = RandomWorld::new(11);
    let mut server = ServerHistory::new(world.schema.clone()).unwrap();
    for tick in 1..=40 {
        world.step();
        server.record(tick, world.entities.clone()).unwrap();
    }
    assert_eq!(server.shared_body(Some(5)).unwrap().baseline, None);
    assert_eq!(server.shared_body(Some(39)).unwrap().baseline, Some(39));
    assert_eq!(server.shared_body(Some(40)).unwrap().baseline, None);
}

#[test]
fn delta_against_a_baseline_the_client_dropped_is_refused() {
    let mut world = RandomWorld::new(3);
    let schema = world.schema.clone();
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    let mut client = ClientState::new(schema.clone()).unwrap();
    world.step();
    server.record(1, world.entities.clone()).unwrap();
    world.step();
    server.record(2, world.entities.clone()).unwrap();
    let body = server.shared_body(Some(1)).unwrap();
    let snapshot = SnapshotBody::decode(&schema, &body.bytes, &Limits::default()).unwrap();
    assert_eq!(
        client.apply(&snapshot),
        Err(tickwire_protocol::ApplyError::BaselineNotHeld(1))
    );
    assert_eq!(
        client.latest_tick(),
        None,
        "a refused snapshot changes nothing"
    );
}

#[test]
fn a_full_snapshot_of_an_earlier_tick_starts_the_client_over_and_a_delta_may_not() {
    let mut world = RandomWorld::new(13);
    let schema = world.schema.clone();
    let limits = Limits::default();
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    let mut states = Vec::new();
    for tick in 1..=20 {
        world.step();
        server.record(tick, world.entities.clone()).unwrap();
        states.push(world.entities.clone());
    }
    for capacity in [1, HISTORY_TICKS] {
        let mut client = ClientState::with_capacity(schema.clone(), capacity, limits).unwrap();
        let decode = |bytes: &[u8]| SnapshotBody::decode(&schema, bytes, &limits).unwrap();
        client
            .apply(&decode(&server.encode_body(None).unwrap().bytes))
            .unwrap();
        assert_eq!(client.latest_tick(), Some(20));

        // A delta of an earlier tick is refused, and changes nothing.
        let mut early = ServerHistory::new(schema.clone()).unwrap();
        early.record(4, states[3].clone()).unwrap();
        early.record(5, states[4].clone()).unwrap();
        let delta = decode(&early.encode_body(Some(4)).unwrap().bytes);
        assert!(matches!(
            client.apply(&delta),
            Err(tickwire_protocol::ApplyError::NotNewer { .. }
                | tickwire_protocol::ApplyError::BaselineNotHeld(4))
        ));
        assert_eq!(client.latest_tick(), Some(20));

        // A full one of an earlier tick is the client's only state now.
        let full = decode(&early.encode_body(None).unwrap().bytes);
        assert_eq!(full.tick, 5);
        assert_eq!(client.apply(&full).unwrap(), &states[4][..]);
        assert_eq!(client.latest_tick(), Some(5));
        assert_eq!(client.state_at(20), None, "tick 20 is forgotten");
        // And deltas go on from it.
        early.record(6, states[5].clone()).unwrap();
        let next = decode(&early.encode_body(Some(5)).unwrap().bytes);
        assert_eq!(client.apply(&next).unwrap(), &states[5][..]);
    }
}
