//! One room: one match of the game, driven by one tokio task at a fixed
//! tick rate. The room keeps the timing, the commands from sessions and the
//! players' sockets; everything about what each player is sent lives in
//! the protocol's replication core ([`Replicator`]), which the room drives
//! once per tick through a sink over the players' outboxes. The tick is
//! told step by step in `docs/architecture.md`.
//!
//! The room task owns the `Box<dyn Simulation>` outright, so the simulation
//! needs no lock. Sessions talk to it through a bounded command channel
//! (join, leave, hold, resume, chat) and, for inputs, through each player's
//! own bounded input queue ([`PlayerLink`]), which the tick drains.
//!
//! A player whose connection dropped keeps its seat for the reconnect
//! grace: the session hands the room its place in the lobby
//! ([`RoomCommand::Hold`]), the game is told (`Simulation::dropped`), the
//! replication core sends it nothing and keeps what its client holds, and
//! the seat counts toward the room's limit and keeps the room open. A
//! resume ([`RoomCommand::Resume`]) with the seat's current token gives the
//! place back to the new session, with a new link and a welcome carrying
//! the next token; a hold that runs out is a leave (see `seats.rs`,
//! [`crate::resume`]).
//!
//! Rooms tick at one of a few phases within the tick period (see
//! [`crate::lobby::PHASE_SLOTS`]), so that the sends of many rooms spread
//! out instead of bursting at the same instant, while rooms of one phase
//! share a wakeup of the runtime.

