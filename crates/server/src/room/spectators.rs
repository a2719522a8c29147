//! Spectators: connections that watch a room without a seat or an avatar.
//!
//! A spectator (`/ws?spectate=1`) is not a player: the game is never told
//! of it (no `Game::join`), it holds no seat (a full room still admits it,
//! up to `--max-spectators`), and it sends no input (one closes it with the
//! protocol's error 4009). It watches one of three things
//! ([`WatchTarget`]):
//!
//! - **a player**: exactly what that player is sent, its view's entities
//!   and their values tick by tick (the whole room for a game without
//!   views); a spectator that follows no one in particular follows the
//!   player with the lowest id, and the next when that one leaves;
//! - **a rectangle** of the world, its sides at most `--max-spectator-rect`;
//! - nothing, in a room without players.
//!
//! Spectators go through the replication core like players, in a core of
//! their own ([`Replicator`]), so each gets delta snapshots against what
//! its client holds, a slow one skips snapshots, and a spectator costs the
//! server and the wire what a player costs. After each tick the room hands
//! the tick's rows here ([`Spectators::tick`]); for every distinct target a
//! spectator has, the view and the ids in it are worked out once, with the
//! same calls the players' core makes (`Simulation::view`, then
//! `Simulation::entities_in`), so a follower's snapshots carry exactly its
//! player's entities.
//!
//! **Delay** (`--spectator-delay`): a spectator is sent the world as it was
//! that long ago. The room keeps, while it has spectators, a ring of one
//! [`Frame`] per tick of the delay: the tick's rows, its spectators' views
//! and the events since the tick before; each tick it replicates the frame
//! recorded a delay ago. Everything a spectator learns is that late: its
//! snapshots, the game's events, joins and leaves, chat, and whom it
//! follows (a switch of target shows a delay later; the `Watching` event
//! comes with the first snapshot of the new view). The cost is memory: a
//! frame holds the room's rows (40 bytes an entity) and 4 bytes per entity
//! in each spectator's view, so a delay of 3 s at 30 Hz keeps 90 of them
//! (the arena's 100 entities: about 400 KB per room). A room's first
//! spectator gets its first snapshot a delay after it joins. Without a
//! delay nothing is kept: the frame of the tick is replicated at once.
//!
//! A room without spectators keeps none of this: the state is made for the
//! first spectator and dropped with the last.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tickwire_protocol::{NO_ENTITY, NO_PLAYER, ReplicateError, Replicator, Report, WatchTarget};
use tickwire_sim::prelude::Vec2;
use tickwire_sim::replicate::Interest;
use tickwire_sim::{NetId, PlayerId, Rect, ReplicatedEntity, SchemaError, Simulation};
use tokio::sync::oneshot;

use super::link::Pushed;
use super::{Control, Outboxes, PlayerLink, Room, RoomCommand, RoomInfo};
use crate::{stats, wire};

/// Why a spectator too far behind on the room's events is closed.
const EVENT_QUEUE_REASON: &str = "too far behind on the room's events; reconnect";

/// What rooms do for their spectators: the server's `--max-spectators`,
/// `--spectator-delay` and `--max-spectator-rect`.
#[derive(Clone, Copy, Debug)]
pub struct Spectating {
    /// Most spectators per room.
    pub max: usize,
    /// How far in the past spectators see the world.
    pub delay: Duration,
    /// Largest side of a spectator's rectangle, in world units.
    pub max_rect: f32,
}

impl Default for Spectating {
    fn default() -> Self {
        Self {
            max: 64,
            delay: Duration::ZERO,
            max_rect: 2000.0,
        }
    }
}

/// A request from a spectator's session to its room.
#[derive(Debug)]
pub enum SpectatorCommand {
    /// Add a spectator; the reply is `None` if the room cannot have one.
    Join {
        /// The session's side of the spectator.
        link: Arc<PlayerLink>,
        /// What it watches first.
        target: WatchTarget,
        /// Told the outcome.
        reply: oneshot::Sender<Option<Watching>>,
    },
    /// Remove a spectator.
    Leave(PlayerId),
    /// Watch something else from now on.
    Watch(PlayerId, WatchTarget),
}

/// A spectator the room let in.
#[derive(Debug)]
pub struct Watching {
    /// Its id among the room's spectators (not a player id).
    pub id: PlayerId,
    /// The welcome, for the session to write before anything else.
    pub welcome: Bytes,
}

/// Who a connection is in its room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// A player, by its id in the match.
    Player(PlayerId),
    /// A spectator, by its id among the room's spectators.
    Spectator(PlayerId),
}

