//! Cluster mode: many Tickwire nodes as one service, through Redis
//! (`--redis`; `docs/scaling.md` is the operator's guide).
//!
//! Each node keeps its own rooms, ticking as ever; Redis holds what the
//! nodes must agree on, and nothing else: which nodes are up, which node
//! owns each room (under which epoch), and how full everything is
//! ([`directory`], whose module doc lists every key and its TTL). A player
//! is placed by one atomic decision in Redis, on any node
//! (`POST /api/matchmake`, or a `/ws` without a seat ticket), and connects
//! straight to the room's node with a short-lived signed seat ticket
//! ([`seat`]); no proxy sits between the player and its room. A connection
//! that reaches the wrong node is sent on with the protocol's `Redirect`
//! and close 4010 (`route`).
//!
//! The node's side, here: a heartbeat every `--heartbeat` registers the
//! node and renews its rooms' leases with their absolute counts, and stops
//! any room the directory gave to someone else (fencing); the rooms a node
//! knows ([`LocalRoom`]), with the epoch each was opened under; and the
//! drain on SIGTERM (no new placement, wait for the rooms to empty within
//! `--drain-timeout`, then leave the cluster). Redis being away costs the
//! running rooms nothing: they tick on, players in them stay, and the next
//! heartbeat that goes through registers everything again.

mod api;
pub mod directory;
pub mod failover;
mod route;
pub mod seat;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tickwire_protocol::close_code;
use tickwire_sim::PlayerId;
use tokio::time::Instant;

pub(crate) use self::api::{matchmake, rooms};
use self::directory::{Beat, BeatRoom, Directory, Placed, Placement, Status};
pub(crate) use self::route::serve;
use self::seat::{FirstUse, Ids, SeatClaims, SeatRefusal, Used};
use crate::config::{Config, Secret};
use crate::lobby::Lobby;
use crate::room::{Control, RoomInfo};
use crate::{stats, wire};

/// How long a node waits for its first registration before it gives up
/// starting ([`Cluster::ready`]).
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Seats taken that a node keeps for its next heartbeat while Redis is
/// away; past it the oldest are forgotten (their reservations expire in
/// Redis on their own, so forgetting one only counts a player twice
/// until then).
const MAX_TAKEN: usize = 65_536;

/// How long a room stays listed as open with no seat in it before the
/// heartbeat reports it closed: the moment between a seat's admission
/// and its join.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A heartbeat failure is logged at most once per this period.
const WARN_PERIOD: Duration = Duration::from_secs(10);

/// A node's cluster settings, checked at start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Redis URL.
    pub redis: Secret,
    /// This node's id.
    pub node: String,
    /// Its public base URL, without a trailing `/`.
    pub url: String,
    /// The seat tickets' secret.
    pub secret: Secret,
    /// Time between two heartbeats.
    pub heartbeat: Duration,
    /// How long the node's keys live unless renewed.
    pub lease: Duration,
    /// How long a seat ticket is good for.
    pub ticket_ttl: Duration,
    /// How long a drain waits for the rooms to empty.
    pub drain_timeout: Duration,
    /// Failover: a snapshot every this many ticks (`None`: a second's
    /// worth); 0 turns failover off.
    pub snapshot_every: Option<u32>,
    /// Failover: how long a room's state lives in Redis after its newest
    /// write.
    pub room_state_ttl: Duration,
    /// Failover: the longest a tick waits for Redis to hold its inputs.
    pub journal_wait: Duration,
}

