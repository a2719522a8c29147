//! What goes on the wire: the schema a game declares, and the quantized
//! state of every replicated entity after a tick.
//!
//! A game declares its entity kinds and, for each kind, up to
//! [`MAX_FIELDS`] fields with stable ids and a quantization. After every tick
//! the world turns each replicated entity into a [`ReplicatedEntity`]: a
//! kind and a row of integers, one per declared field. The protocol crate
//! encodes exactly these rows (full, or as deltas against a baseline row), and
//! the welcome message carries the [`Schema`] so a client can decode any game
//! generically. Everything here is plain data: no I/O, no clock.

use serde::{Deserialize, Serialize};

/// Most fields one entity kind may declare: a field mask fits in one byte.
pub const MAX_FIELDS: usize = 8;

/// Stable identity of an entity on the wire.
///
/// Assigned by the world from a counter when the entity spawns and never
/// reused within a match, so a client can tell a reused storage slot from its
/// previous occupant. Snapshots list entities sorted by this id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NetId(pub u32);

/// Identity of a connected player inside one room (one match).
///
/// Assigned by the world in join order, never reused within a match.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PlayerId(pub u32);

/// How one field's real value becomes the integer that is replicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantization {
    /// A fixed-point coordinate: `q = round(x * scale)`. Sent as an offset
    /// from the baseline value. `scale = 16` replicates to 1/16 unit.
    Fixed {
        /// Steps per unit.
        scale: u32,
    },
    /// An angle in `steps` per full turn: `q = round(radians / TAU * steps)`
    /// wrapped into `0..steps`. Deltas wrap around the circle.
    Angle {
        /// Steps per full turn (256: 1/256 turn).
        steps: u32,
    },
    /// A plain integer that always lies within `min..=max`.
    Int {
        /// Smallest value the field takes.
        min: i32,
        /// Largest value the field takes.
        max: i32,
    },
    /// A player of the room: a [`PlayerId`] in `0..=i32::MAX`, or -1 for
    /// none. A client shows it by the roster's name.
    Player,
}

impl Quantization {
    /// Whether `value` is one this field can take.
    pub const fn admits(&self, value: i32) -> bool {
        match *self {
            Self::Fixed { .. } => true,
            Self::Angle { steps } => value >= 0 && (value as i64) < steps as i64,
            Self::Int { min, max } => value >= min && value <= max,
            Self::Player => value >= -1,
        }
    }
}

/// One replicated field of an entity kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDecl {
    /// Stable id of the field within its kind; also its bit in a field mask
    /// and its index in [`ReplicatedEntity::values`]. Ids are dense: 0, 1, 2...
    pub id: u8,
    /// Name a client shows or looks up (`"x"`, `"heading"`, `"hp"`).
    pub name: String,
    /// How the real value is quantized.
    pub quant: Quantization,
}

/// One kind of replicated entity (an avatar, a projectile...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindDecl {
    /// Stable id of the kind; dense from 0, the index in [`Schema::kinds`].
    pub id: u8,
    /// Name a client switches on to draw it (`"avatar"`, `"projectile"`).
    pub name: String,
    /// The replicated fields, in id order; at most [`MAX_FIELDS`].
    pub fields: Vec<FieldDecl>,
}

/// Most fields a game's input may declare.
pub const MAX_INPUT_FIELDS: usize = 8;

/// Most buttons one [`InputKind::Buttons`] field may name.
pub const MAX_BUTTONS: usize = 16;

/// What one field of a game's input holds, and so which integers it takes
/// on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputKind {
    /// A stick axis: `-steps..=steps`, read as `-1.0..=1.0`.
    Axis {
        /// Steps from the centre to either end (127: a signed byte).
        steps: u16,
    },
    /// An angle: `0..steps` per full turn, 0 along +x, growing toward +y.
    Angle {
        /// Steps per full turn (65536: 1/65536 turn).
        steps: u32,
    },
    /// Buttons held, one bit each in name order: bit 0 is `names[0]`. At
    /// most [`MAX_BUTTONS`].
    Buttons {
        /// The buttons' names (`"fire"`, `"thrust"`).
        names: Vec<String>,
    },
    /// A small integer in `min..=max` (a card in hand, an ability slot).
    Int {
        /// Smallest value.
        min: i32,
        /// Largest value.
        max: i32,
    },
}

