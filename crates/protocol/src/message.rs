//! The messages of the protocol, one per WebSocket binary message.
//!
//! A client opens `/ws?room=&name=` (which joins it to a room), or
//! `/ws?resume=TOKEN&since=TICK` (which takes back a held seat), then sends
//! [`ClientMessage::Join`] to check versions. The server answers [`ServerMessage::Welcome`] (with the schema that
//! every later snapshot is decoded by) or [`ServerMessage::Error`], then
//! sends a [`ServerMessage::Snapshot`] after every tick, plus pongs and
//! events. Control messages are bincode (see [`crate::codec`]); snapshot
//! bodies are hand-encoded from the same primitives (see
//! [`crate::snapshot`]).

use serde::{Deserialize, Serialize};
use tickwire_types::{EventError, GameEvent, NetId, PlayerId, PlayerInput, Schema, SchemaError};

use crate::codec::{self, CodecError, Reader};
use crate::snapshot::{
    EncodeError, SNAPSHOT_TAG, SnapshotBody, SnapshotDecodeError, decode_body,
    write_snapshot_message,
};
use crate::{Limits, PROTOCOL_VERSION};

/// Longest player or room name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest chat line, in bytes of UTF-8.
pub const MAX_CHAT_BYTES: usize = 256;
/// Longest error reason, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 256;
/// Most players a welcome's roster lists.
pub const MAX_ROSTER: usize = 1024;
/// Most named constants in a welcome.
pub const MAX_CONSTANTS: usize = 64;
/// Longest node URL in a [`ServerMessage::Redirect`], in bytes.
pub const MAX_URL_BYTES: usize = 256;
/// Longest seat ticket in a [`ServerMessage::Redirect`], in bytes.
pub const MAX_TICKET_BYTES: usize = 2048;
/// Longest resume token in a welcome, in bytes.
pub const MAX_RESUME_TOKEN_BYTES: usize = 512;

/// Codes of [`ServerMessage::Error`], in 4000 to 4999 (the range RFC 6455
/// leaves to applications for close codes), so a client can tell them from
/// the standard close codes.
///
/// They are not the codes the socket is closed with: the server sends the
/// error message with one of these codes and the full reason, then closes
/// with a standard close code (1001 going away, 1002 protocol error, 1003
/// unsupported data, 1008 policy violation, 1009 message too big, 1011
/// internal error, 1013 try again later) and the reason cut to fit a close
/// frame. Several error codes share a close code (4000, 4001 and 4005 all
/// close with 1008); `docs/operations.md` lists which goes with which.
/// [`error_code::RESUME_REFUSED`] (like cluster mode's seat-ticket codes)
/// is an exception: its close code is 4008 too, so that a browser, which
/// sees close codes, tells a refused resume from a dropped connection
/// without reading the error message.
pub mod error_code {
    /// The client speaks another protocol version.
    pub const PROTOCOL_VERSION: u16 = 4000;
    /// The client was built for another schema.
    pub const SCHEMA_MISMATCH: u16 = 4001;
    /// The client sent bytes that are not a message.
    pub const MALFORMED: u16 = 4002;
    /// The client sent a message out of order (input before join...).
    pub const UNEXPECTED: u16 = 4003;
    /// The room or the server is full.
    pub const FULL: u16 = 4004;
    /// The client sent more than its rate limit.
    pub const RATE_LIMITED: u16 = 4005;
    /// The server is shutting down.
    pub const SHUTDOWN: u16 = 4006;
    /// The client sent an input the game's declared input does not admit
    /// (a value outside its field's range, or past the declared fields;
    /// see `Schema::check_input`).
    pub const BAD_INPUT: u16 = 4007;
    /// A resume token was refused: forged or malformed, expired, in use by
    /// another connection, superseded by a newer token, for a seat already
    /// released, or for another room. The reason says which. The socket is
    /// closed with this same code.
    pub const RESUME_REFUSED: u16 = 4008;
    /// A spectator sent an input: a spectator watches and never plays.
    pub const SPECTATOR_INPUT: u16 = 4009;
    /// A cluster node refused the seat ticket: malformed, or not signed
    /// with the cluster's secret. Closes with [`close_code::SEAT_TICKET_INVALID`](super::close_code::SEAT_TICKET_INVALID).
    pub const SEAT_TICKET_INVALID: u16 = 4011;
    /// A cluster node refused the seat ticket: past its expiry. Closes
    /// with [`close_code::SEAT_TICKET_EXPIRED`](super::close_code::SEAT_TICKET_EXPIRED).
    pub const SEAT_TICKET_EXPIRED: u16 = 4012;
    /// A cluster node refused the seat ticket: already used. Closes with
    /// [`close_code::SEAT_TICKET_REPLAYED`](super::close_code::SEAT_TICKET_REPLAYED).
    pub const SEAT_TICKET_REPLAYED: u16 = 4013;
    /// An operator kicked the player (the server's admin console or API);
    /// the reason is the operator's. Closes with [`close_code::KICKED`](super::close_code::KICKED).
    pub const KICKED: u16 = 4014;
    /// An operator closed the player's room; the reason is the
    /// operator's. Closes with [`close_code::ROOM_CLOSED`](super::close_code::ROOM_CLOSED).
    pub const ROOM_CLOSED: u16 = 4015;
}

