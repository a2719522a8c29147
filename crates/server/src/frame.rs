//! Server-to-client WebSocket frames as bytes (RFC 6455, section 5.2).
//!
//! The room writes snapshot frames to sockets itself, and the writer task
//! writes everything else through the same outbox, so every frame is built
//! whole, header and payload together, into a buffer the caller reuses, and
//! goes out in one write. Server frames are never masked. The head is
//! written here (a few lines of the RFC, checked against fastwebsockets'
//! own in the tests): building a `fastwebsockets::Frame` to format it cost
//! as much as the rest of a small frame's writing.
//!
//! A snapshot frame is built around its message: the room's sink
//! [`begin`]s the replication core's buffer, the core writes the message
//! after the room left, and the sink [`finish`]es it before the offer (see
//! `docs/architecture.md`).

use fastwebsockets::OpCode;

/// Appends one final frame of `opcode` carrying `payload` to `out`.
pub fn push(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    out.reserve(MAX_HEAD + payload.len());
    // Each size of head a fixed-size copy, no call.
    match head(opcode, payload.len()) {
        Head::Short(head) => out.extend_from_slice(&head),
        Head::Medium(head) => out.extend_from_slice(&head),
        Head::Long(head) => out.extend_from_slice(&head),
    }
    out.extend_from_slice(payload);
}

/// Most bytes a frame's head takes: the room [`begin`] leaves for it.
pub const MAX_HEAD: usize = 10;

/// Starts a frame in `out`, cleared: room for its head, after which the
/// caller appends the payload, then calls [`finish`]. The room writes each
/// snapshot this way, straight into its frame buffer, copying it nowhere.
pub fn begin(out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; MAX_HEAD]);
}

/// Finishes a final frame of `opcode` begun in `out` with [`begin`]:
/// writes its head just before the payload and returns the whole frame,
/// the same bytes [`push`] would have written.
pub fn finish(out: &mut [u8], opcode: OpCode) -> &[u8] {
    let start = match head(opcode, out.len().saturating_sub(MAX_HEAD)) {
        Head::Short(head) => put_before_payload(out, head),
        Head::Medium(head) => put_before_payload(out, head),
        Head::Long(head) => put_before_payload(out, head),
    };
    out.get(start..).unwrap_or(&[])
}

/// Writes `head` into `out` to end at [`MAX_HEAD`]; returns where it
/// starts.
#[inline]
fn put_before_payload<const N: usize>(out: &mut [u8], head: [u8; N]) -> usize {
    let start = MAX_HEAD.saturating_sub(N);
    if let Some(to) = out.get_mut(start..start + N) {
        to.copy_from_slice(&head);
    }
    start
}

/// A frame's head, by size.
enum Head {
    Short([u8; 2]),
    Medium([u8; 4]),
    Long([u8; MAX_HEAD]),
}

/// The head of a final, unmasked frame of `opcode` with `len` bytes of
/// payload (RFC 6455, section 5.2).
#[inline]
fn head(opcode: OpCode, len: usize) -> Head {
    let first = 0x80 | opcode as u8;
    if len < 126 {
        Head::Short([first, len as u8])
    } else if let Ok(short) = u16::try_from(len) {
        let [a, b] = short.to_be_bytes();
        Head::Medium([first, 126, a, b])
    } else {
        let [a, b, c, d, e, f, g, h] = (len as u64).to_be_bytes();
        Head::Long([first, 127, a, b, c, d, e, f, g, h])
    }
}

/// Appends a close frame with a code and a reason (at most 123 bytes).
pub fn push_close(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    let mut payload = [0u8; 125];
    let reason = &reason[..reason.len().min(123)];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason);
    push(out, OpCode::Close, &payload[..2 + reason.len()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push(&mut out, opcode, payload);
        out
    }

    #[test]
    fn headers_follow_the_payload_length() {
        assert_eq!(framed(OpCode::Binary, b"hi"), [0x82, 2, b'h', b'i']);
        let long = framed(OpCode::Binary, &[7; 300]);
        assert_eq!(long[..4], [0x82, 126, 1, 44]);
        assert_eq!(long.len(), 304);
        let huge = framed(OpCode::Binary, &[7; 70_000]);
        assert_eq!(huge[1], 127);
        assert_eq!(huge.len(), 70_010);
        for len in [0, 125, 126, 65_535, 65_536] {
            let f = framed(OpCode::Binary, &vec![0; len]);
            assert_eq!(
                f.len() - len,
                tickwire_protocol::server_frame_header_bytes(len)
            );
        }
    }

    #[test]
    fn heads_are_fastwebsockets_heads() {
        use fastwebsockets::{Frame, Payload};
        let opcodes = [
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ];
        let payload = vec![0u8; 70_000];
        for opcode in opcodes {
            for len in [0, 1, 125, 126, 127, 300, 65_535, 65_536, 70_000] {
                let mut theirs = [0u8; MAX_HEAD];
                let mut frame = Frame::new(true, opcode, None, Payload::Borrowed(&payload[..len]));
                let n = frame.fmt_head(&mut theirs);
                let ours = head(opcode, len);
                let ours: &[u8] = match &ours {
                    Head::Short(h) => h,
                    Head::Medium(h) => h,
                    Head::Long(h) => h,
                };
                assert_eq!(ours, &theirs[..n], "{opcode:?} {len}");
            }
        }
    }

    #[test]
    fn a_frame_begun_then_finished_is_the_frame_pushed() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = vec![9; 3];
            begin(&mut out);
            out.extend_from_slice(&payload);
            assert_eq!(
                finish(&mut out, OpCode::Binary),
                framed(OpCode::Binary, &payload),
                "{len}"
            );
        }
    }

    #[test]
    fn control_frames() {
        assert_eq!(framed(OpCode::Ping, &[]), [0x89, 0]);
        assert_eq!(framed(OpCode::Pong, b"x"), [0x8a, 1, b'x']);
        let mut close = Vec::new();
        push_close(&mut close, 1001, b"bye");
        assert_eq!(close, [0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']);
        close.clear();
        push_close(&mut close, 1008, &[b'x'; 200]);
        assert_eq!(close.len(), 2 + 125, "the reason is cut to fit");
    }
}
