//! One player's WebSocket connection: a reader task and a writer task.
//!
//! The **reader** owns the read half. It decodes each client message with
//! the protocol and acts on it: inputs go (rate-limited) into the player's
//! bounded input queue, pings are answered, a bad frame ends the connection
//! with a close code and a reason. `read_frame` is not cancel-safe, so it is
//! never raced in a `select!`; the reader is only ever aborted once the
//! connection is finished with.
//!
//! The write half belongs to the player's [`Outbox`](crate::outbox::Outbox):
//! the room writes snapshots to it directly while the socket keeps up. The
//! session writes the welcome before it attaches the socket there, so the
//! welcome always comes first. The **writer** task writes everything else
//! through the outbox. It serves, in order of priority: shutdown (close
//! 1001), the bounded control queue (pongs, events, and the closes the
//! reader asks for), whatever the room left it (a snapshot the socket could
//! not take at once, or the rest of one it took in part), and its ping
//! timer, which also closes a connection that has been silent past the idle
//! timeout. It stops after writing any close frame, and the outbox writes
//! nothing after one, so a close is never written twice and never followed.
//! A frame write that does not complete within the outbox lag means the
//! socket is unwritable: the connection is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket, WebSocketError, WebSocketRead};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tickwire_sim::JoinError;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::lobby::SeatError;
use crate::outbox::SocketWrite;
use crate::room::{Control, PlayerLink, RoomCommand};
use crate::{Shared, frame, stats, wire};

type Stream = TokioIo<Upgraded>;

/// The read half of a player's socket.
type SocketRead = Box<dyn AsyncRead + Send + Unpin>;

/// Splits an upgraded connection into its read and write halves. The
/// connection is a TCP stream under hyper's upgrade wrapper: unwrapped, it
/// splits into owned halves that share no lock, and the room's writes go
/// straight to the socket. Bytes hyper read past the handshake are read
/// first. Any other stream is split behind a lock.
fn split(stream: Stream) -> (SocketRead, SocketWrite) {
    match stream.into_inner().downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let (read, write) = parts.io.into_inner().into_split();
            let read: SocketRead = if parts.read_buf.is_empty() {
                Box::new(read)
            } else {
                Box::new(std::io::Cursor::new(parts.read_buf).chain(read))
            };
            (read, Box::new(write))
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            (Box::new(read), Box::new(write))
        }
    }
}

/// WebSocket close codes the server sends (RFC 6455 section 7.4.1).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client sent an undecodable protocol message.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a text frame; only binary messages are accepted.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Policy: wrong protocol version or schema, input flooding, idle.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server could not start or reach the match.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The room is full; try again later or another room.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// How a connection ended, for logs and the `tickwire_closes_total` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    PeerClosed,
    PeerVanished,
    Shutdown,
    TextFrame,
    BadMessage,
    ProtocolVersion,
    TooBig,
    Flooding,
    Idle,
    WriteTimeout,
    RoomFull,
    SocketError,
    Internal,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            Self::PeerClosed => "peer_closed",
            Self::PeerVanished => "peer_vanished",
            Self::Shutdown => "shutdown",
            Self::TextFrame => "text_frame",
            Self::BadMessage => "bad_message",
            Self::ProtocolVersion => "protocol_mismatch",
            Self::TooBig => "message_too_big",
            Self::Flooding => "input_flooding",
            Self::Idle => "idle_timeout",
            Self::WriteTimeout => "write_timeout",
            Self::RoomFull => "room_full",
            Self::SocketError => "socket_error",
            Self::Internal => "internal_error",
        }
    }
}

/// What the reader tells the writer when it stops.
struct ReaderVerdict {
    end: End,
    /// A close to send, or `None` if the peer is gone or already closed.
    close: Option<CloseWith>,
}

/// A close the server sends: the protocol error message first (its code
/// from the protocol's `error_code`), then the WebSocket close frame.
struct CloseWith {
    /// WebSocket close code (see [`close`]).
    code: u16,
    /// The protocol's error code for the error message.
    error_code: u16,
    /// Why, in words; cut to fit each frame.
    reason: String,
}

