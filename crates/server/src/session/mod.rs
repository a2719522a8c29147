//! One player's WebSocket connection, from just after the upgrade to its
//! close.
//!
//! [`run`] takes the connection through its life: a seat in a room from
//! the lobby and the join (or, for `?resume=TOKEN`, the held seat back from
//! its room), the welcome (written before anything else), then two tasks
//! until the end, and the leave, or, for a player whose connection dropped
//! (see [`close`]: `End::holds_seat`), the seat handed to the room to hold
//! for the player's resume. Refusals before the join are a protocol error
//! message and a close ([`close`]). A spectator takes a spectator's place
//! instead of a seat (`spectator.rs`), and is the same connection from its
//! welcome on; it holds nothing when it drops.
//!
//! The **reader** (`reader.rs`) owns the read half. It decodes each client
//! message with the protocol and acts on it: every frame within the
//! connection's budgets (`rate.rs`), inputs into the player's bounded input
//! queue, pings answered; a bad frame ends the connection with a close code
//! and a reason, an unmasked one too (`masked.rs`).
//!
//! The write half belongs to the player's [`Outbox`](crate::outbox::Outbox):
//! the room writes snapshots to it directly while the socket keeps up. The
//! session writes the welcome before it attaches the socket there, so the
//! welcome always comes first. The **writer** (`writer.rs`) writes
//! everything else through the outbox, including every close once the
//! player has joined; [`close`] then lingers for the peer's answer.

pub mod close;
mod masked;
pub(crate) mod rate;
mod reader;
mod spectator;
mod writer;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use fastwebsockets::{Frame, Payload, Role, WebSocket, WebSocketRead};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tickwire_protocol::WatchTarget;
use tickwire_sim::PlayerId;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use self::close::{End, Refusal};
use self::reader::ReaderContext;
use crate::lobby::Seat;
use crate::outbox::SocketWrite;
use crate::resume::Refused;
use crate::room::{Admitted, Member, PlayerLink, RoomCommand};
use crate::{Shared, stats, ticket};

type Stream = TokioIo<Upgraded>;

/// The read half of a player's socket.
type SocketRead = Box<dyn AsyncRead + Send + Unpin>;

/// What a connection asked for at `/ws`, checked by the HTTP side.
#[derive(Debug)]
pub struct Request {
    /// The room to join; `None`: matchmaking picks one.
    pub room: Option<String>,
    /// The player's name, cleaned.
    pub name: String,
    /// Who admission vouched the player is, if anyone.
    pub identity: Option<String>,
    /// What a spectator watches first (`spectate=1`, `follow=`); `None`:
    /// a player.
    pub watch: Option<WatchTarget>,
    /// The newest tick the client holds from an earlier connection
    /// (`since=`): its first snapshot is a delta against it when the room
    /// still has that state.
    pub since: Option<u32>,
    /// A resume token (`resume=`): take this held seat back instead of
    /// joining.
    pub resume: Option<String>,
}

