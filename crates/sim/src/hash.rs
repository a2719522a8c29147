//! The per-tick state hash: how two runs prove they are the same run.
//!
//! After any tick, [`crate::Simulation::state_hash`] folds the tick number, the
//! RNG state, the player table and every entity's full state (in [`NetId`]
//! order) into one FNV-1a hash. Two runs with the same seed and the same
//! ordered calls give the same hash after every tick; the first tick where
//! they differ is where determinism broke. Floats are hashed by their bits,
//! so `0.1 + 0.2` and `0.3` are different states, as they should be, with
//! two exceptions: -0.0 and +0.0 hash alike, and so do all NaNs. Both pairs
//! compare equal (or alike) in every rule a game can write, and which of
//! them `f32::max(-0.0, 0.0)` returns depends on the build profile and the
//! target, so hashing their bits would report a desync where there is none.
//!
//! [`NetId`]: crate::NetId

use crate::replicate::{Fnv1a, NetId, PlayerId};

/// Feeds a game's state into the per-tick hash.
///
/// A thin layer over [`Fnv1a`] with one method per primitive, so that an
/// entity's [`StateHash`] impl reads as a list of its fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct StateHasher(Fnv1a);

impl StateHasher {
    /// A fresh hasher.
    pub const fn new() -> Self {
        Self(Fnv1a::new())
    }
    /// Feeds one byte.
    pub fn u8(&mut self, v: u8) {
        self.0.bytes(&[v]);
    }
    /// Feeds a bool as one byte.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    /// Feeds a u16.
    pub fn u16(&mut self, v: u16) {
        self.0.bytes(&v.to_le_bytes());
    }
    /// Feeds a u32.
    pub fn u32(&mut self, v: u32) {
        self.0.u32(v);
    }
    /// Feeds an i32.
    pub fn i32(&mut self, v: i32) {
        self.0.bytes(&v.to_le_bytes());
    }
    /// Feeds a u64.
    pub fn u64(&mut self, v: u64) {
        self.0.u64(v);
    }
    /// Feeds an f32 by its bits: every distinct float is a distinct state,
    /// except that -0.0 and +0.0 are one state, and all NaNs are one.
    pub fn f32(&mut self, v: f32) {
        self.0.u32(canonical_bits(v));
    }
    /// Feeds an i64.
    pub fn i64(&mut self, v: i64) {
        self.0.u64(v as u64);
    }
    /// Feeds an f64 by its bits, with -0.0 taken as +0.0 and every NaN as
    /// one value, as [`StateHasher::f32`] does.
    pub fn f64(&mut self, v: f64) {
        let bits = if v == 0.0 {
            0
        } else if v.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            v.to_bits()
        };
        self.0.u64(bits);
    }
    /// Feeds both components of a vector by their bits.
    pub fn vec2(&mut self, v: glam::Vec2) {
        self.f32(v.x);
        self.f32(v.y);
    }
    /// Feeds raw bytes (a name, say).
    pub fn bytes(&mut self, bytes: &[u8]) {
        // Length first, so "ab" + "c" and "a" + "bc" differ.
        self.u32(bytes.len() as u32);
        self.0.bytes(bytes);
    }
    /// Feeds anything that knows how to hash itself.
    pub fn feed<T: StateHash + ?Sized>(&mut self, v: &T) {
        v.hash_state(self);
    }
    /// The hash so far.
    pub const fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The bits of `v`, with -0.0 taken as +0.0 and every NaN as the one quiet
/// NaN.
#[inline]
fn canonical_bits(v: f32) -> u32 {
    if v == 0.0 {
        0
    } else if v.is_nan() {
        0x7fc0_0000
    } else {
        v.to_bits()
    }
}

/// State that takes part in the per-tick hash.
///
/// A game implements this for its entity type, feeding **every** field that
/// can change: a field left out is a field whose divergence goes unnoticed.
/// Usually derived, `#[derive(StateHash)]`, which feeds every field in
/// order (and an enum's variant index first), but those marked
/// `#[state_hash(skip)]`; by hand:
///
/// ```
/// use tickwire_sim::{StateHash, StateHasher};
///
/// struct Ball { pos: glam::Vec2, bounces: u32 }
///
/// impl StateHash for Ball {
///     fn hash_state(&self, h: &mut StateHasher) {
///         h.vec2(self.pos);
///         h.u32(self.bounces);
///     }
/// }
///
/// let mut a = StateHasher::new();
/// a.feed(&Ball { pos: glam::Vec2::new(1.0, 2.0), bounces: 0 });
/// let mut b = StateHasher::new();
/// b.feed(&Ball { pos: glam::Vec2::new(1.0, 2.0), bounces: 1 });
/// assert_ne!(a.finish(), b.finish());
/// ```
pub trait StateHash {
    /// Feeds this value's full state into `h`.
    fn hash_state(&self, h: &mut StateHasher);
}

macro_rules! impl_state_hash {
    ($($t:ty => $m:ident),* $(,)?) => {
        $(impl StateHash for $t {
            fn hash_state(&self, h: &mut StateHasher) {
                h.$m(*self);
            }
        })*
    };
}

impl_state_hash!(
    u8 => u8,
    bool => bool,
    u16 => u16,
    u32 => u32,
    i32 => i32,
    u64 => u64,
    i64 => i64,
    f32 => f32,
    f64 => f64,
    glam::Vec2 => vec2,
);

impl StateHash for i8 {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u8(*self as u8);
    }
}

impl StateHash for i16 {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u16(*self as u16);
    }
}

/// As a `u64`, so a state hashes alike on every target.
impl StateHash for usize {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u64(*self as u64);
    }
}

impl StateHash for str {
    fn hash_state(&self, h: &mut StateHasher) {
        h.bytes(self.as_bytes());
    }
}

impl StateHash for String {
    fn hash_state(&self, h: &mut StateHasher) {
        h.bytes(self.as_bytes());
    }
}

/// The length, then each element.
impl<T: StateHash> StateHash for [T] {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u64(self.len() as u64);
        for v in self {
            v.hash_state(h);
        }
    }
}

impl<T: StateHash> StateHash for Vec<T> {
    fn hash_state(&self, h: &mut StateHasher) {
        self.as_slice().hash_state(h);
    }
}

/// Each element: the length is the type's.
impl<T: StateHash, const N: usize> StateHash for [T; N] {
    fn hash_state(&self, h: &mut StateHasher) {
        for v in self {
            v.hash_state(h);
        }
    }
}

impl<T: StateHash + ?Sized> StateHash for &T {
    fn hash_state(&self, h: &mut StateHasher) {
        (**self).hash_state(h);
    }
}

impl<A: StateHash, B: StateHash> StateHash for (A, B) {
    fn hash_state(&self, h: &mut StateHasher) {
        self.0.hash_state(h);
        self.1.hash_state(h);
    }
}

impl<A: StateHash, B: StateHash, C: StateHash> StateHash for (A, B, C) {
    fn hash_state(&self, h: &mut StateHasher) {
        self.0.hash_state(h);
        self.1.hash_state(h);
        self.2.hash_state(h);
    }
}

impl StateHash for NetId {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u32(self.0);
    }
}

impl StateHash for PlayerId {
    fn hash_state(&self, h: &mut StateHasher) {
        h.u32(self.0);
    }
}

impl<T: StateHash> StateHash for Option<T> {
    fn hash_state(&self, h: &mut StateHasher) {
        match self {
            None => h.u8(0),
            Some(v) => {
                h.u8(1);
                v.hash_state(h);
            }
        }
    }
}
