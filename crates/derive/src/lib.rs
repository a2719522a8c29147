//! Derive macros for Tickwire games: [`Replicate`], [`Input`], [`Event`]
//! and [`StateHash`].
//!
//! Use them through `tickwire_sim` (or its prelude), which re-exports each
//! next to the trait of the same name: the generated code names
//! `::tickwire_sim` paths. Each derive writes both halves of a declaration,
//! what goes in the schema and the conversion of a value to and from the
//! wire, from one Rust type, so the two can't drift apart.

mod attrs;
mod input;
mod rows;
mod state_hash;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

fn expand(
    input: TokenStream,
    derive: fn(&DeriveInput) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `tickwire_sim::Replicate`: a game's replicated rows.
///
/// On an enum, each variant is one kind, its id the variant's index and
/// its name the variant's in `snake_case`; a variant has named fields or
/// none. On a struct with named fields, the struct is the game's one kind.
/// `#[tickwire(name = "...")]` on a variant, a struct or a field names it
/// otherwise on the wire.
///
/// Each field is one wire integer, in declaration order (at most 8 fields
/// in a kind, at most 256 kinds):
///
/// - `#[fixed(SCALE)]` on an `f32`: fixed point, `SCALE` steps per unit;
/// - `#[angle(STEPS)]` on an `f32` in radians: `STEPS` per full turn;
/// - `#[int(MIN, MAX)]` on an integer: a value the game keeps within
///   `MIN..=MAX` (a debug assertion names the field otherwise);
/// - no attribute, on an integer, a `bool`, a `PlayerId` or an
///   `Option<PlayerId>`: the type's own range (`IntField::QUANT`).
///
/// A field the game's `replicate` leaves out is a compile error (a struct
/// literal missing a field), not a zero on the wire.
///
/// ```
/// use tickwire_sim::{PlayerId, Quantization, Replicate};
///
/// #[derive(Replicate)]
/// enum Row {
///     Avatar {
///         #[fixed(16)]
///         x: f32,
///         #[fixed(16)]
///         y: f32,
///         #[angle(256)]
///         heading: f32,
///         #[int(0, 100)]
///         hp: u8,
///         player: PlayerId,
///     },
///     #[tickwire(name = "shot")]
///     Projectile {
///         #[fixed(16)]
///         x: f32,
///         #[fixed(16)]
///         y: f32,
///     },
///     Flag,
/// }
///
/// let kinds = Row::kinds();
/// assert_eq!(kinds[0].name, "avatar");
/// assert_eq!(kinds[0].fields[3].quant, Quantization::Int { min: 0, max: 100 });
/// assert_eq!(kinds[0].fields[4].quant, Quantization::Player);
/// assert_eq!((kinds[1].id, kinds[1].name.as_str()), (1, "shot"));
/// assert_eq!((kinds[2].name.as_str(), kinds[2].fields.len()), ("flag", 0));
///
/// let row = Row::Projectile { x: 1.5, y: -2.0 };
/// let (kind, values) = row.quantize();
/// assert_eq!(kind, 1);
/// assert_eq!(values[..3], [24, -32, 0]);
/// ```
#[proc_macro_derive(Replicate, attributes(fixed, angle, int, tickwire))]
pub fn derive_replicate(input: TokenStream) -> TokenStream {
    expand(input, rows::replicate)
}

/// Derives `tickwire_sim::Input`: what a player sends each tick.
///
/// On a struct with named fields (at most 8), each one declared input
/// field, named after the field (or its `#[tickwire(name = "...")]`):
///
/// - `#[axis(STEPS)]`: values `-STEPS..=STEPS`. On an `f32` the field is
///   `-1.0..=1.0` (a value over `STEPS`; `to_values` rounds and clamps);
///   on an integer it holds the steps themselves.
/// - `#[angle(STEPS)]`: values `0..STEPS`, a full turn. On an `f32` the
///   field is in radians; on an integer it holds the steps.
/// - `#[buttons("fire", "jump")]` on an integer: bit `i` is the `i`th name
///   (at most 16).
/// - a `bool` with no attribute: one button, named after the field.
/// - `#[int(MIN, MAX)]` on an integer: values `MIN..=MAX`.
/// - an integer with no attribute: the type's range.
///
/// `from_values` clamps each value into its declared range (the server
/// refuses out-of-range input before it gets there; a replayed record
/// might not).
///
/// ```
/// use tickwire_sim::{Input, InputKind};
///
/// #[derive(Clone, Copy, Debug, Default, PartialEq, Input)]
/// struct Controls {
///     #[axis(127)]
///     steer: f32,
///     #[angle(65536)]
///     aim: u16,
///     #[buttons("fire", "boost")]
///     buttons: u8,
///     brake: bool,
///     #[int(0, 4)]
///     gear: u8,
/// }
///
/// let fields = Controls::fields();
/// assert_eq!(fields[0].kind, InputKind::Axis { steps: 127 });
/// assert_eq!(fields[3].kind, InputKind::Buttons { names: vec!["brake".into()] });
///
/// let c = Controls { steer: -0.5, aim: 16384, buttons: 0b10, brake: true, gear: 3 };
/// let values = c.to_values();
/// assert_eq!(values[..5], [-64, 16384, 2, 1, 3]);
/// assert_eq!(Controls::from_values(&values).steer, -64.0 / 127.0);
/// // Out of range: clamped.
/// assert_eq!(Controls::from_values(&[500, 0, 0, 0, 9, 0, 0, 0]).gear, 4);
/// ```
#[proc_macro_derive(Input, attributes(axis, angle, buttons, int, tickwire))]
pub fn derive_input(input: TokenStream) -> TokenStream {
    expand(input, input::input)
}

/// Derives `tickwire_sim::Event`: what players hear once.
///
/// On an enum whose variants have named fields or none: each variant is
/// one kind of event, its id the variant's index and its name the
/// variant's in `snake_case` (or its `#[tickwire(name = "...")]`). Fields
/// take the attributes of [`Replicate`]'s; a `PlayerId` or an
/// `Option<PlayerId>` is a player field. `from_wire` inverts `to_wire`
/// (up to the quantization of `#[fixed]` and `#[angle]` fields).
///
/// ```
/// use tickwire_sim::{Event, PlayerId};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Event)]
/// enum Feed {
///     Kill { killer: PlayerId, victim: PlayerId },
///     Explosion {
///         #[fixed(4)]
///         x: f32,
///         #[fixed(4)]
///         y: f32,
///         by: Option<PlayerId>,
///     },
///     RoundOver,
/// }
///
/// assert_eq!(Feed::events()[1].name, "explosion");
/// let boom = Feed::Explosion { x: 2.25, y: 8.0, by: None };
/// let wire = boom.to_wire();
/// assert_eq!((wire.kind, &wire.values[..3]), (1, &[9, 32, -1][..]));
/// assert_eq!(Feed::from_wire(&wire), Some(boom));
/// assert_eq!(Feed::from_wire(&Feed::RoundOver.to_wire()), Some(Feed::RoundOver));
/// ```
#[proc_macro_derive(Event, attributes(fixed, angle, int, tickwire))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    expand(input, rows::event)
}

