//! The derives against the hand-written declarations they replace, and
//! their round trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tickwire_sim::games::arena::{ArenaEvent, ArenaInput, ArenaRow};
use tickwire_sim::games::bench::BenchRow;
use tickwire_sim::prelude::*;
use tickwire_sim::{
    EventDecl, FieldDecl, GameEvent, InputDecl, InputKind, IntField, KindDecl, MAX_FIELDS,
    Quantization,
};

fn field(id: u8, name: &str, quant: Quantization) -> FieldDecl {
    FieldDecl {
        id,
        name: name.into(),
        quant,
    }
}

/// The arena's kinds as they were written by hand before the derive.
#[test]
fn the_arena_rows_kinds_are_the_hand_written_declaration() {
    let fixed = Quantization::Fixed { scale: 16 };
    let angle = Quantization::Angle { steps: 256 };
    let by_hand = vec![
        KindDecl {
            id: 0,
            name: "avatar".into(),
            fields: vec![
                field(0, "x", fixed),
                field(1, "y", fixed),
                field(2, "heading", angle),
                field(3, "hp", u32::QUANT),
                field(4, "score", u32::QUANT),
                field(5, "respawn", u32::QUANT),
                field(6, "player", PlayerId::QUANT),
            ],
        },
        KindDecl {
            id: 1,
            name: "projectile".into(),
            fields: vec![
                field(0, "x", fixed),
                field(1, "y", fixed),
                field(2, "heading", angle),
            ],
        },
    ];
    assert_eq!(ArenaRow::kinds(), by_hand);
}

#[test]
fn the_arena_input_and_events_are_the_hand_written_declarations() {
    let axis = |name: &str| InputDecl {
        name: name.into(),
        kind: InputKind::Axis { steps: 127 },
    };
    let input = vec![
        axis("move_x"),
        axis("move_y"),
        InputDecl {
            name: "aim".into(),
            kind: InputKind::Angle { steps: 65536 },
        },
        InputDecl {
            name: "buttons".into(),
            kind: InputKind::Buttons {
                names: vec!["fire".into()],
            },
        },
    ];
    assert_eq!(ArenaInput::fields(), input);
    let events = vec![EventDecl {
        name: "kill".into(),
        fields: vec![
            field(0, "killer", Quantization::Player),
            field(1, "victim", Quantization::Player),
        ],
    }];
    assert_eq!(ArenaEvent::events(), events);
}

#[test]
fn the_bench_row_is_the_hand_written_declaration() {
    let by_hand = vec![KindDecl {
        id: 0,
        name: "avatar".into(),
        fields: vec![
            field(0, "x", Quantization::Fixed { scale: 16 }),
            field(1, "y", Quantization::Fixed { scale: 16 }),
            field(2, "heading", Quantization::Angle { steps: 256 }),
            field(3, "hp", u8::QUANT),
        ],
    }];
    assert_eq!(BenchRow::kinds(), by_hand);
}

#[test]
fn rows_quantize_as_the_hand_written_code_did() {
    let avatar = ArenaRow::Avatar {
        x: 10.5,
        y: -3.0,
        heading: std::f32::consts::PI,
        hp: 80,
        score: u32::MAX,
        respawn: 3,
        player: PlayerId(7),
    };
    let (kind, values) = avatar.quantize();
    assert_eq!(kind, 0);
    assert_eq!(values, [168, -48, 128, 80, i32::MAX, 3, 7, 0]);
    let shot = ArenaRow::Projectile {
        x: 1.0,
        y: 2.0,
        heading: -std::f32::consts::FRAC_PI_2,
    };
    assert_eq!(shot.quantize(), (1, [16, 32, 192, 0, 0, 0, 0, 0]));
}

