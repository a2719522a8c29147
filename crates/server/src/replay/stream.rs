//! One game page's stream: the recorded match as a live socket would have
//! carried it.
//!
//! A page is served as a spectator of the match (`docs/protocol.md`,
//! Spectators): a welcome, then a snapshot per shown tick from a
//! replication core of its own (`tickwire_protocol::Replicator`), the
//! game's events, and the roster's joins and leaves. It follows the
//! viewer's point of view: a player (the welcome follows that player and
//! names its avatar, and the snapshots carry exactly that player's view,
//! within the budget the figures were measured with) or everyone (no one
//! followed, the whole room). Every discontinuity
//! (a seek, a step, play, pause, another speed, another point of view)
//! starts the page over: a new welcome whose tick rate is the playback's
//! snapshot rate, then a full snapshot, which the client takes whatever
//! its tick (`docs/protocol.md`). A spectator sends no input; one that
//! does (a client that does not know spectators) is read and acknowledged,
//! never applied, so that a page that predicts draws the recorded entity.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tickwire_protocol::{Budget, Delivery, NO_ENTITY, NO_PLAYER, Replicator, Sink};
use tickwire_sim::{NetId, PlayerId, Rect, ReplicatedEntity, Simulation};
use tokio::sync::mpsc;

use super::recorded::Seat;
use super::timeline::{Cursor, Timeline};
use crate::wire;

/// Messages waiting for one page's socket. A page that falls this far
/// behind is started over once it has room again.
pub const PAGE_QUEUE: usize = 64;

/// What goes out on a viewer socket.
#[derive(Debug)]
pub enum Out {
    /// A protocol message, as a binary frame.
    Binary(Bytes),
    /// A JSON message, as a text frame.
    Text(String),
    /// A pong answering a WebSocket ping, with its payload.
    Pong(Vec<u8>),
    /// A close frame: the code and the reason; the last frame written.
    Close(u16, String),
}

/// The newest input sequence a page sent: what its snapshots acknowledge.
#[derive(Debug, Default)]
pub struct Acks(AtomicU64);

impl Acks {
    /// Notes an input's sequence number.
    pub fn saw(&self, seq: u32) {
        self.0.fetch_max(u64::from(seq) + 1, Ordering::Relaxed);
    }

    /// The newest sequence number seen, if any.
    pub fn newest(&self) -> Option<u32> {
        let n = self.0.load(Ordering::Relaxed);
        n.checked_sub(1).and_then(|n| u32::try_from(n).ok())
    }
}

/// Why a page is dropped: its socket is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gone;

/// What a page is shown: the point of view and the snapshot rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Showing {
    /// The player followed, or `None` for everyone.
    pub follow: Option<PlayerId>,
    /// Snapshots per second: the welcome's tick rate.
    pub rate: u32,
}

/// One page: see the module docs.
#[derive(Debug)]
pub struct PageStream {
    /// Where its messages go.
    out: mpsc::Sender<Out>,
    /// The inputs it sent.
    acks: Arc<Acks>,
    /// Its replication core, new at every start over (`None` only if the
    /// schema were refused, which the timeline's build rules out).
    core: Option<Replicator<()>>,
    /// The players it knows of, from its welcome and the joins and leaves
    /// since.
    roster: Vec<PlayerId>,
    /// The avatar its welcome named.
    avatar: NetId,
    /// Whether a message could not be queued: it is started over when it
    /// has room again.
    stale: bool,
}

impl PageStream {
    /// A page whose messages go to `out`, and whose inputs `acks` counts.
    /// It is shown nothing until [`PageStream::start_over`].
    pub fn new(out: mpsc::Sender<Out>, acks: Arc<Acks>) -> Self {
        Self {
            out,
            acks,
            core: None,
            roster: Vec::new(),
            avatar: NO_ENTITY,
            stale: true,
        }
    }

    /// Closes its socket: the viewer is shutting down.
    pub fn close(self) {
        let _ = self
            .out
            .try_send(Out::Close(1001, "the viewer is shutting down".into()));
    }

    /// Whether its socket is gone.
    pub fn is_gone(&self) -> bool {
        self.out.is_closed()
    }

    /// Starts the page over at the cursor: a welcome, then a full
    /// snapshot of the shown tick, then `events` if given (the game events
    /// of a tick reached by one step).
    pub fn start_over(
        &mut self,
        timeline: &Timeline,
        cursor: &Cursor,
        seats: &[Seat],
        showing: Showing,
        events: bool,
    ) -> Result<(), Gone> {
        self.stale = false;
        self.core = core(timeline, showing.follow);
        let followed = showing
            .follow
            .and_then(|p| seats.iter().find(|s| s.player == p));
        self.avatar = followed.and_then(|s| s.avatar).unwrap_or(NO_ENTITY);
        self.roster = seats.iter().map(|s| s.player).collect();
        let welcome = wire::encode_welcome(wire::Welcome {
            player: NO_PLAYER,
            avatar: self.avatar,
            spectator: true,
            following: followed.map(|s| s.player),
            // A spectator holds no seat to resume.
            resume: String::new(),
            room: timeline.name(),
            tick_rate: showing.rate,
            tick: cursor.tick(),
            schema: timeline.schema(),
            roster: seats.iter().map(|s| (s.player, s.name.clone())).collect(),
            constants: timeline.constants().to_vec(),
        });
        self.send(Out::Binary(welcome))?;
        self.snapshot(cursor, showing)?;
        if events {
            self.events(cursor)?;
        }
        Ok(())
    }

