//! The bots' side of the protocol: the messages they send, and a decoder that
//! keeps the room's state exactly as a real client does.

use tickwire_protocol::{
    ClientMessage, ClientState, Limits, ServerMessage, decode_snapshot_message,
};
use tickwire_types::{PlayerInput, Schema};

use crate::behaviour::Values;

/// States a bot keeps as baselines. Over WebSocket the server's baseline is
/// the last snapshot it wrote, which the bot has always received last: one
/// is enough (a server that named any other would be caught as an error),
/// and with one the keeper applies each delta in place, which is what keeps
/// a thousand bots of a room of a thousand cheap.
const BOT_STATES: usize = 1;

/// The bot's first message: the version check.
pub fn join() -> Vec<u8> {
    ClientMessage::join(0).to_bytes()
}

/// Input `seq` with these values (in the game's declaration order).
pub fn input(seq: u32, values: &Values) -> Vec<u8> {
    ClientMessage::Input(PlayerInput {
        seq,
        values: *values,
        view: 0,
    })
    .to_bytes()
}

/// What a decoded message meant to the bot.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// The welcome: the bot now knows the schema ([`Decoder::schema`]) and
    /// its resume token ([`Decoder::resume_token`]).
    Welcome,
    /// A snapshot, applied to its baseline.
    Snapshot {
        /// The newest input of this bot the tick applied.
        last_input: Option<u32>,
    },
    /// The server explained why it is about to close.
    ServerError(String),
    /// The room is on another node of a cluster: connect there.
    Redirect(Redirect),
    /// Anything else (pong, event).
    Other,
}

/// Where a cluster node sent a bot instead of letting it in (the protocol's
/// `Redirect`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The node's public base URL.
    pub url: String,
    /// The room.
    pub room: String,
    /// A seat ticket for that node; empty: none.
    pub ticket: String,
}

/// What came before the welcome, on a bot's entry.
#[derive(Debug, PartialEq, Eq)]
pub enum BeforeWelcome {
    /// The welcome itself.
    Welcome,
    /// The room is on another node.
    Redirect(Redirect),
    /// The server's error: a close follows.
    Error(String),
}

/// Tells what a message before the welcome is; anything but these three is
/// an error.
pub fn before_welcome(bytes: &[u8]) -> Result<BeforeWelcome, String> {
    if bytes.first() == Some(&0) {
        return Ok(BeforeWelcome::Welcome);
    }
    match ServerMessage::decode(bytes, None, &Limits::default()) {
        Ok(ServerMessage::Redirect { url, room, ticket }) => {
            Ok(BeforeWelcome::Redirect(Redirect { url, room, ticket }))
        }
        Ok(ServerMessage::Error { code, reason }) => {
            Ok(BeforeWelcome::Error(format!("{code} {reason}")))
        }
        Ok(_) => Err("decode: a message before the welcome".to_string()),
        Err(e) => Err(format!("decode: {e}")),
    }
}

/// Decodes server messages and applies snapshots, like a real client. It
/// lives as long as the bot, across the connections of its resumes: what
/// it holds is what a resume's first delta is against.
#[derive(Debug, Default)]
pub struct Decoder {
    state: Option<ClientState>,
    limits: Limits,
    /// The newest welcome's resume token ('' when the server holds no seats).
    resume: String,
    /// The newest welcome's player id and room.
    welcomed: Option<(u32, String)>,
}

impl Decoder {
    /// The schema of the welcome, once it came.
    pub fn schema(&self) -> Option<&Schema> {
        self.state.as_ref().map(ClientState::schema)
    }

    /// The newest welcome's resume token, if the server gave one.
    pub fn resume_token(&self) -> Option<&str> {
        Some(self.resume.as_str()).filter(|t| !t.is_empty())
    }

    /// The player id and the room of the newest welcome.
    pub fn welcomed(&self) -> Option<(u32, &str)> {
        self.welcomed
            .as_ref()
            .map(|(player, room)| (*player, room.as_str()))
    }

    /// The newest tick the bot holds, to name when it resumes.
    pub fn latest_tick(&self) -> Option<u32> {
        self.state.as_ref().and_then(ClientState::latest_tick)
    }