#[test]
fn the_arena_input_round_trips_through_its_values() {
    let held = ArenaInput {
        move_x: -127,
        move_y: 64,
        aim: 65535,
        buttons: ArenaInput::FIRE,
    };
    let values = held.to_values();
    assert_eq!(values, [-127, 64, 65535, 1, 0, 0, 0, 0]);
    assert_eq!(ArenaInput::from_values(&values), held);
    // Out of range: clamped into each field's declared range.
    let wild = ArenaInput::from_values(&[-500, 500, 70_000, 3, 9, 9, 9, 9]);
    assert_eq!(
        wild,
        ArenaInput {
            move_x: -127,
            move_y: 127,
            aim: 65535,
            buttons: 1,
        }
    );
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Input)]
struct Pad {
    #[axis(100)]
    x: f32,
    #[angle(360)]
    aim: f32,
    #[buttons("a", "b")]
    buttons: u8,
    jump: bool,
    #[int(-5, 5)]
    lean: i8,
    slot: u16,
}

#[test]
fn a_derived_input_round_trips_through_its_values() {
    let pad = Pad {
        x: -0.25,
        aim: std::f32::consts::FRAC_PI_2,
        buttons: 0b10,
        jump: true,
        lean: -5,
        slot: 65535,
    };
    let values = pad.to_values();
    assert_eq!(values, [-25, 90, 2, 1, -5, 65535, 0, 0]);
    let back = Pad::from_values(&values);
    assert_eq!(back.to_values(), values);
    assert_eq!(
        (back.buttons, back.jump, back.lean, back.slot),
        (2, true, -5, 65535)
    );
    assert_eq!(back.x, -0.25);
    assert!((back.aim - pad.aim).abs() < 1e-6);
    // Every value of the declared ranges survives the round trip.
    for x in -100i32..=100 {
        let v = [
            x,
            x.rem_euclid(360),
            x & 3,
            x & 1,
            x.clamp(-5, 5),
            x.max(0),
            0,
            0,
        ];
        assert_eq!(Pad::from_values(&v).to_values(), v);
    }
    // What the fields declare, and what to_values makes of values outside.
    let fields = Pad::fields();
    assert_eq!(fields[2].kind.range(), (0, 3));
    assert_eq!(
        fields[3].kind,
        InputKind::Buttons {
            names: vec!["jump".into()]
        }
    );
    assert_eq!(fields[5].kind, InputKind::Int { min: 0, max: 65535 });
    let wild = Pad {
        x: 7.0,
        aim: -std::f32::consts::FRAC_PI_2,
        buttons: 0xff,
        jump: false,
        lean: 100,
        slot: 0,
    };
    assert_eq!(wild.to_values(), [100, 270, 3, 0, 5, 0, 0, 0]);
    assert_eq!(
        Pad {
            x: f32::NAN,
            ..Pad::default()
        }
        .to_values()[0],
        0
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Event)]
enum Feed {
    Kill {
        killer: PlayerId,
        victim: PlayerId,
    },
    #[tickwire(name = "boom")]
    Explosion {
        #[fixed(4)]
        x: f32,
        #[angle(16)]
        facing: f32,
        by: Option<PlayerId>,
        #[int(0, 9)]
        size: u8,
        big: bool,
    },
    RoundOver,
}

#[test]
fn a_derived_event_round_trips_through_the_wire() {
    let events = [
        Feed::Kill {
            killer: PlayerId(3),
            victim: PlayerId(0),
        },
        Feed::Explosion {
            x: -2.25,
            facing: std::f32::consts::PI,
            by: None,
            size: 9,
            big: true,
        },
        Feed::Explosion {
            x: 0.0,
            facing: 0.0,
            by: Some(PlayerId(12)),
            size: 0,
            big: false,
        },
        Feed::RoundOver,
    ];
    for e in events {
        assert_eq!(Feed::from_wire(&e.to_wire()), Some(e));
    }
    let wire = events[1].to_wire();
    assert_eq!(wire.kind, 1);
    assert_eq!(wire.values[..5], [-9, 8, -1, 9, 1]);
    assert_eq!(Feed::events()[1].name, "boom");
    assert_eq!(Feed::events()[2].name, "round_over");
    let unknown = GameEvent {
        kind: 3,
        values: [0; MAX_FIELDS],
    };
    assert_eq!(Feed::from_wire(&unknown), None);
    // And the arena's kill feed.
    let kill = ArenaEvent::Kill {
        killer: PlayerId(1),
        victim: PlayerId(2),
    };
    assert_eq!(kill.to_wire().values[..2], [1, 2]);
    assert_eq!(ArenaEvent::from_wire(&kill.to_wire()), Some(kill));
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the range of an #[int] field is a debug assertion"
)]
#[should_panic(expected = "field `boom.size` is 10, outside its declared 0..=9")]
fn an_event_field_outside_its_declared_range_is_a_bug_named_by_the_field() {
    let _ = Feed::Explosion {
        x: 0.0,
        facing: 0.0,
        by: None,
        size: 10,
        big: false,
    }
    .to_wire();
}

