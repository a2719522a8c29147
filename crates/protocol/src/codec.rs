//! The one place that knows the byte encoding: bincode 2 (standard config)
//! for the control messages, and a hand-written reader and writer of the same
//! primitives for the snapshot body, which is encoded once per tick per
//! baseline and decoded by every client, so it is worth writing by hand.
//!
//! Everything on the wire is built from bincode's standard-config
//! primitives, so a client in another language needs only these rules:
//!
//! * `u8` is one raw byte.
//! * An unsigned integer (`u16`, `u32`, `u64`) is a varint: a value below 251
//!   is that one byte; otherwise a marker byte, then the value little-endian:
//!   `251` + 2 bytes, `252` + 4 bytes, `253` + 8 bytes. A marker wider than
//!   the type is an error (a `u32` refuses `253`). Like bincode, the reader
//!   accepts a wider form than needed (`251 05 00` reads as 5); the writer
//!   always writes the shortest.
//! * A signed integer is zigzag-mapped to unsigned (`0, -1, 1, -2, ...` to
//!   `0, 1, 2, 3, ...`), then written as above.
//! * An `Option` is `0`, or `1` then the value; an enum is its variant index
//!   as a `u32` varint, then its fields; a `String` or `Vec` is its length as
//!   a `u64` varint, then its bytes or items; a tuple or struct is its fields
//!   in order.
//!
//! Swapping bincode for another codec means changing this module only.

use serde::{Serialize, de::DeserializeOwned};

/// Largest control message (anything but a snapshot) a decoder accepts, in
/// bytes. A welcome with a schema and a roster of a few hundred players fits
/// with room to spare.
pub const CONTROL_MESSAGE_LIMIT: usize = 64 * 1024;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<CONTROL_MESSAGE_LIMIT>,
>;

const fn config() -> Config {
    bincode::config::standard().with_limit::<CONTROL_MESSAGE_LIMIT>()
}

/// Why the bincode layer refused bytes.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The input ended in the middle of a value.
    #[error("message truncated")]
    Truncated,
    /// The value is well-formed but bytes follow it.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The input is longer than the limit for its kind of message.
    #[error("message of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Anything else bincode refused: a bad varint marker, an unknown enum
    /// variant, invalid UTF-8, a bool that is neither 0 nor 1...
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Appends the bincode encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every type encoded here is plain
    // data (no maps with fallible keys, no sequences of unknown length).
    if let Err(error) = bincode::serde::encode_into_std_write(value, out, config()) {
        debug_assert!(false, "encoding into a Vec failed: {error}");
    }
}

/// Decodes exactly one `T` from all of `bytes`.
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > CONTROL_MESSAGE_LIMIT {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: CONTROL_MESSAGE_LIMIT,
        });
    }
    match bincode::serde::decode_from_slice::<T, _>(bytes, config()) {
        Ok((value, read)) if read == bytes.len() => Ok(value),
        Ok((_, read)) => Err(CodecError::TrailingBytes(bytes.len() - read)),
        Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => Err(CodecError::Truncated),
        Err(error) => Err(CodecError::Malformed(error.to_string())),
    }
}

/// Marker byte: a `u16` follows.
const U16_MARKER: u8 = 251;
/// Marker byte: a `u32` follows.
const U32_MARKER: u8 = 252;

/// Zigzag-maps a signed value so small magnitudes become small varints:
/// `0, -1, 1, -2, 2, ...` become `0, 1, 2, 3, 4, ...`, and `i32::MIN` and
/// `i32::MAX` the two largest, `u32::MAX` and `u32::MAX - 1`.
#[inline]
pub(crate) const fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) const fn unzigzag(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

/// Bytes [`put_u32`] writes for `v`: 1 below 251, 3 up to `u16::MAX`
/// (marker and 2 bytes), 5 above (marker and 4 bytes). Sizes an encoding
/// without writing it.
#[inline]
pub(crate) const fn varint_len(v: u32) -> usize {
    if v < U16_MARKER as u32 {
        1
    } else if v <= u16::MAX as u32 {
        3
    } else {
        5
    }
}

/// Appends a `u32` as a bincode standard-config varint.
#[inline(always)]
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    // Most values on the wire are small: one byte, inline.
    if v < u32::from(U16_MARKER) {
        out.push(v as u8);
    } else {
        put_u32_long(out, v);
    }
}