/// Runs one connection from just after the upgrade to its end.
pub async fn run(
    mut ws: WebSocket<Stream>,
    shared: Arc<Shared>,
    room: Option<String>,
    name: String,
) {
    // Over the limit a frame errors before its payload is buffered. The
    // library refuses a payload of exactly the limit, hence the +1.
    ws.set_max_message_size(shared.config.max_message_size.saturating_add(1));
    let mut shutdown = shared.shutdown.clone();
    let Some(alive) = shared.alive.lock().clone() else {
        let _ = ws
            .write_frame(Frame::close(close::GOING_AWAY, b"server shutting down"))
            .await;
        return;
    };
    metrics::gauge!(stats::CONNECTIONS).increment(1.0);

    let seat = match shared.lobby.seat(room.as_deref()) {
        Ok(seat) => seat,
        Err(error) => {
            let (code, end) = match error {
                SeatError::Full { .. } => (close::TRY_AGAIN_LATER, End::RoomFull),
                SeatError::ShuttingDown => (close::GOING_AWAY, End::Shutdown),
                SeatError::Game(_) => (close::INTERNAL_ERROR, End::Internal),
            };
            refuse(
                &mut ws,
                code,
                wire::error_code::FULL,
                &error.to_string(),
                end,
            )
            .await;
            metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
            return;
        }
    };

    let link = Arc::new(PlayerLink::new(name));
    let (reply_tx, reply_rx) = oneshot::channel();
    let joined = match seat
        .commands
        .send(RoomCommand::Join {
            link: Arc::clone(&link),
            reply: reply_tx,
        })
        .await
    {
        Ok(()) => reply_rx.await.ok(),
        Err(_) => None,
    };
    let admitted = match joined {
        Some(Ok(admitted)) => admitted,
        Some(Err(error)) => {
            let reason = match &error {
                JoinError::Full(n) => format!("room `{}` is full ({n} players)", seat.info.name),
                JoinError::Refused(why) => format!("join refused: {why}"),
            };
            refuse(
                &mut ws,
                close::TRY_AGAIN_LATER,
                wire::error_code::FULL,
                &reason,
                End::RoomFull,
            )
            .await;
            metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
            return;
        }
        None => {
            refuse(
                &mut ws,
                close::INTERNAL_ERROR,
                wire::error_code::UNEXPECTED,
                "room unavailable",
                End::Internal,
            )
            .await;
            metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
            return;
        }
    };
    let crate::room::Admitted { joined, welcome } = admitted;
    tracing::debug!(room = %seat.info.name, player = joined.player.0, "session started");

    // The welcome goes first; once the socket is attached to the outbox the
    // room may write snapshots to it.
    let lag = shared.config.outbox_lag;
    let welcomed = tokio::time::timeout(
        lag,
        ws.write_frame(Frame::binary(Payload::Borrowed(&welcome))),
    )
    .await;
    if !matches!(welcomed, Ok(Ok(()))) {
        let _ = seat.commands.send(RoomCommand::Leave(joined.player)).await;
        metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
        let end = if welcomed.is_err() {
            End::WriteTimeout
        } else {
            End::SocketError
        };
        metrics::counter!(stats::CLOSES, "reason" => end.label()).increment(1);
        return;
    }
    count_out(welcome.len() + tickwire_protocol::server_frame_header_bytes(welcome.len()));
    // The welcome carries the roster, so it grows with the room: a session
    // that kept it would hold kilobytes per player for nothing.
    drop(welcome);
    if *shutdown.borrow() {
        // Shutdown began while this player was joining.
        shutdown.mark_changed();
    }
    let (read_half, write_half) = split(ws.into_inner());
    let (mut read_half, _) =
        fastwebsockets::after_handshake_split(read_half, tokio::io::sink(), Role::Server);
    read_half.set_max_message_size(shared.config.max_message_size.saturating_add(1));
    link.outbox.attach(write_half);
    let last_heard = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let mut reader = tokio::spawn(read_loop(
        read_half,
        ReaderContext {
            link: Arc::clone(&link),
            commands: seat.commands.clone(),
            shared: Arc::clone(&shared),
            player: joined.player,
            schema_hash: seat.info.schema_hash,
            tick: Arc::clone(&seat.info),
            last_heard: Arc::clone(&last_heard),
            epoch,
        },
    ));
    let end = write_loop(&link, &mut shutdown, &shared, &last_heard, epoch).await;
    // After our close frame the socket stays open a moment, read and
    // ignored, so the peer can read the close and answer it: closing a
    // socket with unread input resets it, and a reset peer may never see
    // the close code.
    let end = match end {
        Some(end @ (End::WriteTimeout | End::PeerClosed)) => {
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
    };
    link.outbox.detach();

    let _ = seat.commands.send(RoomCommand::Leave(joined.player)).await;
    drop(seat);
    drop(alive);
    metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
    metrics::counter!(stats::CLOSES, "reason" => end.label()).increment(1);
    match end {
        End::PeerClosed | End::PeerVanished | End::Shutdown => {
            tracing::debug!(
                player = joined.player.0,
                reason = end.label(),
                "session ended"
            );
        }
        _ => tracing::info!(
            player = joined.player.0,
            reason = end.label(),
            "session closed"
        ),
    }
}

/// Sends an error message and a close before the player ever joined.
async fn refuse(ws: &mut WebSocket<Stream>, code: u16, error_code: u16, reason: &str, end: End) {
    tracing::info!(code, reason, "connection refused");
    let message = wire::encode_error(error_code, reason);
    let _ = ws
        .write_frame(Frame::binary(Payload::Borrowed(&message)))
        .await;
    let _ = ws
        .write_frame(Frame::close(code, close_reason(reason)))
        .await;
    metrics::counter!(stats::CLOSES, "reason" => end.label()).increment(1);
}

/// A close reason fits in a control frame: at most 123 bytes, cut on a
/// character boundary.
fn close_reason(reason: &str) -> &[u8] {
    wire::truncate_utf8(reason, 123).as_bytes()
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Everything the reader task needs.
struct ReaderContext {
    link: Arc<PlayerLink>,
    commands: mpsc::Sender<RoomCommand>,
    shared: Arc<Shared>,
    player: tickwire_sim::PlayerId,
    schema_hash: u64,
    tick: Arc<crate::room::RoomInfo>,
    /// Milliseconds after `epoch` when the last frame arrived.
    last_heard: Arc<AtomicU64>,
    epoch: Instant,
}

/// How long a socket stays open after the server's close frame.
const LINGER: Duration = Duration::from_millis(500);

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

/// The reader task: returns how the connection ended, and the read half
/// for [`linger`].
async fn read_loop(
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
    let limit = cx.shared.config.max_message_size;
    // Replies the protocol requires (pong, close echo) go to the writer. A
    // pong is dropped when the writer is a full queue behind (a later ping
    // gets one); the close echo, the reader's last, always goes.
    let control = &cx.link.control;
    let mut obligated = |frame: Frame<'_>| {
        let payload = Bytes::copy_from_slice(&frame.payload);
        match frame.opcode {
            OpCode::Close => control.push_final(Control::CloseEcho(payload)),
            _ => {
                control.try_push(Control::WsPong(payload));
            }
        }
        std::future::ready(Ok::<(), std::convert::Infallible>(()))
    };
    let mut rate = InputRate::new(
        cx.shared.config.max_inputs_per_second,
        cx.shared.config.flood_seconds,
    );
    // A fragmented binary message being assembled, capped at `limit`.
    let mut partial: Option<Vec<u8>> = None;
    loop {
        let frame = match socket.read_frame(&mut obligated).await {
            Ok(frame) => frame,
            Err(error) => return verdict_for(error),
        };
        cx.last_heard
            .store(millis_since(cx.epoch), Ordering::Relaxed);
        let message: Vec<u8> = match frame.opcode {
            OpCode::Text => {
                return close_with(
                    End::TextFrame,
                    close::UNSUPPORTED_DATA,
                    "text frames are not accepted: send binary protocol messages",
                );
            }
            OpCode::Close => {
                return ReaderVerdict {
                    end: End::PeerClosed,
                    close: None,
                };
            }
            OpCode::Ping | OpCode::Pong => continue,
            OpCode::Binary if frame.fin => {
                if partial.is_some() {
                    return close_with(
                        End::BadMessage,
                        close::PROTOCOL_ERROR,
                        "new message inside a fragmented one",
                    );
                }
                frame.payload.to_vec()
            }
            OpCode::Binary => {
                if partial.is_some() {
                    return close_with(
                        End::BadMessage,
                        close::PROTOCOL_ERROR,
                        "new message inside a fragmented one",
                    );
                }
                partial = Some(frame.payload.to_vec());
                continue;
            }
            OpCode::Continuation => {
                let Some(buf) = partial.as_mut() else {
                    return close_with(
                        End::BadMessage,
                        close::PROTOCOL_ERROR,
                        "continuation without a message",
                    );
                };
                if buf.len() + frame.payload.len() > limit {
                    return close_with(
                        End::TooBig,
                        close::MESSAGE_TOO_BIG,
                        &format!("message over the limit of {limit} bytes"),
                    );
                }
                buf.extend_from_slice(&frame.payload);
                if !frame.fin {
                    continue;
                }
                partial.take().unwrap_or_default()
            }
        };
        if let Some(verdict) = handle_message(&message, cx, &mut rate).await {
            return verdict;
        }
    }
}

/// Acts on one decoded client message; `Some` ends the connection.
async fn handle_message(
    bytes: &[u8],
    cx: &ReaderContext,
    rate: &mut InputRate,
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
            resume_tick,
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
            if let Some(tick) = resume_tick {
                let _ = cx
                    .commands
                    .send(RoomCommand::Resume(cx.player, u64::from(tick)))
                    .await;
            }
        }
        wire::ClientMessage::Chat { text } => match rate.admit(Instant::now()) {
            Admit::Yes => {
                let _ = cx.commands.try_send(RoomCommand::Chat(cx.player, text));
            }
            Admit::Dropped => {}
            Admit::Flooding => return Some(flooding(cx)),
        },
        wire::ClientMessage::Input(input) => match rate.admit(Instant::now()) {
            Admit::Yes => {
                if !cx.link.push_input(input) {
                    metrics::counter!(stats::INPUTS_DROPPED, "reason" => "queue").increment(1);
                }
            }
            Admit::Dropped => {
                metrics::counter!(stats::INPUTS_DROPPED, "reason" => "rate").increment(1);
            }
            Admit::Flooding => return Some(flooding(cx)),
        },
        wire::ClientMessage::Ack { .. } => {}
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

fn flooding(cx: &ReaderContext) -> ReaderVerdict {
    close_with(
        End::Flooding,
        close::POLICY_VIOLATION,
        &format!(
            "input flooding: over {} inputs per second for {} seconds",
            cx.shared.config.max_inputs_per_second, cx.shared.config.flood_seconds
        ),
    )
}

fn close_with(end: End, code: u16, reason: &str) -> ReaderVerdict {
    let error_code = match end {
        End::Flooding => wire::error_code::RATE_LIMITED,
        End::ProtocolVersion => wire::error_code::PROTOCOL_VERSION,
        End::RoomFull => wire::error_code::FULL,
        End::Shutdown => wire::error_code::SHUTDOWN,
        _ => wire::error_code::MALFORMED,
    };
    ReaderVerdict {
        end,
        close: Some(CloseWith {
            code,
            error_code,
            reason: reason.to_owned(),
        }),
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
        // The peer went away without a close frame: a normal disconnect.
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => ReaderVerdict {
            end: End::PeerVanished,
            close: None,
        },
        WebSocketError::IoError(_) | WebSocketError::SendError(_) => ReaderVerdict {
            end: End::SocketError,
            close: None,
        },
        other => close_with(
            End::BadMessage,
            close::PROTOCOL_ERROR,
            &format!("bad frame: {other}"),
        ),
    }
}

/// Outcome of a rate check.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    Yes,
    Dropped,
    Flooding,
}