/// Runs one connection from just after the upgrade to its end: a
/// player's, a resumed player's, or a spectator's.
pub async fn run(mut ws: WebSocket<Stream>, shared: Arc<Shared>, mut request: Request) {
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
    let player = |(seat, link, Admitted { joined, welcome })| {
        (seat, link, Member::Player(joined.player), welcome)
    };
    let entered = match (request.resume.take(), request.watch) {
        (Some(token), _) => resume(&mut ws, &shared, &token, request).await.map(player),
        (None, Some(target)) => {
            let Request {
                room,
                name,
                identity,
                ..
            } = request;
            spectator::enter(&mut ws, &shared, room.as_deref(), name, identity, target).await
        }
        (None, None) => enter(&mut ws, &shared, request).await.map(player),
    };
    let Some((seat, link, member, welcome)) = entered else {
        metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
        return;
    };
    let player = member.id();
    tracing::debug!(room = %seat.info.name, player = player.0, spectator = member.is_spectator(), identity = link.identity.as_deref(), "session started");

    if let Err(end) = write_welcome(&mut ws, welcome, &shared).await {
        give_up(seat, member, end, &shared).await;
        metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
        metrics::counter!(stats::CLOSES, "reason" => end.label()).increment(1);
        return;
    }
    if *shutdown.borrow() {
        // Shutdown began while this player was joining.
        shutdown.mark_changed();
    }
    let silence = Arc::new(masked::PeerSilence::default());
    let read_half = attach(ws, &link, &shared, Arc::clone(&silence));
    let last_heard = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let reader = tokio::spawn(reader::read_loop(
        read_half,
        ReaderContext {
            link: Arc::clone(&link),
            commands: seat.commands.clone(),
            shared: Arc::clone(&shared),
            player,
            schema_hash: seat.info.schema_hash,
            schema: Arc::clone(&seat.schema),
            tick: Arc::clone(&seat.info),
            last_heard: Arc::clone(&last_heard),
            epoch,
            silence,
            spectator: member.is_spectator(),
        },
    ));
    let written = writer::write_loop(&link, &mut shutdown, &shared, &last_heard, epoch).await;
    let end = close::finish(written, reader).await;
    link.outbox.detach();

    give_up(seat, member, end, &shared).await;
    drop(alive);
    metrics::gauge!(stats::CONNECTIONS).decrement(1.0);
    metrics::counter!(stats::CLOSES, "reason" => end.label()).increment(1);
    log_end(member, end);
}

/// The connection of `member`, in `seat`, ended as `end`: it leaves, or,
/// for a player whose connection dropped (and a server that holds seats),
/// the seat goes to the room to hold for its resume.
async fn give_up(seat: Seat, member: Member, end: End, shared: &Shared) {
    let commands = seat.commands.clone();
    // A server shutting down holds nothing: its rooms are closing.
    let holds = end.holds_seat() && shared.resumes.holds_seats() && !*shared.shutdown.borrow();
    let command = match member {
        Member::Player(player) if holds => RoomCommand::Hold { player, seat },
        _ => {
            drop(seat);
            member.leave()
        }
    };
    // A room that is gone has no player to remove.
    let _ = commands.send(command).await;
}

/// Takes `player`'s held seat back with the resume `token`. A refusal is
/// sent (error message 4008 and close 4008) and gives `None`.
async fn resume(
    ws: &mut WebSocket<Stream>,
    shared: &Shared,
    token: &str,
    request: Request,
) -> Option<(Seat, Arc<PlayerLink>, Admitted)> {
    match take_back(shared, token, &request).await {
        Ok(Some(entered)) => Some(entered),
        Ok(None) => {
            Refusal::room_unavailable().send(ws).await;
            None
        }
        Err(refused) => {
            Refusal::resume(&refused).send(ws).await;
            None
        }
    }
}

/// Checks `token` (signature, expiry, room, match) and asks the room for
/// its seat. `Ok(None)`: the room did not answer.
async fn take_back(
    shared: &Shared,
    token: &str,
    request: &Request,
) -> Result<Option<(Seat, Arc<PlayerLink>, Admitted)>, Refused> {
    let claims = shared.resumes.verify(token, ticket::now_unix())?;
    if let Some(asked) = request.room.as_ref().filter(|r| **r != claims.room) {
        return Err(Refused::WrongRoom {
            token: claims.room,
            asked: asked.clone(),
        });
    }
    let room = shared
        .lobby
        .find(&claims.room)
        .filter(|room| room.info.match_id == claims.match_id)
        .ok_or(Refused::Released)?;
    let (reply, answer) = oneshot::channel();
    let asked = RoomCommand::Resume {
        player: PlayerId(claims.player),
        generation: claims.generation,
        since: request.since,
        reply,
    };
    if room.commands.send(asked).await.is_err() {
        // The room closed since it was found: its seats are given up.
        return Err(Refused::Released);
    }
    let Ok(resumed) = answer.await else {
        return Ok(None);
    };
    let resumed = resumed?;
    tracing::debug!(room = %claims.room, player = claims.player, identity = resumed.link.identity.as_deref(), "seat taken back");
    let admitted = Admitted {
        joined: resumed.joined,
        welcome: resumed.welcome,
    };
    Ok(Some((resumed.seat, resumed.link, admitted)))
}

