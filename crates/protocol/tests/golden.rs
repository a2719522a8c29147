//! Golden vectors: one encoded message of every kind, with its decoded form
//! as JSON, in `crates/protocol/golden/`. The browser client's tests decode
//! the same files, so the Rust encoder and the JavaScript decoder cannot
//! drift apart unnoticed.
//!
//! Regenerate after a deliberate format change (and bump
//! `PROTOCOL_VERSION`):
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p tickwire-protocol --test golden
//! ```
//!
//! Without `UPDATE_GOLDEN` the test fails when a file is missing or stale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::{Value, json};
use tickwire_protocol::{
    ClientMessage, ClientState, Limits, MAX_NAME_BYTES, NO_PLAYER, PROTOCOL_VERSION, ServerEvent,
    ServerMessage, Snapshot, SnapshotBody, WatchTarget, Welcome, encode_delta, encode_full,
    write_snapshot_message,
};
use tickwire_sim::{
    EventDecl, FieldDecl, GameEvent, InputDecl, InputKind, KindDecl, NetId, PlayerId, PlayerInput,
    Quantization, ReplicatedEntity, Schema,
};

/// The kinds of the vectors: a dot with a field of each snapshot
/// quantization, and a flag with one field.
fn kinds() -> Vec<KindDecl> {
    vec![
        KindDecl {
            id: 0,
            name: "dot".into(),
            fields: vec![
                field(0, "x", Quantization::Fixed { scale: 16 }),
                field(1, "y", Quantization::Fixed { scale: 16 }),
                field(2, "heading", Quantization::Angle { steps: 256 }),
                field(3, "hp", Quantization::Int { min: 0, max: 100 }),
            ],
        },
        KindDecl {
            id: 1,
            name: "flag".into(),
            fields: vec![field(0, "team", Quantization::Int { min: -1, max: 1 })],
        },
    ]
}

fn field(id: u8, name: &str, quant: Quantization) -> FieldDecl {
    FieldDecl {
        id,
        name: name.into(),
        quant,
    }
}

/// The small schema of the vectors: the kinds, an input with a field of
/// each input kind, and two kinds of event with player fields.
fn schema() -> Schema {
    let input = |name: &str, kind| InputDecl {
        name: name.into(),
        kind,
    };
    Schema::new(
        "golden",
        kinds(),
        vec![
            input("move", InputKind::Axis { steps: 127 }),
            input("aim", InputKind::Angle { steps: 65_536 }),
            input(
                "buttons",
                InputKind::Buttons {
                    names: vec!["fire".into(), "jump".into(), "use".into()],
                },
            ),
            input("slot", InputKind::Int { min: -2, max: 9 }),
        ],
        vec![
            EventDecl {
                name: "kill".into(),
                fields: vec![
                    field(0, "killer", Quantization::Player),
                    field(1, "victim", Quantization::Player),
                ],
            },
            EventDecl {
                name: "goal".into(),
                fields: vec![
                    field(0, "scorer", Quantization::Player),
                    field(1, "team", Quantization::Int { min: -1, max: 1 }),
                    field(2, "x", Quantization::Fixed { scale: 16 }),
                ],
            },
        ],
    )
}

/// A game with no input and no events (the schema's lists are empty).
fn bare_schema() -> Schema {
    Schema::new("bare", kinds(), vec![], vec![])
}

fn dot(id: u32, x: i32, y: i32, heading: i32, hp: i32) -> ReplicatedEntity {
    ReplicatedEntity {
        id: NetId(id),
        kind: 0,
        values: [x, y, heading, hp, 0, 0, 0, 0],
    }
}

fn flag(id: u32, team: i32) -> ReplicatedEntity {
    ReplicatedEntity {
        id: NetId(id),
        kind: 1,
        values: [team, 0, 0, 0, 0, 0, 0, 0],
    }
}