impl InputKind {
    /// The values this field takes, `min..=max`.
    pub fn range(&self) -> (i32, i32) {
        match self {
            Self::Axis { steps } => (-i32::from(*steps), i32::from(*steps)),
            Self::Angle { steps } => (
                0,
                (i64::from(*steps) - 1).clamp(0, i64::from(i32::MAX)) as i32,
            ),
            Self::Buttons { names } => (0, ((1i64 << names.len().min(MAX_BUTTONS)) - 1) as i32),
            Self::Int { min, max } => (*min, *max),
        }
    }
}

/// One field of a game's input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDecl {
    /// The field's name (`"move_x"`, `"turn"`, `"buttons"`).
    pub name: String,
    /// What it holds.
    pub kind: InputKind,
}

/// One kind of game event (a kill, a death, a goal): heard once by players,
/// never part of the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDecl {
    /// The event's name (`"kill"`).
    pub name: String,
    /// Its fields, in order; at most [`MAX_FIELDS`]. Field ids are their
    /// positions, as in a [`KindDecl`].
    pub fields: Vec<FieldDecl>,
}

/// Everything a game puts on the wire: the kinds of entity it replicates,
/// the input its players send and the events they hear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Name of the game (`"arena"`).
    pub game: String,
    /// The entity kinds, in id order.
    pub kinds: Vec<KindDecl>,
    /// The fields of one input, in wire order; at most
    /// [`MAX_INPUT_FIELDS`].
    pub input: Vec<InputDecl>,
    /// The kinds of event, in id order: an event's kind is its index here.
    pub events: Vec<EventDecl>,
}