/// A token bucket of inputs per second (a burst of one second's worth),
/// plus the count of consecutive one-second windows in which inputs were
/// dropped: that many in a row is flooding.
#[derive(Debug)]
struct InputRate {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
    window_start: Option<Instant>,
    dropped_in_window: u32,
    flooded_windows: u32,
    flood_windows_limit: u32,
}

impl InputRate {
    fn new(per_second: u32, flood_seconds: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        Self {
            rate,
            tokens: rate,
            last: None,
            window_start: None,
            dropped_in_window: 0,
            flooded_windows: 0,
            flood_windows_limit: flood_seconds.max(1),
        }
    }

    fn admit(&mut self, now: Instant) -> Admit {
        if let Some(last) = self.last {
            self.tokens = (self.tokens + (now - last).as_secs_f64() * self.rate).min(self.rate);
        }
        self.last = Some(now);
        let window_start = *self.window_start.get_or_insert(now);
        let in_window = now - window_start;
        if in_window >= Duration::from_secs(1) {
            let contiguous = in_window < Duration::from_secs(2);
            self.flooded_windows = if self.dropped_in_window > 0 && contiguous {
                self.flooded_windows + 1
            } else {
                0
            };
            self.window_start = Some(now);
            self.dropped_in_window = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Yes;
        }
        self.dropped_in_window += 1;
        // This window has drops too: with the full windows before it, that
        // makes `flooded_windows + 1` seconds of flooding.
        if self.flooded_windows + 1 >= self.flood_windows_limit {
            Admit::Flooding
        } else {
            Admit::Dropped
        }
    }
}