/// The states of the snapshot vectors, chosen so that the deltas use every
/// way of selecting changed survivors and one- and three-byte offsets.
fn states() -> Vec<(u32, Vec<ReplicatedEntity>)> {
    let a: Vec<_> = (1..=10)
        .map(|i| dot(i, 1600 * i as i32, 800, 0, 100))
        .chain([flag(12, -1)])
        .collect();
    // Tick 101: dot 3 gone, every other dot moves (dot 5 also turns, dot 9
    // teleports), the flag stays; dot 20 appears.
    let mut b: Vec<_> = a
        .iter()
        .filter(|e| e.id != NetId(3))
        .map(|e| {
            let mut e = *e;
            if e.kind == 0 {
                e.values[0] += 107;
                e.values[1] -= 53;
            }
            if e.id == NetId(5) {
                e.values[2] = 250;
            }
            if e.id == NetId(9) {
                e.values[0] = -40_000;
            }
            e
        })
        .collect();
    b.push(dot(20, 64, 64, 128, 100));
    // Tick 104: only dot 2 is hurt.
    let mut c = b.clone();
    for e in &mut c {
        if e.id == NetId(2) {
            e.values[3] = 75;
        }
    }
    // Tick 105: every other dot moves down, and the flag changes side.
    let mut d = c.clone();
    for (k, e) in d.iter_mut().enumerate() {
        if k % 2 == 0 && e.kind == 0 {
            e.values[1] += 100;
        }
        if e.id == NetId(12) {
            e.values[0] = 1;
        }
    }
    vec![(100, a), (101, b), (104, c), (105, d)]
}

fn entity_json(schema: &Schema, e: &ReplicatedEntity) -> Value {
    let n = schema.kind(e.kind).map_or(0, |k| k.fields.len());
    json!({ "id": e.id.0, "kind": e.kind, "values": &e.values[..n] })
}

fn quant_json(quant: Quantization) -> Value {
    match quant {
        Quantization::Fixed { scale } => json!({"type": "Fixed", "scale": scale}),
        Quantization::Angle { steps } => json!({"type": "Angle", "steps": steps}),
        Quantization::Int { min, max } => json!({"type": "Int", "min": min, "max": max}),
        Quantization::Player => json!({"type": "Player"}),
    }
}

fn fields_json(fields: &[FieldDecl]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| json!({"id": f.id, "name": f.name, "quant": quant_json(f.quant)}))
        .collect()
}

fn input_kind_json(kind: &InputKind) -> Value {
    match kind {
        InputKind::Axis { steps } => json!({"type": "Axis", "steps": steps}),
        InputKind::Angle { steps } => json!({"type": "Angle", "steps": steps}),
        InputKind::Buttons { names } => json!({"type": "Buttons", "names": names}),
        InputKind::Int { min, max } => json!({"type": "Int", "min": min, "max": max}),
    }
}

fn schema_json(schema: &Schema) -> Value {
    let kinds: Vec<Value> = schema
        .kinds
        .iter()
        .map(|k| json!({"id": k.id, "name": k.name, "fields": fields_json(&k.fields)}))
        .collect();
    let input: Vec<Value> = schema
        .input
        .iter()
        .map(|i| json!({"name": i.name, "kind": input_kind_json(&i.kind)}))
        .collect();
    let events: Vec<Value> = schema
        .events
        .iter()
        .map(|e| json!({"name": e.name, "fields": fields_json(&e.fields)}))
        .collect();
    json!({"game": schema.game, "kinds": kinds, "input": input, "events": events})
}

/// A game event as the client names it: its kind's name, and each declared
/// field by name.
fn game_event_json(schema: &Schema, e: &GameEvent) -> Value {
    let decl = schema.event(e.kind).unwrap();
    let fields: serde_json::Map<String, Value> = decl
        .fields
        .iter()
        .map(|f| (f.name.clone(), json!(e.values[usize::from(f.id)])))
        .collect();
    json!({"type": "game", "kind": e.kind, "name": decl.name, "fields": fields})
}

// The decoded form is the object `client-web/sdk/protocol.js` returns:
// lower-case message types, camelCase fields, u64 hashes as decimal strings
// (JSON numbers cannot hold them); the welcome's `avatar` is the SDK's
// game-neutral `entity`.

fn client_json(m: &ClientMessage) -> Value {
    match m {
        ClientMessage::Join {
            protocol_version,
            schema_hash,
        } => json!({"type": "join", "protocolVersion": protocol_version,
            "schemaHash": schema_hash.to_string()}),
        ClientMessage::Input(i) => {
            json!({"type": "input", "seq": i.seq, "values": tickwire_types::sent_values(&i.values)})
        }
        ClientMessage::Ack { tick } => json!({"type": "ack", "tick": tick}),
        ClientMessage::Ping { client_time } => json!({"type": "ping", "clientTime": client_time}),
        ClientMessage::Chat { text } => json!({"type": "chat", "text": text}),
        ClientMessage::Watch(target) => {
            let target = match target {
                WatchTarget::Player(player) => json!({"type": "player", "player": player.0}),
                WatchTarget::Rect {
                    x,
                    y,
                    width,
                    height,
                } => json!({"type": "rect", "x": x, "y": y, "width": width, "height": height}),
                WatchTarget::Anyone => json!({"type": "anyone"}),
            };
            json!({"type": "watch", "target": target})
        }
    }
}

