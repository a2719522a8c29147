//! How a connection ends: the WebSocket close codes the server sends
//! (RFC 6455 section 7.4.1), the reasons that go with them, and the close
//! handshake.
//!
//! A connection refused before it joined a room gets its close here
//! (`Refusal`); one that has joined is closed by its writer task, with
//! the close the reader decided on or one of its own (shutdown, idle).
//! After the server's close frame the socket stays open a moment so the
//! peer can read it and answer (`finish`, `linger`).
//!
//! # Every close the server sends
//!
//! Before a close with a reason the server sends a protocol `Error`
//! message (its code from `tickwire_protocol::error_code`, with the whole
//! reason); the close frame carries the WebSocket code and the reason cut
//! to 123 bytes. `docs/protocol.md` and `docs/operations.md` point here.
//!
//! | when | close code | protocol error first | `End` (metric label) |
//! | --- | --- | --- | --- |
//! | server shutting down, before the lobby was asked | 1001 going away | none | — (not counted) |
//! | server shutting down, refused a seat ([`SeatError::ShuttingDown`]) | 1001 going away | 4006 shutdown | `shutdown` |
//! | server shutting down, player in a room (the writer) | 1001 going away | 4006 shutdown | `shutdown` |
//! | room full ([`SeatError::Full`], [`JoinError::Full`]) | 1013 try again later | 4004 full | `room_full` |
//! | a spectator over the room's `--max-spectators` ([`SeatError::SpectatorsFull`]) | 1013 try again later | 4004 full | `room_full` |
//! | the server's room limit ([`SeatError::TooManyRooms`], `--max-rooms`) | 1013 try again later | 4004 full | `room_full` |
//! | the server drains (an operator's drain; [`SeatError::Draining`]) | 1013 try again later | 4004 full | `room_full` |
//! | the game refused the join ([`JoinError::Refused`]) | 1013 try again later | 4004 full | `room_full` |
//! | the match could not start ([`SeatError::Game`]) | 1011 internal error | 4003 (no server-error code exists) | `internal_error` |
//! | the room task is gone or never answered the join | 1011 internal error | 4003 | `internal_error` |
//! | a message that does not decode; a bad or unmasked frame, or fragmentation | 1002 protocol error | 4002 malformed | `bad_message` |
//! | an input the game's schema refuses (`Schema::check_input`: a value out of its field's range, or a value past the declared fields) | 1002 protocol error | 4007 bad input | `bad_input` |
//! | a text frame | 1003 unsupported data | 4002 malformed | `text_frame` |
//! | a text frame (or a close reason) that is not UTF-8 | 1007 invalid payload data | 4002 malformed | `text_frame` |
//! | a message over the size limit | 1009 message too big | 4002 malformed | `message_too_big` |
//! | a join naming another protocol version / another schema | 1008 policy violation | 4000 / 4001 | `protocol_mismatch` |
//! | an input from a spectator | 1008 policy violation | 4009 spectator input | `spectator_input` |
//! | input flooding: inputs over `--max-inputs-per-second` for `--flood-seconds` | 1008 policy violation | 4005 rate limited | `input_flooding` |
//! | frame flooding: frames of any kind over `--max-frames-per-second` for `--flood-seconds` | 1008 policy violation | 4005 rate limited | `frame_flooding` |
//! | too far behind on the room's joins, leaves and game events (the room; `room::link::EVENT_QUEUE`) | 1008 policy violation | 4003 | as the peer answers the close (`peer_closed`, ...); counted in `tickwire_event_queue_closes_total` |
//! | a resume token refused ([`Refused`]: malformed, forged, expired, in use, superseded, seat released, wrong room) | 4008 resume refused | 4008 resume refused | `resume_refused` (and `tickwire_resumes_refused_total{reason}`) |
//! | nothing received for the idle timeout (the writer) | 1008 policy violation | none | `idle_timeout` |
//! | an operator kicked the player (`POST /admin/api/kick`; reason `kicked by operator: REASON`) | 4014 kicked | 4014 kicked | `kicked` |
//! | an operator closed the room (`POST /admin/api/close`; reason `room closed by operator: REASON`), players and spectators | 4015 room closed | 4015 room closed | `room_closed` |
//! | an operator's drain timed out with the room still open (`POST /admin/api/drain`) | 1001 going away | 4006 shutdown | `drained` |
//! | the peer closed with 1000 (or no code): a leave | the peer's close, echoed (cut to 125 bytes) | none | `peer_closed` |
//! | the peer closed with another code (1001 going away: a page unloading...) | the peer's close, echoed | none | `peer_away` |
//! | the peer vanished, the socket failed, a write timed out | nothing sent | none | `peer_vanished`, `socket_error`, `write_timeout` |
//!
//! 4008 is outside RFC 6455's standard close codes (as are cluster mode's,
//! in `crate::cluster`): it is the protocol's error code itself (the range
//! 4000–4999 is the application's), so a browser, which sees close codes,
//! tells a refused resume from a dropped connection.
//!
//! # Which ends hold the seat
//!
//! A connection that ends without the player's consent and without its
//! fault keeps the player's seat and avatar for `--reconnect-grace`, for a
//! resume ([`End::holds_seat`]): `peer_vanished`, `peer_away`,
//! `socket_error`, `write_timeout`, `idle_timeout`. A close with 1000 (or
//! no code) is a leave, at once; so is every close the server makes for
//! misbehaviour (a bad frame, message or input, flooding, a protocol
//! mismatch), a shutdown, and every operator's close (kick, room closed,
//! drain).

