//! Nothing a peer sends can panic a decoder: over a million random and
//! mutated (truncated, bit-flipped, length-inflated, spliced) messages go
//! through every decoder, and snapshots that still decode through the
//! apply step against the baseline they name. Allocation stays bounded because every count is checked
//! against the limits and the bytes left before anything is reserved; the
//! small limits used here make an inflated count fail fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Instant;

use support::arena::SplitMix;
use support::world::RandomWorld;
use tickwire_protocol::{
    ClientMessage, Limits, ServerEvent, ServerHistory, ServerMessage, SnapshotBody, WatchTarget,
    Welcome, apply_snapshot, decode_snapshot_message, write_snapshot_message,
};
use tickwire_sim::{GameEvent, NetId, PlayerId, PlayerInput, Schema};

/// Valid messages of every kind, the seeds of the mutations.
fn seeds(schema: &Schema) -> (Vec<Vec<u8>>, ServerHistory) {
    let mut seeds = Vec::new();
    for m in [
        ClientMessage::join(schema.hash()),
        ClientMessage::Input(PlayerInput::new(70_000, &[-127, 40_000, 3, -3])),
        ClientMessage::Input(PlayerInput::new(5, &[127])),
        ClientMessage::Input(PlayerInput::new(6, &[])),
        ClientMessage::Ack { tick: 1 << 20 },
        ClientMessage::Ping { client_time: 99 },
        ClientMessage::Chat { text: "gg".into() },
        ClientMessage::Watch(WatchTarget::Player(PlayerId(3))),
        ClientMessage::Watch(WatchTarget::Rect {
            x: -50.0,
            y: 100.5,
            width: 800.0,
            height: 600.0,
        }),
        ClientMessage::Watch(WatchTarget::Anyone),
    ] {
        seeds.push(m.to_bytes());
    }
    let welcome = ServerMessage::Welcome(Welcome {
        protocol_version: tickwire_protocol::PROTOCOL_VERSION,
        player: PlayerId(3),
        avatar: NetId(9),
        room: "lobby".into(),
        tick_rate: 30,
        tick: 1234,
        schema: schema.clone(),
        schema_hash: schema.hash(),
        roster: vec![(PlayerId(1), "ann".into()), (PlayerId(3), "bob".into())],
        constants: vec![("arena_size".into(), 4000.0)],
        spectator: false,
        following: None,
        resume: "eyJyb29tIjoibG9iYnkifQ.c2ln".into(),
    });
    let spectator = ServerMessage::Welcome(Welcome {
        protocol_version: tickwire_protocol::PROTOCOL_VERSION,
        player: tickwire_protocol::NO_PLAYER,
        avatar: NetId(9),
        room: "lobby".into(),
        tick_rate: 30,
        tick: 1234,
        schema: schema.clone(),
        schema_hash: schema.hash(),
        roster: vec![(PlayerId(1), "ann".into()), (PlayerId(3), "bob".into())],
        constants: vec![],
        spectator: true,
        following: Some(PlayerId(3)),
        resume: String::new(),
    });
    for m in [
        welcome,
        spectator,
        ServerMessage::Event(ServerEvent::Watching {
            followed: Some((PlayerId(3), NetId(9))),
        }),
        ServerMessage::Event(ServerEvent::Watching { followed: None }),
        ServerMessage::Pong {
            client_time: 5,
            server_tick: 600,
        },
        ServerMessage::Event(ServerEvent::Game(GameEvent {
            kind: 0,
            values: [1, 3, 0, 0, 0, 0, 0, 0],
        })),
        ServerMessage::Event(ServerEvent::Game(GameEvent {
            kind: 0,
            values: [-1, 3, 0, 0, 0, 0, 0, 0],
        })),
        ServerMessage::Event(ServerEvent::Game(GameEvent {
            kind: 1,
            values: [-40_000, 50, 0, 0, 0, 0, 0, 0],
        })),
        ServerMessage::Event(ServerEvent::Chat {
            player: PlayerId(1),
            text: "hi".into(),
        }),
        ServerMessage::Event(ServerEvent::PlayerJoined {
            player: PlayerId(4),
            name: "cy".into(),
        }),
        ServerMessage::Event(ServerEvent::PlayerLeft {
            player: PlayerId(4),
        }),
        ServerMessage::Error {
            code: 4000,
            reason: "version".into(),
        },
    ] {
        seeds.push(m.to_bytes(schema).unwrap());
    }
    // Snapshots: full and deltas of every age, with a client that holds the
    // baselines so mutated deltas reach the apply step too.
    let mut world = RandomWorld::new(42);
    let mut server = ServerHistory::new(schema.clone()).unwrap();
    for tick in 1..=20 {
        world.step();
        server.record(tick, world.entities.clone()).unwrap();
        for baseline in [None, tick.checked_sub(1), tick.checked_sub(7)] {
            let body = server.shared_body(baseline).unwrap();
            let mut message = Vec::new();
            write_snapshot_message(&mut message, Some(tick), &body.bytes);
            seeds.push(message);
        }
    }
    (seeds, server)
}