/// [`put_u32`] of a value that needs a marker byte.
#[inline(never)]
fn put_u32_long(out: &mut Vec<u8>, v: u32) {
    if let Ok(v) = u16::try_from(v) {
        out.push(U16_MARKER);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(U32_MARKER);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends an `i32` as a zigzag bincode varint.
#[inline]
pub(crate) fn put_i32(out: &mut Vec<u8>, v: i32) {
    put_u32(out, zigzag(v));
}

/// Why the hand-written snapshot reader stopped.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    /// The input ended in the middle of a value.
    #[error("truncated")]
    Truncated,
    /// A varint marker byte that a `u32` does not allow (253 and up).
    #[error("varint marker {0} is not valid for a u32")]
    BadVarint(u8),
}

/// A cursor over a byte slice that reads bincode standard-config primitives.
/// Every read is bounds-checked; nothing here panics or allocates.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    #[inline]
    pub(crate) const fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Bytes read so far.
    #[inline]
    pub(crate) const fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, ReadError> {
        let b = *self.bytes.get(self.pos).ok_or(ReadError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).ok_or(ReadError::Truncated)?;
        let s = self.bytes.get(self.pos..end).ok_or(ReadError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// A varint: one byte below 251 (the common case, kept inline), else a
    /// marker and 2 or 4 bytes.
    #[inline(always)]
    pub(crate) fn u32(&mut self) -> Result<u32, ReadError> {
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < U16_MARKER {
                self.pos += 1;
                return Ok(u32::from(b));
            }
        }
        self.u32_wide()
    }

    #[cold]
    #[inline(never)]
    fn u32_wide(&mut self) -> Result<u32, ReadError> {
        match self.u8()? {
            b if b < U16_MARKER => Ok(u32::from(b)),
            U16_MARKER => {
                let s = self.take(2)?;
                Ok(u32::from(u16::from_le_bytes([s[0], s[1]])))
            }
            U32_MARKER => {
                let s = self.take(4)?;
                Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            }
            other => Err(ReadError::BadVarint(other)),
        }
    }

    #[inline(always)]
    pub(crate) fn i32(&mut self) -> Result<i32, ReadError> {
        self.u32().map(unzigzag)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_varints_match_bincode() {
        let samples = [
            0i32,
            1,
            -1,
            107,
            -107,
            125,
            -126,
            126,
            250,
            251,
            -32_768,
            32_767,
            65_535,
            65_536,
            i32::MAX,
            i32::MIN,
        ];
        for v in samples {
            let mut ours = Vec::new();
            put_i32(&mut ours, v);
            let theirs = bincode::encode_to_vec(v, bincode::config::standard()).unwrap();
            assert_eq!(ours, theirs, "i32 {v}");
            assert_eq!(Reader::new(&ours).i32().unwrap(), v);
            let u = v as u32;
            let mut ours = Vec::new();
            put_u32(&mut ours, u);
            let theirs = bincode::encode_to_vec(u, bincode::config::standard()).unwrap();
            assert_eq!(ours, theirs, "u32 {u}");
            assert_eq!(Reader::new(&ours).u32().unwrap(), u);
        }
    }

    #[test]
    fn varint_len_is_what_put_u32_writes() {
        let samples = [
            0u32,
            1,
            127,
            128,
            250,
            251,
            252,
            255,
            256,
            65_535,
            65_536,
            u32::MAX - 1,
            u32::MAX,
        ];
        for v in samples {
            let mut out = Vec::new();
            put_u32(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "u32 {v}");
        }
        assert_eq!(varint_len(127), 1, "not LEB128: one byte up to 250");
        assert_eq!(varint_len(128), 1);
        assert_eq!(varint_len(250), 1);
        assert_eq!(varint_len(251), 3);
        assert_eq!(varint_len(65_535), 3);
        assert_eq!(varint_len(65_536), 5);
        assert_eq!(varint_len(u32::MAX), 5);
    }

    #[test]
    fn zigzag_interleaves_signs_and_inverts() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(2), 4);
        assert_eq!(zigzag(i32::MAX), u32::MAX - 1);
        assert_eq!(zigzag(i32::MIN), u32::MAX);
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            125,
            -126,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
        ] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        for n in [0, 1, 2, u32::MAX - 1, u32::MAX] {
            assert_eq!(zigzag(unzigzag(n)), n);
        }
    }

    #[test]
    fn reader_refuses_u64_marker_for_u32() {
        assert_eq!(
            Reader::new(&[253, 0, 0, 0, 0, 0, 0, 0, 0]).u32(),
            Err(ReadError::BadVarint(253))
        );
        assert_eq!(Reader::new(&[251, 1]).u32(), Err(ReadError::Truncated));
    }
}
