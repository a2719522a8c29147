//! Tickwire's wire protocol: the messages between a client and the server,
//! their byte encoding, delta snapshots of replicated state, and the
//! replication core that decides what each player is sent.
//!
//! The crate is pure: bytes and state in, bytes and state out, no sockets,
//! no clock. The server and the bot swarm are built on it, and the browser
//! client's `client-web/sdk/protocol.js` implements the same format, which
//! `docs/protocol.md` writes down byte by byte.
//!
//! A server drives it through one [`Replicator`] per room, which encodes
//! every player's snapshot of a tick; a client decodes with
//! [`ServerMessage::decode`] and keeps its states with a [`ClientState`].
//! How one tick uses it is told once, in `docs/architecture.md`.
//!
//! Every decoder is strict and bounded (see [`Limits`]): errors are values,
//! never panics.

pub mod client;
pub mod codec;
pub mod history;
pub mod interest;
pub mod message;
pub mod replicator;
mod rules;
pub mod snapshot;

pub use client::{CLIENT_STATES, ClientState};
pub use codec::{CONTROL_MESSAGE_LIMIT, CodecError, ReadError};
pub use history::{EncodedBody, HISTORY_TICKS, RecordError, ServerHistory};
pub use interest::{
    Budget, MIN_PRIORITY, RowIndex, VIEW_STATES, ViewEncoder, ViewError, ViewMessage, ViewSnapshot,
    ViewTracker,
};
pub use message::{
    ClientDecodeError, ClientMessage, JoinRefused, MAX_CHAT_BYTES, MAX_CONSTANTS, MAX_NAME_BYTES,
    MAX_REASON_BYTES, MAX_RESUME_TOKEN_BYTES, MAX_ROSTER, MAX_TICKET_BYTES, MAX_URL_BYTES,
    NO_ENTITY, NO_PLAYER, ServerDecodeError, ServerEvent, ServerMessage, Snapshot, WatchTarget,
    Welcome, check_join, close_code, decode_snapshot_message, error_code,
};
pub use replicator::{Delivery, ReplicateError, Replicator, Report, Sink};
pub use rules::truncate_utf8;
pub use snapshot::{
    ApplyError, ChangedEntity, DeltaScratch, EncodeError, MAX_SNAPSHOT_HEADER_BYTES, SNAPSHOT_TAG,
    SnapshotBody, SnapshotDecodeError, apply_snapshot, check_state, encode_delta,
    encode_delta_with, encode_full, snapshot_message_len, write_snapshot_message,
};

/// Version of this wire format, checked at join. Bump on any change to the
/// bytes.
pub const PROTOCOL_VERSION: u16 = 3;

/// Bytes of the WebSocket frame header in front of an unmasked (server to
/// client) binary frame carrying `payload_len` bytes: every protocol message
/// travels as one such frame, so this is what a message costs on top of its
/// own bytes (RFC 6455, section 5.2).
///
/// ```
/// # use tickwire_protocol::server_frame_header_bytes;
/// assert_eq!(server_frame_header_bytes(100), 2);
/// assert_eq!(server_frame_header_bytes(300), 4);
/// assert_eq!(server_frame_header_bytes(70_000), 10);
/// ```
pub const fn server_frame_header_bytes(payload_len: usize) -> usize {
    match payload_len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

/// Bounds every decoder enforces before allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest snapshot message accepted, in bytes. Default 1 MiB.
    pub max_snapshot_bytes: usize,
    /// Most entities in one snapshot list or one state. Default 65,536.
    pub max_entities: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_snapshot_bytes: 1 << 20,
            max_entities: 65_536,
        }
    }
}
