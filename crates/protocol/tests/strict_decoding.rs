//! Each inconsistency a peer can put in a snapshot is refused with its own
//! error value, and a refused snapshot leaves the client's state unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::world::test_schema;
use tickwire_protocol::{
    ApplyError, ChangedEntity, ClientState, Limits, SnapshotBody, SnapshotDecodeError,
    apply_snapshot, encode_full,
};
use tickwire_sim::{NetId, ReplicatedEntity};

fn avatar(id: u32, hp: i32) -> ReplicatedEntity {
    ReplicatedEntity {
        id: NetId(id),
        kind: 0,
        values: [0, 0, 0, hp, 0, 0, 0, 0],
    }
}

fn keeper_at_tick_1() -> ClientState {
    let schema = test_schema();
    let mut body = Vec::new();
    encode_full(&schema, 1, &[avatar(1, 50), avatar(2, 50)], &mut body).unwrap();
    let body = SnapshotBody::decode(&schema, &body, &Limits::default()).unwrap();
    let mut keeper = ClientState::new(schema).unwrap();
    keeper.apply(&body).unwrap();
    keeper
}

fn delta(changed: Vec<ChangedEntity>) -> SnapshotBody {
    SnapshotBody {
        tick: 2,
        baseline: Some(1),
        survivors: 2,
        changed,
        ..SnapshotBody::default()
    }
}

#[test]
fn removed_entity_missing_from_the_baseline_is_refused() {
    let mut keeper = keeper_at_tick_1();
    let body = SnapshotBody {
        removed: vec![NetId(9)],
        survivors: 2,
        ..delta(vec![])
    };
    assert_eq!(
        keeper.apply(&body),
        Err(ApplyError::UnknownEntity(NetId(9)))
    );
    assert_eq!(keeper.latest_tick(), Some(1));
}

#[test]
fn baseline_not_held_is_refused() {
    let mut keeper = keeper_at_tick_1();
    let body = SnapshotBody {
        tick: 5,
        baseline: Some(3),
        ..delta(vec![])
    };
    assert_eq!(keeper.apply(&body), Err(ApplyError::BaselineNotHeld(3)));
}

#[test]
fn field_mask_beyond_the_kind_is_refused() {
    let mut keeper = keeper_at_tick_1();
    let change = ChangedEntity {
        index: 0,
        mask: 0b1_0000, // the avatar declares four fields
        deltas: [0, 0, 0, 0, 1, 0, 0, 0],
    };
    assert_eq!(
        keeper.apply(&delta(vec![change])),
        Err(ApplyError::FieldMaskOutOfRange {
            id: NetId(1),
            mask: 0b1_0000
        })
    );
}

#[test]
fn delta_leaving_the_int_range_is_refused() {
    let mut keeper = keeper_at_tick_1();
    let change = ChangedEntity {
        index: 1,
        mask: 0b1000,
        deltas: [0, 0, 0, 51, 0, 0, 0, 0], // hp 50 + 51 > 100
    };
    assert_eq!(
        keeper.apply(&delta(vec![change])),
        Err(ApplyError::ValueOutOfRange {
            id: NetId(2),
            field: 3,
            value: 101
        })
    );
}

#[test]
fn survivor_count_mismatch_is_refused() {
    let mut keeper = keeper_at_tick_1();
    let body = SnapshotBody {
        survivors: 3,
        ..delta(vec![])
    };
    assert!(matches!(
        keeper.apply(&body),
        Err(ApplyError::SurvivorMismatch { .. })
    ));
}

#[test]
fn created_entity_that_exists_is_refused() {
    let schema = test_schema();
    let base = [avatar(1, 50)];
    let body = SnapshotBody {
        tick: 2,
        baseline: Some(1),
        survivors: 1,
        created: vec![avatar(1, 50)],
        ..SnapshotBody::default()
    };
    assert_eq!(
        apply_snapshot(&schema, &base, &body, &Limits::default()),
        Err(ApplyError::DuplicateEntity(NetId(1)))
    );
}

