//! The reader task: frames in, messages decoded, each acted on.
//!
//! It owns the socket's read half from just after the welcome until the
//! connection ends. Every frame spends the connection's frame budget first
//! (see [`super::rate`]); over it the frame is dropped unread. Inputs go
//! (within their own budget) into the player's bounded input queue, chat
//! (within its own small budget) to the room, a spectator's change of
//! target (within the same budget) too, pings
//! (protocol and WebSocket) are answered through the writer. The loop
//! spends tokio's cooperative budget for every frame, so a backlog of
//! buffered frames yields its worker like any busy task. A bad frame or message ends the connection:
//! the reader queues the error message and the close for the writer, and
//! hands the read half back to [`super::close::finish`] to linger on.
//! `read_frame` is not cancel-safe, so it is never raced in a `select!`;
//! the reader is only ever aborted once the connection is finished with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, WebSocketError, WebSocketRead};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::close::{self, CloseWith, End};
use super::rate::{Admit, Budget};
use super::{SocketRead, millis_since};
use crate::room::{Control, PlayerLink, RoomCommand, RoomInfo, SpectatorCommand};
use crate::{Shared, stats, wire};

/// Everything the reader task needs.
pub(super) struct ReaderContext {
    pub(super) link: Arc<PlayerLink>,
    pub(super) commands: mpsc::Sender<RoomCommand>,
    pub(super) shared: Arc<Shared>,
    pub(super) player: tickwire_sim::PlayerId,
    pub(super) schema_hash: u64,
    /// The game's schema: every input is checked against its declared input.
    pub(super) schema: Arc<tickwire_sim::Schema>,
    pub(super) tick: Arc<RoomInfo>,
    /// Milliseconds after `epoch` when the last frame arrived.
    pub(super) last_heard: Arc<AtomicU64>,
    pub(super) epoch: Instant,
    /// How long the peer has left its socket empty, in all: its pauses.
    pub(super) silence: Arc<super::masked::PeerSilence>,
    /// Whether the connection spectates (then `player` is its id among
    /// the room's spectators): its inputs close it, its chat is dropped,
    /// and it may say what it watches.
    pub(super) spectator: bool,
}

/// What the reader tells the writer when it stops.
struct ReaderVerdict {
    end: End,
    /// A close to send, or `None` if the peer is gone or already closed.
    close: Option<CloseWith>,
}

impl ReaderVerdict {
    /// Ends without a close of ours: the peer is gone or closed first.
    fn quiet(end: End) -> Self {
        Self { end, close: None }
    }
}

/// The reader task: returns how the connection ended, and the read half
/// to linger on.
pub(super) async fn read_loop(
    mut socket: WebSocketRead<SocketRead>,
    cx: ReaderContext,
) -> (End, WebSocketRead<SocketRead>) {
    let verdict = read_until_end(&mut socket, &cx).await;
    let message = match verdict.close {
        Some(CloseWith {
            code,
            error_code,
            reason,
        }) => {
            // The protocol's error message first: a browser shows close
            // codes poorly, and the message carries the whole reason.
            cx.link
                .control
                .push_final(Control::Message(wire::encode_error(error_code, &reason)));
            Control::Close(code, reason)
        }
        None => Control::Stop,
    };
    cx.link.control.push_final(message);
    (verdict.end, socket)
}

async fn read_until_end(
    socket: &mut WebSocketRead<SocketRead>,
    cx: &ReaderContext,
) -> ReaderVerdict {
    // Pings come to the loop (to be metered, and answered within the
    // budget); the close echo is the one reply the library obliges us to,
    // cut to fit a control frame. It goes to the writer, the reader's
    // last, and always goes.
    socket.set_auto_pong(false);
    let control = &cx.link.control;
    let mut obligated = |frame: Frame<'_>| {
        if frame.opcode == OpCode::Close {
            control.push_final(Control::CloseEcho(close::close_echo(&frame.payload)));
        }
        std::future::ready(Ok::<(), std::convert::Infallible>(()))
    };
    let config = &cx.shared.config;
    let mut budgets = Budgets {
        frames: Budget::new(
            config.max_frames_per_second,
            config.max_frames_per_second,
            Some(config.flood_seconds),
        ),
        inputs: Budget::new(
            config.max_inputs_per_second,
            config.max_inputs_per_second,
            Some(config.flood_seconds),
        ),
        chat: Budget::new(config.max_chat_per_second, config.chat_burst, None),
    };
    let mut assembly = Assembly {
        partial: None,
        skipping: false,
        limit: config.max_message_size,
    };
    loop {
        let frame = match socket.read_frame(&mut obligated).await {
            Ok(frame) => frame,
            Err(error) => return verdict_for(error),
        };
        cx.last_heard
            .store(millis_since(cx.epoch), Ordering::Relaxed);
        if frame.opcode == OpCode::Close {
            // Echoed already; nothing more is read.
            return ReaderVerdict::quiet(End::peer_closed(&frame.payload));
        }
        // Frames the library had buffered are handed over without a read
        // of the socket: each one spends tokio's cooperative budget, so a
        // backlog yields the worker like any other busy task.
        tokio::task::coop::consume_budget().await;
        match budgets.frames.admit(Instant::now(), cx.silence.total()) {
            Admit::Yes => {}
            Admit::Dropped => {
                metrics::counter!(stats::FRAMES_DROPPED).increment(1);
                assembly.skip(&frame);
                continue;
            }
            Admit::Flooding => return frame_flooding(cx),
        }
        if frame.opcode == OpCode::Pong {
            // The answer to the writer's ping, whose payload is when it
            // was sent (see `super::ping_payload`): the round trip.
            if let Ok(sent) = <[u8; 8]>::try_from(&frame.payload[..]) {
                let sent = Duration::from_micros(u64::from_be_bytes(sent));
                if let Some(rtt) = cx.epoch.elapsed().checked_sub(sent) {
                    cx.link.set_rtt(rtt);
                }
            }
            continue;
        }
        if frame.opcode == OpCode::Ping {
            // A full control queue means the writer is stuck; a later
            // ping gets its pong.
            control.try_push(Control::WsPong(Bytes::copy_from_slice(&frame.payload)));
            continue;
        }
        let message = match assembly.push(frame) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(verdict) => return verdict,
        };
        if let Some(verdict) = handle_message(&message, cx, &mut budgets) {
            return verdict;
        }
    }
}