fn mutate(rng: &mut SplitMix, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    let seed = &seeds[(rng.next_u64() % seeds.len() as u64) as usize];
    match rng.next_u64() % 8 {
        // Pure noise.
        0 => {
            let len = rng.next_u64() % 64;
            out.extend((0..len).map(|_| rng.next_u64() as u8));
        }
        // Truncated.
        1 => {
            let len = (rng.next_u64() % (seed.len() as u64 + 1)) as usize;
            out.extend_from_slice(&seed[..len]);
        }
        // Length-inflated: a huge varint written over a byte.
        2 => {
            out.extend_from_slice(seed);
            let at = (rng.next_u64() % seed.len().max(1) as u64) as usize;
            let huge: &[u8] = match rng.next_u64() % 3 {
                0 => &[252, 0xff, 0xff, 0xff, 0x7f],
                1 => &[251, 0xff, 0xff],
                _ => &[253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
            };
            out.splice(at..(at + 1).min(out.len()), huge.iter().copied());
        }
        // Spliced from two messages.
        3 => {
            let other = &seeds[(rng.next_u64() % seeds.len() as u64) as usize];
            let a = (rng.next_u64() % (seed.len() as u64 + 1)) as usize;
            let b = (rng.next_u64() % (other.len() as u64 + 1)) as usize;
            out.extend_from_slice(&seed[..a]);
            out.extend_from_slice(&other[b..]);
        }
        // Trailing garbage.
        4 => {
            out.extend_from_slice(seed);
            out.push(rng.next_u64() as u8);
        }
        // Bit flips, one to four.
        _ => {
            out.extend_from_slice(seed);
            if !out.is_empty() {
                for _ in 0..=rng.next_u64() % 4 {
                    let bit = rng.next_u64() % (out.len() as u64 * 8);
                    out[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
            }
        }
    }
}

#[test]
fn a_million_mutated_messages_never_panic_any_decoder() {
    let schema = support::world::test_schema();
    let (seeds, history) = seeds(&schema);
    let limits = Limits {
        max_snapshot_bytes: 4096,
        max_entities: 1024,
    };
    let mut rng = SplitMix::new(0x5eed);
    let mut input = Vec::new();
    let mut decoded = 0u32;
    let mut applied = 0u32;
    let started = Instant::now();
    const MESSAGES: u32 = 1_000_000;
    for _ in 0..MESSAGES {
        mutate(&mut rng, &seeds, &mut input);
        decoded += u32::from(ClientMessage::decode(&input).is_ok());
        decoded += u32::from(ServerMessage::decode(&input, Some(&schema), &limits).is_ok());
        decoded += u32::from(ServerMessage::decode(&input, None, &limits).is_ok());
        decoded += u32::from(SnapshotBody::decode(&schema, &input, &limits).is_ok());
        if let Ok(snapshot) = decode_snapshot_message(&schema, &input, &limits) {
            decoded += 1;
            // Apply to the baseline it names, when there is one.
            let base = match snapshot.body.baseline {
                None => Some(&[][..]),
                Some(b) => history.get(b).map(|s| &s[..]),
            };
            if let Some(base) = base {
                applied +=
                    u32::from(apply_snapshot(&schema, base, &snapshot.body, &limits).is_ok());
            }
        }
    }
    println!(
        "{MESSAGES} messages, {decoded} decodes succeeded, {applied} snapshots applied, {:?}",
        started.elapsed()
    );
    // The mutations must reach past the first checks often enough to mean
    // something: some mutated messages are still valid.
    assert!(decoded > 10_000);
}

#[test]
fn inflated_entity_count_is_refused_before_allocating() {
    let schema = support::world::test_schema();
    // tick 1, full, no removed, no survivors, none changed, 2^31 created.
    let body = [1, 0, 0, 0, 0, 252, 0, 0, 0, 0x80];
    let err = SnapshotBody::decode(&schema, &body, &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        tickwire_protocol::SnapshotDecodeError::TooMany { .. }
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = ClientMessage::Ack { tick: 5 }.to_bytes();
    bytes.push(0);
    assert!(ClientMessage::decode(&bytes).is_err());
}

/// `count` values of 1 (zigzag 2), each one byte.
fn ones(count: u8) -> Vec<u8> {
    let mut bytes = vec![count];
    bytes.extend(std::iter::repeat_n(2, usize::from(count)));
    bytes
}

#[test]
fn an_input_of_more_than_eight_values_is_a_decode_error() {
    // Tag 1 (input), seq 7, then the values.
    let input = |count| [&[1, 7][..], &ones(count)].concat();
    assert_eq!(
        ClientMessage::decode(&input(8)),
        Ok(ClientMessage::Input(PlayerInput::new(7, &[1; 8])))
    );
    for count in [9, 10, 250] {
        assert!(
            ClientMessage::decode(&input(count)).is_err(),
            "{count} values"
        );
    }
}

#[test]
fn a_game_event_of_more_than_eight_values_is_a_decode_error() {
    let schema = support::world::test_schema();
    // Tag 3 (event), variant 0 (game), kind 1 (bonus: x and amount), then
    // the values.
    let event = |count| [&[3, 0, 1][..], &ones(count)].concat();
    let limits = Limits::default();
    let two = ServerMessage::decode(&event(2), Some(&schema), &limits).unwrap();
    assert_eq!(
        two,
        ServerMessage::Event(ServerEvent::Game(GameEvent {
            kind: 1,
            values: [1, 1, 0, 0, 0, 0, 0, 0],
        }))
    );
    // Eight values decode (the schema refuses the six undeclared ones, a
    // decoder without it takes them); nine or more decode nowhere.
    assert!(ServerMessage::decode(&event(8), None, &limits).is_ok());
    assert!(ServerMessage::decode(&event(8), Some(&schema), &limits).is_err());
    for count in [9, 10, 250] {
        assert!(
            ServerMessage::decode(&event(count), None, &limits).is_err(),
            "{count} values"
        );
        assert!(
            ServerMessage::decode(&event(count), Some(&schema), &limits).is_err(),
            "{count} values"
        );
    }
}