fn server_json(schema: &Schema, m: &ServerMessage) -> Value {
    match m {
        ServerMessage::Welcome(w) => json!({"type": "welcome",
            "protocolVersion": w.protocol_version, "player": w.player.0, "avatar": w.avatar.0,
            "room": w.room, "tickRate": w.tick_rate, "tick": w.tick,
            "schema": schema_json(&w.schema), "schemaHash": w.schema_hash.to_string(),
            "roster": w.roster.iter().map(|(p, n)| json!([p.0, n])).collect::<Vec<_>>(),
            "constants": w.constants.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "spectator": w.spectator, "following": w.following.map(|p| p.0),
            "resume": w.resume}),
        ServerMessage::Snapshot(Snapshot { last_input, body }) => json!({"type": "snapshot",
            "lastInput": last_input, "body": {"tick": body.tick, "baseline": body.baseline,
            "removed": body.removed.iter().map(|id| id.0).collect::<Vec<_>>(),
            "survivors": body.survivors,
            "changed": body.changed.iter().map(|c| json!({"index": c.index, "mask": c.mask,
                "deltas": c.changed_deltas().collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "created": body.created.iter().map(|e| entity_json(schema, e)).collect::<Vec<_>>()}}),
        ServerMessage::Pong {
            client_time,
            server_tick,
        } => json!({"type": "pong", "clientTime": client_time, "serverTick": server_tick}),
        ServerMessage::Event(e) => {
            let event = match e {
                ServerEvent::Game(game) => game_event_json(schema, game),
                ServerEvent::Chat { player, text } => {
                    json!({"type": "chat", "player": player.0, "text": text})
                }
                ServerEvent::PlayerJoined { player, name } => {
                    json!({"type": "playerJoined", "player": player.0, "name": name})
                }
                ServerEvent::PlayerLeft { player } => {
                    json!({"type": "playerLeft", "player": player.0})
                }
                // The followed avatar is the SDK's game-neutral `entity`.
                ServerEvent::Watching { followed } => json!({"type": "watching",
                    "player": followed.map(|(p, _)| p.0), "entity": followed.map(|(_, a)| a.0)}),
            };
            json!({"type": "event", "event": event})
        }
        ServerMessage::Error { code, reason } => {
            json!({"type": "error", "code": code, "reason": reason})
        }
        ServerMessage::Redirect { url, room, ticket } => {
            json!({"type": "redirect", "url": url, "room": room, "ticket": ticket})
        }
    }
}

/// A name of exactly the protocol's byte limit, all in 4-byte characters
/// (an emoji, a CJK extension B ideograph, a musical symbol, a mahjong
/// tile): 16 characters, 64 bytes.
fn max_name() -> String {
    let name = "😀𠀋𝄞🀄".repeat(4);
    assert_eq!(name.len(), MAX_NAME_BYTES);
    assert!(name.chars().all(|c| c.len_utf8() == 4));
    name
}

/// Every vector: name, bytes, decoded form.
fn vectors() -> Vec<(String, Vec<u8>, Value)> {
    let schema = schema();
    let limits = Limits::default();
    let mut out = Vec::new();
    let clients = [
        ("client_join", ClientMessage::join(schema.hash())),
        (
            "client_join_generic",
            ClientMessage::Join {
                protocol_version: PROTOCOL_VERSION,
                schema_hash: 0,
            },
        ),
        // Every field set: move, aim, buttons (fire and use), slot.
        (
            "client_input",
            ClientMessage::Input(PlayerInput::new(300, &[-127, 49_152, 5, -2])),
        ),
        // Trailing zeros are not sent: one value travels.
        (
            "client_input_trimmed",
            ClientMessage::Input(PlayerInput::new(301, &[64, 0, 0, 0])),
        ),
        // Nothing held: no values at all.
        (
            "client_input_idle",
            ClientMessage::Input(PlayerInput::new(302, &[])),
        ),
        // One input per input kind, at the end of its range.
        (
            "client_input_axis",
            ClientMessage::Input(PlayerInput::new(303, &[127])),
        ),
        (
            "client_input_angle",
            ClientMessage::Input(PlayerInput::new(304, &[0, 65_535])),
        ),
        (
            "client_input_buttons",
            ClientMessage::Input(PlayerInput::new(305, &[0, 0, 7])),
        ),
        (
            "client_input_int",
            ClientMessage::Input(PlayerInput::new(70_000, &[0, 0, 0, 9])),
        ),
        ("client_ack", ClientMessage::Ack { tick: 105 }),
        (
            "client_ping",
            ClientMessage::Ping {
                client_time: 70_000,
            },
        ),
        (
            "client_chat",
            ClientMessage::Chat {
                text: "gg wp ✓".into(),
            },
        ),
        (
            "client_watch_player",
            ClientMessage::Watch(WatchTarget::Player(PlayerId(2))),
        ),
        (
            "client_watch_rect",
            ClientMessage::Watch(WatchTarget::Rect {
                x: -250.0,
                y: 1000.5,
                width: 1600.0,
                height: 900.0,
            }),
        ),
        (
            "client_watch_anyone",
            ClientMessage::Watch(WatchTarget::Anyone),
        ),
    ];
    for (name, m) in clients {
        let bytes = m.to_bytes();
        assert_eq!(ClientMessage::decode(&bytes).unwrap(), m);
        if let ClientMessage::Input(input) = &m {
            assert_eq!(schema.check_input(input), Ok(()), "{name}");
        }
        out.push((name.to_string(), bytes, client_json(&m)));
    }

    let mut servers = vec![
        (
            "server_welcome",
            ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: PlayerId(2),
                avatar: NetId(2),
                room: "lobby".into(),
                tick_rate: 30,
                tick: 100,
                schema: schema.clone(),
                schema_hash: schema.hash(),
                roster: vec![(PlayerId(1), "ann".into()), (PlayerId(2), "bob".into())],
                constants: vec![
                    ("arena_size".into(), 4000.0),
                    ("player_speed".into(), 200.0),
                ],
                spectator: false,
                following: None,
                resume: "eyJyb29tIjoibG9iYnkifQ.c2lnbmF0dXJl".into(),
            }),
        ),
        // A spectator following player 2: no player of its own, the
        // followed player's avatar.
        (
            "server_welcome_spectator",
            ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: NO_PLAYER,
                avatar: NetId(2),
                room: "lobby".into(),
                tick_rate: 30,
                tick: 100,
                schema: schema.clone(),
                schema_hash: schema.hash(),
                roster: vec![(PlayerId(1), "ann".into()), (PlayerId(2), "bob".into())],
                constants: vec![],
                spectator: true,
                following: Some(PlayerId(2)),
                resume: String::new(),
            }),
        ),
        (
            "server_pong",
            ServerMessage::Pong {
                client_time: 70_000,
                server_tick: 104,
            },
        ),
        (
            "server_event_kill",
            ServerMessage::Event(ServerEvent::Game(GameEvent {
                kind: 0,
                values: [1, 2, 0, 0, 0, 0, 0, 0],
            })),
        ),
        // A player field of -1: no player (a death nobody caused).
        (
            "server_event_kill_no_killer",
            ServerMessage::Event(ServerEvent::Game(GameEvent {
                kind: 0,
                values: [-1, 2, 0, 0, 0, 0, 0, 0],
            })),
        ),
        (
            "server_event_goal",
            ServerMessage::Event(ServerEvent::Game(GameEvent {
                kind: 1,
                values: [3, -1, -40_000, 0, 0, 0, 0, 0],
            })),
        ),
        (
            "server_event_chat",
            ServerMessage::Event(ServerEvent::Chat {
                player: PlayerId(1),
                text: "hello".into(),
            }),
        ),
        (
            "server_event_joined",
            ServerMessage::Event(ServerEvent::PlayerJoined {
                player: PlayerId(3),
                name: "cy".into(),
            }),
        ),
        (
            "server_event_joined_max_name",
            ServerMessage::Event(ServerEvent::PlayerJoined {
                player: PlayerId(4),
                name: max_name(),
            }),
        ),
        (
            "server_welcome_max_names",
            ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: PlayerId(5),
                avatar: NetId(9),
                room: "lobby".into(),
                tick_rate: 30,
                tick: 100,
                schema: schema.clone(),
                schema_hash: schema.hash(),
                roster: vec![(PlayerId(4), max_name()), (PlayerId(5), "漢".repeat(21))],
                constants: vec![],
                spectator: false,
                following: None,
                resume: String::new(),
            }),
        ),
        (
            "server_welcome_bare",
            ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: PlayerId(1),
                avatar: NetId(1),
                room: "r".into(),
                tick_rate: 60,
                tick: 0,
                schema: bare_schema(),
                schema_hash: bare_schema().hash(),
                roster: vec![(PlayerId(1), "ann".into())],
                constants: vec![],
                spectator: false,
                following: None,
                resume: String::new(),
            }),
        ),
        (
            "server_event_left",
            ServerMessage::Event(ServerEvent::PlayerLeft {
                player: PlayerId(3),
            }),
        ),
        (
            "server_event_watching",
            ServerMessage::Event(ServerEvent::Watching {
                followed: Some((PlayerId(1), NetId(7))),
            }),
        ),
        (
            "server_event_watching_none",
            ServerMessage::Event(ServerEvent::Watching { followed: None }),
        ),
        (
            "server_error",
            ServerMessage::Error {
                code: 4001,
                reason: "schema mismatch".into(),
            },
        ),
        (
            "server_redirect",
            ServerMessage::Redirect {
                url: "http://10.0.0.2:8080".into(),
                room: "lobby".into(),
                ticket: "e30.c2ln".into(),
            },
        ),
    ];

    // Snapshots, from the encoder the server uses.
    let states = states();
    let snapshots = [
        ("server_snapshot_full", None, 0usize, Some(7u32)),
        ("server_snapshot_delta", Some(0usize), 1, Some(8)),
        ("server_snapshot_delta_sparse", Some(1), 2, None),
        ("server_snapshot_delta_bitset", Some(2), 3, Some(300)),
    ];
    for (name, base, cur, last_input) in snapshots {
        let (tick, entities) = &states[cur];
        let mut body = Vec::new();
        match base {
            None => encode_full(&schema, *tick, entities, &mut body).unwrap(),
            Some(b) => {
                let (btick, bstate) = &states[b];
                encode_delta(&schema, *btick, bstate, *tick, entities, &mut body).unwrap();
            }
        }
        let mut message = Vec::new();
        write_snapshot_message(&mut message, last_input, &body);
        let decoded = ServerMessage::decode(&message, Some(&schema), &limits).unwrap();
        servers.push((name, decoded));
    }
    for (name, m) in servers {
        let bytes = m.to_bytes(&schema).unwrap();
        assert_eq!(
            ServerMessage::decode(&bytes, Some(&schema), &limits).unwrap(),
            m
        );
        out.push((name.to_string(), bytes, server_json(&schema, &m)));
    }

    // The keeper: the snapshots applied in order give these states.
    let mut keeper = ClientState::new(schema.clone()).unwrap();
    let mut steps = Vec::new();
    for (name, _, cur, _) in snapshots {
        let bytes = &out.iter().find(|(n, _, _)| n == name).unwrap().1;
        let body = match ServerMessage::decode(bytes, Some(&schema), &limits).unwrap() {
            ServerMessage::Snapshot(s) => s.body,
            _ => SnapshotBody::default(),
        };
        let state = keeper.apply(&body).unwrap();
        assert_eq!(state, &states[cur].1[..]);
        steps.push(json!({"message": name, "tick": body.tick,
            "state": state.iter().map(|e| entity_json(&schema, e)).collect::<Vec<_>>()}));
    }
    out.push((
        "keeper".to_string(),
        Vec::new(),
        json!({"schemaFrom": "server_welcome", "steps": steps}),
    ));
    out
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

