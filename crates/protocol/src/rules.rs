//! Small rules of the protocol that are not byte encodings but that more
//! than one place must apply the same way: the order of ticks, the offset
//! between two quantized angles, and cutting a string to a byte limit. Each
//! is written once here (the byte-level ones, varint lengths and zigzag,
//! live in [`crate::codec`]).

/// Whether `tick` is not newer than `than`: the same tick or an older one.
///
/// Ticks are plain `u32` counts compared as numbers, with no wrap-around (at
/// 60 ticks a second a match would need over two years to wrap). A state
/// is recorded or applied only when its tick is newer than the newest held,
/// and a delta's baseline must be older than the tick it describes, so its
/// tick must not be *not newer* than the baseline.
#[inline]
pub(crate) const fn not_newer(tick: u32, than: u32) -> bool {
    tick <= than
}

/// The offset from angle `base` to angle `cur`, both quantized to `steps`
/// per turn (and in `0..steps`): the shorter way round, in
/// `(-steps/2, steps/2]`, so that `(base + offset).rem_euclid(steps)` is
/// `cur`. Half a turn is `+steps/2`.
#[inline]
pub(crate) const fn angle_delta(base: i32, cur: i32, steps: u32) -> i32 {
    let steps = steps as i64;
    let d = (cur as i64 - base as i64).rem_euclid(steps);
    // In (-steps/2, steps/2], which fits i32 for any u32 steps.
    (if d > steps / 2 { d - steps } else { d }) as i32
}

/// The longest prefix of `s` that is at most `max_bytes` long and ends on
/// a character boundary: a string cut to a byte limit without splitting a
/// character (the protocol's name, chat and reason limits, and the 123
/// bytes of a WebSocket close reason, count UTF-8 bytes).
///
/// ```
/// # use tickwire_protocol::truncate_utf8;
/// assert_eq!(truncate_utf8("héllo", 2), "h"); // 'é' is 2 bytes
/// assert_eq!(truncate_utf8("héllo", 3), "hé");
/// assert_eq!(truncate_utf8("hi", 10), "hi");
/// ```
#[inline]
pub fn truncate_utf8(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    // Index 0 is always a boundary, so this stops.
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_newer_is_same_or_older() {
        assert!(not_newer(5, 5));
        assert!(not_newer(4, 5));
        assert!(!not_newer(6, 5));
        assert!(not_newer(0, u32::MAX));
        assert!(!not_newer(u32::MAX, 0), "no wrap-around");
    }

    #[test]
    fn angle_delta_takes_the_shorter_way_round() {
        assert_eq!(angle_delta(10, 15, 256), 5);
        assert_eq!(angle_delta(15, 10, 256), -5);
        // Across the wrap, both ways.
        assert_eq!(angle_delta(250, 5, 256), 11);
        assert_eq!(angle_delta(5, 250, 256), -11);
        // Half a turn is positive, whichever way it was measured.
        assert_eq!(angle_delta(0, 128, 256), 128);
        assert_eq!(angle_delta(128, 0, 256), 128);
        assert_eq!(angle_delta(0, 129, 256), -127);
        assert_eq!(angle_delta(7, 7, 256), 0);
        assert_eq!(angle_delta(0, 0, 1), 0);
        // The widest steps still fit i32.
        assert_eq!(angle_delta(0, i32::MAX, u32::MAX), i32::MAX);
    }

    #[test]
    fn angle_delta_is_undone_by_adding_modulo_steps() {
        for steps in [1u32, 2, 3, 255, 256, 360, 65_536] {
            let s = i64::from(steps);
            let angles = [0, 1, steps / 3, steps / 2, steps - 1].map(|a| a.min(steps - 1));
            for base in angles {
                for cur in angles {
                    let (base, cur) = (base as i32, cur as i32);
                    let d = angle_delta(base, cur, steps);
                    // Within half a turn: (-steps/2, steps/2], rounding the
                    // ends inward for odd steps.
                    assert!(i64::from(d) > s / 2 - s && i64::from(d) <= s / 2);
                    assert_eq!(
                        (i64::from(base) + i64::from(d)).rem_euclid(s),
                        i64::from(cur)
                    );
                }
            }
        }
    }

    #[test]
    fn truncate_utf8_never_splits_a_character() {
        let s = "ab😀c"; // the emoji is 4 bytes, at 2..6
        assert_eq!(truncate_utf8(s, 0), "");
        assert_eq!(truncate_utf8(s, 2), "ab");
        assert_eq!(truncate_utf8(s, 3), "ab");
        assert_eq!(truncate_utf8(s, 4), "ab");
        assert_eq!(truncate_utf8(s, 5), "ab");
        assert_eq!(truncate_utf8(s, 6), "ab😀");
        assert_eq!(truncate_utf8(s, 7), s);
        assert_eq!(truncate_utf8(s, usize::MAX), s);
        assert_eq!(truncate_utf8("", 3), "");
        assert_eq!(truncate_utf8("😀", 3), "");
    }
}
