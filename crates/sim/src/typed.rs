//! The game's wire types, declared once in Rust: its replicated rows, its
//! input and its events.
//!
//! Each trait gives both halves of a declaration: what goes in the
//! [`Schema`] (the kinds, the input fields, the events) and the conversion
//! of a value to and from the integers on the wire. They are meant to be
//! derived (`#[derive(Replicate)]`, `#[derive(Input)]`, `#[derive(Event)]`
//! from `tickwire-derive`, re-exported here), so the declaration and the
//! values can't drift apart: a field left out of a row is a compile error,
//! not a zero on the wire.
//!
//! [`Schema`]: crate::Schema

use crate::replicate::{
    EventDecl, GameEvent, InputDecl, InputKind, KindDecl, MAX_FIELDS, MAX_INPUT_FIELDS, PlayerId,
    Quantization,
};

/// The replicated rows of a game: one kind per variant (or a struct for a
/// game with one kind). [`crate::Game::replicate`] returns one per entity
/// and the world sends what [`Replicate::quantize`] makes of it.
pub trait Replicate {
    /// The kinds, in id order: a kind's id is its index here.
    fn kinds() -> Vec<KindDecl>;

    /// The kind's id and its fields' quantized values, in declaration order
    /// (zero past them).
    fn quantize(&self) -> (u8, [i32; MAX_FIELDS]);
}

/// A game's input: what a player sends each tick. The world decodes the
/// wire values with [`Input::from_values`] before [`crate::Game::input`]
/// sees them, and clients and bots encode with [`Input::to_values`] (or
/// generically, from the declared fields).
pub trait Input: Copy + Default + Send + 'static {
    /// The input's fields, in wire order.
    fn fields() -> Vec<InputDecl>;

    /// The input these wire values mean. Values outside a field's range are
    /// clamped into it (the server refuses them before they get here; a
    /// replayed record might not).
    fn from_values(values: &[i32; MAX_INPUT_FIELDS]) -> Self;

    /// The wire values of this input.
    fn to_values(&self) -> [i32; MAX_INPUT_FIELDS];
}

/// A game's events: heard once by players, never part of the state. An
/// enum with one variant per kind of event, emitted with
/// [`crate::Ctx::emit`].
pub trait Event: Sized + 'static {
    /// The kinds of event, in id order.
    fn events() -> Vec<EventDecl>;

    /// The event as it goes on the wire.
    fn to_wire(&self) -> GameEvent;

    /// The event a wire event means, if it is one of these.
    fn from_wire(event: &GameEvent) -> Option<Self>;
}

/// A game that has no events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEvents {}

impl Event for NoEvents {
    fn events() -> Vec<EventDecl> {
        Vec::new()
    }
    fn to_wire(&self) -> GameEvent {
        match *self {}
    }
    fn from_wire(_: &GameEvent) -> Option<Self> {
        None
    }
}

/// A game whose players send nothing but their presence.
impl Input for () {
    fn fields() -> Vec<InputDecl> {
        Vec::new()
    }
    fn from_values(_: &[i32; MAX_INPUT_FIELDS]) -> Self {}
    fn to_values(&self) -> [i32; MAX_INPUT_FIELDS] {
        [0; MAX_INPUT_FIELDS]
    }
}

/// A value that can be an integer field of a row, an input or an event:
/// its default quantization and its conversion to and from the wire.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an integer field on the wire",
    note = "integer fields are i8, u8, i16, u16, i32, u32, bool, PlayerId or Option<PlayerId>; \
            an f32 field needs #[fixed(scale)] or #[angle(steps)]"
)]
pub trait IntField: Copy {
    /// The range the type itself gives, as a quantization.
    const QUANT: Quantization;
    /// The wire value. A `u32` over `i32::MAX` saturates.
    fn to_wire(self) -> i32;
    /// The value a wire integer means, saturated into the type.
    fn from_wire(v: i32) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl IntField for $t {
            const QUANT: Quantization = Quantization::Int {
                min: <$t>::MIN as i32,
                max: <$t>::MAX as i32,
            };
            #[inline]
            fn to_wire(self) -> i32 {
                i32::from(self)
            }
            #[inline]
            fn from_wire(v: i32) -> Self {
                v.clamp(<$t>::MIN as i32, <$t>::MAX as i32) as $t
            }
        }
    )*};
}

int_field!(i8, u8, i16, u16);

impl IntField for i32 {
    const QUANT: Quantization = Quantization::Int {
        min: i32::MIN,
        max: i32::MAX,
    };
    #[inline]
    fn to_wire(self) -> i32 {
        self
    }
    #[inline]
    fn from_wire(v: i32) -> Self {
        v
    }
}