mod info;
pub mod journal;
mod link;
mod seats;
mod spectators;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::OpCode;
use tickwire_protocol::{Delivery, Replicator, Sink};
use tickwire_sim::record::Call;
use tickwire_sim::{
    GameEvent, InputTiming, JoinError, Joined, PlayerId, ReplicatedEntity, Simulation,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::lobby::Seat;
use crate::name::Names;
use crate::outbox::Offered;
use crate::resume::{Refused, Resumes};
use crate::stats;
use crate::{frame, wire};

pub use info::{PlayerSummary, RoomInfo, RoomSummary};
use journal::{Journal, SavedPlayer, SavedSeats};
use link::Pushed;
pub use link::{Control, OperatorClose, PlayerLink};
use seats::Seats;
pub use spectators::{Member, Spectating, SpectatorCommand};

/// Why a player too far behind on the room's events is closed.
const EVENT_QUEUE_REASON: &str = "too far behind on the room's events; reconnect";

/// A request from a session to its room.
#[derive(Debug)]
pub enum RoomCommand {
    /// Add a player; the reply says whether the game accepted it.
    Join {
        /// The session's side of the player.
        link: Arc<PlayerLink>,
        /// The newest tick its client holds from an earlier connection:
        /// its first snapshot is a delta against it when the history still
        /// holds it. Known before anything is encoded for the player.
        since: Option<u32>,
        /// Told the outcome.
        reply: oneshot::Sender<Result<Admitted, JoinError>>,
    },
    /// Remove a player.
    Leave(PlayerId),
    /// The player's connection dropped without a leave: hold its seat, and
    /// `seat`, its place in the lobby, for the reconnect grace.
    Hold {
        /// Whose connection dropped.
        player: PlayerId,
        /// Its place in the lobby, kept by the room while the seat is held.
        seat: Seat,
    },
    /// A resume token for `player`'s seat, of `generation`, checked by the
    /// session (signature, expiry, room, match): take the seat back if it
    /// is held and the token is its current one.
    Resume {
        /// Whose seat.
        player: PlayerId,
        /// The token's generation.
        generation: u32,
        /// The newest tick the client holds: known before its first
        /// snapshot is encoded.
        since: Option<u32>,
        /// Told the outcome.
        reply: oneshot::Sender<Result<Resumed, Refused>>,
    },
    /// Give up every held seat (the server is shutting down).
    ReleaseHeld,
    /// A chat line from a player, for everyone in the room.
    Chat(PlayerId, String),
    /// A spectator's join, leave or change of target.
    Spectator(SpectatorCommand),
    /// An operator's kick (`crate::admin`): `player` is closed with 4014
    /// and `kicked by operator: REASON`; a held seat is given up. The
    /// reply says whether the room had the player.
    Kick {
        /// Whom.
        player: PlayerId,
        /// The operator's reason.
        reason: String,
        /// Told whether the player was here.
        reply: oneshot::Sender<bool>,
    },
    /// An operator closed the room (`crate::admin`): every player and
    /// spectator is closed, and so is any join after it, with `kind`
    /// (4015 and `room closed by operator: REASON`, or a drain's 1001),
    /// and held seats are given up. The lobby has forgotten the room, so
    /// it ends as its sessions do.
    Close {
        /// How the connections are closed.
        kind: OperatorClose,
        /// The whole reason, for the close frames.
        reason: String,
    },
}

/// A held seat taken back by a resume.
#[derive(Debug)]
pub struct Resumed {
    /// The player's ids: the same as before the drop.
    pub joined: Joined,
    /// The welcome, with the seat's next token, for the session to write
    /// before anything else.
    pub welcome: Bytes,
    /// The player's new link (the same name and identity).
    pub link: Arc<PlayerLink>,
    /// The player's place in the lobby, back to the session.
    pub seat: Seat,
}

/// A player the room let in.
#[derive(Debug)]
pub struct Admitted {
    /// Its ids in the match.
    pub joined: Joined,
    /// The welcome message, for the session to write before anything else
    /// (before it attaches the socket to the player's outbox, after which
    /// the room writes snapshots to it).
    pub welcome: Bytes,
}

/// Settings a room takes from the server's configuration.
#[derive(Clone, Copy, Debug)]
pub struct RoomSettings {
    /// Most catch-up ticks run back to back before time is dropped.
    pub max_catch_up: u32,
    /// Offset of this room's ticks within the tick period, as a fraction.
    pub phase: f64,
    /// Start of the server's tick grid: a room ticks at `epoch`, plus whole
    /// periods, plus its phase, so rooms of the same phase tick together.
    pub epoch: Instant,
    /// Snapshot bytes per second per player with a view, if limited.
    pub bandwidth_budget: Option<u64>,
    /// What the room does for its spectators.
    pub spectating: Spectating,
}

/// A running match and its players. Owned by the room task.
#[derive(Debug)]
pub struct Room {
    sim: Box<dyn Simulation>,
    info: Arc<RoomInfo>,
    settings: RoomSettings,
    /// The players, keyed once, with what each client holds: the order
    /// inputs are drained in and snapshots encoded in.
    players: Replicator<Arc<PlayerLink>>,
    /// Reused per tick: the replicated state, sorted by id.
    rows: Vec<ReplicatedEntity>,
    /// Reused per tick: the events.
    events: Vec<GameEvent>,
    /// The outboxes, as the replication core sees them.
    sink: Outboxes,
    /// The players' names, so that no two share one.
    names: Names,
    /// The players' seats: avatars, generations, and those held.
    seats: Seats<Seat>,
    /// Resume tokens and the reconnect grace; `None`: no seat is held.
    resumes: Option<Arc<Resumes>>,
    /// Ticks run.
    ticks: metrics::Counter,
    /// The spectators, while the room has any.
    spectators: Option<spectators::Spectators>,
    /// An operator closed the room: how, and why.
    closed: Option<(OperatorClose, String)>,
    /// The simulation's input timing when the metrics last took it.
    input_timing: InputTiming,
    /// Cluster mode: what a failover continues the room from.
    journal: Option<Journal>,
    /// A room continued from a dead node: when, and how long the room had
    /// been without a node then, until its first snapshot goes out.
    failover: Option<(Instant, Duration)>,
}

/// When a tick's step began and ended.
#[derive(Clone, Copy, Debug)]
struct Stepped {
    start: std::time::Instant,
    simulated: std::time::Instant,
}

impl Room {
    /// Wraps a fresh simulation; fails if the game's schema is invalid.
    pub fn new(
        sim: Box<dyn Simulation>,
        info: Arc<RoomInfo>,
        settings: RoomSettings,
    ) -> Result<Self, tickwire_sim::SchemaError> {
        let budget = wire::budget(settings.bandwidth_budget, sim.tick_rate());
        let players = Replicator::new(sim.schema().clone(), budget)?;
        Ok(Self {
            sim,
            info,
            settings,
            players,
            rows: Vec::new(),
            events: Vec::new(),
            sink: Outboxes::new(),
            names: Names::default(),
            seats: Seats::default(),
            resumes: None,
            ticks: metrics::counter!(stats::TICKS),
            spectators: None,
            closed: None,
            input_timing: InputTiming::default(),
            journal: None,
            failover: None,
        })
    }

    /// Keeps `journal` (cluster mode, failover): a snapshot now, then every
    /// tick's calls.
    #[must_use]
    pub fn with_journal(mut self, mut journal: Journal) -> Self {
        if self.sim.save().is_none() {
            // A game without snapshots: no failover (the journal's writer
            // ends with it).
            return self;
        }
        journal.snapshot(&*self.sim, &self.saved_seats());
        self.journal = Some(journal);
        self
    }

    /// The room's seats, for a snapshot.
    fn saved_seats(&self) -> SavedSeats {
        saved_seats(&self.players, &self.seats, self.info.match_id)
    }

    /// Gives the room back the seats of a match continued from another
    /// node's snapshot (`saved`, and `places`, their places in the lobby,
    /// in the same order): every player is held, as after a dropped
    /// connection, until it resumes or the grace runs out. `dead_for` is
    /// how long the room had been without a node.
    pub fn restore_seats(&mut self, saved: &[SavedPlayer], places: Vec<Seat>, dead_for: Duration) {
        let grace = self
            .resumes
            .as_ref()
            .map_or(Duration::ZERO, |resumes| resumes.grace());
        let until = Instant::now() + grace;
        for (player, place) in saved.iter().zip(places) {
            let id = player.player();
            let link = Arc::new(PlayerLink::new(player.name.clone()));
            let name = self.names.claim(&player.name);
            link.set_name(name);
            link.set_avatar(player.avatar());
            self.seats.restored(id, player.avatar(), player.generation);
            self.players.add(id, Arc::clone(&link));
            self.info.links.lock().insert(id, Arc::clone(&link));
            metrics::gauge!(stats::PLAYERS).increment(1.0);
            self.players.hold(id);
            link.set_held(true);
            if let Err(place) = self.seats.hold(id, place, until) {
                drop(place);
            }
        }
        self.info
            .players
            .store(self.players.len(), Ordering::Relaxed);
        self.count_held();
        self.failover = Some((Instant::now(), dead_for));
        if grace.is_zero() {
            // No seat is held here: everyone restored has left.
            self.release_expired(Instant::now() + Duration::from_secs(1));
        }
    }

    /// Tells the game that every held seat's player dropped (the players
    /// of a room continued here: their connections were to the dead
    /// node). Made after the journal's first snapshot, so the calls are in
    /// its log and the log holds every call of the match.
    pub fn drop_held(&mut self) {
        let held: Vec<PlayerId> = self
            .players
            .players()
            .map(|(id, _)| id)
            .filter(|id| self.players.is_held(*id))
            .collect();
        for id in held {
            self.sim.dropped(id);
            self.note(Call::Dropped { player: id });
        }
    }

    /// Records the replicated rows of ticks replayed before the room
    /// continued here (`(tick, rows)`, oldest first) in the room-wide
    /// history: a resuming client that holds one of them gets a delta
    /// against it (a player with a view gets a full snapshot: what its
    /// client holds of its view is not known here).
    pub fn remember(&mut self, recent: &[(u64, Vec<ReplicatedEntity>)]) {
        for (tick, rows) in recent {
            if let Err(error) = self.players.remember(wire::wire_tick(*tick), rows) {
                tracing::warn!(room = %self.info.name, tick, %error, "replayed tick not recorded");
                return;
            }
        }
    }

    /// Notes a call made on the match in the journal, if any.
    fn note(&mut self, call: Call) {
        if let Some(journal) = self.journal.as_mut() {
            journal.note(call);
        }
    }

    /// Holds the seats of players whose connection drops, and issues their
    /// resume tokens, as `resumes` says (by default no seat is held).
    #[must_use]
    pub fn with_resumes(mut self, resumes: Arc<Resumes>) -> Self {
        self.resumes = Some(resumes);
        self
    }

    /// Sends a chat line to every player; a full queue drops it (and counts
    /// it): chat is the one thing a slow client may miss.
    fn broadcast_chat(&self, message: &Bytes) {
        for (_, link) in self.players.attached() {
            if !link.control.try_push(Control::Message(message.clone())) {
                metrics::counter!(stats::EVENTS_DROPPED).increment(1);
            }
        }
        if let Some(spectators) = &self.spectators {
            spectators.chat(&self.info, message);
        }
    }

    /// Sends a lifecycle event (a join, a leave, a game event) to every
    /// player. It is never dropped: a player too far behind to take it is
    /// disconnected instead, and resynced by its reconnect's welcome (see
    /// [`link::EVENT_QUEUE`]).
    fn broadcast_event(&self, message: &Bytes) {
        for (player, link) in self.players.attached() {
            let pushed = link.control.push_event(
                Control::Message(message.clone()),
                || wire::encode_error(wire::error_code::UNEXPECTED, EVENT_QUEUE_REASON),
                EVENT_QUEUE_REASON,
            );
            if pushed == Pushed::Overflowed {
                metrics::counter!(stats::EVENT_QUEUE_CLOSES).increment(1);
                tracing::info!(room = %self.info.name, player = player.0, "player too far behind on room events; closing");
            }
        }
        if let Some(spectators) = &self.spectators {
            spectators.event(&self.info, message);
        }
    }

    /// Runs the room until every sender of `commands` is gone (the lobby
    /// drops its sender when the last player leaves or the server stops).
    pub async fn run(mut self, mut commands: mpsc::Receiver<RoomCommand>) -> Box<dyn Simulation> {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.sim.tick_rate().max(1)));
        let since = Instant::now().saturating_duration_since(self.settings.epoch);
        let periods = since.as_nanos() / period.as_nanos().max(1) + 1;
        let mut next_tick = self.settings.epoch
            + period * u32::try_from(periods).unwrap_or(u32::MAX)
            + period.mul_f64(self.settings.phase.clamp(0.0, 1.0));
        tracing::info!(room = %self.info.name, game = %self.info.game, "room opened");
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                () = tokio::time::sleep_until(next_tick) => {
                    next_tick = self.catch_up(next_tick, period).await;
                }
            }
        }
        for (player, _) in self.players.drain() {
            self.sim.leave(player);
        }
        for (_, seat) in self.seats.release_all() {
            drop(seat);
        }
        self.count_held();
        self.drop_spectators();
        if let Some(journal) = self.journal.as_mut() {
            journal.end();
        }
        tracing::info!(room = %self.info.name, ticks = self.sim.tick(), "room closed");
        self.sim
    }

    /// Runs the ticks due by now, at most `max_catch_up` more than one;
    /// drops (and counts) the rest. Returns when the next tick is due.
    /// With a journal, each tick's snapshots wait for Redis to hold its
    /// inputs (see [`journal`]).
    async fn catch_up(&mut self, mut next_tick: Instant, period: Duration) -> Instant {
        self.release_expired(Instant::now());
        let mut ran = 0;
        while next_tick <= Instant::now() && ran <= self.settings.max_catch_up {
            match self.journal.as_mut() {
                None => self.tick(),
                Some(_) => {
                    let stepped = self.simulate();
                    if let Some(journal) = self.journal.as_mut() {
                        journal.confirm(self.sim.tick()).await;
                    }
                    self.replicate(stepped);
                }
            }
            next_tick += period;
            ran += 1;
        }
        let now = Instant::now();
        if next_tick <= now {
            let behind = (now - next_tick).as_nanos() / period.as_nanos().max(1) + 1;
            let behind = u32::try_from(behind).unwrap_or(u32::MAX);
            next_tick += period * behind;
            metrics::counter!(stats::CATCHUP_TICKS_DROPPED).increment(u64::from(behind));
            tracing::debug!(room = %self.info.name, behind, "room fell behind; ticks dropped");
        }
        next_tick
    }

    fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { link, since, reply } => {
                let result = self.join(&link);
                if let (Ok(admitted), Some(tick)) = (&result, since) {
                    self.players.resume(admitted.joined.player, tick);
                }
                let joined = result.as_ref().ok().map(|a| a.joined);
                if let (Some(_), Some((kind, reason))) = (joined, &self.closed) {
                    // A seat taken before the room closed: closed too.
                    link.control
                        .push_final(Control::Operator(*kind, reason.clone()));
                }
                if reply.send(result).is_err() {
                    // The session went away while we were adding it.
                    if let Some(joined) = joined {
                        self.leave(joined.player);
                    }
                }
            }
            RoomCommand::Leave(player) => self.leave(player),
            RoomCommand::Hold { player, seat } => self.hold(player, seat),
            RoomCommand::Resume {
                player,
                generation,
                since,
                reply,
            } => {
                let resumed = self.resume(player, generation, since);
                let taken = resumed.is_ok();
                match reply.send(resumed) {
                    Ok(()) if taken => metrics::counter!(stats::RESUMES).increment(1),
                    Ok(()) | Err(Err(_)) => {}
                    // The session went away while we were resuming it: the
                    // seat is held again (its token is lost with the
                    // session).
                    Err(Ok(resumed)) => self.hold(player, resumed.seat),
                }
            }
            RoomCommand::ReleaseHeld => {
                for (player, seat) in self.seats.release_all() {
                    self.leave(player);
                    drop(seat);
                }
                self.count_held();
            }
            RoomCommand::Chat(player, text) => {
                if self.players.get(player).is_some() && !self.players.is_held(player) {
                    self.broadcast_chat(&wire::encode_chat(player, &text));
                }
            }
            RoomCommand::Spectator(command) => self.spectator(command),
            RoomCommand::Kick {
                player,
                reason,
                reply,
            } => {
                let _ = reply.send(self.kick(player, &reason));
            }
            RoomCommand::Close { kind, reason } => self.close(kind, reason),
        }
    }

    /// An operator's kick of `player`; whether the room had it.
    fn kick(&mut self, player: PlayerId, reason: &str) -> bool {
        let Some(link) = self.players.get(player).map(Arc::clone) else {
            return false;
        };
        tracing::info!(room = %self.info.name, player = player.0, reason, "player kicked by an operator");
        if self.players.is_held(player) {
            // No connection to close: the seat is given up.
            self.leave(player);
        } else {
            link.control.push_final(Control::Operator(
                OperatorClose::Kicked,
                format!("kicked by operator: {reason}"),
            ));
        }
        true
    }

    /// An operator closed the room: closes every player and spectator (and
    /// any later join) with `kind` and `reason`, and gives up held seats.
    fn close(&mut self, kind: OperatorClose, reason: String) {
        tracing::info!(room = %self.info.name, %reason, "room closed by an operator");
        for (player, seat) in self.seats.release_all() {
            self.leave(player);
            drop(seat);
        }
        self.count_held();
        for (_, link) in self.players.attached() {
            link.control
                .push_final(Control::Operator(kind, reason.clone()));
        }
        if let Some(spectators) = &self.spectators {
            for (_, link) in spectators.links() {
                link.control
                    .push_final(Control::Operator(kind, reason.clone()));
            }
        }
        self.closed = Some((kind, reason));
    }

    /// Adds a player, as a [`RoomCommand::Join`] does: the room task's way,
    /// and a bench's or test's way to fill a room it ticks itself.
    pub fn join(&mut self, link: &Arc<PlayerLink>) -> Result<Admitted, JoinError> {
        if self.players.len() >= self.info.max_players {
            return Err(JoinError::Full(self.players.len()));
        }
        let name = self.names.claim(link.requested_name());
        let joined = self.sim.join(&name);
        self.note(Call::Join { name: name.clone() });
        let joined = match joined {
            Ok(joined) => joined,
            Err(error) => {
                self.names.release(&name);
                return Err(error);
            }
        };
        link.set_name(name);
        link.set_avatar(joined.avatar);
        let generation = self.seats.joined(joined.player, joined.avatar);
        self.broadcast_event(&wire::encode_player_joined(joined.player, link.name()));
        self.players.add(joined.player, Arc::clone(link));
        let welcome = self.welcome(joined, generation);
        self.info
            .links
            .lock()
            .insert(joined.player, Arc::clone(link));
        self.info
            .players
            .store(self.players.len(), Ordering::Relaxed);
        metrics::gauge!(stats::PLAYERS).increment(1.0);
        tracing::debug!(room = %self.info.name, player = joined.player.0, name = %link.name(), "player joined");
        Ok(Admitted { joined, welcome })
    }

    /// The welcome of `joined`, already among the players, with the token
    /// of its seat's `generation`.
    fn welcome(&self, joined: Joined, generation: u32) -> Bytes {
        let roster = self
            .players
            .players()
            .map(|(id, l)| (id, l.name().to_owned()))
            .collect();
        wire::encode_welcome(wire::Welcome {
            player: joined.player,
            avatar: joined.avatar,
            room: &self.info.name,
            tick_rate: self.sim.tick_rate(),
            tick: self.sim.tick(),
            schema: self.sim.schema(),
            roster,
            constants: self.sim.client_constants(),
            spectator: false,
            following: None,
            resume: self.token(joined.player, generation),
        })
    }

    /// The resume token of `generation` of `player`'s seat; empty when
    /// this room holds no seats.
    fn token(&self, player: PlayerId, generation: u32) -> String {
        match &self.resumes {
            Some(resumes) if resumes.holds_seats() => resumes.issue(&resumes.claims(
                &self.info.name,
                self.info.match_id,
                player.0,
                generation,
            )),
            _ => String::new(),
        }
    }

    fn leave(&mut self, player: PlayerId) {
        // A held seat's place in the lobby is given up after the leave.
        let place = self.seats.left(player);
        if let Some(link) = self.players.remove(player) {
            self.names.release(link.name());
            self.sim.leave(player);
            self.note(Call::Leave { player });
            self.broadcast_event(&wire::encode_player_left(player));
            self.info.links.lock().remove(&player);
            self.info
                .players
                .store(self.players.len(), Ordering::Relaxed);
            metrics::gauge!(stats::PLAYERS).decrement(1.0);
            tracing::debug!(room = %self.info.name, player = player.0, "player left");
        }
        if place.is_some() {
            self.count_held();
        }
        drop(place);
    }

    /// `player`'s connection dropped: holds its seat (and `seat`, its place
    /// in the lobby) for the reconnect grace, and tells the game. Without
    /// a grace, or for a player not here, it is a leave.
    fn hold(&mut self, player: PlayerId, seat: Seat) {
        let until = match &self.resumes {
            Some(resumes) if resumes.holds_seats() => Instant::now() + resumes.grace(),
            _ => {
                self.leave(player);
                return;
            }
        };
        let Some(link) = self.players.get(player).map(Arc::clone) else {
            return;
        };
        if let Err(seat) = self.seats.hold(player, seat, until) {
            // Held already: a place given twice is given back.
            drop(seat);
            return;
        }
        if self.players.hold(player) {
            self.sim.dropped(player);
            self.note(Call::Dropped { player });
        }
        link.set_held(true);
        self.count_held();
        tracing::debug!(room = %self.info.name, player = player.0, "connection dropped; seat held");
    }

    /// A resume of `player`'s seat with a token of `generation`, its client
    /// holding `since`.
    fn resume(
        &mut self,
        player: PlayerId,
        generation: u32,
        since: Option<u32>,
    ) -> Result<Resumed, Refused> {
        let taken = self.seats.resume(player, generation)?;
        let Some(old) = self.players.get(player).map(Arc::clone) else {
            // A seat without a player cannot be: give it up.
            self.count_held();
            return Err(Refused::Released);
        };
        let link = Arc::new(PlayerLink::resuming(&old));
        self.players.attach(player, Arc::clone(&link), since);
        let joined = Joined {
            player,
            avatar: taken.avatar,
        };
        let welcome = self.welcome(joined, taken.generation);
        self.info.links.lock().insert(player, Arc::clone(&link));
        self.count_held();
        tracing::debug!(room = %self.info.name, player = player.0, since, "seat resumed");
        Ok(Resumed {
            joined,
            welcome,
            link,
            seat: taken.seat,
        })
    }

    /// Gives up every held seat whose grace ran out by `now`: its player
    /// leaves.
    fn release_expired(&mut self, now: Instant) {
        while let Some((player, seat)) = self.seats.expired(now) {
            tracing::debug!(room = %self.info.name, player = player.0, "reconnect grace over; seat released");
            self.leave(player);
            drop(seat);
            self.count_held();
        }
    }

    /// Brings the held seats' count (room info and gauge) up to date.
    fn count_held(&self) {
        let now = self.seats.held();
        let was = self.info.held.swap(now, Ordering::Relaxed);
        metrics::gauge!(stats::SEATS_HELD).increment(now as f64 - was as f64);
    }

    /// Adds what the last step counted of the inputs' timing to the metrics.
    fn count_input_timing(&mut self) {
        let now = self.sim.input_timing();
        let was = std::mem::replace(&mut self.input_timing, now);
        let bunched = now.bunched.saturating_sub(was.bunched);
        let starved = now.starved.saturating_sub(was.starved);
        if bunched > 0 {
            metrics::counter!(stats::INPUT_TIMING, "kind" => "bunched").increment(bunched);
        }
        if starved > 0 {
            metrics::counter!(stats::INPUT_TIMING, "kind" => "starved").increment(starved);
        }
    }

    /// Runs one tick: simulate, replicate (every player's snapshot offered
    /// to its outbox as soon as it is encoded), then the tick's events.
    pub fn tick(&mut self) {
        let stepped = self.simulate();
        self.replicate(stepped);
    }

    /// A tick's first half: the inputs, the step, the events drained, the
    /// journal's entry queued.
    fn simulate(&mut self) -> Stepped {
        let start = std::time::Instant::now();
        for (id, link) in self.players.attached() {
            link.drain_inputs(|input| {
                self.sim.input(id, input);
                if let Some(journal) = self.journal.as_mut() {
                    journal.note(Call::Input { player: id, input });
                }
            });
        }
        self.sim.step();
        self.count_input_timing();
        self.events.clear();
        self.sim.drain_events(&mut self.events);
        if let Some(journal) = self.journal.as_mut() {
            let (players, seats, id) = (&self.players, &self.seats, self.info.match_id);
            journal.ticked(&*self.sim, || saved_seats(players, seats, id));
        }
        Stepped {
            start,
            simulated: std::time::Instant::now(),
        }
    }

    /// A tick's second half: every player's snapshot encoded and offered,
    /// then the tick's events.
    fn replicate(&mut self, stepped: Stepped) {
        let Stepped { start, simulated } = stepped;
        // Time waited for the journal counts in no phase.
        let replicating = std::time::Instant::now();

        // replicate, and send as each message is ready
        let tick = self.sim.tick();
        // Before any player is sent this tick: whoever holds its snapshot
        // sees it (or a later one) in `/api/rooms`.
        self.info.tick.store(tick, Ordering::Relaxed);
        self.rows.clear();
        self.sim.replicated(&mut self.rows);
        self.sink.begin_tick(tick);
        let replicated = self.players.replicate(
            wire::wire_tick(tick),
            &self.rows,
            &*self.sim,
            &mut self.sink,
        );
        match replicated {
            Ok(report) => {
                if report.written > 0
                    && let Some((at, dead_for)) = self.failover.take()
                {
                    let gap = dead_for + at.elapsed();
                    metrics::histogram!(stats::FAILOVER_SECONDS).record(gap.as_secs_f64());
                    tracing::info!(room = %self.info.name, tick, gap = ?gap, "continued room's first snapshot sent");
                }
                if let Some((player, error)) = &report.failure {
                    // A game bug: these players keep their last state.
                    tracing::error!(room = %self.info.name, tick, player = player.0, failed = report.failed, %error, "view not replicable");
                }
                self.sink.count(&report);
            }
            // A game bug (unsorted ids, a value outside its declared
            // range): players keep their last state rather than get
            // garbage. The tick still counts, and its events still go out.
            Err(error) => {
                tracing::error!(room = %self.info.name, tick, %error, "tick state not replicable");
            }
        }
        // The spectators, through a core of their own (see `spectators`).
        if let Some(spectators) = self.spectators.as_mut() {
            let sent = spectators.tick(
                wire::wire_tick(tick),
                &self.rows,
                &*self.sim,
                &self.players,
                &mut self.sink,
                &self.info,
            );
            match sent {
                Some(Ok(report)) => self.sink.count(&report),
                Some(Err(error)) => {
                    tracing::error!(room = %self.info.name, tick, %error, "spectators' tick state not replicable");
                }
                None => {}
            }
        }
        let encoded = std::time::Instant::now();

        // the tick's events
        for event in &self.events {
            self.broadcast_event(&wire::encode_game_event(event));
        }
        let sent = std::time::Instant::now();

        let offering = self.sink.offering();
        let sampled = self.info.times.lock().record(
            tick,
            [
                simulated - start,
                (encoded - replicating).saturating_sub(offering),
                offering + (sent - encoded),
            ],
        );
        if sampled {
            // Once a second: each player's bytes per second (a held
            // seat's link, written to no more, falls to 0).
            for (_, link) in self.players.players() {
                link.sample_bytes();
            }
        }
        self.ticks.increment(1);
        if tick.is_multiple_of(stats::GARBAGE_FLUSH_TICKS) {
            stats::flush_metric_garbage();
        }
    }
}