/// A connection's budgets (see [`super::rate`]).
struct Budgets {
    /// Every frame.
    frames: Budget,
    /// Inputs, within the frame budget.
    inputs: Budget,
    /// Chat lines (a spectator's changes of target), within the frame
    /// budget.
    chat: Budget,
}

/// Binary messages from frames: a fragmented one is assembled, capped at
/// `limit` bytes.
struct Assembly {
    /// A fragmented binary message being assembled.
    partial: Option<Vec<u8>>,
    /// A fragment of the message being read was dropped (over the frame
    /// budget): its other fragments are dropped too.
    skipping: bool,
    limit: usize,
}

impl Assembly {
    /// Forgets `frame`, dropped over the budget, and so the whole message
    /// it is part of.
    fn skip(&mut self, frame: &Frame<'_>) {
        match frame.opcode {
            OpCode::Binary | OpCode::Continuation => {
                self.partial = None;
                self.skipping = !frame.fin;
            }
            _ => {}
        }
    }

    /// The whole message `frame` completes, `None` if it completes none
    /// (a fragment, a ping, a pong), or how the connection ends.
    fn push(&mut self, frame: Frame<'_>) -> Result<Option<Vec<u8>>, ReaderVerdict> {
        match frame.opcode {
            OpCode::Text => Err(close_with(
                End::TextFrame,
                close::UNSUPPORTED_DATA,
                "text frames are not accepted: send binary protocol messages",
            )),
            OpCode::Close => Err(ReaderVerdict::quiet(End::peer_closed(&frame.payload))),
            OpCode::Ping | OpCode::Pong => Ok(None),
            OpCode::Binary => {
                if self.partial.is_some() || self.skipping {
                    return Err(close_with(
                        End::BadMessage,
                        close::PROTOCOL_ERROR,
                        "new message inside a fragmented one",
                    ));
                }
                if frame.fin {
                    return Ok(Some(frame.payload.to_vec()));
                }
                self.partial = Some(frame.payload.to_vec());
                Ok(None)
            }
            OpCode::Continuation if self.skipping => {
                self.skipping = !frame.fin;
                Ok(None)
            }
            OpCode::Continuation => {
                let limit = self.limit;
                let Some(buf) = self.partial.as_mut() else {
                    return Err(close_with(
                        End::BadMessage,
                        close::PROTOCOL_ERROR,
                        "continuation without a message",
                    ));
                };
                if buf.len() + frame.payload.len() > limit {
                    return Err(close_with(
                        End::TooBig,
                        close::MESSAGE_TOO_BIG,
                        &format!("message over the limit of {limit} bytes"),
                    ));
                }
                buf.extend_from_slice(&frame.payload);
                if !frame.fin {
                    return Ok(None);
                }
                Ok(Some(self.partial.take().unwrap_or_default()))
            }
        }
    }
}