#[test]
fn unknown_kind_is_refused_when_decoding() {
    // tick 1, full, nothing removed/surviving/changed, 1 created: id 1, kind 7.
    let bytes = [1, 0, 0, 0, 0, 1, 1, 7];
    assert_eq!(
        SnapshotBody::decode(&test_schema(), &bytes, &Limits::default()),
        Err(SnapshotDecodeError::UnknownKind {
            id: NetId(1),
            kind: 7
        })
    );
}

#[test]
fn created_value_outside_the_int_range_is_refused_when_decoding() {
    // id 1, kind 0, x 0, y 0, heading 0, hp 101 (zigzag 202).
    let bytes = [1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 202];
    assert_eq!(
        SnapshotBody::decode(&test_schema(), &bytes, &Limits::default()),
        Err(SnapshotDecodeError::ValueOutOfRange {
            id: NetId(1),
            field: 3,
            value: 101
        })
    );
}

#[test]
fn oversized_snapshot_is_refused_before_reading() {
    let limits = Limits {
        max_snapshot_bytes: 4,
        ..Limits::default()
    };
    assert!(matches!(
        SnapshotBody::decode(&test_schema(), &[0; 5], &limits),
        Err(SnapshotDecodeError::TooLarge { size: 5, limit: 4 })
    ));
}

#[test]
fn welcome_with_a_wrong_schema_hash_is_refused() {
    use tickwire_protocol::{ServerDecodeError, ServerMessage, Welcome};
    let schema = test_schema();
    let welcome = ServerMessage::Welcome(Welcome {
        protocol_version: 1,
        player: Default::default(),
        avatar: Default::default(),
        room: "r".into(),
        tick_rate: 30,
        tick: 0,
        schema: schema.clone(),
        schema_hash: schema.hash() ^ 1,
        roster: vec![],
        constants: vec![],
        spectator: false,
        following: None,
        resume: String::new(),
    });
    let bytes = welcome.to_bytes(&schema).unwrap();
    assert!(matches!(
        ServerMessage::decode(&bytes, None, &Limits::default()),
        Err(ServerDecodeError::SchemaHash { .. })
    ));
}

#[test]
fn welcome_with_a_resume_token_over_its_limit_is_refused() {
    use tickwire_protocol::{MAX_RESUME_TOKEN_BYTES, ServerDecodeError, ServerMessage, Welcome};
    let schema = test_schema();
    let welcome = |resume: String| {
        ServerMessage::Welcome(Welcome {
            protocol_version: tickwire_protocol::PROTOCOL_VERSION,
            player: Default::default(),
            avatar: Default::default(),
            room: "r".into(),
            tick_rate: 30,
            tick: 0,
            schema: schema.clone(),
            schema_hash: schema.hash(),
            roster: vec![],
            constants: vec![],
            spectator: false,
            following: None,
            resume,
        })
        .to_bytes(&schema)
        .unwrap()
    };
    let at_limit = welcome("t".repeat(MAX_RESUME_TOKEN_BYTES));
    assert!(ServerMessage::decode(&at_limit, None, &Limits::default()).is_ok());
    let over = welcome("t".repeat(MAX_RESUME_TOKEN_BYTES + 1));
    assert!(matches!(
        ServerMessage::decode(&over, None, &Limits::default()),
        Err(ServerDecodeError::TooLong {
            what: "resume token",
            ..
        })
    ));
}

#[test]
fn join_from_another_version_or_schema_is_refused() {
    use tickwire_protocol::{JoinRefused, PROTOCOL_VERSION, check_join, error_code};
    assert_eq!(check_join(PROTOCOL_VERSION, 0, 42), Ok(()));
    assert_eq!(check_join(PROTOCOL_VERSION, 42, 42), Ok(()));
    let refused = check_join(PROTOCOL_VERSION + 1, 0, 42).unwrap_err();
    assert_eq!(refused.code(), error_code::PROTOCOL_VERSION);
    assert!(matches!(
        check_join(PROTOCOL_VERSION, 41, 42),
        Err(JoinRefused::SchemaMismatch { .. })
    ));
}

