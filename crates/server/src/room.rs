//! One room: one match of the game, driven by one tokio task at a fixed
//! tick rate, and the per-player broadcast after every tick.
//!
//! The room task owns the `Box<dyn Simulation>` outright, so the simulation
//! needs no lock. Sessions talk to it through a bounded command channel
//! (join, leave, resume) and, for inputs, through each player's own bounded
//! input queue, which the tick drains. One tick:
//!
//! 1. **simulate**: drain every player's queued inputs (in player order; the
//!    simulation orders them by player, then sequence number) and step.
//! 2. **encode**: for every player, encode the snapshot body against the
//!    baseline the player is sure to have, and prefix it with the player's
//!    header. A player without a view (the game sees everything) gets the
//!    room-wide body from the history ring, encoded once per distinct
//!    baseline. A player with a view (interest management) gets the
//!    entities in it, by id from the simulation's grid, encoded against
//!    what its client holds (its view tracker) from the tick's state
//!    recorded once for all views, within the bandwidth budget if one is
//!    set; players whose views and baselines coincide share a body.
//! 3. **send**: offer each frame to the player's outbox as soon as it is
//!    encoded (so the room holds one frame, not one per player). The outbox
//!    writes it to the socket at once when the socket keeps up (one `send`,
//!    no task woken) and otherwise keeps the newest for the player's writer
//!    task. Then the tick's events go to each player's control queue. The
//!    time spent offering counts as this phase, not as encoding.
//!
//! Rooms tick at one of a few phases within the tick period (see
//! [`crate::lobby::PHASE_SLOTS`]), so that the sends of many rooms spread
//! out instead of bursting at the same instant, while rooms of one phase
//! share a wakeup of the runtime.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::OpCode;
use parking_lot::Mutex;
use tickwire_sim::{
    GameEvent, JoinError, Joined, NetId, PlayerId, PlayerInput, ReplicatedEntity, Simulation,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::outbox::{Offered, Outbox};
use crate::stats::{self, PhasePercentiles, TickTimes};
use crate::{frame, wire};

/// Inputs a player may have queued between two ticks; older ones are
/// dropped first (the newest input is the one that matters) and counted.
pub const INPUT_QUEUE: usize = 16;

/// Control messages (pongs, events) a player may have queued for its
/// writer. Past it, events and pongs are dropped (and counted); the final
/// messages of a connection (its error, close or stop) always go in.
pub const CONTROL_QUEUE: usize = 64;

/// Something for a player's writer task other than a snapshot.
#[derive(Debug)]
pub enum Control {
    /// A binary protocol message (welcome, pong, event, error).
    Message(Bytes),
    /// A pong answering a WebSocket ping, with its payload.
    WsPong(Bytes),
    /// The echo of the peer's close frame; the writer sends it and stops.
    CloseEcho(Bytes),
    /// Close with this code and reason, then stop.
    Close(u16, String),
    /// Stop without writing anything (the peer is gone).
    Stop,
}

/// A player's queue of [`Control`] messages for its writer task: bounded
/// by [`CONTROL_QUEUE`] and empty most of the time, so it holds no memory
/// until used (a channel would keep a block of slots per player) and gives
/// back what a burst took.
#[derive(Debug, Default)]
pub struct ControlQueue {
    items: Mutex<VecDeque<Control>>,
    ready: tokio::sync::Notify,
}

impl ControlQueue {
    /// Queues `item` unless [`CONTROL_QUEUE`] items wait; returns whether
    /// it was queued.
    pub fn try_push(&self, item: Control) -> bool {
        let mut items = self.items.lock();
        if items.len() >= CONTROL_QUEUE {
            return false;
        }
        items.push_back(item);
        drop(items);
        self.ready.notify_one();
        true
    }

    /// Queues one of a connection's last messages (its error, close or
    /// stop), over the bound if need be: each connection has only a few.
    pub fn push_final(&self, item: Control) {
        self.items.lock().push_back(item);
        self.ready.notify_one();
    }

    /// The next item, waiting for one. Cancel-safe: an item stays queued
    /// until it is returned.
    pub async fn pop(&self) -> Control {
        loop {
            {
                let mut items = self.items.lock();
                if let Some(item) = items.pop_front() {
                    if items.is_empty() && items.capacity() > 8 {
                        // A burst is over: give its memory back.
                        items.shrink_to(8);
                    }
                    return item;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the room and a player's session share.
#[derive(Debug)]
pub struct PlayerLink {
    /// Name the player gave (sanitised).
    pub name: String,
    /// The newest unsent snapshot and the player's baseline.
    pub outbox: Outbox,
    /// Inputs received since the last tick, at most [`INPUT_QUEUE`].
    inputs: Mutex<VecDeque<PlayerInput>>,
    /// To the player's writer task.
    pub control: ControlQueue,
}

impl PlayerLink {
    /// A link for a new session.
    pub fn new(name: String) -> Self {
        Self {
            name,
            outbox: Outbox::new(),
            inputs: Mutex::new(VecDeque::with_capacity(INPUT_QUEUE)),
            control: ControlQueue::default(),
        }
    }

    /// Queues an input for the next tick. Returns `false` if the queue was
    /// full and the oldest input was dropped to make room.
    pub fn push_input(&self, input: PlayerInput) -> bool {
        let mut q = self.inputs.lock();
        let dropped = if q.len() >= INPUT_QUEUE {
            q.pop_front();
            true
        } else {
            false
        };
        q.push_back(input);
        !dropped
    }
}

/// A request from a session to its room.
#[derive(Debug)]
pub enum RoomCommand {
    /// Add a player; the reply says whether the game accepted it.
    Join {
        /// The session's side of the player.
        link: Arc<PlayerLink>,
        /// Told the outcome.
        reply: oneshot::Sender<Result<Admitted, JoinError>>,
    },
    /// Remove a player.
    Leave(PlayerId),
    /// The player's client still holds `tick`: use it as the baseline if
    /// nothing was written yet and the history holds it.
    Resume(PlayerId, u64),
    /// A chat line from a player, for everyone in the room.
    Chat(PlayerId, String),
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

/// What the outside world may read about a room while it runs.
#[derive(Debug)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// The game it runs.
    pub game: String,
    /// Its player limit.
    pub max_players: usize,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Hash of the game's schema (for checking a client's join).
    pub schema_hash: u64,
    /// Players in the simulation now.
    pub players: AtomicUsize,
    /// The last completed tick.
    pub tick: AtomicU64,
    /// Tick time per phase.
    pub times: Mutex<TickTimes>,
    /// The players' links, for inspection (`/api/rooms?players=1`).
    pub links: Mutex<BTreeMap<PlayerId, Arc<PlayerLink>>>,
}

/// One player as `/api/rooms?players=1` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlayerSummary {
    /// Player id in the match.
    pub player: u32,
    /// Its name.
    pub name: String,
    /// Snapshots skipped because its socket was slow.
    pub snapshots_skipped: u64,
    /// Snapshots waiting in its outbox now (0 or 1).
    pub outbox_pending: usize,
    /// Most snapshots ever waiting in its outbox at once (at most 1).
    pub outbox_high_water: u64,
    /// Tick of the last snapshot written to its socket.
    pub baseline_tick: Option<u64>,
}

/// One room as `/api/rooms` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoomSummary {
    /// The room's name.
    pub room: String,
    /// The game.
    pub game: String,
    /// Players now.
    pub players: usize,
    /// Player limit.
    pub max_players: usize,
    /// Last completed tick.
    pub tick: u64,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Tick time of the last 10 to 20 seconds, per phase.
    pub tick_time: BTreeMap<&'static str, PhasePercentiles>,
    /// Per player, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_details: Option<Vec<PlayerSummary>>,
}

impl RoomInfo {
    /// A summary for `/api/rooms`.
    pub fn summary(&self, with_players: bool) -> RoomSummary {
        let percentiles = self.times.lock().percentiles();
        let tick_time = stats::Phase::ALL
            .iter()
            .zip(percentiles)
            .map(|(p, v)| (p.name(), v))
            .collect();
        let player_details = with_players.then(|| {
            self.links
                .lock()
                .iter()
                .map(|(id, link)| PlayerSummary {
                    player: id.0,
                    name: link.name.clone(),
                    snapshots_skipped: link.outbox.skipped(),
                    outbox_pending: link.outbox.pending(),
                    outbox_high_water: link.outbox.high_water(),
                    baseline_tick: link.outbox.written_tick(),
                })
                .collect()
        });
        RoomSummary {
            room: self.name.clone(),
            game: self.game.clone(),
            players: self.players.load(Ordering::Relaxed),
            max_players: self.max_players,
            tick: self.tick.load(Ordering::Relaxed),
            tick_rate: self.tick_rate,
            tick_time,
            player_details,
        }
    }
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
}

/// A running match and its players. Owned by the room task.
#[derive(Debug)]
pub struct Room {
    sim: Box<dyn Simulation>,
    info: Arc<RoomInfo>,
    settings: RoomSettings,
    /// Joined players, in id order: the order inputs are drained in.
    players: BTreeMap<PlayerId, Arc<PlayerLink>>,
    /// What each player's client holds, for players with a view; same keys
    /// as `players`, so the two are walked side by side.
    trackers: BTreeMap<PlayerId, wire::ViewTracker>,
    /// Room-wide state, for players without a view.
    history: wire::History,
    /// Encoder of the snapshots of players with a view.
    views: wire::Views,
    /// Reused per tick: the replicated state, sorted by id.
    entities: Vec<ReplicatedEntity>,
    /// Reused per player: the ids in its view.
    ids: Vec<NetId>,
    /// Reused per tick: the events.
    events: Vec<GameEvent>,
    /// Reused per player: its whole WebSocket frame.
    frame: Vec<u8>,
    /// Snapshot frames and bytes the room wrote to sockets itself.
    frames_out: metrics::Counter,
    bytes_out: metrics::Counter,
    /// Ticks run.
    ticks: metrics::Counter,
}

impl Room {
    /// Wraps a fresh simulation; fails if the game's schema is invalid.
    pub fn new(
        sim: Box<dyn Simulation>,
        info: Arc<RoomInfo>,
        settings: RoomSettings,
    ) -> Result<Self, tickwire_sim::SchemaError> {
        let history = wire::History::new(sim.schema().clone())?;
        let views = wire::Views::new(
            sim.schema().clone(),
            sim.tick_rate(),
            settings.bandwidth_budget,
        )?;
        Ok(Self {
            sim,
            info,
            settings,
            players: BTreeMap::new(),
            trackers: BTreeMap::new(),
            history,
            views,
            entities: Vec::new(),
            ids: Vec::new(),
            events: Vec::new(),
            frame: Vec::new(),
            frames_out: metrics::counter!(stats::FRAMES_OUT),
            bytes_out: metrics::counter!(stats::BYTES_OUT),
            ticks: metrics::counter!(stats::TICKS),
        })
    }

    /// Sends a control message to every player; a full queue drops it.
    fn broadcast(&self, message: &Bytes) {
        for link in self.players.values() {
            if !link.control.try_push(Control::Message(message.clone())) {
                metrics::counter!(stats::EVENTS_DROPPED).increment(1);
            }
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
                    let mut ran = 0;
                    while next_tick <= Instant::now() && ran <= self.settings.max_catch_up {
                        self.tick();
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
                }
            }
        }
        for player in std::mem::take(&mut self.players).into_keys() {
            self.sim.leave(player);
        }
        tracing::info!(room = %self.info.name, ticks = self.sim.tick(), "room closed");
        self.sim
    }

    fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { link, reply } => {
                let result = self.join(&link);
                let joined = result.as_ref().ok().map(|a| a.joined);
                if reply.send(result).is_err() {
                    // The session went away while we were adding it.
                    if let Some(joined) = joined {
                        self.leave(joined.player);
                    }
                }
            }
            RoomCommand::Leave(player) => self.leave(player),
            RoomCommand::Resume(player, tick) => {
                if let Some(link) = self.players.get(&player) {
                    if self.history.holds(tick) {
                        link.outbox.resume_from(tick);
                    }
                }
            }
            RoomCommand::Chat(player, text) => {
                if self.players.contains_key(&player) {
                    self.broadcast(&wire::encode_chat(player, &text));
                }
            }
        }
    }

    /// Adds a player, as a [`RoomCommand::Join`] does: the room task's way,
    /// and a bench's or test's way to fill a room it ticks itself.
    pub fn join(&mut self, link: &Arc<PlayerLink>) -> Result<Admitted, JoinError> {
        if self.players.len() >= self.info.max_players {
            return Err(JoinError::Full(self.players.len()));
        }
        let joined = self.sim.join(&link.name)?;
        let mut roster: Vec<_> = self
            .players
            .iter()
            .map(|(id, l)| (*id, l.name.clone()))
            .collect();
        roster.push((joined.player, link.name.clone()));
        let welcome = wire::encode_welcome(wire::Welcome {
            player: joined.player,
            avatar: joined.avatar,
            room: &self.info.name,
            tick_rate: self.sim.tick_rate(),
            tick: self.sim.tick(),
            schema: self.sim.schema(),
            roster,
            constants: self.sim.client_constants(),
        });
        self.broadcast(&wire::encode_player_joined(joined.player, &link.name));
        self.players.insert(joined.player, Arc::clone(link));
        self.trackers
            .insert(joined.player, wire::ViewTracker::new());
        self.info
            .links
            .lock()
            .insert(joined.player, Arc::clone(link));
        self.info
            .players
            .store(self.players.len(), Ordering::Relaxed);
        metrics::gauge!(stats::PLAYERS).increment(1.0);
        tracing::debug!(room = %self.info.name, player = joined.player.0, name = %link.name, "player joined");
        Ok(Admitted { joined, welcome })
    }

    fn leave(&mut self, player: PlayerId) {
        if self.players.remove(&player).is_some() {
            self.trackers.remove(&player);
            self.sim.leave(player);
            self.broadcast(&wire::encode_player_left(player));
            self.info.links.lock().remove(&player);
            self.info
                .players
                .store(self.players.len(), Ordering::Relaxed);
            metrics::gauge!(stats::PLAYERS).decrement(1.0);
            tracing::debug!(room = %self.info.name, player = player.0, "player left");
        }
    }

    /// Runs one tick and hands every player its snapshot.
    pub fn tick(&mut self) {
        let start = std::time::Instant::now();

        // simulate
        for (id, link) in &self.players {
            let mut inputs = link.inputs.lock();
            for input in inputs.drain(..) {
                self.sim.input(*id, input);
            }
        }
        self.sim.step();
        self.events.clear();
        self.sim.drain_events(&mut self.events);
        let simulated = std::time::Instant::now();

        // encode
        let tick = self.sim.tick();
        self.entities.clear();
        self.sim.replicated(&mut self.entities);
        // The room-wide history is recorded when the first player without a
        // view needs it, and the views' record when the first with one does.
        let (mut recorded, mut indexed) = (false, false);
        let mut deferred = 0u64;
        // Each frame is offered as soon as it is encoded, so the room holds
        // one frame, never one per player; the time spent offering is the
        // send phase's.
        let mut sending = Duration::ZERO;
        let (mut skipped, mut written, mut written_bytes) = (0u64, 0u64, 0usize);
        for ((id, link), tracker) in self.players.iter().zip(self.trackers.values_mut()) {
            match self.sim.view(*id) {
                Some(view) => {
                    if !indexed {
                        if let Err(error) = self.views.record(tick, &self.entities) {
                            // A game bug (unsorted ids): players keep their
                            // last state rather than get garbage.
                            tracing::error!(room = %self.info.name, tick, %error, "tick state not replicable");
                            return;
                        }
                        indexed = true;
                    }
                    self.ids.clear();
                    self.sim.entities_in(view, &mut self.ids);
                    let baseline = link.outbox.written_tick();
                    let last_input = self.sim.last_applied_input(*id);
                    frame::begin(&mut self.frame);
                    match self.views.encode(
                        tracker,
                        baseline,
                        view,
                        &self.ids,
                        last_input,
                        &mut self.frame,
                    ) {
                        Ok(held_back) => deferred += held_back as u64,
                        Err(error) => {
                            // A game bug: this player keeps its last state.
                            tracing::error!(room = %self.info.name, tick, player = id.0, %error, "view not replicable");
                            continue;
                        }
                    }
                }
                None => {
                    if !recorded {
                        if let Err(error) = self.history.record(tick, &self.entities) {
                            // A game bug (unsorted ids, a value outside its
                            // declared range): players keep their last state
                            // rather than get garbage.
                            tracing::error!(room = %self.info.name, tick, %error, "tick state not replicable");
                            return;
                        }
                        recorded = true;
                    }
                    // A view player that lost its view starts over if it
                    // gets one back.
                    tracker.clear();
                    // The history encodes each distinct baseline once per
                    // tick and hands every player with it the same bytes.
                    let Some(body) = self.history.shared_body(link.outbox.written_tick()) else {
                        return; // only before the first record, which just happened
                    };
                    frame::begin(&mut self.frame);
                    wire::write_snapshot_message(
                        &mut self.frame,
                        self.sim.last_applied_input(*id),
                        &body.bytes,
                    );
                }
            }
            // The message follows the room left for its frame's head.
            let frame = frame::finish(&mut self.frame, OpCode::Binary);

            // send
            let offering = std::time::Instant::now();
            match link.outbox.offer(tick, frame) {
                Offered::Written => {
                    written += 1;
                    written_bytes += frame.len();
                }
                Offered::Queued | Offered::Closed => {}
                Offered::Replaced => {
                    skipped += 1;
                    // The replaced snapshot will never be a baseline.
                    tracker.forget_replaced();
                }
            }
            sending += offering.elapsed();
        }
        if deferred > 0 {
            metrics::counter!(stats::CHANGES_DEFERRED).increment(deferred);
        }
        let encoded = std::time::Instant::now();

        self.frames_out.increment(written);
        self.bytes_out.increment(written_bytes as u64);
        if skipped > 0 {
            metrics::counter!(stats::SNAPSHOTS_SKIPPED).increment(skipped);
        }
        for event in &self.events {
            self.broadcast(&wire::encode_game_event(event));
        }
        let sent = std::time::Instant::now();

        self.info.tick.store(tick, Ordering::Relaxed);
        self.info.times.lock().record([
            simulated - start,
            (encoded - simulated).saturating_sub(sending),
            sending + (sent - encoded),
        ]);
        self.ticks.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> Control {
        Control::Message(Bytes::from(vec![n]))
    }

    #[tokio::test]
    async fn the_control_queue_is_bounded_but_final_messages_always_go_in() {
        let q = ControlQueue::default();
        for i in 0..CONTROL_QUEUE {
            assert!(q.try_push(message(i as u8)));
        }
        assert!(
            !q.try_push(message(0)),
            "an event over the bound is dropped"
        );
        q.push_final(Control::Stop);
        assert_eq!(q.len(), CONTROL_QUEUE + 1);
        for i in 0..CONTROL_QUEUE {
            match q.pop().await {
                Control::Message(b) => assert_eq!(b[..], [i as u8]),
                other => panic!("expected message {i}, got {other:?}"),
            }
        }
        assert!(matches!(q.pop().await, Control::Stop));
        assert!(q.is_empty());
        assert!(
            q.items.lock().capacity() <= 8,
            "the burst's memory is given back"
        );
    }

    #[tokio::test]
    async fn popping_waits_for_a_push() {
        let q = Arc::new(ControlQueue::default());
        let waiter = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.push_final(Control::Stop);
        let popped = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(popped, Ok(Ok(Control::Stop))));
    }
}