impl Settings {
    /// The cluster settings `config` asks for, for a server listening on
    /// `local`: `None` without `--redis`. Refuses a cluster without a
    /// public URL or a secret, a lease shorter than two heartbeats, and
    /// cluster flags without `--redis`.
    pub fn from_config(config: &Config, local: SocketAddr) -> anyhow::Result<Option<Self>> {
        use anyhow::{Context as _, bail, ensure};
        let Some(redis) = config.redis.clone() else {
            for (set, flag) in [
                (config.public_url.is_some(), "--public-url"),
                (config.node_id.is_some(), "--node-id"),
                (
                    config.cluster_secret.is_some() || config.cluster_secret_file.is_some(),
                    "--cluster-secret",
                ),
            ] {
                ensure!(!set, "{flag} is for cluster mode: it needs --redis");
            }
            return Ok(None);
        };
        let Some(public) = &config.public_url else {
            bail!(
                "cluster mode needs --public-url: the URL players reach this node at, \
                 straight (matchmaking sends them there)"
            );
        };
        let mut public = public.clone();
        if public.port() == Some(0) {
            public
                .set_port(Some(local.port()))
                .map_err(|()| anyhow::anyhow!("cannot set the port of --public-url"))?;
        }
        let secret = match (&config.cluster_secret, &config.cluster_secret_file) {
            (Some(secret), _) => secret.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the cluster secret from {}", path.display())
                })?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Secret::new(text.strip_suffix('\r').unwrap_or(text))
            }
            (None, None) => bail!(
                "cluster mode needs --cluster-secret (or --cluster-secret-file): \
                 the same secret on every node signs the seat tickets"
            ),
        };
        ensure!(
            secret.expose().len() >= crate::admission::MIN_SECRET,
            "the cluster secret is {} bytes; it needs {} at least",
            secret.expose().len(),
            crate::admission::MIN_SECRET
        );
        ensure!(
            config.room_state_ttl >= config.lease * 2,
            "--room-state-ttl ({:?}) must be at least two leases (--lease {:?}): \
             a room's state must outlive its dead node's lease",
            config.room_state_ttl,
            config.lease
        );
        ensure!(
            config.lease >= config.heartbeat * 2,
            "--lease ({:?}) must be at least two heartbeats (--heartbeat {:?}): \
             one late heartbeat must not cost a node its rooms",
            config.lease,
            config.heartbeat
        );
        let node = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{:012x}", seat::random_u64() >> 16));
        Ok(Some(Self {
            redis,
            node,
            url: public.as_str().trim_end_matches('/').to_owned(),
            secret,
            heartbeat: config.heartbeat,
            lease: config.lease,
            ticket_ttl: config.seat_ticket_ttl,
            drain_timeout: config.drain_timeout,
            snapshot_every: config.snapshot_every,
            room_state_ttl: config.room_state_ttl,
            journal_wait: config.journal_wait,
        }))
    }
}

/// A room this node knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalRoom {
    /// Open here under `epoch`; last admitted to at `touched`.
    Live { epoch: u64, touched: Instant },
    /// Stopped here: the directory gave it to another node or epoch.
    /// Seat tickets for `epoch` or older are sent on until `until`.
    Fenced { epoch: u64, until: Instant },
}

/// A fenced room whose players are being sent on.
#[derive(Debug)]
struct Evicted {
    info: Arc<RoomInfo>,
    /// The redirect every player gets.
    redirect: Bytes,
    /// Why, for the close frame.
    reason: String,
    /// Players already sent on.
    kicked: HashSet<PlayerId>,
    /// Players who join later (they took their seat before the fence) are
    /// sent on too, until then.
    until: Instant,
}

/// What the node's tasks share, under one lock.
#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, LocalRoom>,
    /// Seats taken since the last heartbeat: room and reservation id.
    taken: Vec<(String, String)>,
    /// Seat tickets used here.
    used: Used,
    evicted: Vec<Evicted>,
    last_beat: Option<Instant>,
    /// Heartbeats failed in a row.
    failures: u64,
    last_warning: Option<Instant>,
}

/// Why a room could not be admitted to here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stale;

/// An offer of a seat: where to connect, with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The placement.
    pub placed: Placed,
    /// The seat ticket.
    pub ticket: String,
    /// The reservation's id.
    pub jti: String,
}

/// Why matchmaking found no seat: a close for `/ws`, a status for
/// `/api/matchmake`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSeat {
    /// The room is full (else: try again later).
    pub full: bool,
    /// Redis did not answer: no decision was made.
    pub unreachable: bool,
    /// In words.
    pub reason: String,
}