impl Member {
    /// The command that takes the member out of its room.
    pub fn leave(self) -> RoomCommand {
        match self {
            Self::Player(player) => RoomCommand::Leave(player),
            Self::Spectator(id) => RoomCommand::Spectator(SpectatorCommand::Leave(id)),
        }
    }

    /// Whether it is a spectator.
    pub fn is_spectator(self) -> bool {
        matches!(self, Self::Spectator(_))
    }

    /// Its id: a player's, or a spectator's among the room's spectators.
    pub fn id(self) -> PlayerId {
        match self {
            Self::Player(id) | Self::Spectator(id) => id,
        }
    }
}

/// What a spectator is shown at one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// A player's view (or the whole room, for a player without one).
    Player(PlayerId),
    /// A rectangle of the world.
    Rect(Rect),
    /// Nothing: no player to follow.
    Nobody,
}

/// The view of nothing: a rectangle no query is made for, and no recorded
/// view has.
const NOWHERE: Rect = Rect {
    min: Vec2::NAN,
    max: Vec2::NAN,
};

/// Whether two views are the same rectangle, bit for bit: the ids in a
/// view are a function of the tick and its rectangle alone.
fn same_rect(a: Rect, b: Rect) -> bool {
    [a.min.x, a.min.y, a.max.x, a.max.y]
        .iter()
        .zip([b.min.x, b.min.y, b.max.x, b.max.y].iter())
        .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// One distinct view of a recorded tick.
#[derive(Clone, Debug)]
struct View {
    /// What it shows.
    target: Target,
    /// The rectangle (`None`: the whole room).
    rect: Option<Rect>,
    /// Its entities' ids, in [`Views::ids`].
    ids: Range<usize>,
    /// The followed player's avatar, for a player's view.
    avatar: NetId,
}

/// The spectators' views of one tick.
#[derive(Debug, Default)]
struct Views {
    /// One per distinct target.
    views: Vec<View>,
    /// Every view's ids, one after another.
    ids: Vec<NetId>,
    /// Each spectator's view (an index into `views`), by spectator id.
    assigned: BTreeMap<PlayerId, usize>,
}

impl Views {
    /// Forgets everything, keeping the memory.
    fn clear(&mut self) {
        self.views.clear();
        self.ids.clear();
        self.assigned.clear();
    }

    /// The index of `target`'s view, if recorded.
    fn find(&self, target: Target) -> Option<usize> {
        self.views.iter().position(|v| v.target == target)
    }
}

/// One tick as the spectators will see it, a delay later.
#[derive(Debug, Default)]
struct Frame {
    /// The tick.
    tick: u32,
    /// Its replicated rows, sorted by id.
    rows: Vec<ReplicatedEntity>,
    /// Its spectators' views.
    views: Views,
    /// The events since the frame before (`true`: droppable, a chat line).
    events: Vec<(Bytes, bool)>,
}

/// One spectator, as the room keeps it.
#[derive(Debug)]
struct Watcher {
    /// What it asked to watch (a rectangle already shrunk to the limit).
    want: WatchTarget,
    /// What that came to at the last tick recorded.
    target: Target,
    /// The player its last snapshot followed, if any: a `Watching` event
    /// says when this changes.
    shown: Option<PlayerId>,
}

/// The room's spectators and what they need. The room holds one while it
/// has spectators.
#[derive(Debug)]
pub(super) struct Spectators {
    /// Their replication: baselines and view trackers, like the players'.
    core: Replicator<Arc<PlayerLink>>,
    /// Each spectator's target, by id.
    watchers: BTreeMap<PlayerId, Watcher>,
    /// The next spectator's id.
    next_id: u32,
    /// The delay, in ticks.
    delay: u32,
    /// Largest side of a rectangle.
    max_rect: f32,
    /// Frames waiting out the delay, oldest first (empty without a delay).
    ring: VecDeque<Frame>,
    /// A frame sent, kept to record the next in.
    spare: Option<Frame>,
    /// Without a delay: the views of the tick being sent.
    now: Views,
    /// Events since the last frame was recorded (with a delay).
    pending: Mutex<Vec<(Bytes, bool)>>,
}

impl Spectators {
    /// The state of a room's first spectator.
    fn new(room: &Room) -> Result<Self, SchemaError> {
        let tick_rate = room.sim.tick_rate();
        let budget = wire::budget(room.settings.bandwidth_budget, tick_rate);
        let spectating = room.settings.spectating;
        let delay = (spectating.delay.as_secs_f64() * f64::from(tick_rate)).round();
        Ok(Self {
            core: Replicator::new(room.sim.schema().clone(), budget)?,
            watchers: BTreeMap::new(),
            next_id: 0,
            delay: delay.clamp(0.0, f64::from(u32::MAX)) as u32,
            max_rect: spectating.max_rect,
            ring: VecDeque::new(),
            spare: None,
            now: Views::default(),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Every spectator's link, in id order.
    pub(super) fn links(&self) -> impl Iterator<Item = (PlayerId, &Arc<PlayerLink>)> + '_ {
        self.core.players()
    }

    /// Spectators present.
    pub(super) fn len(&self) -> usize {
        self.core.len()
    }

    /// `target` with a rectangle's sides shrunk to the limit about its
    /// centre.
    fn bounded(&self, target: WatchTarget) -> WatchTarget {
        match target {
            WatchTarget::Rect {
                x,
                y,
                width,
                height,
            } => {
                let (w, h) = (width.min(self.max_rect), height.min(self.max_rect));
                WatchTarget::Rect {
                    x: x + (width - w) / 2.0,
                    y: y + (height - h) / 2.0,
                    width: w,
                    height: h,
                }
            }
            other => other,
        }
    }

    /// A lifecycle event (a join, a leave, a game event) for every
    /// spectator: at once without a delay, else with the next frame.
    pub(super) fn event(&self, info: &RoomInfo, message: &Bytes) {
        self.send(info, message, false);
    }

    /// A chat line for every spectator, dropped by one whose queue is full.
    pub(super) fn chat(&self, info: &RoomInfo, message: &Bytes) {
        self.send(info, message, true);
    }

    fn send(&self, info: &RoomInfo, message: &Bytes, droppable: bool) {
        if self.delay == 0 {
            for (id, link) in self.links() {
                deliver(info, id, link, message, droppable);
            }
        } else {
            self.pending.lock().push((message.clone(), droppable));
        }
    }

    /// Works out what every spectator watches at this tick (a followed
    /// player who left gives way to the lowest id present).
    fn resolve(&mut self, players: &Replicator<Arc<PlayerLink>>) {
        let first = players.players().next().map(|(id, _)| id);
        for watcher in self.watchers.values_mut() {
            watcher.target = match watcher.want {
                WatchTarget::Player(player) if players.get(player).is_some() => {
                    Target::Player(player)
                }
                WatchTarget::Player(_) | WatchTarget::Anyone => {
                    watcher.want = WatchTarget::Anyone;
                    first.map_or(Target::Nobody, Target::Player)
                }
                WatchTarget::Rect {
                    x,
                    y,
                    width,
                    height,
                } => Target::Rect(Rect {
                    min: Vec2::new(x, y),
                    max: Vec2::new(x + width, y + height),
                }),
            };
        }
    }

    /// Records into `views` every spectator's view of the tick just run:
    /// each distinct target's rectangle and ids once, as the players' core
    /// asks the game for them.
    fn record(
        watchers: &BTreeMap<PlayerId, Watcher>,
        sim: &dyn Simulation,
        players: &Replicator<Arc<PlayerLink>>,
        views: &mut Views,
    ) {
        views.clear();
        for (&id, watcher) in watchers {
            let index = match views.find(watcher.target) {
                Some(index) => index,
                None => {
                    let (rect, avatar) = match watcher.target {
                        Target::Player(player) => (
                            Simulation::view(sim, player),
                            players
                                .get(player)
                                .and_then(|link| link.avatar())
                                .unwrap_or(NO_ENTITY),
                        ),
                        Target::Rect(rect) => (Some(rect), NO_ENTITY),
                        Target::Nobody => (Some(NOWHERE), NO_ENTITY),
                    };
                    let start = views.ids.len();
                    if let Some(rect) = rect.filter(|_| watcher.target != Target::Nobody) {
                        Simulation::entities_in(sim, rect, &mut views.ids);
                    }
                    views.views.push(View {
                        target: watcher.target,
                        rect,
                        ids: start..views.ids.len(),
                        avatar,
                    });
                    views.views.len() - 1
                }
            };
            views.assigned.insert(id, index);
        }
    }

    /// Sends the spectators their snapshot of the tick just run (with a
    /// delay: of the tick a delay ago, once there is one), then that
    /// frame's events. `None`: nothing was due.
    pub(super) fn tick(
        &mut self,
        tick: u32,
        rows: &[ReplicatedEntity],
        sim: &dyn Simulation,
        players: &Replicator<Arc<PlayerLink>>,
        sink: &mut Outboxes,
        info: &RoomInfo,
    ) -> Option<Result<Report, ReplicateError>> {
        self.resolve(players);
        if self.delay == 0 {
            let mut views = std::mem::take(&mut self.now);
            Self::record(&self.watchers, sim, players, &mut views);
            let sent = self.replicate(tick, rows, &views, sim, sink, info);
            self.now = views;
            return Some(sent);
        }
        let mut frame = self.spare.take().unwrap_or_default();
        frame.tick = tick;
        frame.rows.clear();
        frame.rows.extend_from_slice(rows);
        Self::record(&self.watchers, sim, players, &mut frame.views);
        frame.events.clear();
        frame.events.append(&mut self.pending.lock());
        self.ring.push_back(frame);
        let due = self
            .ring
            .front()
            .is_some_and(|f| tick.wrapping_sub(f.tick) >= self.delay);
        if !due {
            return None;
        }
        let frame = self.ring.pop_front()?;
        let sent = self.replicate(frame.tick, &frame.rows, &frame.views, sim, sink, info);
        for (id, link) in self.links() {
            for (message, droppable) in &frame.events {
                deliver(info, id, link, message, *droppable);
            }
        }
        self.spare = Some(frame);
        Some(sent)
    }

    /// Replicates one recorded tick to every spectator.
    fn replicate(
        &mut self,
        tick: u32,
        rows: &[ReplicatedEntity],
        views: &Views,
        sim: &dyn Simulation,
        sink: &mut Outboxes,
        info: &RoomInfo,
    ) -> Result<Report, ReplicateError> {
        let mut shown = Vec::with_capacity(self.watchers.len());
        for (&id, watcher) in &mut self.watchers {
            // A spectator that joined after the tick was recorded sees what
            // it watches now, if another spectator recorded it then.
            let index = views
                .assigned
                .get(&id)
                .copied()
                .or_else(|| views.find(watcher.target));
            let view = index.and_then(|i| views.views.get(i));
            let followed = view.and_then(|v| match v.target {
                Target::Player(player) => Some((player, v.avatar)),
                Target::Rect(_) | Target::Nobody => None,
            });
            if followed.map(|(player, _)| player) != watcher.shown {
                watcher.shown = followed.map(|(player, _)| player);
                if let Some(link) = self.core.get(id) {
                    deliver(info, id, link, &wire::encode_watching(followed), false);
                }
            }
            shown.push((id, view.map_or(Some(NOWHERE), |v| v.rect)));
        }
        let interest = Shown {
            shown: &shown,
            views,
            sim,
        };
        self.core.replicate(tick, rows, &interest, sink)
    }
}

/// Queues a message for one spectator: a chat line may be dropped (and is
/// counted); a lifecycle event is not, and a spectator too far behind on
/// them is closed instead, as a player is.
fn deliver(info: &RoomInfo, id: PlayerId, link: &PlayerLink, message: &Bytes, droppable: bool) {
    if droppable {
        if !link.control.try_push(Control::Message(message.clone())) {
            metrics::counter!(stats::EVENTS_DROPPED).increment(1);
        }
        return;
    }
    let pushed = link.control.push_event(
        Control::Message(message.clone()),
        || wire::encode_error(wire::error_code::UNEXPECTED, EVENT_QUEUE_REASON),
        EVENT_QUEUE_REASON,
    );
    if pushed == Pushed::Overflowed {
        metrics::counter!(stats::EVENT_QUEUE_CLOSES).increment(1);
        tracing::info!(room = %info.name, spectator = id.0, "spectator too far behind on room events; closing");
    }
}

/// What the spectators' core asks of a recorded tick: each spectator's
/// view, the ids recorded in it, no input of theirs, and the game's
/// priorities (a function of the view and the row alone).
struct Shown<'a> {
    /// Each spectator's view, in id order.
    shown: &'a [(PlayerId, Option<Rect>)],
    views: &'a Views,
    sim: &'a dyn Simulation,
}

impl Interest for Shown<'_> {
    fn view(&self, spectator: PlayerId) -> Option<Rect> {
        match self.shown.binary_search_by_key(&spectator, |(id, _)| *id) {
            Ok(i) => self.shown.get(i).and_then(|(_, rect)| *rect),
            Err(_) => Some(NOWHERE),
        }
    }

    fn entities_in(&self, view: Rect, out: &mut Vec<NetId>) {
        let recorded = self
            .views
            .views
            .iter()
            .find(|v| v.rect.is_some_and(|r| same_rect(r, view)));
        if let Some(ids) = recorded.and_then(|v| self.views.ids.get(v.ids.clone())) {
            out.extend_from_slice(ids);
        }
    }

    fn last_applied_input(&self, _spectator: PlayerId) -> Option<u32> {
        None
    }

    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        Simulation::priority(self.sim, view, row)
    }
}