/// Why a schema is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// Kind ids must be 0, 1, 2... in order.
    #[error("kind `{name}` has id {id}, expected {expected}")]
    KindId {
        /// The kind's name.
        name: String,
        /// The id it declared.
        id: u8,
        /// The id its position requires.
        expected: u8,
    },
    /// Field ids must be 0, 1, 2... in order.
    #[error("field `{kind}.{name}` has id {id}, expected {expected}")]
    FieldId {
        /// The kind's name.
        kind: String,
        /// The field's name.
        name: String,
        /// The id it declared.
        id: u8,
        /// The id its position requires.
        expected: u8,
    },
    /// A kind declared more than [`MAX_FIELDS`] fields.
    #[error("kind `{kind}` declares {count} fields, at most {MAX_FIELDS} are allowed")]
    TooManyFields {
        /// The kind's name.
        kind: String,
        /// How many it declared.
        count: usize,
    },
    /// More than 256 kinds.
    #[error("{0} kinds declared, at most 256 are allowed")]
    TooManyKinds(usize),
    /// The input declares more than [`MAX_INPUT_FIELDS`] fields.
    #[error("the input declares {0} fields, at most {MAX_INPUT_FIELDS} are allowed")]
    TooManyInputFields(usize),
    /// An input field that cannot work (steps 0, min > max, no buttons...).
    #[error("input field `{name}`: {problem}")]
    BadInput {
        /// The field's name.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// More than 256 kinds of event.
    #[error("{0} kinds of event declared, at most 256 are allowed")]
    TooManyEvents(usize),
    /// An event kind with more than [`MAX_FIELDS`] fields.
    #[error("event `{event}` declares {count} fields, at most {MAX_FIELDS} are allowed")]
    TooManyEventFields {
        /// The event's name.
        event: String,
        /// How many it declared.
        count: usize,
    },
    /// A quantization that cannot work (scale 0, steps 0, min > max).
    #[error("field `{kind}.{name}`: {problem}")]
    BadQuantization {
        /// The kind's name.
        kind: String,
        /// The field's name.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// Checks the fields of a kind or an event: ids dense and in order, each
/// quantization usable.
fn check_fields(owner: &str, fields: &[FieldDecl]) -> Result<(), SchemaError> {
    for (f, field) in fields.iter().enumerate() {
        if usize::from(field.id) != f {
            return Err(SchemaError::FieldId {
                kind: owner.to_owned(),
                name: field.name.clone(),
                id: field.id,
                expected: f as u8,
            });
        }
        check_quantization(owner, field)?;
    }
    Ok(())
}

fn check_quantization(owner: &str, field: &FieldDecl) -> Result<(), SchemaError> {
    let problem = match field.quant {
        Quantization::Fixed { scale: 0 } => Some("scale must be at least 1"),
        Quantization::Angle { steps: 0 } => Some("steps must be at least 1"),
        Quantization::Int { min, max } if min > max => Some("min is above max"),
        _ => None,
    };
    match problem {
        Some(problem) => Err(SchemaError::BadQuantization {
            kind: owner.to_owned(),
            name: field.name.clone(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Why an input does not fit the game's declared input.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// A value outside its field's range.
    #[error("input field `{name}` is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The field's name.
        name: String,
        /// The value sent.
        value: i32,
        /// Smallest allowed.
        min: i32,
        /// Largest allowed.
        max: i32,
    },
    /// A value past the declared fields.
    #[error("input value {index} is set, but the game declares {declared} input fields")]
    Undeclared {
        /// Its index.
        index: usize,
        /// How many fields the game declares.
        declared: usize,
    },
}

/// Why an event does not fit the game's declared events.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// A kind of event the schema does not declare.
    #[error("event kind {0} is not declared")]
    UnknownKind(u8),
    /// A value its field does not admit.
    #[error("event `{event}` field `{field}` cannot be {value}")]
    OutOfRange {
        /// The event's name.
        event: String,
        /// The field's name.
        field: String,
        /// The value.
        value: i32,
    },
    /// A value past the declared fields.
    #[error("event `{event}` has a value at {index}, past its declared fields")]
    Undeclared {
        /// The event's name.
        event: String,
        /// Its index.
        index: usize,
    },
}

impl Schema {
    /// A schema of `game` with these kinds, input and events.
    pub fn new(
        game: impl Into<String>,
        kinds: Vec<KindDecl>,
        input: Vec<InputDecl>,
        events: Vec<EventDecl>,
    ) -> Self {
        Self {
            game: game.into(),
            kinds,
            input,
            events,
        }
    }

    /// Checks ids are dense and in order, field counts and quantizations,
    /// of the kinds, the input and the events.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if self.kinds.len() > 256 {
            return Err(SchemaError::TooManyKinds(self.kinds.len()));
        }
        for (k, kind) in self.kinds.iter().enumerate() {
            if usize::from(kind.id) != k {
                return Err(SchemaError::KindId {
                    name: kind.name.clone(),
                    id: kind.id,
                    expected: k as u8,
                });
            }
            if kind.fields.len() > MAX_FIELDS {
                return Err(SchemaError::TooManyFields {
                    kind: kind.name.clone(),
                    count: kind.fields.len(),
                });
            }
            check_fields(&kind.name, &kind.fields)?;
        }
        if self.input.len() > MAX_INPUT_FIELDS {
            return Err(SchemaError::TooManyInputFields(self.input.len()));
        }
        for field in &self.input {
            let problem = match &field.kind {
                InputKind::Axis { steps: 0 } | InputKind::Angle { steps: 0 } => {
                    Some("steps must be at least 1")
                }
                InputKind::Angle { steps } if i64::from(*steps) > i64::from(i32::MAX) + 1 => {
                    Some("steps must be at most 2^31")
                }
                InputKind::Buttons { names } if names.is_empty() => {
                    Some("a buttons field names at least one button")
                }
                InputKind::Buttons { names } if names.len() > MAX_BUTTONS => {
                    Some("a buttons field names at most 16 buttons")
                }
                InputKind::Int { min, max } if min > max => Some("min is above max"),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(SchemaError::BadInput {
                    name: field.name.clone(),
                    problem,
                });
            }
        }
        if self.events.len() > 256 {
            return Err(SchemaError::TooManyEvents(self.events.len()));
        }
        for event in &self.events {
            if event.fields.len() > MAX_FIELDS {
                return Err(SchemaError::TooManyEventFields {
                    event: event.name.clone(),
                    count: event.fields.len(),
                });
            }
            check_fields(&event.name, &event.fields)?;
        }
        Ok(())
    }

    /// Checks one input against the declared input: no value outside its
    /// field's range, and nothing past the declared fields.
    pub fn check_input(&self, input: &PlayerInput) -> Result<(), InputError> {
        for (i, &value) in input.values.iter().enumerate() {
            match self.input.get(i) {
                Some(field) => {
                    let (min, max) = field.kind.range();
                    if value < min || value > max {
                        return Err(InputError::OutOfRange {
                            name: field.name.clone(),
                            value,
                            min,
                            max,
                        });
                    }
                }
                None if value != 0 => {
                    return Err(InputError::Undeclared {
                        index: i,
                        declared: self.input.len(),
                    });
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The kind of event with this id, if declared.
    pub fn event(&self, id: u8) -> Option<&EventDecl> {
        self.events.get(usize::from(id))
    }

    /// Checks one event against its declaration: a declared kind, every
    /// value admitted by its field, nothing past the declared fields.
    pub fn check_event(&self, event: &GameEvent) -> Result<(), EventError> {
        let decl = self
            .event(event.kind)
            .ok_or(EventError::UnknownKind(event.kind))?;
        for (i, &value) in event.values.iter().enumerate() {
            match decl.fields.get(i) {
                Some(field) if !field.quant.admits(value) => {
                    return Err(EventError::OutOfRange {
                        event: decl.name.clone(),
                        field: field.name.clone(),
                        value,
                    });
                }
                None if value != 0 => {
                    return Err(EventError::Undeclared {
                        event: decl.name.clone(),
                        index: i,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A stable 64-bit hash of the schema (FNV-1a over a canonical byte
    /// form), sent in the welcome so a client built for another schema fails
    /// at join instead of drawing garbage.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv1a::new();
        h.bytes(self.game.as_bytes());
        h.bytes(&[0xff]);
        for kind in &self.kinds {
            h.bytes(&[kind.id]);
            h.bytes(kind.name.as_bytes());
            h.bytes(&[0xfe]);
            for field in &kind.fields {
                hash_field(&mut h, field);
            }
        }
        h.bytes(&[0xfc]);
        for field in &self.input {
            h.bytes(field.name.as_bytes());
            h.bytes(&[0xfd]);
            match &field.kind {
                InputKind::Axis { steps } => {
                    h.bytes(&[0]);
                    h.bytes(&steps.to_le_bytes());
                }
                InputKind::Angle { steps } => {
                    h.bytes(&[1]);
                    h.bytes(&steps.to_le_bytes());
                }
                InputKind::Buttons { names } => {
                    h.bytes(&[2]);
                    for name in names {
                        h.bytes(name.as_bytes());
                        h.bytes(&[0xfb]);
                    }
                }
                InputKind::Int { min, max } => {
                    h.bytes(&[3]);
                    h.bytes(&min.to_le_bytes());
                    h.bytes(&max.to_le_bytes());
                }
            }
        }
        h.bytes(&[0xfc]);
        for event in &self.events {
            h.bytes(event.name.as_bytes());
            h.bytes(&[0xfe]);
            for field in &event.fields {
                hash_field(&mut h, field);
            }
        }
        h.finish()
    }

    /// The kind with this id, if declared.
    pub fn kind(&self, id: u8) -> Option<&KindDecl> {
        self.kinds.get(usize::from(id))
    }
}

fn hash_field(h: &mut Fnv1a, field: &FieldDecl) {
    h.bytes(&[field.id]);
    h.bytes(field.name.as_bytes());
    h.bytes(&[0xfd]);
    match field.quant {
        Quantization::Fixed { scale } => {
            h.bytes(&[0]);
            h.bytes(&scale.to_le_bytes());
        }
        Quantization::Angle { steps } => {
            h.bytes(&[1]);
            h.bytes(&steps.to_le_bytes());
        }
        Quantization::Int { min, max } => {
            h.bytes(&[2]);
            h.bytes(&min.to_le_bytes());
            h.bytes(&max.to_le_bytes());
        }
        Quantization::Player => h.bytes(&[3]),
    }
}

/// FNV-1a, 64 bit: small, stable across platforms and releases, which is all
/// the schema hash and the per-tick state hash need.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Fnv1a {
    /// A fresh hasher.
    pub const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    /// Feeds bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// Feeds a u32, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    /// Feeds a u64, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    /// The hash so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// The quantized state of one entity after a tick: what a snapshot carries.
///
/// `values[i]` is field `i` of the kind's declaration; entries past the kind's
/// field count are zero. Plain `Copy` data, so a tick's worth of these is one
/// flat vector that the server keeps in its history ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplicatedEntity {
    /// The entity's wire identity.
    pub id: NetId,
    /// Index of its kind in [`Schema::kinds`].
    pub kind: u8,
    /// Quantized field values, in field-id order.
    pub values: [i32; MAX_FIELDS],
}

/// Quantizes a coordinate for a [`Quantization::Fixed`] field.
#[inline]
pub fn quantize_fixed(x: f32, scale: u32) -> i32 {
    // Saturating `as` keeps a runaway value from wrapping.
    libm::roundf(x * scale as f32) as i32
}

/// Quantizes an angle in radians for a [`Quantization::Angle`] field.
#[inline]
pub fn quantize_angle(radians: f32, steps: u32) -> i32 {
    let turns = radians / core::f32::consts::TAU;
    let q = libm::roundf(turns * steps as f32) as i64;
    q.rem_euclid(i64::from(steps)) as i32
}

/// One player's input for one tick, as it travels on the wire: a sequence
/// number and the values of the game's declared input fields
/// ([`Schema::input`]), already quantized, so the server, the prediction in
/// the client, and a replay all see the same bits.
///
/// It also says which tick the client was showing when it sent the input
/// ([`PlayerInput::view`]), so that the server can check a shot against the
/// world as the player saw it (lag compensation).
///
/// On the wire (bincode varints): the sequence number, the count of values
/// up to the last non-zero one, those values zigzag-encoded, then the
/// viewed tick. Values past the game's declared fields are zero;
/// [`Schema::check_input`] refuses anything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PlayerInput {
    /// Sequence number chosen by the client, increasing by one per input.
    pub seq: u32,
    /// The declared input fields' values, in declaration order.
    pub values: [i32; MAX_INPUT_FIELDS],
    /// The tick the client was showing when it sent this input: its
    /// interpolation time, rounded down to a tick. 0: it showed nothing
    /// yet (and asks for no rewind). The server bounds how far back it
    /// believes this (`--max-rewind-ms`).
    pub view: u32,
}

impl PlayerInput {
    /// An input with these leading values; the rest are zero, and so is
    /// the viewed tick (see [`PlayerInput::viewing`]).
    pub fn new(seq: u32, values: &[i32]) -> Self {
        let mut input = Self {
            seq,
            values: [0; MAX_INPUT_FIELDS],
            view: 0,
        };
        for (slot, &v) in input.values.iter_mut().zip(values) {
            *slot = v;
        }
        input
    }

    /// This input, sent while the client was showing tick `view`.
    #[must_use]
    pub const fn viewing(mut self, view: u32) -> Self {
        self.view = view;
        self
    }
}

/// Something that happened in a tick that players hear about once, rather
/// than see as state: a kill feed, a goal. `kind` indexes
/// [`Schema::events`], `values` are its fields, quantized as declared, and
/// zero past them. Travels like an input: the kind, the count of values up
/// to the last non-zero one, those values zigzag-encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GameEvent {
    /// The kind of event: an index in [`Schema::events`].
    pub kind: u8,
    /// Its field values, in declaration order.
    pub values: [i32; MAX_FIELDS],
}

/// The values of an input or an event that travel (on the wire and in
/// records): those up to the last non-zero one; the rest are zero.
pub fn sent_values(values: &[i32]) -> &[i32] {
    let len = values.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
    &values[..len]
}

/// The wire form of the values of inputs and events: the values up to the
/// last non-zero one, as a length-prefixed sequence (an event's after its
/// kind; an input's between its sequence number and its viewed tick).
mod values_serde {
    use core::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, H: serde::Serialize, const N: usize>(
        head: &H,
        values: &[i32; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(head)?;
        t.serialize_element(super::sent_values(values))?;
        t.end()
    }

    struct ValuesVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ValuesVisitor<N> {
        type Value = [i32; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {N} values")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0; N];
            let mut i = 0;
            while let Some(v) = seq.next_element::<i32>()? {
                let slot = out
                    .get_mut(i)
                    .ok_or_else(|| de::Error::invalid_length(i + 1, &self))?;
                *slot = v;
                i += 1;
            }
            Ok(out)
        }
    }

    pub(super) struct Values<const N: usize>(pub(super) [i32; N]);

    impl<'de, const N: usize> serde::Deserialize<'de> for Values<N> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(ValuesVisitor::<N>).map(Values)
        }
    }
}

impl Serialize for PlayerInput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.seq)?;
        t.serialize_element(sent_values(&self.values))?;
        t.serialize_element(&self.view)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for PlayerInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (seq, values, view) =
            <(u32, values_serde::Values<MAX_INPUT_FIELDS>, u32)>::deserialize(d)?;
        Ok(Self {
            seq,
            values: values.0,
            view,
        })
    }
}

impl Serialize for GameEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        values_serde::serialize(&self.kind, &self.values, s)
    }
}

impl<'de> Deserialize<'de> for GameEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (kind, values) = <(u8, values_serde::Values<MAX_FIELDS>)>::deserialize(d)?;
        Ok(Self {
            kind,
            values: values.0,
        })
    }
}

/// An axis-aligned rectangle in world units: what a player may see.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Smallest corner.
    pub min: glam::Vec2,
    /// Largest corner.
    pub max: glam::Vec2,
}

