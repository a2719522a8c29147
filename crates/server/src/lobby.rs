//! The lobby: which rooms exist, matchmaking, and seats.
//!
//! A session asks the lobby for a [`Seat`] in a named room, or in any room
//! (matchmaking: the fullest room with space, so rooms fill up instead of
//! spreading players thin). Rooms are created on demand and closed when
//! their last seat is given up. Seats are counted here, under one lock, so
//! two sessions can never both take the last place in a room, and a room
//! can never close while a session is on its way in. A spectator takes a
//! spectator's place instead ([`Lobby::watch`]): counted apart, up to
//! `--max-spectators`, so a full room still admits spectators, and holding
//! the room open like a seat.
//!
//! A seat is held by its session, and handed to the room while the
//! player's connection is dropped and awaiting a resume (see
//! [`crate::room`]): a held seat still counts, so it keeps its place in a
//! full room and keeps the room open. A resuming session finds its room by
//! name ([`Lobby::find`]) and gets the seat back from the room.
//!
//! Each room it opens is a task of its own, run outside tokio's
//! cooperative budget (see [`crate::outbox`]), ticking at one of
//! [`PHASE_SLOTS`] phases of the server's tick grid. The rooms run on a
//! runtime of their own ([`RoomRuntime`], `--room-threads`), apart from the
//! sessions' readers and writers, so that no amount of reading (a flood of
//! frames on many sockets) can delay a tick; what a room sends still wakes
//! the writer tasks on the sessions' runtime. What a tick does is told in
//! `docs/architecture.md`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tickwire_sim::Schema;
use tokio::sync::mpsc;

use crate::GameFactory;
use crate::resume::Resumes;
use crate::room::journal::{Journal, SavedPlayer};
use crate::room::{
    OperatorClose, Room, RoomCommand, RoomInfo, RoomSettings, RoomSummary, Spectating,
};
use crate::stats::{self, TickTimes};

/// Commands a room may have queued (joins, leaves, holds, resumes).
const ROOM_COMMAND_QUEUE: usize = 1024;

/// Longest room name accepted from a client.
pub const MAX_ROOM_NAME: usize = 32;

/// Why a seat was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    /// The room holds its player limit.
    #[error("room `{room}` is full ({limit} players)")]
    Full {
        /// The room.
        room: String,
        /// Its limit.
        limit: usize,
    },
    /// The game could not start a match.
    #[error("could not start a match: {0}")]
    Game(String),
    /// Opening the room would pass the server's room limit (`--max-rooms`).
    #[error("server is at its room limit ({limit} rooms); try again later or join an open room")]
    TooManyRooms {
        /// The limit.
        limit: usize,
    },
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// An operator drains the server: it admits no one.
    #[error("server is draining (an operator's drain): try another server or later")]
    Draining,
    /// The room holds its spectator limit (`--max-spectators`).
    #[error("room `{room}` has its {limit} spectators")]
    SpectatorsFull {
        /// The room.
        room: String,
        /// Its limit.
        limit: usize,
    },
}

/// One room as the lobby keeps it.
#[derive(Debug)]
struct Entry {
    /// To the room task; dropping the last sender ends the room.
    commands: mpsc::Sender<RoomCommand>,
    info: Arc<RoomInfo>,
    /// The game's schema, which every input is checked against.
    schema: Arc<Schema>,
    /// Seats handed out and not yet given back.
    seats: usize,
    /// Spectators' places handed out and not yet given back: they keep
    /// the room open, but take no seat.
    spectators: usize,
}

impl Entry {
    /// A place in this room, `room`, handed out by `lobby`: a seat, or a
    /// spectator's place. The caller has counted it.
    fn seat(&self, lobby: &Arc<Lobby>, room: String, spectator: bool) -> Seat {
        Seat {
            lobby: Arc::clone(lobby),
            room,
            commands: self.commands.clone(),
            info: Arc::clone(&self.info),
            schema: Arc::clone(&self.schema),
            spectator,
        }
    }
}