/// The WebSocket close codes of cluster mode (`docs/scaling.md`) and of an
/// operator's actions (`docs/operations.md`), in the range RFC 6455 leaves
/// to applications.
///
/// Every other error closes with a standard code (see [`error_code`]);
/// these close with their own, so that a browser, which sees the close code
/// but not always the message before it, can tell them apart. A ticket
/// refusal, a kick and a room closed by an operator close with the same
/// number as their error message's code; the wrong-node close follows a [`ServerMessage::Redirect`], not an error.
pub mod close_code {
    /// The room is on another node: the [`ServerMessage::Redirect`](super::ServerMessage::Redirect)
    /// just sent names it. Connect there (once).
    pub const WRONG_NODE: u16 = 4010;
    /// The seat ticket is malformed or forged.
    pub const SEAT_TICKET_INVALID: u16 = 4011;
    /// The seat ticket has expired: matchmake again.
    pub const SEAT_TICKET_EXPIRED: u16 = 4012;
    /// The seat ticket was used before: matchmake again.
    pub const SEAT_TICKET_REPLAYED: u16 = 4013;
    /// An operator kicked the player (`kicked by operator: REASON`): do
    /// not reconnect on your own.
    pub const KICKED: u16 = 4014;
    /// An operator closed the room (`room closed by operator: REASON`):
    /// the match is over.
    pub const ROOM_CLOSED: u16 = 4015;
}

/// The `player` of a spectator's [`Welcome`]: no player (a spectator holds
/// no seat). The same bits as the `-1` of a [`Quantization::Player`] field.
///
/// [`Quantization::Player`]: tickwire_types::Quantization::Player
pub const NO_PLAYER: PlayerId = PlayerId(u32::MAX);

/// The `avatar` of a [`Welcome`] that names no entity (a spectator that
/// follows no one): no entity has id 0.
pub const NO_ENTITY: NetId = NetId(0);

/// A message from a client to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// The first message on a socket: the version check. (The tick a
    /// reconnecting client holds travels in the URL, `since=TICK`, so the
    /// server knows it before the first snapshot.)
    Join {
        /// [`PROTOCOL_VERSION`] of the client.
        protocol_version: u16,
        /// [`Schema::hash`] the client was built for, 0 when it decodes any
        /// schema generically.
        schema_hash: u64,
    },
    /// One input; the server applies the newest one before each tick. Its
    /// values are the game's declared input fields ([`Schema::input`]), in
    /// order; the server checks them with [`Schema::check_input`]. It ends
    /// with the tick the client was showing ([`PlayerInput::view`]), which
    /// the server's lag compensation rewinds to.
    Input(PlayerInput),
    /// The newest snapshot tick the client applied.
    Ack {
        /// That tick.
        tick: u32,
    },
    /// A round-trip probe; the server answers with a pong.
    Ping {
        /// Any client clock value, echoed back.
        client_time: u32,
    },
    /// A chat line to the room.
    Chat {
        /// At most [`MAX_CHAT_BYTES`].
        text: String,
    },
    /// What a spectator watches from now on. A player's connection sends
    /// none (the server ignores it).
    Watch(WatchTarget),
}