impl Rect {
    /// A rectangle of `size` centred on `centre`.
    pub fn centred(centre: glam::Vec2, size: glam::Vec2) -> Self {
        Self {
            min: centre - size * 0.5,
            max: centre + size * 0.5,
        }
    }
    /// Whether `p` lies inside (edges included).
    pub fn contains(&self, p: glam::Vec2) -> bool {
        p.x >= self.min.x && p.y >= self.min.y && p.x <= self.max.x && p.y <= self.max.y
    }
}

/// What the replication core asks of the game after each tick, player by
/// player: the contract between the simulation, which knows where players
/// are and what they can see, and the protocol, which turns that into
/// snapshots. The simulation crate implements it for `dyn Simulation`.
pub trait Interest {
    /// The area `player` sees, or `None` when it sees the whole world.
    fn view(&self, player: PlayerId) -> Option<Rect>;

    /// Appends the ids of the replicated entities inside `view`, in any
    /// order.
    fn entities_in(&self, view: Rect, out: &mut Vec<NetId>);

    /// The sequence number of the newest input of `player` the simulation
    /// has applied: echoed in its snapshot header for its prediction.
    fn last_applied_input(&self, player: PlayerId) -> Option<u32>;

    /// Under a bandwidth budget, how urgent a change to `entity` is for a
    /// player seeing `view`: higher goes first. The game declares it
    /// (`Game::priority` in the simulation crate); the default ranks every
    /// entity alike.
    fn priority(&self, view: Rect, entity: &ReplicatedEntity) -> f32 {
        let _ = (view, entity);
        1.0
    }
}