/// Where a room's journal comes from (cluster mode, failover: the
/// cluster node, which knows the room's epoch).
pub trait Journals: Send + Sync {
    /// A journal for the room `room` opening here, ticking `tick_rate`
    /// times a second; `None`: no failover for it.
    fn journal(&self, room: &str, tick_rate: u32) -> Option<Journal>;
}

/// A match continued from another node's snapshot, for
/// [`Lobby::restore`].
#[derive(Debug)]
pub struct Restored {
    /// The match, restored and replayed.
    pub sim: Box<dyn tickwire_sim::Simulation>,
    /// Its room's match id, as the resume tokens name it.
    pub match_id: u64,
    /// The seats, every one to be held.
    pub players: Vec<SavedPlayer>,
    /// How long the room had been without a node.
    pub dead_for: std::time::Duration,
    /// The room's journal from now on.
    pub journal: Option<Journal>,
    /// The replicated rows of the last ticks replayed, oldest first.
    pub recent: Vec<(u64, Vec<tickwire_sim::ReplicatedEntity>)>,
}

/// All rooms of a server.
pub struct Lobby {
    rooms: Mutex<BTreeMap<String, Entry>>,
    game: Arc<dyn GameFactory>,
    room_limit: usize,
    max_catch_up: u32,
    /// Each view player's snapshot bytes per second, if limited.
    bandwidth_budget: Option<u64>,
    /// Most open rooms (`--max-rooms`).
    max_rooms: usize,
    /// Rooms created so far: names matchmade rooms and spreads their phases.
    created: AtomicU64,
    /// Kept alive by every room task, so shutdown can wait for them.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    /// Where every room's tick grid starts (see [`RoomSettings::epoch`]).
    epoch: tokio::time::Instant,
    /// Where rooms run; `None`: on the runtime that asks for the seat.
    runtime: Option<RoomRuntime>,
    /// What rooms do for their spectators (`--max-spectators`, ...).
    spectating: Spectating,
    /// Resume tokens and the reconnect grace, for every room; `None`: no
    /// seat is ever held.
    resumes: Option<Arc<Resumes>>,
    /// Drawn when the lobby is made: with the room's serial, each room's
    /// match id ([`RoomInfo::match_id`]).
    match_base: u64,
    /// An operator drains the server: no seat is given (resumes still are).
    draining: AtomicBool,
    /// Cluster mode: where new rooms' journals come from.
    journals: OnceLock<Weak<dyn Journals>>,
}

/// The runtime the rooms tick on, on threads of its own. Dropped with the
/// lobby, it stops without waiting (a room still running then is dropped).
#[derive(Debug)]
pub struct RoomRuntime(Option<tokio::runtime::Runtime>);

impl RoomRuntime {
    /// A runtime of `threads` worker threads, named `tickwire-room`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("tickwire-room")
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
    }

    fn spawn(&self, room: impl std::future::Future<Output = ()> + Send + 'static) {
        match &self.0 {
            Some(runtime) => drop(runtime.spawn(room)),
            None => drop(tokio::spawn(room)),
        }
    }
}

impl Drop for RoomRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context forbids.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Phases a room may tick at within the tick period. Rooms in one slot tick
/// at the same instant, one after another in one wakeup of the runtime;
/// the slots spread their sends over the period.
pub const PHASE_SLOTS: u32 = 8;

impl std::fmt::Debug for Lobby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lobby")
            .field("rooms", &self.rooms.lock().len())
            .field("game", &self.game.name())
            .finish_non_exhaustive()
    }
}