async fn write_loop(
    link: &PlayerLink,
    shutdown: &mut watch::Receiver<bool>,
    shared: &Shared,
    last_heard: &AtomicU64,
    epoch: Instant,
) -> Option<End> {
    let outbox = &link.outbox;
    let lag = shared.config.outbox_lag;
    let idle = shared.config.idle_timeout;
    let mut ping = tokio::time::interval_at(Instant::now() + idle / 3, idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();

    enum Next {
        Control(Control),
        Snapshot,
        Ping,
        Shutdown,
    }
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.changed() => Next::Shutdown,
            item = link.control.pop() => Next::Control(item),
            () = outbox.ready() => Next::Snapshot,
            _ = ping.tick() => Next::Ping,
        };
        // The frame to write (into `out`), whether it is a close, and how
        // the session ends once a close is written (`None`: the reader
        // knows why).
        out.clear();
        let (closing, end): (bool, Option<End>) = match next {
            Next::Shutdown => {
                frame::push_close(&mut out, close::GOING_AWAY, b"server shutting down");
                (true, Some(End::Shutdown))
            }
            Next::Control(Control::Message(bytes)) => {
                frame::push(&mut out, OpCode::Binary, &bytes);
                (false, None)
            }
            Next::Control(Control::WsPong(bytes)) => {
                frame::push(&mut out, OpCode::Pong, &bytes);
                (false, None)
            }
            Next::Control(Control::CloseEcho(bytes)) => {
                frame::push(&mut out, OpCode::Close, &bytes);
                (true, Some(End::PeerClosed))
            }
            Next::Control(Control::Close(code, reason)) => {
                frame::push_close(&mut out, code, close_reason(&reason));
                (true, None)
            }
            Next::Control(Control::Stop) => return None,
            Next::Snapshot => match tokio::time::timeout(lag, outbox.write_pending()).await {
                Ok(Ok(written)) => {
                    if written.frames > 0 {
                        metrics::counter!(stats::FRAMES_OUT).increment(written.frames);
                        metrics::counter!(stats::BYTES_OUT).increment(written.bytes);
                    }
                    continue;
                }
                Ok(Err(_)) => return None,
                Err(_) => return Some(End::WriteTimeout),
            },
            Next::Ping => {
                let silent = millis_since(epoch).saturating_sub(last_heard.load(Ordering::Relaxed));
                if Duration::from_millis(silent) >= idle {
                    frame::push_close(
                        &mut out,
                        close::POLICY_VIOLATION,
                        b"idle timeout: nothing received",
                    );
                    (true, Some(End::Idle))
                } else {
                    frame::push(&mut out, OpCode::Ping, &[]);
                    (false, None)
                }
            }
        };
        let len = out.len();
        match tokio::time::timeout(lag, outbox.write(&out, closing)).await {
            Ok(Ok(())) => {}
            // Not done within the outbox lag: the socket is unwritable. A
            // cancelled write leaves it mid-frame; the outbox is closed
            // with the session.
            Err(_) => return Some(End::WriteTimeout),
            // The peer is gone; the reader sees how.
            Ok(Err(_)) => return None,
        }
        count_out(len);
        if closing {
            return end;
        }
    }
}

fn count_out(bytes: usize) {
    metrics::counter!(stats::FRAMES_OUT).increment(1);
    metrics::counter!(stats::BYTES_OUT).increment(bytes as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_a_burst_then_drops() {
        let mut rate = InputRate::new(10, 3);
        let t = Instant::now();
        let admitted = (0..15).filter(|_| rate.admit(t) == Admit::Yes).count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn sustained_flooding_is_detected_but_a_burst_is_not() {
        let mut rate = InputRate::new(10, 3);
        let t0 = Instant::now();
        let mut outcome = Admit::Yes;
        // 100 inputs per second, for five seconds.
        for i in 0..500u64 {
            outcome = rate.admit(t0 + Duration::from_millis(i * 10));
            if outcome == Admit::Flooding {
                break;
            }
        }
        assert_eq!(outcome, Admit::Flooding);

        let mut calm = InputRate::new(10, 3);
        for i in 0..30 {
            assert_ne!(calm.admit(t0), Admit::Flooding, "burst {i}");
        }
        for i in 1..100u64 {
            assert_ne!(
                calm.admit(t0 + Duration::from_millis(i * 100)),
                Admit::Flooding
            );
        }
    }

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123);
        assert!(std::str::from_utf8(cut).is_ok());
    }
}
