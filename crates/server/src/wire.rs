//! The server's door to the protocol crate's messages.
//!
//! Every control message the server sends or parses goes through this
//! module, so the rest of the server speaks in game terms (a welcome, a
//! chat line, an error) and never in encodings. Snapshots are the
//! replication core's (`tickwire_protocol::Replicator`), which the room
//! drives once per tick; see `docs/architecture.md`.
//!
//! Every string the server puts on the wire is cut here to its protocol
//! limit, in bytes, on a character boundary ([`truncate_utf8`]): both
//! decoders refuse a whole message over a limit, so one string too long
//! would cost the client its connection. Names are already within theirs
//! (`crate::name`); the cut is the last line of defence.
//!
//! The simulation counts ticks in `u64`; the wire counts them in `u32`
//! (4.5 years at 30 Hz). The conversion lives here too.

use bytes::Bytes;
use tickwire_protocol::{
    Budget, MAX_CHAT_BYTES, MAX_NAME_BYTES, MAX_REASON_BYTES, ServerEvent, ServerMessage,
};
use tickwire_sim::{GameEvent, NetId, PlayerId, Schema};

pub use tickwire_protocol::{
    ClientDecodeError, ClientMessage, JoinRefused, PROTOCOL_VERSION, close_code, error_code,
    truncate_utf8,
};

/// A simulation tick as the wire counts it (saturating; see module docs).
pub fn wire_tick(tick: u64) -> u32 {
    u32::try_from(tick).unwrap_or(u32::MAX)
}

/// Decodes one client message from one binary WebSocket message.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage, ClientDecodeError> {
    ClientMessage::decode(bytes)
}

/// Checks a client's join: protocol version and schema hash.
pub fn check_join(
    protocol_version: u16,
    schema_hash: u64,
    server_schema_hash: u64,
) -> Result<(), JoinRefused> {
    tickwire_protocol::check_join(protocol_version, schema_hash, server_schema_hash)
}

/// What a player learns when it joins.
#[derive(Debug)]
pub struct Welcome<'a> {
    /// The player's id in the match.
    pub player: PlayerId,
    /// The entity the player controls.
    pub avatar: NetId,
    /// The room's name.
    pub room: &'a str,
    /// Ticks per second.
    pub tick_rate: u32,
    /// The room's last completed tick.
    pub tick: u64,
    /// The replicated-entity schema.
    pub schema: &'a Schema,
    /// Players in the room, this one included.
    pub roster: Vec<(PlayerId, String)>,
    /// The game's constants for its clients.
    pub constants: Vec<(String, f32)>,
    /// Whether the connection spectates (then `player` is
    /// `tickwire_protocol::NO_PLAYER` and `avatar` the followed player's).
    pub spectator: bool,
    /// The player a spectator follows, if any.
    pub following: Option<PlayerId>,
    /// The player's resume token; empty when the server holds no seats.
    pub resume: String,
}

/// `s` cut to `max` bytes on a character boundary, reusing its buffer.
fn cut(mut s: String, max: usize) -> String {
    let len = truncate_utf8(&s, max).len();
    s.truncate(len);
    s
}

/// Control messages never fail to encode (only snapshots can); an empty
/// frame would be a bug, and clients refuse it loudly.
fn control(message: &ServerMessage, schema: &Schema) -> Bytes {
    match message.to_bytes(schema) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            tracing::error!(%error, "a control message did not encode");
            Bytes::new()
        }
    }
}

/// An empty schema, for control messages that carry none.
fn no_schema() -> Schema {
    Schema::new("", Vec::new(), Vec::new(), Vec::new())
}

/// Encodes the welcome.
pub fn encode_welcome(welcome: Welcome<'_>) -> Bytes {
    let message = ServerMessage::Welcome(tickwire_protocol::Welcome {
        protocol_version: PROTOCOL_VERSION,
        player: welcome.player,
        avatar: welcome.avatar,
        room: truncate_utf8(welcome.room, MAX_NAME_BYTES).to_owned(),
        tick_rate: u16::try_from(welcome.tick_rate).unwrap_or(u16::MAX),
        tick: wire_tick(welcome.tick),
        schema: welcome.schema.clone(),
        schema_hash: welcome.schema.hash(),
        roster: welcome
            .roster
            .into_iter()
            .take(tickwire_protocol::MAX_ROSTER)
            .map(|(player, name)| (player, cut(name, MAX_NAME_BYTES)))
            .collect(),
        constants: welcome
            .constants
            .into_iter()
            .filter(|(name, _)| name.len() <= MAX_NAME_BYTES)
            .take(tickwire_protocol::MAX_CONSTANTS)
            .collect(),
        spectator: welcome.spectator,
        following: welcome.following,
        // A token is ASCII and far shorter; never cut one into a forgery.
        resume: if welcome.resume.len() <= tickwire_protocol::MAX_RESUME_TOKEN_BYTES {
            welcome.resume
        } else {
            String::new()
        },
    });
    control(&message, welcome.schema)
}

/// Encodes a pong answering `client_time` at the room's tick `tick`.
pub fn encode_pong(client_time: u32, tick: u64) -> Bytes {
    control(
        &ServerMessage::Pong {
            client_time,
            server_tick: wire_tick(tick),
        },
        &no_schema(),
    )
}

