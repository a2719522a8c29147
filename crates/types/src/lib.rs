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

/// Everything a game replicates: its kinds and their fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Name of the game (`"arena"`).
    pub game: String,
    /// The entity kinds, in id order.
    pub kinds: Vec<KindDecl>,
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

impl Schema {
    /// Checks ids are dense and in order, field counts and quantizations.
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
            for (f, field) in kind.fields.iter().enumerate() {
                if usize::from(field.id) != f {
                    return Err(SchemaError::FieldId {
                        kind: kind.name.clone(),
                        name: field.name.clone(),
                        id: field.id,
                        expected: f as u8,
                    });
                }
                let problem = match field.quant {
                    Quantization::Fixed { scale: 0 } => Some("scale must be at least 1"),
                    Quantization::Angle { steps: 0 } => Some("steps must be at least 1"),
                    Quantization::Int { min, max } if min > max => Some("min is above max"),
                    _ => None,
                };
                if let Some(problem) = problem {
                    return Err(SchemaError::BadQuantization {
                        kind: kind.name.clone(),
                        name: field.name.clone(),
                        problem,
                    });
                }
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
                }
            }
        }
        h.finish()
    }

    /// The kind with this id, if declared.
    pub fn kind(&self, id: u8) -> Option<&KindDecl> {
        self.kinds.get(usize::from(id))
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

/// One player's input for one tick, as it travels on the wire.
///
/// Movement and aim are already quantized, so the server, the prediction in
/// the client, and a replay all see the same bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlayerInput {
    /// Sequence number chosen by the client, increasing by one per input.
    pub seq: u32,
    /// Movement x in -127..=127 (127 is full speed right).
    pub move_x: i8,
    /// Movement y in -127..=127 (127 is full speed down, screen coordinates).
    pub move_y: i8,
    /// Aim angle in 1/65536 turn, 0 pointing along +x, increasing toward +y.
    pub aim: u16,
    /// Buttons held: bit 0 is fire.
    pub buttons: u8,
}

impl PlayerInput {
    /// Button bit: fire.
    pub const FIRE: u8 = 1;

    /// The movement direction with its length clamped to 1.
    pub fn direction(&self) -> glam::Vec2 {
        let v = glam::Vec2::new(
            f32::from(self.move_x.max(-127)) / 127.0,
            f32::from(self.move_y.max(-127)) / 127.0,
        );
        let len2 = v.length_squared();
        if len2 > 1.0 { v / libm::sqrtf(len2) } else { v }
    }

    /// The aim angle in radians.
    pub fn aim_radians(&self) -> f32 {
        f32::from(self.aim) / 65536.0 * core::f32::consts::TAU
    }

    /// Whether the fire button is held.
    pub fn firing(&self) -> bool {
        self.buttons & Self::FIRE != 0
    }
}

/// Something that happened in a tick that players hear about once, rather
/// than see as state: the kill feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameEvent {
    /// `killer` scored a kill on `victim`.
    Kill {
        /// Who scored.
        killer: PlayerId,
        /// Who died.
        victim: PlayerId,
    },
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