use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketRead};
use tickwire_sim::JoinError;
use tokio::task::JoinHandle;

use super::{SocketRead, Stream};
use crate::lobby::SeatError;
use crate::resume::Refused;
use crate::room::OperatorClose;
use crate::{stats, wire};

/// The server is shutting down.
pub const GOING_AWAY: u16 = 1001;
/// The client sent an undecodable protocol message.
pub const PROTOCOL_ERROR: u16 = 1002;
/// The client sent a text frame; only binary messages are accepted.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// The client sent a text frame (or a close reason) that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Policy: wrong protocol version or schema, input flooding, idle.
pub const POLICY_VIOLATION: u16 = 1008;
/// A message over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server could not start or reach the match.
pub const INTERNAL_ERROR: u16 = 1011;
/// The room is full; try again later or another room.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// A resume token was refused: the protocol's own error code, as a close
/// code (see the module's doc).
pub const RESUME_REFUSED: u16 = wire::error_code::RESUME_REFUSED;

/// How a connection ended, for logs and the `tickwire_closes_total` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    PeerClosed,
    PeerAway,
    PeerVanished,
    Shutdown,
    TextFrame,
    BadMessage,
    BadInput,
    ProtocolVersion,
    TooBig,
    Flooding,
    FrameFlooding,
    Idle,
    WriteTimeout,
    RoomFull,
    SocketError,
    Internal,
    SpectatorInput,
    ResumeRefused,
    Kicked,
    RoomClosed,
    Drained,
}

impl End {
    /// Every end, in the order of the module's table.
    pub(super) const ALL: [End; 21] = [
        Self::PeerClosed,
        Self::PeerAway,
        Self::PeerVanished,
        Self::Shutdown,
        Self::TextFrame,
        Self::BadMessage,
        Self::BadInput,
        Self::ProtocolVersion,
        Self::TooBig,
        Self::Flooding,
        Self::FrameFlooding,
        Self::Idle,
        Self::WriteTimeout,
        Self::RoomFull,
        Self::SocketError,
        Self::Internal,
        Self::SpectatorInput,
        Self::ResumeRefused,
        Self::Kicked,
        Self::RoomClosed,
        Self::Drained,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::PeerClosed => "peer_closed",
            Self::PeerAway => "peer_away",
            Self::PeerVanished => "peer_vanished",
            Self::Shutdown => "shutdown",
            Self::TextFrame => "text_frame",
            Self::BadMessage => "bad_message",
            Self::BadInput => "bad_input",
            Self::ProtocolVersion => "protocol_mismatch",
            Self::TooBig => "message_too_big",
            Self::Flooding => "input_flooding",
            Self::FrameFlooding => "frame_flooding",
            Self::Idle => "idle_timeout",
            Self::WriteTimeout => "write_timeout",
            Self::RoomFull => "room_full",
            Self::SocketError => "socket_error",
            Self::Internal => "internal_error",
            Self::SpectatorInput => "spectator_input",
            Self::ResumeRefused => "resume_refused",
            Self::Kicked => "kicked",
            Self::RoomClosed => "room_closed",
            Self::Drained => "drained",
        }
    }

    /// How a close frame from the peer, `payload`, ends the connection: a
    /// leave with 1000 or no code, a going away with any other.
    pub(super) fn peer_closed(payload: &[u8]) -> Self {
        match payload {
            [] => Self::PeerClosed,
            [a, b, ..] if u16::from_be_bytes([*a, *b]) == 1000 => Self::PeerClosed,
            _ => Self::PeerAway,
        }
    }

    /// Whether the connection ended without the player's consent and
    /// without its fault, so that its seat is held for a resume (see the
    /// module's doc).
    pub(super) fn holds_seat(self) -> bool {
        matches!(
            self,
            Self::PeerAway
                | Self::PeerVanished
                | Self::SocketError
                | Self::WriteTimeout
                | Self::Idle
        )
    }
}