impl Room {
    /// Acts on a spectator's command.
    pub(super) fn spectator(&mut self, command: SpectatorCommand) {
        match command {
            SpectatorCommand::Join {
                link,
                target,
                reply,
            } => {
                let watching = self.spectate(&link, target);
                let id = watching.as_ref().map(|w| w.id);
                if reply.send(watching).is_err() {
                    // The session went away while we were adding it.
                    if let Some(id) = id {
                        self.unwatch(id);
                    }
                }
            }
            SpectatorCommand::Leave(id) => self.unwatch(id),
            SpectatorCommand::Watch(id, target) => {
                if let Some(spectators) = self.spectators.as_mut() {
                    let target = spectators.bounded(target);
                    if let Some(watcher) = spectators.watchers.get_mut(&id) {
                        watcher.want = target;
                    }
                }
            }
        }
    }

    /// Adds a spectator watching `target`; `None` if the room cannot have
    /// spectators (an invalid schema, which no player could join either).
    pub fn spectate(&mut self, link: &Arc<PlayerLink>, target: WatchTarget) -> Option<Watching> {
        if self.spectators.is_none() {
            match Spectators::new(self) {
                Ok(spectators) => self.spectators = Some(spectators),
                Err(error) => {
                    tracing::error!(room = %self.info.name, %error, "no spectators: the schema is invalid");
                    return None;
                }
            }
        }
        let spectators = self.spectators.as_mut()?;
        let id = PlayerId(spectators.next_id);
        spectators.next_id = spectators.next_id.wrapping_add(1);
        let want = spectators.bounded(target);
        let mut watcher = Watcher {
            want,
            target: Target::Nobody,
            shown: None,
        };
        let first = self.players.players().next();
        let following = match want {
            WatchTarget::Player(player) if self.players.get(player).is_some() => {
                self.players.get(player).map(|link| (player, link))
            }
            WatchTarget::Player(_) | WatchTarget::Anyone => {
                watcher.want = WatchTarget::Anyone;
                first
            }
            WatchTarget::Rect { .. } => None,
        };
        watcher.shown = following.map(|(player, _)| player);
        let roster = self
            .players
            .players()
            .map(|(id, l)| (id, l.name().to_owned()))
            .collect();
        let welcome = wire::encode_welcome(wire::Welcome {
            player: NO_PLAYER,
            avatar: following
                .and_then(|(_, link)| link.avatar())
                .unwrap_or(NO_ENTITY),
            room: &self.info.name,
            tick_rate: self.sim.tick_rate(),
            tick: self.sim.tick(),
            schema: self.sim.schema(),
            roster,
            constants: self.sim.client_constants(),
            spectator: true,
            following: following.map(|(player, _)| player),
            // A spectator holds no seat to resume.
            resume: String::new(),
        });
        spectators.watchers.insert(id, watcher);
        spectators.core.add(id, Arc::clone(link));
        self.info
            .spectators
            .store(spectators.len(), Ordering::Relaxed);
        metrics::gauge!(stats::SPECTATORS).increment(1.0);
        tracing::debug!(room = %self.info.name, spectator = id.0, "spectator joined");
        Some(Watching { id, welcome })
    }

    /// Removes a spectator; the room's spectator state goes with the last.
    fn unwatch(&mut self, id: PlayerId) {
        let Some(spectators) = self.spectators.as_mut() else {
            return;
        };
        if spectators.core.remove(id).is_none() {
            return;
        }
        spectators.watchers.remove(&id);
        let left = spectators.len();
        if left == 0 {
            self.spectators = None;
        }
        self.info.spectators.store(left, Ordering::Relaxed);
        metrics::gauge!(stats::SPECTATORS).decrement(1.0);
        tracing::debug!(room = %self.info.name, spectator = id.0, "spectator left");
    }

    /// Closes every spectator's account when the room ends: the sessions
    /// end on their own (shutdown, or their socket), the gauge now.
    pub(super) fn drop_spectators(&mut self) {
        if let Some(spectators) = self.spectators.take() {
            metrics::gauge!(stats::SPECTATORS).decrement(spectators.len() as f64);
            self.info.spectators.store(0, Ordering::Relaxed);
        }
    }
}