/// Acts on one decoded client message; `Some` ends the connection.
fn handle_message(
    bytes: &[u8],
    cx: &ReaderContext,
    budgets: &mut Budgets,
) -> Option<ReaderVerdict> {
    let message = match wire::decode_client(bytes) {
        Ok(message) => message,
        Err(error) => {
            return Some(close_with(
                End::BadMessage,
                close::PROTOCOL_ERROR,
                &error.to_string(),
            ));
        }
    };
    match message {
        wire::ClientMessage::Join {
            protocol_version,
            schema_hash,
        } => {
            if let Err(refused) = wire::check_join(protocol_version, schema_hash, cx.schema_hash) {
                return Some(ReaderVerdict {
                    end: End::ProtocolVersion,
                    close: Some(CloseWith {
                        code: close::POLICY_VIOLATION,
                        error_code: refused.code(),
                        reason: refused.to_string(),
                    }),
                });
            }
        }
        wire::ClientMessage::Chat { .. } if cx.spectator => {
            // Spectators do not chat: a spectator could tell the players
            // what their opponents do.
            metrics::counter!(stats::CHAT_DROPPED).increment(1);
        }
        wire::ClientMessage::Chat { text } => {
            match budgets.chat.admit(Instant::now(), cx.silence.total()) {
                Admit::Yes => {
                    let _ = cx.commands.try_send(RoomCommand::Chat(cx.player, text));
                }
                Admit::Dropped | Admit::Flooding => {
                    metrics::counter!(stats::CHAT_DROPPED).increment(1);
                }
            }
        }
        wire::ClientMessage::Input(_) if cx.spectator => {
            return Some(close_with(
                End::SpectatorInput,
                close::POLICY_VIOLATION,
                "a spectator sends no input: join without spectate=1 to play",
            ));
        }
        wire::ClientMessage::Input(input) => {
            // Out of range or past the declared fields: not this game's
            // input, so the client is broken (or hostile), not lagging.
            if let Err(error) = cx.schema.check_input(&input) {
                return Some(close_with(
                    End::BadInput,
                    close::PROTOCOL_ERROR,
                    &format!("bad input: {error}"),
                ));
            }
            match budgets.inputs.admit(Instant::now(), cx.silence.total()) {
                Admit::Yes => {
                    if !cx.link.push_input(input) {
                        metrics::counter!(stats::INPUTS_DROPPED, "reason" => "queue").increment(1);
                    }
                }
                Admit::Dropped => {
                    metrics::counter!(stats::INPUTS_DROPPED, "reason" => "rate").increment(1);
                    cx.link.count_input_dropped();
                }
                Admit::Flooding => return Some(input_flooding(cx)),
            }
        }
        wire::ClientMessage::Watch(target) if cx.spectator => {
            // Within the chat budget, which a spectator has no other use
            // for: each change of target is a command to the room.
            match budgets.chat.admit(Instant::now(), cx.silence.total()) {
                Admit::Yes => {
                    let command = SpectatorCommand::Watch(cx.player, target);
                    let _ = cx.commands.try_send(RoomCommand::Spectator(command));
                }
                Admit::Dropped | Admit::Flooding => {
                    metrics::counter!(stats::CHAT_DROPPED).increment(1);
                }
            }
        }
        // A player watches what it plays.
        wire::ClientMessage::Watch(_) | wire::ClientMessage::Ack { .. } => {}
        wire::ClientMessage::Ping { client_time } => {
            let tick = cx.tick.tick.load(Ordering::Relaxed);
            // A full control queue means the writer is stuck; the pong can go.
            cx.link
                .control
                .try_push(Control::Message(wire::encode_pong(client_time, tick)));
        }
    }
    None
}

fn input_flooding(cx: &ReaderContext) -> ReaderVerdict {
    close_with(
        End::Flooding,
        close::POLICY_VIOLATION,
        &format!(
            "input flooding: over {} inputs per second for {} seconds",
            cx.shared.config.max_inputs_per_second, cx.shared.config.flood_seconds
        ),
    )
}

fn frame_flooding(cx: &ReaderContext) -> ReaderVerdict {
    close_with(
        End::FrameFlooding,
        close::POLICY_VIOLATION,
        &format!(
            "flooding: over {} frames per second for {} seconds",
            cx.shared.config.max_frames_per_second, cx.shared.config.flood_seconds
        ),
    )
}

fn close_with(end: End, code: u16, reason: &str) -> ReaderVerdict {
    ReaderVerdict {
        end,
        close: Some(CloseWith::new(end, code, reason)),
    }
}

/// Maps a read error to how the connection ends.
fn verdict_for(error: WebSocketError) -> ReaderVerdict {
    match error {
        WebSocketError::FrameTooLarge => close_with(
            End::TooBig,
            close::MESSAGE_TOO_BIG,
            "message over the size limit",
        ),
        WebSocketError::InvalidUTF8 => close_with(
            End::TextFrame,
            close::INVALID_PAYLOAD,
            "a text frame or close reason that is not UTF-8",
        ),
        // The peer went away without a close frame: a normal disconnect.
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => {
            ReaderVerdict::quiet(End::PeerVanished)
        }
        WebSocketError::IoError(error) if super::masked::is_unmasked(&error) => close_with(
            End::BadMessage,
            close::PROTOCOL_ERROR,
            "an unmasked frame: a client's frames must be masked",
        ),
        WebSocketError::IoError(_) | WebSocketError::SendError(_) => {
            ReaderVerdict::quiet(End::SocketError)
        }
        other => close_with(
            End::BadMessage,
            close::PROTOCOL_ERROR,
            &format!("bad frame: {other}"),
        ),
    }
}