/// A node of the cluster.
pub struct Cluster {
    settings: Settings,
    directory: Directory,
    lobby: Arc<Lobby>,
    /// The player limit of a new room here.
    room_limit: usize,
    /// Most players (`--max-connections`).
    capacity: usize,
    /// Most rooms (`--max-rooms`).
    max_rooms: usize,
    state: Mutex<State>,
    draining: std::sync::atomic::AtomicBool,
    ids: Ids,
    /// Flips to true at the first heartbeat that goes through.
    registered: tokio::sync::watch::Sender<bool>,
    /// One heartbeat at a time.
    beating: tokio::sync::Mutex<()>,
    heartbeats: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `/api/rooms` without and with players: when rendered, and the body.
    listing: tokio::sync::Mutex<[Option<(std::time::Instant, Bytes)>; 2]>,
    /// Failover, unless `--snapshot-every 0`.
    failover: Option<failover::Failover>,
    /// Rooms being continued here: one claim at a time per room.
    restoring: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.settings.node)
            .field("url", &self.settings.url)
            .finish_non_exhaustive()
    }
}

/// Every room opened on a node with failover keeps a journal, under the
/// epoch it was placed with.
impl crate::lobby::Journals for Cluster {
    fn journal(&self, room: &str, tick_rate: u32) -> Option<crate::room::journal::Journal> {
        let failover = self.failover.as_ref()?;
        let epoch = match self.state.lock().rooms.get(room) {
            Some(LocalRoom::Live { epoch, .. }) => *epoch,
            // Opened without a placement (Redis away, or a test's lobby):
            // no epoch, no failover.
            _ => return None,
        };
        Some(failover.journal(room, epoch, tick_rate))
    }
}

impl Cluster {
    /// A node with `settings`, whose rooms are `lobby`'s (a new room taking
    /// `room_limit` players). Does not talk to Redis yet: [`Cluster::start`]
    /// does.
    pub fn new(
        settings: Settings,
        lobby: Arc<Lobby>,
        room_limit: usize,
        config: &Config,
    ) -> anyhow::Result<Self> {
        let directory = Directory::new(settings.redis.expose())?;
        let failover = match settings.snapshot_every {
            Some(0) => None,
            every => Some(failover::Failover::new(
                settings.redis.expose(),
                settings.node.clone(),
                every,
                settings.room_state_ttl,
                settings.journal_wait,
            )?),
        };
        Ok(Self {
            failover,
            restoring: Mutex::new(HashMap::new()),
            settings,
            directory,
            lobby,
            room_limit,
            capacity: config.max_connections,
            max_rooms: config.max_rooms,
            state: Mutex::new(State::default()),
            draining: std::sync::atomic::AtomicBool::new(false),
            ids: Ids::new(),
            registered: tokio::sync::watch::Sender::new(false),
            beating: tokio::sync::Mutex::new(()),
            heartbeats: Mutex::new(None),
            listing: tokio::sync::Mutex::new([None, None]),
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// This node's public URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Starts the heartbeat (the first one at once), and the journals of
    /// the rooms opened from now on.
    pub fn start(self: &Arc<Self>) {
        if self.failover.is_some() {
            let journals: std::sync::Weak<dyn crate::lobby::Journals> = Arc::downgrade(self) as _;
            self.lobby.set_journals(journals);
        }
        tracing::info!(node = %self.settings.node, url = %self.settings.url, "joining the cluster");
        let cluster = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(cluster.settings.heartbeat);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                cluster.beat().await;
            }
        });
        *self.heartbeats.lock() = Some(task);
    }

    /// Waits for the node's first registration, at most [`READY_TIMEOUT`].
    pub async fn ready(&self) -> anyhow::Result<()> {
        let mut registered = self.registered.subscribe();
        match tokio::time::timeout(READY_TIMEOUT, registered.wait_for(|r| *r)).await {
            Ok(Ok(_)) => Ok(()),
            _ => anyhow::bail!(
                "could not register in redis within {READY_TIMEOUT:?}: is --redis right, and up?"
            ),
        }
    }

