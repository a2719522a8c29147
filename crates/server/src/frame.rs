//! Server-to-client WebSocket frames as bytes (RFC 6455, section 5.2).
//!
//! The room writes snapshot frames to sockets itself, and the writer task
//! writes everything else through the same outbox, so every frame is built
//! whole, header and payload together, and goes out in one write. Server
//! frames are never masked; the headers come from fastwebsockets.

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload};

/// Appends one final frame of `opcode` carrying `payload` to `out`.
pub fn push(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let mut head = [0u8; 10];
    let n = Frame::new(true, opcode, None, Payload::Borrowed(payload)).fmt_head(&mut head);
    out.reserve(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
}

fn whole(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut out = Vec::new();
    push(&mut out, opcode, payload);
    Bytes::from(out)
}

/// A binary frame: one protocol message.
pub fn binary(message: &[u8]) -> Bytes {
    whole(OpCode::Binary, message)
}

/// A ping with no payload.
pub fn ping() -> Bytes {
    whole(OpCode::Ping, &[])
}

/// The pong answering a ping that carried `payload`.
pub fn pong(payload: &[u8]) -> Bytes {
    whole(OpCode::Pong, payload)
}

/// A close frame with a code and a reason (at most 123 bytes).
pub fn close(code: u16, reason: &[u8]) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason);
    whole(OpCode::Close, &payload)
}

/// The echo of the peer's close frame, with the payload it carried.
pub fn close_echo(payload: &[u8]) -> Bytes {
    whole(OpCode::Close, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_payload_length() {
        assert_eq!(&binary(b"hi")[..], &[0x82, 2, b'h', b'i']);
        let long = binary(&[7; 300]);
        assert_eq!(&long[..4], &[0x82, 126, 1, 44]);
        assert_eq!(long.len(), 304);
        let huge = binary(&[7; 70_000]);
        assert_eq!(huge[1], 127);
        assert_eq!(huge.len(), 70_010);
        for len in [0, 125, 126, 65_535, 65_536] {
            let f = binary(&vec![0; len]);
            assert_eq!(
                f.len() - len,
                tickwire_protocol::server_frame_header_bytes(len)
            );
        }
    }

    #[test]
    fn control_frames() {
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"x")[..], &[0x8a, 1, b'x']);
        assert_eq!(
            &close(1001, b"bye")[..],
            &[0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']
        );
        assert_eq!(&close_echo(&[0x03, 0xe8])[..], &[0x88, 2, 0x03, 0xe8]);
    }
}
