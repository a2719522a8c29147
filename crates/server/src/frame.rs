//! Server-to-client WebSocket frames as bytes (RFC 6455, section 5.2).
//!
//! The room writes snapshot frames to sockets itself, and the writer task
//! writes everything else through the same outbox, so every frame is built
//! whole, header and payload together, into a buffer the caller reuses, and
//! goes out in one write. Server frames are never masked; the headers come
//! from fastwebsockets.

use fastwebsockets::{Frame, OpCode, Payload};

/// Appends one final frame of `opcode` carrying `payload` to `out`.
pub fn push(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let mut head = [0u8; 10];
    let n = Frame::new(true, opcode, None, Payload::Borrowed(payload)).fmt_head(&mut head);
    out.reserve(head.len() + payload.len());
    // The whole head array, then cut back: a fixed-size copy, no call.
    let end = out.len() + n;
    out.extend_from_slice(&head);
    out.truncate(end);
    out.extend_from_slice(payload);
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