    /// Decodes one message. Snapshots are applied to the bot's state, so a
    /// server that sends a delta against a baseline the bot does not hold,
    /// or an inconsistent one, is an error here.
    pub fn on_message(&mut self, bytes: &[u8]) -> Result<Incoming, String> {
        // Snapshots are the hot path: skip the generic decoder for them.
        if let Some(state) = self.state.as_mut() {
            if bytes.first() == Some(&tickwire_protocol::SNAPSHOT_TAG) {
                let snapshot = decode_snapshot_message(state.schema(), bytes, &self.limits)
                    .map_err(|e| e.to_string())?;
                state.apply(&snapshot.body).map_err(|e| e.to_string())?;
                return Ok(Incoming::Snapshot {
                    last_input: snapshot.last_input,
                });
            }
        }
        let schema = self.state.as_ref().map(ClientState::schema);
        match ServerMessage::decode(bytes, schema, &self.limits).map_err(|e| e.to_string())? {
            ServerMessage::Welcome(welcome) => {
                self.resume = welcome.resume;
                self.welcomed = Some((welcome.player.0, welcome.room));
                // A welcome of the same game (a resume) keeps what the bot
                // holds: the server's first delta is against it.
                if self.schema() != Some(&welcome.schema) {
                    let state = ClientState::with_capacity(welcome.schema, BOT_STATES, self.limits)
                        .map_err(|e| e.to_string())?;
                    self.state = Some(state);
                }
                Ok(Incoming::Welcome)
            }
            ServerMessage::Snapshot(_) => Err("snapshot before the welcome".to_string()),
            ServerMessage::Error { code, reason } => {
                Ok(Incoming::ServerError(format!("{code} {reason}")))
            }
            ServerMessage::Redirect { url, room, ticket } => {
                Ok(Incoming::Redirect(Redirect { url, room, ticket }))
            }
            ServerMessage::Pong { .. } | ServerMessage::Event(_) => Ok(Incoming::Other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_carries_its_seq_and_values() {
        let values = [0, 127, 16384, 1, -5, 0, 0, 0];
        let bytes = input(7, &values);
        match ClientMessage::decode(&bytes) {
            Ok(ClientMessage::Input(i)) => {
                assert_eq!(i.seq, 7);
                assert_eq!(i.values, values);
            }
            other => panic!("not an input: {other:?}"),
        }
    }

    #[test]
    fn join_is_a_join_of_this_protocol_version() {
        assert_eq!(ClientMessage::decode(&join()), Ok(ClientMessage::join(0)));
    }

    #[test]
    fn a_welcome_of_the_same_game_keeps_the_state_and_the_newest_token() {
        use tickwire_protocol::{ServerMessage, Welcome};
        use tickwire_types::{FieldDecl, KindDecl, NetId, PlayerId, Quantization};
        let schema = Schema::new(
            "g",
            vec![KindDecl {
                id: 0,
                name: "dot".into(),
                fields: vec![FieldDecl {
                    id: 0,
                    name: "x".into(),
                    quant: Quantization::Int { min: 0, max: 9 },
                }],
            }],
            vec![],
            vec![],
        );
        let welcome = |resume: &str| {
            ServerMessage::Welcome(Welcome {
                protocol_version: tickwire_protocol::PROTOCOL_VERSION,
                player: PlayerId(1),
                avatar: NetId(1),
                room: "r".into(),
                tick_rate: 30,
                tick: 0,
                schema: schema.clone(),
                schema_hash: schema.hash(),
                roster: vec![],
                constants: vec![],
                spectator: false,
                following: None,
                resume: resume.into(),
            })
            .to_bytes(&schema)
            .unwrap_or_default()
        };
        let mut d = Decoder::default();
        assert_eq!(d.welcomed(), None);
        assert_eq!(d.on_message(&welcome("")), Ok(Incoming::Welcome));
        assert_eq!(d.resume_token(), None, "no token: no seat held");
        assert_eq!(d.welcomed(), Some((1, "r")));
        assert_eq!(d.on_message(&welcome("t.1")), Ok(Incoming::Welcome));
        assert_eq!(d.resume_token(), Some("t.1"));
        let full = ServerMessage::Snapshot(tickwire_protocol::Snapshot {
            last_input: None,
            body: tickwire_protocol::SnapshotBody {
                tick: 5,
                ..Default::default()
            },
        })
        .to_bytes(&schema)
        .unwrap_or_default();
        assert!(d.on_message(&full).is_ok());
        assert_eq!(d.latest_tick(), Some(5));
        assert_eq!(d.on_message(&welcome("t.2")), Ok(Incoming::Welcome));
        assert_eq!(
            d.latest_tick(),
            Some(5),
            "a resume keeps what the bot holds"
        );
        assert_eq!(d.resume_token(), Some("t.2"));
    }

    #[test]
    fn snapshot_before_welcome_is_an_error() {
        let mut d = Decoder::default();
        assert!(d.on_message(&[1, 0, 0, 0]).is_err());
        assert!(d.on_message(&[]).is_err());
    }
}