/// What a spectator asks to watch ([`ClientMessage::Watch`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum WatchTarget {
    /// Follow this player: its snapshots' content, exactly (the whole room
    /// for a game that gives its players no view). A player who is not in
    /// the room, or leaves it, gives way to [`WatchTarget::Anyone`].
    Player(PlayerId),
    /// The entities in a rectangle of the world: its smallest corner and
    /// its size, in world units. The server shrinks a side over its limit
    /// about the rectangle's centre; a rectangle that is not finite, or
    /// not of a positive size, is refused.
    Rect {
        /// Smallest x.
        x: f32,
        /// Smallest y.
        y: f32,
        /// Size along x.
        width: f32,
        /// Size along y.
        height: f32,
    },
    /// Follow whichever player the server picks: the one with the lowest
    /// id, and the next when that one leaves.
    Anyone,
}

impl WatchTarget {
    /// Whether a [`WatchTarget::Rect`] is finite and of a positive size
    /// (the other targets always are).
    pub fn is_valid(&self) -> bool {
        match *self {
            Self::Rect {
                x,
                y,
                width,
                height,
            } => [x, y, width, height].iter().all(|v| v.is_finite()) && width > 0.0 && height > 0.0,
            Self::Player(_) | Self::Anyone => true,
        }
    }
}

/// Why bytes from a client are not a [`ClientMessage`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientDecodeError {
    /// Not a well-formed message.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A chat line over [`MAX_CHAT_BYTES`].
    #[error("chat line of {0} bytes is over the limit of {MAX_CHAT_BYTES}")]
    ChatTooLong(usize),
    /// A watch rectangle that is not finite, or not of a positive size.
    #[error("a watch rectangle must be finite and of a positive size")]
    BadRect,
}

impl ClientMessage {
    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        codec::encode_into(self, out);
    }

    /// The wire form as a new buffer.
    /// ```
    /// # use tickwire_protocol::ClientMessage;
    /// let ack = ClientMessage::Ack { tick: 300 };
    /// assert_eq!(ack.to_bytes(), [2, 251, 0x2c, 0x01]);
    /// assert_eq!(ClientMessage::decode(&ack.to_bytes()), Ok(ack));
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one whole message; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, ClientDecodeError> {
        let message: Self = codec::decode_exact(bytes)?;
        match &message {
            Self::Chat { text } if text.len() > MAX_CHAT_BYTES => {
                return Err(ClientDecodeError::ChatTooLong(text.len()));
            }
            Self::Watch(target) if !target.is_valid() => return Err(ClientDecodeError::BadRect),
            _ => {}
        }
        Ok(message)
    }

    /// A join for this build of the protocol.
    pub fn join(schema_hash: u64) -> Self {
        Self::Join {
            protocol_version: PROTOCOL_VERSION,
            schema_hash,
        }
    }
}

/// Why the server refuses a join: the code and reason of the
/// [`ServerMessage::Error`] it sends before closing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JoinRefused {
    /// Client and server speak different protocol versions.
    #[error("protocol version {client} is not supported, the server speaks {server}")]
    ProtocolVersion {
        /// The client's version.
        client: u16,
        /// The server's version.
        server: u16,
    },
    /// The client was built for another schema.
    #[error("schema hash {client:#018x} does not match the server's {server:#018x}")]
    SchemaMismatch {
        /// The client's hash.
        client: u64,
        /// The server's hash.
        server: u64,
    },
}

impl JoinRefused {
    /// The [`error_code`] to send.
    pub fn code(&self) -> u16 {
        match self {
            Self::ProtocolVersion { .. } => error_code::PROTOCOL_VERSION,
            Self::SchemaMismatch { .. } => error_code::SCHEMA_MISMATCH,
        }
    }

    /// The error message to send, then close with the same code.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code(),
            reason: self.to_string(),
        }
    }
}