    /// Every node with a live lease, as the directory lists them (the
    /// operator console's node list).
    pub async fn nodes(&self) -> Result<Vec<directory::ListedNode>, directory::DirectoryError> {
        self.directory.list().await.map(|listing| listing.nodes)
    }

    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One heartbeat: registers the node and its rooms, and fences the
    /// rooms the directory gave to someone else.
    async fn beat(&self) {
        let _one = self.beating.lock().await;
        let occupancy = self.lobby.occupancy();
        let now = Instant::now();
        let (beat, closed) = {
            let mut state = self.state.lock();
            let mut rooms = Vec::with_capacity(occupancy.len());
            let mut players = 0;
            for (name, seats, info) in &occupancy {
                players += seats;
                if let Some(LocalRoom::Live { epoch, .. }) = state.rooms.get(name) {
                    rooms.push(BeatRoom {
                        name: name.clone(),
                        epoch: *epoch,
                        players: *seats,
                        limit: info.max_players,
                    });
                }
            }
            let open: HashSet<&str> = occupancy.iter().map(|(n, _, _)| n.as_str()).collect();
            let closed: Vec<(String, u64)> = state
                .rooms
                .iter()
                .filter_map(|(name, room)| match room {
                    LocalRoom::Live { epoch, touched }
                        if !open.contains(name.as_str())
                            && now.saturating_duration_since(*touched) >= CLOSE_GRACE =>
                    {
                        Some((name.clone(), *epoch))
                    }
                    _ => None,
                })
                .collect();
            state.rooms.retain(
                |_, room| !matches!(room, LocalRoom::Fenced { until, .. } if *until <= now),
            );
            state.used.forget_expired(crate::ticket::now_unix());
            let beat = Beat {
                node: self.settings.node.clone(),
                url: self.settings.url.clone(),
                status: if self.is_draining() {
                    Status::Draining
                } else {
                    Status::Up
                },
                players,
                capacity: self.capacity,
                room_limit: self.room_limit,
                max_rooms: self.max_rooms,
                lease_ms: directory::millis(self.settings.lease),
                rooms,
                taken: std::mem::take(&mut state.taken),
                closed: closed.clone(),
            };
            (beat, closed)
        };
        let timeout = self.settings.heartbeat.max(Duration::from_millis(500));
        let result = self.directory.heartbeat(&beat, timeout).await;
        let fenced = {
            let mut state = self.state.lock();
            match result {
                Ok(beaten) => {
                    for (name, epoch) in &closed {
                        if let Some(LocalRoom::Live { epoch: e, touched }) = state.rooms.get(name)
                            && e == epoch
                            && *touched <= now
                        {
                            state.rooms.remove(name);
                        }
                    }
                    if state.failures > 0 {
                        tracing::info!(
                            failures = state.failures,
                            "heartbeat went through again: registered"
                        );
                    }
                    state.failures = 0;
                    state.last_beat = Some(Instant::now());
                    metrics::gauge!(stats::CLUSTER_NODES).set(beaten.nodes as f64);
                    let node = self.settings.node.clone();
                    metrics::gauge!(stats::NODE_ROOMS, "node" => node.clone())
                        .set(beat.rooms.len() as f64);
                    metrics::gauge!(stats::NODE_PLAYERS, "node" => node).set(beat.players as f64);
                    self.registered.send_replace(true);
                    beaten.fenced
                }
                Err(error) => {
                    // The seats taken go with the next heartbeat.
                    let mut taken = beat.taken;
                    taken.append(&mut state.taken);
                    let over = taken.len().saturating_sub(MAX_TAKEN);
                    taken.drain(..over);
                    state.taken = taken;
                    state.failures += 1;
                    metrics::counter!(stats::HEARTBEATS_FAILED).increment(1);
                    let due = state
                        .last_warning
                        .is_none_or(|at| at.elapsed() >= WARN_PERIOD);
                    if due {
                        state.last_warning = Some(Instant::now());
                        tracing::warn!(%error, failures = state.failures, "heartbeat failed; rooms tick on, and register again when redis answers");
                    }
                    Vec::new()
                }
            }
        };
        for fenced in fenced {
            let url = if fenced.url.is_empty() {
                self.settings.url.clone()
            } else {
                fenced.url
            };
            tracing::warn!(room = %fenced.room, owner = %fenced.node, "the directory gave this room to another node or epoch: stopping it here, players sent on");
            let mut state = self.state.lock();
            self.fence(&mut state, &fenced.room, &url);
        }
        let mut state = self.state.lock();
        Self::kick_latecomers(&mut state);
        let lag = state.last_beat.map_or(0.0, |at| at.elapsed().as_secs_f64());
        metrics::gauge!(stats::HEARTBEAT_LAG).set(lag);
    }

