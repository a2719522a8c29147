//! The per-field rules of a snapshot: which values a field's quantization
//! allows, the offset that takes a baseline value to the current one, and
//! its inverse. Encoding, decoding and applying all go through these.

use tickwire_types::Quantization;

use crate::rules::angle_delta;

/// Whether `value` is legal for field `quant`.
#[inline]
pub(super) fn in_range(quant: &Quantization, value: i32) -> bool {
    quant.admits(value)
}

/// Offset that takes `base` to `cur` for field `quant`.
#[inline]
pub(super) fn field_delta(quant: &Quantization, base: i32, cur: i32) -> i32 {
    match *quant {
        // The shorter way round.
        Quantization::Angle { steps } => angle_delta(base, cur, steps),
        Quantization::Fixed { .. } | Quantization::Int { .. } | Quantization::Player => {
            cur.wrapping_sub(base)
        }
    }
}

/// `base` moved by `delta` for field `quant`: the inverse of [`field_delta`].
#[inline]
pub(super) fn apply_delta(quant: &Quantization, base: i32, delta: i32) -> i32 {
    match *quant {
        Quantization::Angle { steps } => {
            (i64::from(base) + i64::from(delta)).rem_euclid(i64::from(steps)) as i32
        }
        Quantization::Fixed { .. } | Quantization::Int { .. } | Quantization::Player => {
            base.wrapping_add(delta)
        }
    }
}

/// `base` moved back by `delta`: the exact inverse of [`apply_delta`] for a
/// `base` in range (adding in 32 bits, and modulo an angle's steps, can both
/// be taken back).
#[inline]
pub(super) fn undo_delta(quant: &Quantization, moved: i32, delta: i32) -> i32 {
    match *quant {
        Quantization::Angle { steps } => {
            (i64::from(moved) - i64::from(delta)).rem_euclid(i64::from(steps)) as i32
        }
        Quantization::Fixed { .. } | Quantization::Int { .. } | Quantization::Player => {
            moved.wrapping_sub(delta)
        }
    }
}

/// The fields whose bits are set in `mask`, lowest first.
#[inline]
pub(super) fn mask_fields(mask: u8) -> impl Iterator<Item = usize> {
    let mut bits = mask;
    std::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let f = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(f)
    })
}