    /// Sends the page the tick the cursor just stepped to: the joins and
    /// leaves before it, its snapshot, its game events. A page that missed
    /// a message, or whose followed player's avatar changed, is started
    /// over instead.
    pub fn next(
        &mut self,
        timeline: &Timeline,
        cursor: &Cursor,
        seats: &[Seat],
        showing: Showing,
    ) -> Result<(), Gone> {
        let avatar = showing
            .follow
            .and_then(|p| seats.iter().find(|s| s.player == p))
            .and_then(|s| s.avatar)
            .unwrap_or(NO_ENTITY);
        if self.stale || avatar != self.avatar {
            if self.out.capacity() < PAGE_QUEUE / 2 {
                self.stale = true;
                return if self.is_gone() { Err(Gone) } else { Ok(()) };
            }
            return self.start_over(timeline, cursor, seats, showing, true);
        }
        let mut roster = std::mem::take(&mut self.roster);
        for gone in roster
            .iter()
            .filter(|p| !seats.iter().any(|s| s.player == **p))
        {
            self.send(Out::Binary(wire::encode_player_left(*gone)))?;
        }
        for seat in seats.iter().filter(|s| !roster.contains(&s.player)) {
            self.send(Out::Binary(wire::encode_player_joined(
                seat.player,
                &seat.name,
            )))?;
        }
        roster.clear();
        roster.extend(seats.iter().map(|s| s.player));
        self.roster = roster;
        self.snapshot(cursor, showing)?;
        self.events(cursor)
    }

    /// The cursor's tick through the page's core.
    fn snapshot(&mut self, cursor: &Cursor, showing: Showing) -> Result<(), Gone> {
        let Some(core) = &mut self.core else {
            return Ok(());
        };
        let sim = cursor.sim().as_simulation();
        let mut rows: Vec<ReplicatedEntity> = Vec::new();
        sim.replicated(&mut rows);
        let interest = PageInterest {
            sim,
            follow: showing.follow,
            ack: self.acks.newest(),
        };
        let mut capture = Capture(None);
        let tick = wire::wire_tick(cursor.tick());
        if let Err(error) = core.replicate(tick, &rows, &interest, &mut capture) {
            tracing::warn!(tick, %error, "a shown tick did not replicate");
        }
        match capture.0 {
            Some(message) => self.send(Out::Binary(message)),
            None => Ok(()),
        }
    }

    /// The game events of the cursor's tick.
    fn events(&mut self, cursor: &Cursor) -> Result<(), Gone> {
        for event in cursor.events() {
            self.send(Out::Binary(wire::encode_game_event(event)))?;
        }
        Ok(())
    }

    /// Queues one message; a full queue makes the page stale.
    fn send(&mut self, out: Out) -> Result<(), Gone> {
        if self.stale {
            return Ok(());
        }
        match self.out.try_send(out) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stale = true;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Gone),
        }
    }
}

/// A replication core with the page as its one player: the followed
/// player, under the timeline's budget, or everyone.
fn core(timeline: &Timeline, follow: Option<PlayerId>) -> Option<Replicator<()>> {
    let budget: Option<Budget> = follow.and(timeline.budget());
    match Replicator::new(timeline.schema().clone(), budget) {
        Ok(mut core) => {
            core.add(follow.unwrap_or(NO_PLAYER), ());
            Some(core)
        }
        Err(error) => {
            tracing::error!(%error, "the game's schema is refused");
            None
        }
    }
}

/// What the page's core asks of the match: the followed player's view
/// (none: everyone), and the page's own newest input as the last applied.
struct PageInterest<'a> {
    sim: &'a dyn Simulation,
    follow: Option<PlayerId>,
    ack: Option<u32>,
}

impl tickwire_sim::replicate::Interest for PageInterest<'_> {
    fn view(&self, _player: PlayerId) -> Option<Rect> {
        self.follow.and_then(|p| self.sim.view(p))
    }

    fn entities_in(&self, view: Rect, out: &mut Vec<NetId>) {
        self.sim.entities_in(view, out);
    }

    fn last_applied_input(&self, _player: PlayerId) -> Option<u32> {
        self.ack
    }

    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        self.sim.priority(view, row)
    }
}

/// The page core's sink: keeps the one message, written at once.
struct Capture(Option<Bytes>);

impl Sink<()> for Capture {
    fn deliver(
        &mut self,
        _player: PlayerId,
        _handle: &(),
        _tick: u32,
        message: &mut Vec<u8>,
    ) -> Delivery {
        self.0 = Some(Bytes::copy_from_slice(message));
        Delivery::Written
    }
}