/// The close code, the protocol error code and the end of an operator's
/// close.
pub(super) fn operator_close(kind: OperatorClose) -> (u16, u16, End) {
    match kind {
        OperatorClose::Kicked => (
            wire::close_code::KICKED,
            wire::error_code::KICKED,
            End::Kicked,
        ),
        OperatorClose::RoomClosed => (
            wire::close_code::ROOM_CLOSED,
            wire::error_code::ROOM_CLOSED,
            End::RoomClosed,
        ),
        OperatorClose::Drained => (GOING_AWAY, wire::error_code::SHUTDOWN, End::Drained),
    }
}

/// A close the server sends: the protocol error message first (its code
/// from the protocol's `error_code`), then the WebSocket close frame.
#[derive(Debug)]
pub(super) struct CloseWith {
    /// WebSocket close code (see the constants above).
    pub(super) code: u16,
    /// The protocol's error code for the error message.
    pub(super) error_code: u16,
    /// Why, in words; cut to fit each frame.
    pub(super) reason: String,
}

impl CloseWith {
    /// A close for a connection ending as `end`, with the protocol error
    /// code that goes with it.
    pub(super) fn new(end: End, code: u16, reason: &str) -> Self {
        let error_code = match end {
            End::Flooding | End::FrameFlooding => wire::error_code::RATE_LIMITED,
            End::ProtocolVersion => wire::error_code::PROTOCOL_VERSION,
            End::RoomFull => wire::error_code::FULL,
            End::Shutdown => wire::error_code::SHUTDOWN,
            End::BadInput => wire::error_code::BAD_INPUT,
            End::SpectatorInput => wire::error_code::SPECTATOR_INPUT,
            End::ResumeRefused => wire::error_code::RESUME_REFUSED,
            _ => wire::error_code::MALFORMED,
        };
        Self {
            code,
            error_code,
            reason: reason.to_owned(),
        }
    }
}

/// A close before the player ever joined, and how the connection ended.
#[derive(Debug)]
pub(super) struct Refusal {
    close: CloseWith,
    end: End,
}

impl Refusal {
    fn new(code: u16, error_code: u16, reason: String, end: End) -> Self {
        Self {
            close: CloseWith {
                code,
                error_code,
                reason,
            },
            end,
        }
    }

    /// The lobby gave no seat: each error with its own codes.
    pub(super) fn seat(error: &SeatError) -> Self {
        let (code, error_code, end) = match error {
            SeatError::Full { .. }
            | SeatError::TooManyRooms { .. }
            | SeatError::SpectatorsFull { .. }
            | SeatError::Draining => (TRY_AGAIN_LATER, wire::error_code::FULL, End::RoomFull),
            SeatError::ShuttingDown => (GOING_AWAY, wire::error_code::SHUTDOWN, End::Shutdown),
            // The protocol has no server-error code; 4003 is what the
            // server sends whenever it cannot start or reach a room.
            SeatError::Game(_) => (INTERNAL_ERROR, wire::error_code::UNEXPECTED, End::Internal),
        };
        Self::new(code, error_code, error.to_string(), end)
    }

    /// The room (the game) refused the join.
    pub(super) fn join(error: &JoinError, room: &str) -> Self {
        let reason = match error {
            JoinError::Full(n) => format!("room `{room}` is full ({n} players)"),
            JoinError::Refused(why) => format!("join refused: {why}"),
        };
        Self::new(
            TRY_AGAIN_LATER,
            wire::error_code::FULL,
            reason,
            End::RoomFull,
        )
    }