/// Derives `tickwire_sim::StateHash`: feeds every field into the per-tick
/// state hash, in declaration order.
///
/// Works on structs (named, tuple or unit) and enums (the variant's index
/// as a `u32`, then its fields). Every field's type implements
/// `StateHash`; mark scratch state that is not part of the game's state
/// with `#[state_hash(skip)]`. A type parameter gets a `StateHash` bound.
///
/// ```
/// use glam::Vec2;
/// use tickwire_sim::{StateHash, StateHasher};
///
/// #[derive(StateHash)]
/// struct Ball {
///     pos: Vec2,
///     bounces: u32,
///     #[state_hash(skip)]
///     trail: Vec<Vec2>,
/// }
///
/// #[derive(StateHash)]
/// enum Thing {
///     Ball(Ball),
///     Wall { from: Vec2, to: Vec2 },
///     Nothing,
/// }
///
/// let hash = |t: &Thing| {
///     let mut h = StateHasher::new();
///     h.feed(t);
///     h.finish()
/// };
/// let ball = |bounces, trail| Thing::Ball(Ball { pos: Vec2::ONE, bounces, trail });
/// assert_ne!(hash(&ball(0, vec![])), hash(&ball(1, vec![])));
/// assert_eq!(hash(&ball(0, vec![])), hash(&ball(0, vec![Vec2::ZERO])));
/// assert_ne!(hash(&Thing::Nothing), hash(&ball(0, vec![])));
/// ```
#[proc_macro_derive(StateHash, attributes(state_hash))]
pub fn derive_state_hash(input: TokenStream) -> TokenStream {
    expand(input, state_hash::state_hash)
}