impl IntField for u32 {
    const QUANT: Quantization = Quantization::Int {
        min: 0,
        max: i32::MAX,
    };
    #[inline]
    fn to_wire(self) -> i32 {
        self.min(i32::MAX as u32) as i32
    }
    #[inline]
    fn from_wire(v: i32) -> Self {
        v.max(0) as u32
    }
}

impl IntField for bool {
    const QUANT: Quantization = Quantization::Int { min: 0, max: 1 };
    #[inline]
    fn to_wire(self) -> i32 {
        i32::from(self)
    }
    #[inline]
    fn from_wire(v: i32) -> Self {
        v != 0
    }
}

impl IntField for PlayerId {
    const QUANT: Quantization = Quantization::Player;
    #[inline]
    fn to_wire(self) -> i32 {
        self.0.min(i32::MAX as u32) as i32
    }
    #[inline]
    fn from_wire(v: i32) -> Self {
        PlayerId(v.max(0) as u32)
    }
}

impl IntField for Option<PlayerId> {
    const QUANT: Quantization = Quantization::Player;
    #[inline]
    fn to_wire(self) -> i32 {
        self.map_or(-1, IntField::to_wire)
    }
    #[inline]
    fn from_wire(v: i32) -> Self {
        (v >= 0).then_some(PlayerId(v as u32))
    }
}

/// A value that can be a `#[fixed(scale)]` or `#[angle(steps)]` field.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a #[fixed] or #[angle] field",
    note = "fixed-point and angle fields of rows and events are f32"
)]
pub trait RealField: Copy {
    /// The value as an f32.
    fn to_f32(self) -> f32;
    /// The value an f32 means.
    fn from_f32(v: f32) -> Self;
}

impl RealField for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        v
    }
}

/// An integer field's wire value, checked against an explicit `#[int(min,
/// max)]` range: out of range is a bug in the game, caught by a debug
/// assertion (so by its tests) and clamped in release builds.
#[doc(hidden)]
#[inline]
#[track_caller]
pub fn checked_int(value: i32, min: i32, max: i32, field: &'static str) -> i32 {
    debug_assert!(
        value >= min && value <= max,
        "field `{field}` is {value}, outside its declared {min}..={max}"
    );
    value.clamp(min, max)
}

/// The wire value of `#[fixed(scale)]` field.
#[doc(hidden)]
#[inline]
pub fn fixed(value: impl RealField, scale: u32) -> i32 {
    crate::replicate::quantize_fixed(value.to_f32(), scale)
}

/// The wire value of an `#[angle(steps)]` field.
#[doc(hidden)]
#[inline]
pub fn angle(value: impl RealField, steps: u32) -> i32 {
    crate::replicate::quantize_angle(value.to_f32(), steps)
}

/// The value a `#[fixed(scale)]` wire integer means.
#[doc(hidden)]
#[inline]
pub fn unfixed<T: RealField>(q: i32, scale: u32) -> T {
    T::from_f32(q as f32 / scale as f32)
}

/// The value an `#[angle(steps)]` wire integer means, in radians.
#[doc(hidden)]
#[inline]
pub fn unangle<T: RealField>(q: i32, steps: u32) -> T {
    T::from_f32(q as f32 / steps as f32 * core::f32::consts::TAU)
}

/// The input value at `i`, clamped into `min..=max`.
#[doc(hidden)]
#[inline]
pub fn input_value(values: &[i32; MAX_INPUT_FIELDS], i: usize, min: i32, max: i32) -> i32 {
    values.get(i).copied().unwrap_or(0).clamp(min, max)
}

/// A value an `#[axis(steps)]` or `#[angle(steps)]` input field can hold:
/// an `f32` holds what the steps mean (`-1.0..=1.0` for an axis, radians
/// for an angle), an integer holds the steps themselves.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an #[axis] or #[angle] input field",
    note = "axis and angle input fields are f32 (the value the steps mean) or an integer (the steps)"
)]
pub trait InputScalar: Copy {
    /// The value of axis steps `q` (within `-steps..=steps`).
    fn from_axis(q: i32, steps: u16) -> Self;
    /// The axis steps of this value, within `-steps..=steps`.
    fn to_axis(self, steps: u16) -> i32;
    /// The value of angle steps `q` (within `0..steps`).
    fn from_angle(q: i32, steps: u32) -> Self;
    /// The angle steps of this value, within `0..steps`.
    fn to_angle(self, steps: u32) -> i32;
}