fn hash<T: StateHash + ?Sized>(v: &T) -> u64 {
    let mut h = StateHasher::new();
    h.feed(v);
    h.finish()
}

#[test]
fn the_state_hash_takes_signed_zeros_as_one_and_all_nans_as_one() {
    assert_eq!(hash(&-0.0f32), hash(&0.0f32));
    assert_eq!(hash(&-0.0f64), hash(&0.0f64));
    let nans32 = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffc0_1234),
    ];
    for n in nans32 {
        assert!(n.is_nan());
        assert_eq!(hash(&n), hash(&f32::NAN));
    }
    let nans64 = [f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001)];
    for n in nans64 {
        assert!(n.is_nan());
        assert_eq!(hash(&n), hash(&f64::NAN));
    }
    // Everything else is still told apart by its bits.
    assert_ne!(hash(&0.0f32), hash(&f32::MIN_POSITIVE));
    assert_ne!(hash(&0.1f64), hash(&0.1f64.next_up()));
    assert_ne!(hash(&f32::NAN), hash(&f32::INFINITY));
    assert_ne!(hash(&f32::NAN), hash(&0.0f32));
}

#[derive(StateHash)]
struct Body {
    pos: Vec2,
    hp: i16,
    #[state_hash(skip)]
    #[allow(dead_code, reason = "scratch state: written, never part of the state")]
    scratch: Vec<u32>,
    tags: Vec<String>,
}

#[derive(StateHash)]
enum Thing {
    Body(Body),
    Pair(u8, u8),
    Empty,
}

#[test]
fn the_derived_state_hash_feeds_every_field_but_the_skipped() {
    let body = |hp, scratch: Vec<u32>, tags: &[&str]| Body {
        pos: Vec2::new(1.0, 2.0),
        hp,
        scratch,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    let base = hash(&body(5, vec![], &["a"]));
    assert_eq!(base, hash(&body(5, vec![1, 2, 3], &["a"])));
    assert_ne!(base, hash(&body(6, vec![], &["a"])));
    assert_ne!(base, hash(&body(5, vec![], &["a", "b"])));
    // By hand: the same fields in the same order.
    let mut h = StateHasher::new();
    h.vec2(Vec2::new(1.0, 2.0));
    h.u16(5);
    h.u64(1);
    h.bytes(b"a");
    assert_eq!(h.finish(), base);
    // An enum feeds its variant's index, then its fields.
    let mut h = StateHasher::new();
    h.u32(1);
    h.u8(3);
    h.u8(4);
    assert_eq!(hash(&Thing::Pair(3, 4)), h.finish());
    assert_ne!(hash(&Thing::Pair(0, 0)), hash(&Thing::Empty));
    assert_ne!(
        hash(&Thing::Body(body(5, vec![], &[]))),
        hash(&Thing::Empty)
    );
    // Strings and vectors are length-prefixed: ("ab", "c") is not ("a", "bc").
    assert_ne!(
        hash(&(String::from("ab"), String::from("c"))),
        hash(&(String::from("a"), String::from("bc")))
    );
}