/// A place in a room, held by a session from before its join until after
/// its leave. Dropping it gives the place back (and closes an empty room).
#[derive(Debug)]
pub struct Seat {
    lobby: Arc<Lobby>,
    room: String,
    /// To the room task.
    pub commands: mpsc::Sender<RoomCommand>,
    /// The room's shared information.
    pub info: Arc<RoomInfo>,
    /// The game's schema: what a player's input may hold.
    pub schema: Arc<Schema>,
    /// Whether this is a spectator's place ([`Lobby::watch`]), not a seat.
    pub spectator: bool,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut rooms = self.lobby.rooms.lock();
        let empty = match rooms.get_mut(&self.room) {
            Some(entry) if Arc::ptr_eq(&entry.info, &self.info) => {
                if self.spectator {
                    entry.spectators = entry.spectators.saturating_sub(1);
                } else {
                    entry.seats = entry.seats.saturating_sub(1);
                }
                entry.seats == 0 && entry.spectators == 0
            }
            _ => false,
        };
        if empty {
            // Dropping the lobby's sender; the room ends once this seat's
            // sender (dropped right after) is gone too and its queue is done.
            rooms.remove(&self.room);
            metrics::gauge!(stats::ROOMS).decrement(1.0);
        }
    }
}

impl Lobby {
    /// An empty lobby whose rooms run `game`.
    pub fn new(
        game: Arc<dyn GameFactory>,
        room_limit: usize,
        max_catch_up: u32,
        alive: mpsc::Sender<()>,
    ) -> Self {
        Self {
            rooms: Mutex::new(BTreeMap::new()),
            game,
            room_limit,
            max_catch_up,
            bandwidth_budget: None,
            max_rooms: usize::MAX,
            created: AtomicU64::new(0),
            alive: Mutex::new(Some(alive)),
            epoch: tokio::time::Instant::now(),
            runtime: None,
            spectating: Spectating::default(),
            resumes: None,
            match_base: match_base(),
            draining: AtomicBool::new(false),
            journals: OnceLock::new(),
        }
    }

    /// Gives every room opened from now on a journal from `journals`, if
    /// it has one for it (cluster mode, failover). Set once.
    pub fn set_journals(&self, journals: Weak<dyn Journals>) {
        let _ = self.journals.set(journals);
    }

    /// The game every room runs.
    pub fn game(&self) -> Arc<dyn GameFactory> {
        Arc::clone(&self.game)
    }

    /// Whether room `name` is open here.
    pub fn has(&self, name: &str) -> bool {
        self.rooms.lock().contains_key(name)
    }

    /// Opens room `name` with a match continued from another node
    /// (`restored`): every player's seat held, for the grace, until its
    /// client resumes. Refused when the room is open here already, past
    /// `--max-rooms`, or while shutting down.
    pub fn restore(self: &Arc<Self>, name: &str, restored: Restored) -> Result<(), SeatError> {
        let mut rooms = self.rooms.lock();
        if rooms.contains_key(name) {
            return Err(SeatError::Game(format!(
                "room `{name}` is open here already"
            )));
        }
        if rooms.len() >= self.max_rooms {
            metrics::counter!(stats::ROOMS_REFUSED).increment(1);
            return Err(SeatError::TooManyRooms {
                limit: self.max_rooms,
            });
        }
        let Restored {
            sim,
            match_id,
            players,
            dead_for,
            journal,
            recent,
        } = restored;
        let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
        let (mut entry, room, receiver) = self.build_room(name, n, sim, None, match_id)?;
        let places = players
            .iter()
            .map(|_| {
                entry.seats += 1;
                entry.seat(self, name.to_owned(), false)
            })
            .collect();
        let mut room = room;
        room.restore_seats(&players, places, dead_for);
        room.remember(&recent);
        if let Some(journal) = journal {
            room = room.with_journal(journal);
        }
        room.drop_held();
        self.spawn_room(name, room, receiver)?;
        rooms.insert(name.to_owned(), entry);
        Ok(())
    }