/// Encodes a game event (the kill feed).
pub fn encode_game_event(event: &GameEvent) -> Bytes {
    control(
        &ServerMessage::Event(ServerEvent::Game(*event)),
        &no_schema(),
    )
}

/// Encodes "a player joined".
pub fn encode_player_joined(player: PlayerId, name: &str) -> Bytes {
    let event = ServerEvent::PlayerJoined {
        player,
        name: truncate_utf8(name, MAX_NAME_BYTES).to_owned(),
    };
    control(&ServerMessage::Event(event), &no_schema())
}

/// Encodes "a player left".
pub fn encode_player_left(player: PlayerId) -> Bytes {
    control(
        &ServerMessage::Event(ServerEvent::PlayerLeft { player }),
        &no_schema(),
    )
}

/// Encodes, for a spectator, whom its snapshots follow from now on.
pub fn encode_watching(followed: Option<(PlayerId, NetId)>) -> Bytes {
    control(
        &ServerMessage::Event(ServerEvent::Watching { followed }),
        &no_schema(),
    )
}

/// Encodes a chat line.
pub fn encode_chat(player: PlayerId, text: &str) -> Bytes {
    let event = ServerEvent::Chat {
        player,
        text: truncate_utf8(text, MAX_CHAT_BYTES).to_owned(),
    };
    control(&ServerMessage::Event(event), &no_schema())
}

/// Encodes the error message sent just before a close. The reason is cut to
/// what the protocol accepts.
pub fn encode_error(code: u16, reason: &str) -> Bytes {
    control(
        &ServerMessage::Error {
            code,
            reason: truncate_utf8(reason, MAX_REASON_BYTES).to_owned(),
        },
        &no_schema(),
    )
}

/// Encodes a cluster redirect: the room is on the node at `url`; `ticket`
/// (a seat ticket, or empty) lets the player in there. Each string is cut
/// to what the protocol accepts.
pub fn encode_redirect(url: &str, room: &str, ticket: &str) -> Bytes {
    control(
        &ServerMessage::Redirect {
            url: truncate_utf8(url, tickwire_protocol::MAX_URL_BYTES).to_owned(),
            room: truncate_utf8(room, MAX_NAME_BYTES).to_owned(),
            ticket: truncate_utf8(ticket, tickwire_protocol::MAX_TICKET_BYTES).to_owned(),
        },
        &no_schema(),
    )
}

/// The per-snapshot budget of a player with a view, from the server's
/// `--bandwidth-budget` (bytes per second per player) at `tick_rate`
/// snapshots per second.
pub fn budget(bandwidth_budget: Option<u64>, tick_rate: u32) -> Option<Budget> {
    bandwidth_budget.map(|b| Budget::per_second(b, tick_rate))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use tickwire_protocol::Limits;
    use tickwire_sim::{FieldDecl, KindDecl, Quantization};

    fn schema() -> Schema {
        Schema::new(
            "t",
            vec![KindDecl {
                id: 0,
                name: "dot".into(),
                fields: vec![FieldDecl {
                    id: 0,
                    name: "x".into(),
                    quant: Quantization::Fixed { scale: 16 },
                }],
            }],
            Vec::new(),
            Vec::new(),
        )
    }

    fn decode(bytes: &[u8], schema: &Schema) -> ServerMessage {
        ServerMessage::decode(bytes, Some(schema), &Limits::default())
            .expect("what the server sends decodes")
    }

    #[test]
    fn strings_over_their_limit_are_cut_so_the_message_still_decodes() {
        let schema = schema();
        let long_name = "😀".repeat(24); // 96 bytes
        let welcome = encode_welcome(Welcome {
            player: PlayerId(1),
            avatar: NetId(1),
            room: &"r".repeat(100),
            tick_rate: 30,
            tick: 5,
            schema: &schema,
            roster: vec![
                (PlayerId(1), long_name.clone()),
                (PlayerId(2), "漢".repeat(22)),
            ],
            constants: vec![],
            spectator: false,
            following: None,
            resume: String::new(),
        });
        let ServerMessage::Welcome(w) = decode(&welcome, &schema) else {
            panic!("not a welcome");
        };
        assert_eq!(w.roster[0].1, "😀".repeat(16));
        assert_eq!(w.roster[1].1, "漢".repeat(21));
        assert_eq!(w.room.len(), MAX_NAME_BYTES);

        let joined = encode_player_joined(PlayerId(3), &long_name);
        assert!(matches!(decode(&joined, &schema),
            ServerMessage::Event(ServerEvent::PlayerJoined { name, .. }) if name == "😀".repeat(16)));

        let chat = encode_chat(PlayerId(3), &"語".repeat(100)); // 300 bytes
        assert!(matches!(decode(&chat, &schema),
            ServerMessage::Event(ServerEvent::Chat { text, .. }) if text == "語".repeat(85)));

        let error = encode_error(4002, &"é".repeat(200));
        assert!(matches!(decode(&error, &schema),
            ServerMessage::Error { reason, .. } if reason.len() == MAX_REASON_BYTES));
    }
}