/// Takes a seat in the room and joins it. A refusal is sent (error message
/// and close) and gives `None`.
async fn enter(
    ws: &mut WebSocket<Stream>,
    shared: &Shared,
    request: Request,
) -> Option<(Seat, Arc<PlayerLink>, Admitted)> {
    let Request {
        room,
        name,
        identity,
        since,
        ..
    } = request;
    let seat = match shared.lobby.seat(room.as_deref()) {
        Ok(seat) => seat,
        Err(error) => {
            Refusal::seat(&error).send(ws).await;
            return None;
        }
    };
    let link = Arc::new(PlayerLink::new(name).with_identity(identity));
    let (reply_tx, reply_rx) = oneshot::channel();
    let joined = match seat
        .commands
        .send(RoomCommand::Join {
            link: Arc::clone(&link),
            since,
            reply: reply_tx,
        })
        .await
    {
        Ok(()) => reply_rx.await.ok(),
        Err(_) => None,
    };
    match joined {
        Some(Ok(admitted)) => Some((seat, link, admitted)),
        Some(Err(error)) => {
            Refusal::join(&error, &seat.info.name).send(ws).await;
            None
        }
        None => {
            Refusal::room_unavailable().send(ws).await;
            None
        }
    }
}

/// Writes the welcome, before the socket is attached to the outbox (after
/// which the room may write snapshots to it). `Err`: how the connection
/// ended instead.
async fn write_welcome(
    ws: &mut WebSocket<Stream>,
    welcome: Bytes,
    shared: &Shared,
) -> Result<(), End> {
    let lag = shared.config.outbox_lag;
    let welcomed = tokio::time::timeout(
        lag,
        ws.write_frame(Frame::binary(Payload::Borrowed(&welcome))),
    )
    .await;
    match welcomed {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(End::SocketError),
        Err(_) => return Err(End::WriteTimeout),
    }
    writer::count_out(welcome.len() + tickwire_protocol::server_frame_header_bytes(welcome.len()));
    // The welcome carries the roster, so it grows with the room: a session
    // that kept it would hold kilobytes per player for nothing.
    drop(welcome);
    Ok(())
}

/// Hands the write half to the player's outbox and returns the read half,
/// ready for the reader.
fn attach(
    ws: WebSocket<Stream>,
    link: &PlayerLink,
    shared: &Shared,
    silence: Arc<masked::PeerSilence>,
) -> WebSocketRead<SocketRead> {
    let (read_half, write_half) = split(ws.into_inner());
    let read_half: SocketRead = Box::new(masked::MaskCheck::new(read_half, silence));
    let (mut read_half, _) =
        fastwebsockets::after_handshake_split(read_half, tokio::io::sink(), Role::Server);
    read_half.set_max_message_size(shared.config.max_message_size.saturating_add(1));
    link.outbox.attach(write_half);
    read_half
}

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

/// Logs how a session ended: a normal end at debug level, others at info.
fn log_end(member: Member, end: End) {
    let (player, spectator) = (member.id().0, member.is_spectator());
    match end {
        End::PeerClosed | End::PeerAway | End::PeerVanished | End::Shutdown => {
            tracing::debug!(player, spectator, reason = end.label(), "session ended");
        }
        _ => tracing::info!(player, spectator, reason = end.label(), "session closed"),
    }
}

/// The labels of `tickwire_closes_total`: every way a connection ends.
pub(crate) fn close_labels() -> Vec<&'static str> {
    close::End::ALL.iter().map(|end| end.label()).collect()
}

/// The payload of the writer's WebSocket pings: microseconds since the
/// session's `epoch`, big-endian, which the pong brings back for the
/// player's round trip (`/admin/api/rooms`).
fn ping_payload(epoch: Instant) -> [u8; 8] {
    u64::try_from(epoch.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .to_be_bytes()
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}