/// The server's check of a [`ClientMessage::Join`]: the protocol version
/// must be [`PROTOCOL_VERSION`], and the schema hash 0 (generic client) or
/// the server's.
pub fn check_join(
    protocol_version: u16,
    schema_hash: u64,
    server_schema_hash: u64,
) -> Result<(), JoinRefused> {
    if protocol_version != PROTOCOL_VERSION {
        return Err(JoinRefused::ProtocolVersion {
            client: protocol_version,
            server: PROTOCOL_VERSION,
        });
    }
    if schema_hash != 0 && schema_hash != server_schema_hash {
        return Err(JoinRefused::SchemaMismatch {
            client: schema_hash,
            server: server_schema_hash,
        });
    }
    Ok(())
}

/// The server's answer to a join: who the player is and how to decode
/// everything that follows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`] of the server.
    pub protocol_version: u16,
    /// The player's id in the room.
    pub player: PlayerId,
    /// The entity the player controls (its own avatar, to predict).
    pub avatar: NetId,
    /// The room's name.
    pub room: String,
    /// Ticks per second.
    pub tick_rate: u16,
    /// The room's current tick.
    pub tick: u32,
    /// What the snapshots replicate and how it is quantized.
    pub schema: Schema,
    /// `schema.hash()`, checked by the decoder.
    pub schema_hash: u64,
    /// Everyone in the room, the new player included.
    pub roster: Vec<(PlayerId, String)>,
    /// Named constants the game gives its clients to predict and draw with
    /// (the arena's `arena_size` and `player_speed`), at most
    /// [`MAX_CONSTANTS`], names at most [`MAX_NAME_BYTES`].
    pub constants: Vec<(String, f32)>,
    /// Whether the connection spectates: it holds no seat and controls no
    /// avatar, and an input from it closes it. A spectator's `player` is
    /// [`NO_PLAYER`], its `avatar` the followed player's avatar
    /// ([`NO_ENTITY`] when it follows no one), and the roster lists the
    /// players only.
    pub spectator: bool,
    /// The player a spectator follows, if any; always `None` for a player.
    pub following: Option<PlayerId>,
    /// The player's resume token, at most [`MAX_RESUME_TOKEN_BYTES`]: after
    /// a dropped connection, `/ws?resume=TOKEN&since=TICK` takes the seat
    /// back while the server holds it. Empty when the server holds no
    /// seats. Good for one connection: each welcome brings a fresh one.
    pub resume: String,
}

/// Something to tell players once: a kill, a chat line, a join, a leave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerEvent {
    /// An event of the game (the arena's kill feed): a kind of
    /// [`Schema::events`] and its field values.
    Game(GameEvent),
    /// A chat line.
    Chat {
        /// Who said it.
        player: PlayerId,
        /// What was said, at most [`MAX_CHAT_BYTES`].
        text: String,
    },
    /// A player joined the room.
    PlayerJoined {
        /// Their id.
        player: PlayerId,
        /// Their name, at most [`MAX_NAME_BYTES`].
        name: String,
    },
    /// A player left the room.
    PlayerLeft {
        /// Their id.
        player: PlayerId,
    },
    /// To a spectator only: whom its snapshots show from now on, when that
    /// changes (its own [`ClientMessage::Watch`], or the followed player
    /// leaving). With a spectator delay, it comes with the first snapshot
    /// of the new view, as delayed as the snapshots.
    Watching {
        /// The player followed and its avatar; `None`: no one (a
        /// rectangle, or a room without players).
        followed: Option<(PlayerId, NetId)>,
    },
}

/// A decoded snapshot message: the per-player header and the shared body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The newest input sequence of this player that the tick applied.
    pub last_input: Option<u32>,
    /// The state change.
    pub body: SnapshotBody,
}