    /// Stops room `room` here: out of the lobby, its players sent to `url`
    /// (the room's node now), seat tickets for it sent on for a while.
    fn fence(&self, state: &mut State, room: &str, url: &str) {
        let epoch = match state.rooms.get(room) {
            Some(LocalRoom::Live { epoch, .. } | LocalRoom::Fenced { epoch, .. }) => *epoch,
            None => 0,
        };
        let hold = self.settings.ticket_ttl + self.settings.lease;
        state.rooms.insert(
            room.to_owned(),
            LocalRoom::Fenced {
                epoch,
                until: Instant::now() + hold,
            },
        );
        metrics::counter!(stats::ROOMS_FENCED).increment(1);
        if let Some(info) = self.lobby.evict(room) {
            state.evicted.push(Evicted {
                info,
                redirect: wire::encode_redirect(url, room, ""),
                reason: format!("room {room} moved to another node: reconnect there"),
                kicked: HashSet::new(),
                until: Instant::now() + hold,
            });
            Self::kick_latecomers(state);
        }
    }

    /// Sends every player of a fenced room on, once each.
    fn kick_latecomers(state: &mut State) {
        let now = Instant::now();
        state.evicted.retain(|e| e.until > now);
        for evicted in &mut state.evicted {
            for (player, link) in evicted.info.links.lock().iter() {
                if evicted.kicked.insert(*player) {
                    metrics::counter!(stats::REDIRECTS).increment(1);
                    link.control
                        .push_final(Control::Message(evicted.redirect.clone()));
                    link.control.push_final(Control::Close(
                        close_code::WRONG_NODE,
                        evicted.reason.clone(),
                    ));
                }
            }
        }
    }

    /// Admits a seat in `room` under `epoch` (reservation `jti`) here: the
    /// room opens on its first seat. `Stale` for an older incarnation of a
    /// room, or a new room while draining.
    fn admit(&self, room: &str, epoch: u64, jti: &str) -> Result<(), Stale> {
        let mut state = self.state.lock();
        let now = Instant::now();
        match state.rooms.get(room).copied() {
            Some(LocalRoom::Live { epoch: e, .. }) if e == epoch => {}
            Some(LocalRoom::Live { epoch: e, .. }) if epoch > e => {
                // A newer incarnation of the room was placed here while the
                // one running here lost its lease: this one is stale.
                let url = self.settings.url.clone();
                self.fence(&mut state, room, &url);
            }
            Some(LocalRoom::Live { .. }) => return Err(Stale),
            Some(LocalRoom::Fenced { epoch: e, .. }) if epoch <= e => return Err(Stale),
            _ if self.is_draining() => return Err(Stale),
            _ => {}
        }
        state.rooms.insert(
            room.to_owned(),
            LocalRoom::Live {
                epoch,
                touched: now,
            },
        );
        state.taken.push((room.to_owned(), jti.to_owned()));
        if state.taken.len() > MAX_TAKEN {
            state.taken.remove(0);
        }
        Ok(())
    }

    /// Before a connection enters room `room` here, placed under `epoch`:
    /// if the room is not open here and Redis holds a state of an older
    /// epoch (its node died), claims it and opens the room continued from
    /// it. A state that does not continue (it does not restore, its replay
    /// diverges) is counted and logged, and the room opens afresh.
    /// `Err` when a newer epoch has the room (this placement is stale) or
    /// Redis did not answer.
    async fn prepare(&self, room: &str, epoch: u64) -> Result<(), NoSeat> {
        let Some(failover) = &self.failover else {
            return Ok(());
        };
        if self.lobby.has(room) {
            return Ok(());
        }
        let lock = Arc::clone(self.restoring.lock().entry(room.to_owned()).or_default());
        let _one = lock.lock().await;
        let result = self.claim_and_restore(failover, room, epoch).await;
        {
            let mut restoring = self.restoring.lock();
            // Only this task and the map hold it: no one else waits.
            if Arc::strong_count(&lock) <= 2 {
                restoring.remove(room);
            }
        }
        result
    }