#[test]
fn game_event_the_schema_does_not_declare_is_refused() {
    use tickwire_protocol::{ServerDecodeError, ServerEvent, ServerMessage};
    use tickwire_sim::GameEvent;
    use tickwire_types::EventError;
    let schema = test_schema();
    let limits = Limits::default();
    let event = |kind, values| ServerMessage::Event(ServerEvent::Game(GameEvent { kind, values }));
    let decode = |m: &ServerMessage| {
        ServerMessage::decode(&m.to_bytes(&schema).unwrap(), Some(&schema), &limits)
    };
    // A kill with no killer (-1) is fine.
    let none = event(0, [-1, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode(&none), Ok(none));
    // The schema declares two kinds of event.
    assert_eq!(
        decode(&event(2, [0; 8])),
        Err(ServerDecodeError::Event(EventError::UnknownKind(2)))
    );
    // A player field takes -1 or an id, nothing lower.
    assert!(matches!(
        decode(&event(0, [-2, 2, 0, 0, 0, 0, 0, 0])),
        Err(ServerDecodeError::Event(EventError::OutOfRange { .. }))
    ));
    // `bonus` declares `x` and `amount`: amount is at most 50, and nothing
    // follows it.
    assert!(matches!(
        decode(&event(1, [0, 51, 0, 0, 0, 0, 0, 0])),
        Err(ServerDecodeError::Event(EventError::OutOfRange { .. }))
    ));
    assert!(matches!(
        decode(&event(1, [0, 5, 1, 0, 0, 0, 0, 0])),
        Err(ServerDecodeError::Event(EventError::Undeclared {
            index: 2,
            ..
        }))
    ));
}

#[test]
fn input_values_decode_as_sent_and_the_schema_checks_them() {
    use tickwire_protocol::ClientMessage;
    use tickwire_sim::PlayerInput;
    use tickwire_types::InputError;
    let schema = test_schema();
    // Trailing zeros are not sent: tag 1, seq 9, one value, -127 (zigzag
    // 253, a varint of marker 251 and two bytes).
    let input = PlayerInput::new(9, &[-127, 0, 0, 0]);
    let bytes = ClientMessage::Input(input).to_bytes();
    assert_eq!(bytes, [1, 9, 1, 251, 253, 0]);
    assert_eq!(
        ClientMessage::decode(&bytes),
        Ok(ClientMessage::Input(input))
    );
    // Decoding does not know the game; the schema refuses what it does not
    // declare (the server checks every input this way).
    assert_eq!(schema.check_input(&input), Ok(()));
    assert!(matches!(
        schema.check_input(&PlayerInput::new(9, &[128])),
        Err(InputError::OutOfRange { .. })
    ));
    assert!(matches!(
        schema.check_input(&PlayerInput::new(9, &[0, 0, 0, 0, 1])),
        Err(InputError::Undeclared { index: 4, .. })
    ));
}

#[test]
fn a_watch_rectangle_that_is_not_finite_or_not_of_a_positive_size_is_refused() {
    use tickwire_protocol::{ClientDecodeError, ClientMessage, WatchTarget};
    let rect = |x: f32, width: f32, height: f32| {
        ClientMessage::Watch(WatchTarget::Rect {
            x,
            y: 0.0,
            width,
            height,
        })
    };
    let good = rect(-10.0, 800.0, 600.0);
    assert_eq!(ClientMessage::decode(&good.to_bytes()), Ok(good));
    for bad in [
        rect(f32::NAN, 800.0, 600.0),
        rect(0.0, f32::INFINITY, 600.0),
        rect(0.0, 0.0, 600.0),
        rect(0.0, 800.0, -1.0),
    ] {
        assert_eq!(
            ClientMessage::decode(&bad.to_bytes()),
            Err(ClientDecodeError::BadRect),
            "{bad:?}"
        );
    }
}