    /// Gives no seat and no spectator's place from now on
    /// ([`SeatError::Draining`]): an operator's drain.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the lobby drains.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// An operator's kick of `player` in `room` (see
    /// [`RoomCommand::Kick`]): `None` if there is no such room, else
    /// whether the room had the player.
    pub async fn kick(
        &self,
        room: &str,
        player: tickwire_sim::PlayerId,
        reason: &str,
    ) -> Option<bool> {
        let commands = self.rooms.lock().get(room)?.commands.clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let kick = RoomCommand::Kick {
            player,
            reason: reason.to_owned(),
            reply,
        };
        commands.send(kick).await.ok()?;
        answer.await.ok()
    }

    /// An operator closes `room` (see [`RoomCommand::Close`]): out of the
    /// lobby at once, so the next seat in its name opens a new room, and
    /// every connection in it closed with `kind` and `reason`. Whether
    /// there was such a room.
    pub fn close_room(&self, room: &str, kind: OperatorClose, reason: String) -> bool {
        let Some(entry) = self.rooms.lock().remove(room) else {
            return false;
        };
        metrics::gauge!(stats::ROOMS).decrement(1.0);
        let close = RoomCommand::Close { kind, reason };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(close)) =
            entry.commands.try_send(close)
        {
            // A busy room: it gets the close after what it has queued.
            let commands = entry.commands.clone();
            tokio::spawn(async move { commands.send(close).await });
        }
        true
    }

    /// Gives every room these settings for its spectators.
    pub fn with_spectating(mut self, spectating: Spectating) -> Self {
        self.spectating = spectating;
        self
    }

    /// Holds dropped players' seats and issues resume tokens in every room
    /// as `resumes` says (by default no seat is held).
    pub fn with_resumes(mut self, resumes: Arc<Resumes>) -> Self {
        self.resumes = Some(resumes);
        self
    }

    /// Runs every room on `runtime` (by default a room runs on the runtime
    /// of the session that opened it).
    pub fn with_room_runtime(mut self, runtime: RoomRuntime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Limits every view player's snapshots to `bytes_per_second` (`None`:
    /// no limit, the default).
    pub fn with_bandwidth_budget(mut self, bytes_per_second: Option<u64>) -> Self {
        self.bandwidth_budget = bytes_per_second;
        self
    }

    /// Opens at most `max_rooms` rooms at a time (default: no limit); a seat
    /// that would open one more is refused with [`SeatError::TooManyRooms`].
    pub fn with_max_rooms(mut self, max_rooms: usize) -> Self {
        self.max_rooms = max_rooms;
        self
    }

    /// A seat in `room`, or with `None` in the fullest room with space
    /// (a new room if none has space).
    pub fn seat(self: &Arc<Self>, room: Option<&str>) -> Result<Seat, SeatError> {
        if self.is_draining() {
            return Err(SeatError::Draining);
        }
        let mut rooms = self.rooms.lock();
        let name = match room {
            Some(name) => name.to_owned(),
            None => rooms
                .iter()
                .filter(|(_, e)| e.seats < e.info.max_players)
                .max_by_key(|(_, e)| e.seats)
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| self.fresh_name(&rooms)),
        };
        let entry = self.open_or_get(&mut rooms, &name)?;
        if entry.seats >= entry.info.max_players {
            return Err(SeatError::Full {
                room: name,
                limit: entry.info.max_players,
            });
        }
        entry.seats += 1;
        Ok(entry.seat(self, name, false))
    }

    /// A spectator's place in `room`, or with `None` in the room with the
    /// most players (a new room if there is none). It takes no seat, so a
    /// full room still has places for `--max-spectators` spectators; like
    /// a seat, it keeps the room open until it is given back.
    pub fn watch(self: &Arc<Self>, room: Option<&str>) -> Result<Seat, SeatError> {
        if self.is_draining() {
            return Err(SeatError::Draining);
        }
        let mut rooms = self.rooms.lock();
        let name = match room {
            Some(name) => name.to_owned(),
            None => rooms
                .iter()
                .max_by_key(|(_, e)| e.seats)
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| self.fresh_name(&rooms)),
        };
        let entry = self.open_or_get(&mut rooms, &name)?;
        if entry.spectators >= self.spectating.max {
            return Err(SeatError::SpectatorsFull {
                room: name,
                limit: self.spectating.max,
            });
        }
        entry.spectators += 1;
        Ok(entry.seat(self, name, true))
    }

    /// The room `name`, opened if there is none yet (refused past
    /// `--max-rooms`). Called with the rooms lock held.
    fn open_or_get<'r>(
        &self,
        rooms: &'r mut BTreeMap<String, Entry>,
        name: &str,
    ) -> Result<&'r mut Entry, SeatError> {
        if !rooms.contains_key(name) {
            if rooms.len() >= self.max_rooms {
                metrics::counter!(stats::ROOMS_REFUSED).increment(1);
                return Err(SeatError::TooManyRooms {
                    limit: self.max_rooms,
                });
            }
            let entry = self.open_room(name)?;
            rooms.insert(name.to_owned(), entry);
        }
        rooms.get_mut(name).ok_or(SeatError::ShuttingDown)
    }

    /// A name for a matchmade room that no client-named room has taken.
    /// Called with the rooms lock held.
    fn fresh_name(&self, rooms: &BTreeMap<String, Entry>) -> String {
        loop {
            let n = self.created.load(Ordering::Relaxed) + 1;
            let candidate = format!("room-{n}");
            if !rooms.contains_key(&candidate) {
                break candidate;
            }
            self.created.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts a room task. Called with the rooms lock held.
    fn open_room(&self, name: &str) -> Result<Entry, SeatError> {
        if self.alive.lock().is_none() {
            return Err(SeatError::ShuttingDown);
        }
        let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
        let (sim, record) = self
            .game
            .open_match(name, n)
            .map_err(|e| SeatError::Game(format!("{e:#}")))?;
        let tick_rate = sim.tick_rate();
        let match_id = self.match_base.wrapping_add(n);
        let (entry, mut room, receiver) = self.build_room(name, n, sim, record, match_id)?;
        let journal = self
            .journals
            .get()
            .and_then(Weak::upgrade)
            .and_then(|journals| journals.journal(name, tick_rate));
        if let Some(journal) = journal {
            room = room.with_journal(journal);
        }
        self.spawn_room(name, room, receiver)?;
        Ok(entry)
    }

    /// The room `name` (the `n`th opened here) around `sim`, and its entry
    /// and command queue; not running yet.
    fn build_room(
        &self,
        name: &str,
        n: u64,
        sim: Box<dyn tickwire_sim::Simulation>,
        record: Option<std::path::PathBuf>,
        match_id: u64,
    ) -> Result<(Entry, Room, mpsc::Receiver<RoomCommand>), SeatError> {
        let tick_rate = sim.tick_rate();
        let schema = Arc::new(sim.schema().clone());
        let info = Arc::new(RoomInfo {
            name: name.to_owned(),
            game: self.game.name().to_owned(),
            max_players: self.room_limit.min(sim.max_players()),
            tick_rate,
            schema_hash: sim.schema().hash(),
            match_id,
            players: Default::default(),
            held: Default::default(),
            tick: Default::default(),
            // Ten seconds per histogram window, and a sample of the
            // history a second.
            times: Mutex::new(TickTimes::new(tick_rate.saturating_mul(10), tick_rate)),
            links: Mutex::new(BTreeMap::new()),
            spectators: Default::default(),
            max_spectators: self.spectating.max,
            record,
        });
        let settings = RoomSettings {
            max_catch_up: self.max_catch_up,
            bandwidth_budget: self.bandwidth_budget,
            // The golden ratio spreads successive rooms evenly over the slots.
            phase: ((n as f64 * 0.618_033_988_749_895).fract() * f64::from(PHASE_SLOTS)).floor()
                / f64::from(PHASE_SLOTS),
            epoch: self.epoch,
            spectating: self.spectating,
        };
        let (commands, receiver) = mpsc::channel(ROOM_COMMAND_QUEUE);
        let mut room = Room::new(sim, Arc::clone(&info), settings)
            .map_err(|e| SeatError::Game(format!("the game's schema is invalid: {e}")))?;
        if let Some(resumes) = &self.resumes {
            room = room.with_resumes(Arc::clone(resumes));
        }
        let entry = Entry {
            commands,
            info,
            schema,
            seats: 0,
            spectators: 0,
        };
        Ok((entry, room, receiver))
    }

    /// Runs `room` (`name`) as a task of its own, ending when its command
    /// queue `receiver` has no sender left.
    fn spawn_room(
        &self,
        name: &str,
        room: Room,
        receiver: mpsc::Receiver<RoomCommand>,
    ) -> Result<(), SeatError> {
        let Some(alive) = self.alive.lock().clone() else {
            return Err(SeatError::ShuttingDown);
        };
        let game = Arc::clone(&self.game);
        let room_name = name.to_owned();
        // Outside the cooperative budget: the room writes to many sockets
        // per tick, and a spent budget would make every socket after the
        // first hundred-odd look full (see the `outbox` module).
        let room_task = tokio::task::coop::unconstrained(async move {
            let sim = room.run(receiver).await;
            game.match_over(&room_name, sim);
            drop(alive);
        });
        match &self.runtime {
            Some(runtime) => runtime.spawn(room_task),
            None => drop(tokio::spawn(room_task)),
        }
        metrics::gauge!(stats::ROOMS).increment(1.0);
        Ok(())
    }

    /// Summaries of every room, by name.
    pub fn summaries(&self, with_players: bool) -> Vec<RoomSummary> {
        let infos: Vec<_> = self
            .rooms
            .lock()
            .values()
            .map(|e| Arc::clone(&e.info))
            .collect();
        infos.iter().map(|i| i.summary(with_players)).collect()
    }

    /// Every open room's information, by name.
    pub fn infos(&self) -> Vec<Arc<RoomInfo>> {
        self.rooms
            .lock()
            .values()
            .map(|e| Arc::clone(&e.info))
            .collect()
    }

    /// The open room `name`, without taking a seat in it: a resuming
    /// session's way to its held seat.
    pub fn find(&self, name: &str) -> Option<RoomRef> {
        self.rooms.lock().get(name).map(|entry| RoomRef {
            commands: entry.commands.clone(),
            info: Arc::clone(&entry.info),
        })
    }

    /// Every open room: its name, the seats held in it (players in it and
    /// on their way in) and its information. What a cluster node's
    /// heartbeat reports.
    pub fn occupancy(&self) -> Vec<(String, usize, Arc<RoomInfo>)> {
        self.rooms
            .lock()
            .iter()
            .map(|(name, e)| (name.clone(), e.seats, Arc::clone(&e.info)))
            .collect()
    }

    /// Takes room `name` out of the lobby, so that the next seat in that
    /// name opens a new room; the room itself runs on until its seats are
    /// given back. A cluster node does this to a room the directory gave
    /// to another node (see `cluster`). Returns the room's information.
    pub fn evict(&self, name: &str) -> Option<Arc<RoomInfo>> {
        let entry = self.rooms.lock().remove(name)?;
        metrics::gauge!(stats::ROOMS).decrement(1.0);
        Some(entry.info)
    }

    /// Refuses new rooms from now on, and has every room give up its held
    /// seats (shutdown).
    pub fn close(&self) {
        self.alive.lock().take();
        for entry in self.rooms.lock().values() {
            // A room whose queue is full is busy; its held seats run out.
            let _ = entry.commands.try_send(RoomCommand::ReleaseHeld);
        }
    }
}

/// An open room, found by name.
#[derive(Debug)]
pub struct RoomRef {
    /// To the room task.
    pub commands: mpsc::Sender<RoomCommand>,
    /// The room's shared information.
    pub info: Arc<RoomInfo>,
}

/// A number no other process is likely to draw: match ids of two servers
/// (sharing a ticket secret, say) never meet.
fn match_base() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}