/// A room's seats as its snapshots keep them: each player's id, name,
/// avatar and seat generation, and the match id.
fn saved_seats(
    players: &Replicator<Arc<PlayerLink>>,
    seats: &Seats<Seat>,
    match_id: u64,
) -> SavedSeats {
    let players = seats
        .generations()
        .filter_map(|(player, avatar, generation)| {
            let link = players.get(player)?;
            Some(SavedPlayer {
                id: player.0,
                name: link.name().to_owned(),
                avatar: avatar.0,
                generation,
            })
        })
        .collect();
    SavedSeats { match_id, players }
}

/// The players' outboxes as the replication core sees them: each message
/// is framed in place (the core writes it after the room `frame::begin`
/// left for the head) and offered at once, so the room holds one frame,
/// never one per player. The time spent offering is the send phase's.
#[derive(Debug)]
pub struct Outboxes {
    /// The simulation's tick being sent (the wire counts it in `u32`).
    tick: u64,
    /// Time spent in `offer` this tick.
    offering: Duration,
    /// Bytes of the frames the room wrote to sockets itself this tick.
    written_bytes: u64,
    /// Snapshot frames and bytes the room wrote to sockets itself.
    frames_out: metrics::Counter,
    bytes_out: metrics::Counter,
}

impl Outboxes {
    /// A sink over the players' outboxes, counting into the metrics.
    pub fn new() -> Self {
        Self {
            tick: 0,
            offering: Duration::ZERO,
            written_bytes: 0,
            frames_out: metrics::counter!(stats::FRAMES_OUT),
            bytes_out: metrics::counter!(stats::BYTES_OUT),
        }
    }