/// A message from the server to a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// Tag 0: the answer to a join.
    Welcome(Welcome),
    /// Tag 1: the state after a tick.
    Snapshot(Snapshot),
    /// Tag 2: the answer to a ping.
    Pong {
        /// The ping's value, echoed.
        client_time: u32,
        /// The room's tick when the ping was answered.
        server_tick: u32,
    },
    /// Tag 3: something to show once.
    Event(ServerEvent),
    /// Tag 4: why the server is closing the socket.
    Error {
        /// One of [`error_code`].
        code: u16,
        /// Human-readable, at most [`MAX_REASON_BYTES`].
        reason: String,
    },
    /// Tag 5: the room lives on another node of the cluster: connect there
    /// instead (`/ws?room=ROOM&seat=TICKET` under `url`). The server closes
    /// the socket with [`close_code::WRONG_NODE`] right after; a client
    /// follows one redirect, not a chain of them.
    Redirect {
        /// The node's public base URL (`https://node-2.game.example`), at
        /// most [`MAX_URL_BYTES`].
        url: String,
        /// The room, at most [`MAX_NAME_BYTES`].
        room: String,
        /// A seat ticket for that node and room, at most
        /// [`MAX_TICKET_BYTES`]; empty when the node is to place the
        /// player itself.
        ticket: String,
    },
}

const WELCOME_TAG: u32 = 0;
const PONG_TAG: u32 = 2;
const EVENT_TAG: u32 = 3;
const ERROR_TAG: u32 = 4;
const REDIRECT_TAG: u32 = 5;