    async fn claim_and_restore(
        &self,
        failover: &failover::Failover,
        room: &str,
        epoch: u64,
    ) -> Result<(), NoSeat> {
        if self.lobby.has(room) {
            return Ok(());
        }
        let unreachable = |error: directory::DirectoryError| {
            tracing::warn!(%room, %error, "cannot claim the room's state");
            NoSeat {
                full: false,
                unreachable: true,
                reason: "the cluster's directory is unreachable; try again".to_owned(),
            }
        };
        let saved = match failover.claim(room, epoch).await.map_err(unreachable)? {
            failover::Claimed::Nothing => return Ok(()),
            failover::Claimed::Newer(newer) => {
                tracing::info!(%room, epoch, newer, "a newer epoch has the room's state");
                return Err(NoSeat {
                    full: false,
                    unreachable: false,
                    reason: format!("room `{room}` moved to another node; try again"),
                });
            }
            failover::Claimed::Saved(saved) => saved,
        };
        let (from, tick) = (saved.node.clone(), saved.tick);
        let game = self.lobby.game();
        let continued = failover::replay(*saved, |bytes| game.restore_match(room, bytes));
        let continued = match continued {
            Ok(continued) => continued,
            Err(error) => {
                metrics::counter!(stats::RESUMES_FAILED).increment(1);
                tracing::error!(%room, from = %from, %error, "cannot continue the room; it opens afresh");
                return Ok(());
            }
        };
        let replayed = continued.replayed;
        let tick_rate = continued.sim.tick_rate();
        let restored = crate::lobby::Restored {
            journal: Some(failover.journal(room, epoch, tick_rate)),
            sim: continued.sim,
            match_id: continued.match_id,
            players: continued.players,
            dead_for: continued.dead_for,
            recent: continued.recent,
        };
        let players = restored.players.len();
        match self.lobby.restore(room, restored) {
            Ok(()) => {
                metrics::counter!(stats::ROOMS_RESUMED).increment(1);
                metrics::counter!(stats::TICKS_REPLAYED).increment(replayed);
                tracing::info!(%room, from = %from, snapshot = tick, replayed, players, "room continued here from its dead node's state");
                Ok(())
            }
            Err(error) => {
                metrics::counter!(stats::RESUMES_FAILED).increment(1);
                tracing::warn!(%room, %error, "cannot open the continued room");
                Err(NoSeat {
                    full: false,
                    unreachable: false,
                    reason: format!("room `{room}` cannot open here: {error}"),
                })
            }
        }
    }

    /// Whether `room` is open here, as far as this node knows.
    fn is_local(&self, room: &str) -> bool {
        matches!(
            self.state.lock().rooms.get(room),
            Some(LocalRoom::Live { .. })
        )
    }

    /// Checks a seat ticket presented here, and records its use.
    fn check_ticket(&self, ticket: &str) -> Result<SeatClaims, SeatRefusal> {
        let now = crate::ticket::now_unix();
        let claims = seat::check(self.settings.secret.expose().as_bytes(), ticket, now)?;
        if claims.node != self.settings.node {
            return Ok(claims);
        }
        match self
            .state
            .lock()
            .used
            .first_use(&claims.jti, claims.exp, now)
        {
            FirstUse::Yes => Ok(claims),
            FirstUse::Replayed => Err(SeatRefusal::Replayed),
            // Not the ticket's fault, but no way to tell it from a replay
            // without remembering more: refused as one, and counted.
            FirstUse::Full => Err(SeatRefusal::Replayed),
        }
    }