impl InputScalar for f32 {
    #[inline]
    fn from_axis(q: i32, steps: u16) -> Self {
        q as f32 / f32::from(steps)
    }
    #[inline]
    fn to_axis(self, steps: u16) -> i32 {
        let s = i32::from(steps);
        // Saturating `as`, and NaN is 0.
        (libm::roundf(self * f32::from(steps)) as i32).clamp(-s, s)
    }
    #[inline]
    fn from_angle(q: i32, steps: u32) -> Self {
        unangle(q, steps)
    }
    #[inline]
    fn to_angle(self, steps: u32) -> i32 {
        crate::replicate::quantize_angle(self, steps.max(1))
    }
}

macro_rules! input_scalar {
    ($($t:ty),*) => {$(
        impl InputScalar for $t {
            #[inline]
            fn from_axis(q: i32, _steps: u16) -> Self {
                IntField::from_wire(q)
            }
            #[inline]
            fn to_axis(self, steps: u16) -> i32 {
                let s = i32::from(steps);
                IntField::to_wire(self).clamp(-s, s)
            }
            #[inline]
            fn from_angle(q: i32, _steps: u32) -> Self {
                IntField::from_wire(q)
            }
            #[inline]
            fn to_angle(self, steps: u32) -> i32 {
                i64::from(IntField::to_wire(self)).rem_euclid(i64::from(steps.max(1))) as i32
            }
        }
    )*};
}

input_scalar!(i8, u8, i16, u16, i32, u32);

/// The `min..=max` an integer's quantization admits.
#[doc(hidden)]
pub const fn int_range(quant: Quantization) -> (i32, i32) {
    match quant {
        Quantization::Int { min, max } => (min, max),
        Quantization::Player => (-1, i32::MAX),
        Quantization::Fixed { .. } | Quantization::Angle { .. } => (i32::MIN, i32::MAX),
    }
}

/// The input kind of an integer field with no attribute: its type's range.
#[doc(hidden)]
pub const fn int_kind(quant: Quantization) -> InputKind {
    let (min, max) = int_range(quant);
    InputKind::Int { min, max }
}

/// An `#[axis(steps)]` input field from the wire values.
#[doc(hidden)]
#[inline]
pub fn axis_in<T: InputScalar>(values: &[i32; MAX_INPUT_FIELDS], i: usize, steps: u16) -> T {
    let s = i32::from(steps);
    T::from_axis(input_value(values, i, -s, s), steps)
}

/// The wire value of an `#[axis(steps)]` input field.
#[doc(hidden)]
#[inline]
pub fn axis_out<T: InputScalar>(value: T, steps: u16) -> i32 {
    value.to_axis(steps)
}

/// An `#[angle(steps)]` input field from the wire values.
#[doc(hidden)]
#[inline]
pub fn angle_in<T: InputScalar>(values: &[i32; MAX_INPUT_FIELDS], i: usize, steps: u32) -> T {
    let max = (i64::from(steps) - 1).clamp(0, i64::from(i32::MAX)) as i32;
    T::from_angle(input_value(values, i, 0, max), steps)
}

/// The wire value of an `#[angle(steps)]` input field.
#[doc(hidden)]
#[inline]
pub fn angle_out<T: InputScalar>(value: T, steps: u32) -> i32 {
    value.to_angle(steps)
}

/// The bits of `count` buttons.
#[inline]
const fn button_mask(count: u32) -> i32 {
    ((1i64 << count) - 1) as i32
}

/// A `#[buttons(...)]` (or `bool`) input field from the wire values.
#[doc(hidden)]
#[inline]
pub fn buttons_in<T: IntField>(values: &[i32; MAX_INPUT_FIELDS], i: usize, count: u32) -> T {
    T::from_wire(input_value(values, i, 0, button_mask(count)))
}

/// The wire value of a `#[buttons(...)]` (or `bool`) input field: the
/// declared buttons' bits only.
#[doc(hidden)]
#[inline]
pub fn buttons_out<T: IntField>(value: T, count: u32) -> i32 {
    value.to_wire() & button_mask(count)
}

/// An `#[int(min, max)]` input field from the wire values.
#[doc(hidden)]
#[inline]
pub fn int_in<T: IntField>(values: &[i32; MAX_INPUT_FIELDS], i: usize, min: i32, max: i32) -> T {
    T::from_wire(input_value(values, i, min, max))
}

/// The wire value of an `#[int(min, max)]` input field, clamped into its
/// range.
#[doc(hidden)]
#[inline]
pub fn int_out<T: IntField>(value: T, min: i32, max: i32) -> i32 {
    value.to_wire().clamp(min, max)
}

/// An integer input field with no attribute from the wire values.
#[doc(hidden)]
#[inline]
pub fn plain_in<T: IntField>(values: &[i32; MAX_INPUT_FIELDS], i: usize) -> T {
    let (min, max) = int_range(T::QUANT);
    T::from_wire(input_value(values, i, min, max))
}