    /// A resume token was refused; counted by its reason.
    pub(super) fn resume(refused: &Refused) -> Self {
        metrics::counter!(stats::RESUMES_REFUSED, "reason" => refused.label()).increment(1);
        Self::new(
            RESUME_REFUSED,
            wire::error_code::RESUME_REFUSED,
            refused.to_string(),
            End::ResumeRefused,
        )
    }

    /// The room task is gone, or never answered the join.
    pub(super) fn room_unavailable() -> Self {
        Self::new(
            INTERNAL_ERROR,
            wire::error_code::UNEXPECTED,
            "room unavailable".to_owned(),
            End::Internal,
        )
    }

    /// Sends the error message and the close, and counts the close.
    pub(super) async fn send(self, ws: &mut WebSocket<Stream>) {
        let CloseWith {
            code,
            error_code,
            reason,
        } = self.close;
        tracing::info!(code, reason = reason.as_str(), "connection refused");
        let message = wire::encode_error(error_code, &reason);
        let _ = ws
            .write_frame(Frame::binary(Payload::Borrowed(&message)))
            .await;
        let _ = ws
            .write_frame(Frame::close(code, close_reason(&reason)))
            .await;
        metrics::counter!(stats::CLOSES, "reason" => self.end.label()).increment(1);
    }
}

/// A close reason fits in a control frame: at most 123 bytes, cut on a
/// character boundary.
pub(super) fn close_reason(reason: &str) -> &[u8] {
    crate::wire::truncate_utf8(reason, 123).as_bytes()
}

/// The echo of a peer's close frame: its code and as much of its reason
/// as fits a control frame (125 bytes), cut on a character boundary. A
/// reason that is not UTF-8 never gets here (the frame is refused).
pub(super) fn close_echo(payload: &[u8]) -> bytes::Bytes {
    if payload.len() <= 125 {
        return bytes::Bytes::copy_from_slice(payload);
    }
    let reason = std::str::from_utf8(&payload[2..]).unwrap_or_default();
    let mut echo = payload[..2].to_vec();
    echo.extend_from_slice(close_reason(reason));
    echo.into()
}

/// How long a socket stays open after the server's close frame.
const LINGER: Duration = Duration::from_millis(500);

/// Ends the close handshake once the writer has stopped: `written` is how
/// the writer ended (`None`: the reader knows why). Waits for the reader
/// (or aborts it) and returns how the connection ended.
pub(super) async fn finish(
    written: Option<End>,
    mut reader: JoinHandle<(End, WebSocketRead<SocketRead>)>,
) -> End {
    // After our close frame the socket stays open a moment, read and
    // ignored, so the peer can read the close and answer it: closing a
    // socket with unread input resets it, and a reset peer may never see
    // the close code.
    match written {
        Some(end @ (End::WriteTimeout | End::PeerClosed | End::PeerAway)) => {
            reader.abort();
            end
        }
        // Our close is out; the reader returns when the peer answers it.
        Some(end) => {
            if tokio::time::timeout(LINGER, &mut reader).await.is_err() {
                reader.abort();
            }
            end
        }
        // The reader decided (and handed back the read half), or the socket
        // failed under the writer and the reader is about to see how.
        None => match tokio::time::timeout(Duration::from_millis(100), &mut reader).await {
            Ok(Ok((end, read_half))) => {
                linger(read_half).await;
                end
            }
            _ => {
                reader.abort();
                End::SocketError
            }
        },
    }
}