    /// Starts the send of `tick`: its offers are timed from zero.
    pub fn begin_tick(&mut self, tick: u64) {
        self.tick = tick;
        self.offering = Duration::ZERO;
    }

    /// Time spent offering frames since [`Outboxes::begin_tick`].
    pub fn offering(&self) -> Duration {
        self.offering
    }

    /// Moves a tick's report into the metrics.
    pub fn count(&mut self, report: &tickwire_protocol::Report) {
        self.frames_out.increment(report.written);
        self.bytes_out
            .increment(std::mem::take(&mut self.written_bytes));
        if report.replaced > 0 {
            metrics::counter!(stats::SNAPSHOTS_SKIPPED).increment(report.replaced);
        }
        if report.deferred > 0 {
            metrics::counter!(stats::CHANGES_DEFERRED).increment(report.deferred);
        }
    }
}

impl Default for Outboxes {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink<Arc<PlayerLink>> for Outboxes {
    fn begin(&mut self, message: &mut Vec<u8>) {
        frame::begin(message);
    }

    fn written(&mut self, _player: PlayerId, link: &Arc<PlayerLink>) -> Option<u32> {
        // The writer task may have begun the waiting snapshot since.
        link.outbox.written_tick().map(wire::wire_tick)
    }

    fn deliver(
        &mut self,
        _player: PlayerId,
        link: &Arc<PlayerLink>,
        tick: u32,
        message: &mut Vec<u8>,
    ) -> Delivery {
        let frame = frame::finish(message, OpCode::Binary);
        // The outbox keeps the tick the message is of: the room's, or for
        // a spectator with a delay, an earlier one.
        let tick = if tick == wire::wire_tick(self.tick) {
            self.tick
        } else {
            u64::from(tick)
        };
        let offering = std::time::Instant::now();
        let offered = link.outbox.offer(tick, frame);
        self.offering += offering.elapsed();
        let written = || link.outbox.written_tick().map(wire::wire_tick);
        match offered {
            Offered::Written => {
                self.written_bytes += frame.len() as u64;
                Delivery::Written
            }
            Offered::Queued => Delivery::Waiting { written: written() },
            Offered::Replaced => Delivery::Replaced { written: written() },
            Offered::Closed => Delivery::Closed,
        }
    }
}