/// Why bytes from the server are not a [`ServerMessage`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServerDecodeError {
    /// The message is empty.
    #[error("empty message")]
    Empty,
    /// The first varint is not a known message tag.
    #[error("unknown server message tag {0}")]
    UnknownTag(u32),
    /// A control message that is not well-formed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A snapshot that is not well-formed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotDecodeError),
    /// A snapshot arrived before any welcome gave the schema.
    #[error("snapshot before the welcome")]
    NoSchema,
    /// The welcome's schema is not usable.
    #[error("welcome carries an invalid schema: {0}")]
    BadSchema(#[from] SchemaError),
    /// The welcome's schema does not hash to the hash it carries.
    #[error("welcome schema hashes to {computed:#018x}, but claims {claimed:#018x}")]
    SchemaHash {
        /// The hash on the wire.
        claimed: u64,
        /// The hash of the schema on the wire.
        computed: u64,
    },
    /// A game event the schema does not declare, or with a value its field
    /// does not admit.
    #[error("game event: {0}")]
    Event(#[from] EventError),
    /// A string or list over its limit.
    #[error("{what} of {len} is over the limit of {limit}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

fn check_len(what: &'static str, len: usize, limit: usize) -> Result<(), ServerDecodeError> {
    if len > limit {
        return Err(ServerDecodeError::TooLong { what, len, limit });
    }
    Ok(())
}

impl ServerMessage {
    /// Appends the wire form to `out`. Only a snapshot can fail (when its
    /// body does not fit `schema`); servers write snapshots with
    /// [`write_snapshot_message`] and a shared body instead.
    pub fn encode(&self, schema: &Schema, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Welcome(welcome) => {
                out.push(WELCOME_TAG as u8);
                codec::encode_into(welcome, out);
            }
            Self::Snapshot(snapshot) => {
                let mut body = Vec::new();
                snapshot.body.encode(schema, &mut body)?;
                write_snapshot_message(out, snapshot.last_input, &body);
            }
            Self::Pong {
                client_time,
                server_tick,
            } => {
                out.push(PONG_TAG as u8);
                codec::encode_into(&(client_time, server_tick), out);
            }
            Self::Event(event) => {
                out.push(EVENT_TAG as u8);
                codec::encode_into(event, out);
            }
            Self::Error { code, reason } => {
                out.push(ERROR_TAG as u8);
                codec::encode_into(&(code, reason), out);
            }
            Self::Redirect { url, room, ticket } => {
                out.push(REDIRECT_TAG as u8);
                codec::encode_into(&(url, room, ticket), out);
            }
        }
        Ok(())
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self, schema: &Schema) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(schema, &mut out)?;
        Ok(out)
    }

    /// Decodes one whole message. Snapshots need the schema of the welcome;
    /// a welcome's schema is validated and its hash checked. Given a schema,
    /// a game event is checked against its declaration
    /// ([`Schema::check_event`]).
    pub fn decode(
        bytes: &[u8],
        schema: Option<&Schema>,
        limits: &Limits,
    ) -> Result<Self, ServerDecodeError> {
        let mut r = Reader::new(bytes);
        let tag = r.u32().map_err(|_| ServerDecodeError::Empty)?;
        let rest = bytes.get(r.position()..).unwrap_or_default();
        match tag {
            WELCOME_TAG => {
                let welcome: Welcome = codec::decode_exact(rest)?;
                check_len("room name", welcome.room.len(), MAX_NAME_BYTES)?;
                check_len("roster", welcome.roster.len(), MAX_ROSTER)?;
                for (_, name) in &welcome.roster {
                    check_len("player name", name.len(), MAX_NAME_BYTES)?;
                }
                check_len("constants", welcome.constants.len(), MAX_CONSTANTS)?;
                for (name, _) in &welcome.constants {
                    check_len("constant name", name.len(), MAX_NAME_BYTES)?;
                }
                check_len("resume token", welcome.resume.len(), MAX_RESUME_TOKEN_BYTES)?;
                welcome.schema.validate()?;
                let computed = welcome.schema.hash();
                if computed != welcome.schema_hash {
                    return Err(ServerDecodeError::SchemaHash {
                        claimed: welcome.schema_hash,
                        computed,
                    });
                }
                Ok(Self::Welcome(welcome))
            }
            t if t == u32::from(SNAPSHOT_TAG) => {
                let schema = schema.ok_or(ServerDecodeError::NoSchema)?;
                Ok(Self::Snapshot(decode_snapshot_message(
                    schema, bytes, limits,
                )?))
            }
            PONG_TAG => {
                let (client_time, server_tick) = codec::decode_exact(rest)?;
                Ok(Self::Pong {
                    client_time,
                    server_tick,
                })
            }
            EVENT_TAG => {
                let event: ServerEvent = codec::decode_exact(rest)?;
                match &event {
                    ServerEvent::Chat { text, .. } => {
                        check_len("chat line", text.len(), MAX_CHAT_BYTES)?;
                    }
                    ServerEvent::PlayerJoined { name, .. } => {
                        check_len("player name", name.len(), MAX_NAME_BYTES)?;
                    }
                    ServerEvent::Game(game) => {
                        if let Some(schema) = schema {
                            schema.check_event(game)?;
                        }
                    }
                    ServerEvent::PlayerLeft { .. } | ServerEvent::Watching { .. } => {}
                }
                Ok(Self::Event(event))
            }
            ERROR_TAG => {
                let (code, reason): (u16, String) = codec::decode_exact(rest)?;
                check_len("error reason", reason.len(), MAX_REASON_BYTES)?;
                Ok(Self::Error { code, reason })
            }
            REDIRECT_TAG => {
                let (url, room, ticket): (String, String, String) = codec::decode_exact(rest)?;
                check_len("node url", url.len(), MAX_URL_BYTES)?;
                check_len("room name", room.len(), MAX_NAME_BYTES)?;
                check_len("seat ticket", ticket.len(), MAX_TICKET_BYTES)?;
                Ok(Self::Redirect { url, room, ticket })
            }
            other => Err(ServerDecodeError::UnknownTag(other)),
        }
    }
}

/// Decodes a whole snapshot message (tag, last input, body): the hot path
/// of every client, and the target of the fuzzer.
pub fn decode_snapshot_message(
    schema: &Schema,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Snapshot, SnapshotDecodeError> {
    if bytes.len() > limits.max_snapshot_bytes {
        return Err(SnapshotDecodeError::TooLarge {
            size: bytes.len(),
            limit: limits.max_snapshot_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let tag = r.u32()?;
    if tag != u32::from(SNAPSHOT_TAG) {
        return Err(SnapshotDecodeError::NotASnapshot(tag));
    }
    let last_input = match r.u8()? {
        0 => None,
        1 => Some(r.u32()?),
        other => return Err(SnapshotDecodeError::BadOption(other)),
    };
    let body = decode_body(schema, &mut r, limits)?;
    if r.remaining() != 0 {
        return Err(SnapshotDecodeError::TrailingBytes(r.remaining()));
    }
    Ok(Snapshot { last_input, body })
}