#[test]
fn golden_vectors_are_current() {
    let dir = golden_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, bytes, value) in vectors() {
        let json = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let bin_path = dir.join(format!("{name}.bin"));
        let json_path = dir.join(format!("{name}.json"));
        let has_bin = name != "keeper";
        if update {
            if has_bin {
                std::fs::write(&bin_path, &bytes).unwrap();
            }
            std::fs::write(&json_path, &json).unwrap();
            continue;
        }
        if has_bin && std::fs::read(&bin_path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(bin_path.display().to_string());
        }
        if std::fs::read_to_string(&json_path).ok().as_deref() != Some(&json[..]) {
            stale.push(json_path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "golden vectors are stale or missing: {stale:?}\n\
         regenerate with: UPDATE_GOLDEN=1 cargo test -p tickwire-protocol --test golden"
    );
}

#[test]
fn a_name_of_the_byte_limit_in_four_byte_characters_round_trips_and_one_byte_more_is_refused() {
    let schema = schema();
    let limits = Limits::default();
    let joined = ServerMessage::Event(ServerEvent::PlayerJoined {
        player: PlayerId(4),
        name: max_name(),
    });
    let bytes = joined.to_bytes(&schema).unwrap();
    assert_eq!(
        ServerMessage::decode(&bytes, Some(&schema), &limits).unwrap(),
        joined
    );
    // The same message with one more byte in the name: the length byte
    // (64 is one varint byte) just before the name's bytes, and one ASCII
    // byte after them.
    let mut longer = bytes.clone();
    let at = longer.len() - MAX_NAME_BYTES - 1;
    assert_eq!(usize::from(longer[at]), MAX_NAME_BYTES);
    longer[at] += 1;
    longer.push(b'a');
    assert!(ServerMessage::decode(&longer, Some(&schema), &limits).is_err());
}