    /// The placement decision for a player named `name`, in `room` or
    /// anywhere, with a seat ticket for the room's node.
    pub async fn matchmake(&self, room: Option<&str>, name: &str) -> Result<Offer, NoSeat> {
        let jti = self.ids.next();
        let started = std::time::Instant::now();
        let placement = self
            .directory
            .place(room, &jti, self.settings.ticket_ttl, self.settings.lease)
            .await;
        metrics::histogram!(stats::MATCHMAKE_SECONDS).record(started.elapsed().as_secs_f64());
        let (result, answer) = match placement {
            Ok(Placement::Placed(placed)) => {
                let claims = SeatClaims {
                    room: placed.room.clone(),
                    node: placed.node.clone(),
                    epoch: placed.epoch,
                    name: name.to_owned(),
                    exp: crate::ticket::now_unix() + self.settings.ticket_ttl.as_secs(),
                    jti: jti.clone(),
                };
                let ticket = seat::issue(self.settings.secret.expose().as_bytes(), &claims);
                let result = if placed.fresh { "new" } else { "existing" };
                (
                    result,
                    Ok(Offer {
                        placed,
                        ticket,
                        jti,
                    }),
                )
            }
            Ok(Placement::Full(room)) => (
                "full",
                Err(NoSeat {
                    full: true,
                    unreachable: false,
                    reason: format!("room `{room}` is full"),
                }),
            ),
            Ok(Placement::Draining(room)) => (
                "draining",
                Err(NoSeat {
                    full: false,
                    unreachable: false,
                    reason: format!(
                        "room `{room}` is closing (its node is draining); try again shortly"
                    ),
                }),
            ),
            Ok(Placement::Down(room)) => (
                "unavailable",
                Err(NoSeat {
                    full: false,
                    unreachable: false,
                    reason: format!(
                        "room `{room}`'s node is not answering; try again in a few seconds"
                    ),
                }),
            ),
            Ok(Placement::NoNode) => (
                "unavailable",
                Err(NoSeat {
                    full: false,
                    unreachable: false,
                    reason: "no node can take a new room now; try again later".to_owned(),
                }),
            ),
            Err(error) => {
                tracing::warn!(%error, "matchmaking failed");
                (
                    "unavailable",
                    Err(NoSeat {
                        full: false,
                        unreachable: true,
                        reason: "the cluster's directory is unreachable; try again".to_owned(),
                    }),
                )
            }
        };
        metrics::counter!(stats::MATCHMAKES, "result" => result).increment(1);
        answer
    }

    /// Drains: no new placement here from now on; waits until every room
    /// has emptied, or `--drain-timeout`.
    pub async fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!(stats::DRAINING).set(1.0);
        let timeout = self.settings.drain_timeout;
        tracing::info!(
            ?timeout,
            rooms = self.lobby.occupancy().len(),
            "draining: no new placement on this node"
        );
        // Tell the directory at once, not at the next heartbeat.
        self.beat().await;
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.lobby.occupancy();
            if left.is_empty() {
                tracing::info!("drained: every room has emptied");
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                let players: usize = left.iter().map(|(_, seats, _)| seats).sum();
                tracing::warn!(
                    rooms = left.len(),
                    players,
                    "drain timed out; closing the rooms left"
                );
                return;
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(100))).await;
        }
    }

    /// Leaves the cluster: stops the heartbeat and deletes the node's keys
    /// (its rooms' entries too). Redis unreachable: they expire instead.
    pub async fn leave(&self) {
        if let Some(task) = self.heartbeats.lock().take() {
            task.abort();
        }
        let _one = self.beating.lock().await;
        let rooms: Vec<(String, u64)> = self
            .state
            .lock()
            .rooms
            .iter()
            .filter_map(|(name, room)| match room {
                LocalRoom::Live { epoch, .. } => Some((name.clone(), *epoch)),
                LocalRoom::Fenced { .. } => None,
            })
            .collect();
        match self.directory.leave(&self.settings.node, &rooms).await {
            Ok(()) => tracing::info!(node = %self.settings.node, "left the cluster"),
            Err(error) => {
                tracing::warn!(%error, "could not leave the cluster; its keys expire instead");
            }
        }
    }
}