/// Reads and ignores whatever the peer still sends, until its close, its
/// end of stream, or [`LINGER`].
async fn linger(mut socket: WebSocketRead<SocketRead>) {
    let mut ignore = |_: Frame<'_>| std::future::ready(Ok::<(), std::convert::Infallible>(()));
    let drain = async {
        while let Ok(frame) = socket.read_frame(&mut ignore).await {
            if frame.opcode == OpCode::Close {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123);
        assert!(std::str::from_utf8(cut).is_ok());
    }

    #[test]
    fn a_close_echo_fits_a_control_frame() {
        let mut long = 1000u16.to_be_bytes().to_vec();
        long.extend_from_slice("é".repeat(2500).as_bytes());
        let echo = close_echo(&long);
        assert!(echo.len() <= 125, "{}", echo.len());
        assert_eq!(echo[..2], long[..2], "the code is kept");
        assert!(std::str::from_utf8(&echo[2..]).is_ok());
        let short = [0x03, 0xe8, b'o', b'k'];
        assert_eq!(close_echo(&short)[..], short);
    }

    #[test]
    fn the_close_table_names_every_way_a_connection_ends() {
        use End::*;
        let all = [
            PeerClosed,
            PeerAway,
            PeerVanished,
            Shutdown,
            TextFrame,
            BadMessage,
            BadInput,
            ProtocolVersion,
            TooBig,
            Flooding,
            FrameFlooding,
            Idle,
            WriteTimeout,
            RoomFull,
            SocketError,
            Internal,
            SpectatorInput,
            ResumeRefused,
            Kicked,
            RoomClosed,
            Drained,
        ];
        // Does not compile when a variant is added: add it above, and to
        // the table in the module doc.
        for end in all {
            match end {
                PeerClosed | PeerAway | PeerVanished | Shutdown | TextFrame | BadMessage
                | BadInput | ProtocolVersion | TooBig | Flooding | FrameFlooding | Idle
                | WriteTimeout | RoomFull | SocketError | Internal | SpectatorInput
                | ResumeRefused | Kicked | RoomClosed | Drained => {}
            }
        }
        assert_eq!(
            all,
            End::ALL,
            "End::ALL (the metric's labels) has every end"
        );
        let table: String = include_str!("close.rs")
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .filter(|line| line.starts_with("//! |"))
            .collect();
        for end in all {
            let label = format!("`{}`", end.label());
            assert!(table.contains(&label), "{label} is not in the close table");
        }
    }

    #[test]
    fn only_a_drop_that_is_neither_consented_nor_misbehaviour_holds_the_seat() {
        use End::*;
        let holding = [PeerAway, PeerVanished, SocketError, WriteTimeout, Idle];
        for end in [
            PeerClosed,
            Shutdown,
            TextFrame,
            BadMessage,
            BadInput,
            ProtocolVersion,
            TooBig,
            Flooding,
            FrameFlooding,
            RoomFull,
            Internal,
            SpectatorInput,
            ResumeRefused,
            Kicked,
            RoomClosed,
            Drained,
        ] {
            assert!(!end.holds_seat(), "{end:?}");
        }
        for end in holding {
            assert!(end.holds_seat(), "{end:?}");
        }
        assert_eq!(End::peer_closed(&[]), PeerClosed);
        assert_eq!(End::peer_closed(&[0x03, 0xe8, b'o', b'k']), PeerClosed);
        assert_eq!(End::peer_closed(&[0x03, 0xe9]), PeerAway, "1001 going away");
        assert_eq!(End::peer_closed(&[0x0f, 0xa0]), PeerAway, "4000");
    }

    #[test]
    fn a_refused_resume_closes_with_4008_and_its_reason() {
        let refusal = Refusal::resume(&Refused::InUse);
        assert_eq!(refusal.close.code, 4008);
        assert_eq!(refusal.close.error_code, wire::error_code::RESUME_REFUSED);
        assert_eq!(refusal.end, End::ResumeRefused);
        assert!(
            refusal.close.reason.contains("in use"),
            "{:?}",
            refusal.close.reason
        );
    }

    #[test]
    fn each_seat_error_has_its_own_codes() {
        use wire::error_code;
        let cases = [
            (
                SeatError::Full {
                    room: "r".into(),
                    limit: 2,
                },
                TRY_AGAIN_LATER,
                error_code::FULL,
                End::RoomFull,
            ),
            (
                SeatError::TooManyRooms { limit: 2 },
                TRY_AGAIN_LATER,
                error_code::FULL,
                End::RoomFull,
            ),
            (
                SeatError::ShuttingDown,
                GOING_AWAY,
                error_code::SHUTDOWN,
                End::Shutdown,
            ),
            (
                SeatError::Game("no arena".into()),
                INTERNAL_ERROR,
                error_code::UNEXPECTED,
                End::Internal,
            ),
            (
                SeatError::SpectatorsFull {
                    room: "r".into(),
                    limit: 64,
                },
                TRY_AGAIN_LATER,
                error_code::FULL,
                End::RoomFull,
            ),
        ];
        for (error, code, protocol_code, end) in cases {
            let refusal = Refusal::seat(&error);
            assert_eq!(refusal.close.code, code, "{error:?}");
            assert_eq!(refusal.close.error_code, protocol_code, "{error:?}");
            assert_eq!(refusal.end, end, "{error:?}");
            assert_eq!(refusal.close.reason, error.to_string());
        }
    }
}
