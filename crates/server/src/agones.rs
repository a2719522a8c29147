//! Agones (the `agones` feature, turned on by `--agones`): the node as an
//! Agones GameServer, talking gRPC to the SDK sidecar its pod runs beside
//! it, through the `agones` crate (`docs/deploy.md` is the operator's
//! guide).
//!
//! - **Connect** before the server starts ([`Sidecar::for_config`]): on
//!   `localhost`, at the port in `AGONES_SDK_GRPC_PORT` (as every Agones
//!   SDK reads it; default 9357), within `--agones-connect-timeout`. A
//!   sidecar that does not answer stops the start-up with an error.
//! - **The public address**: in cluster mode without `--public-url`, the
//!   node's URL is `http://ADDRESS:PORT` of the GameServer's status (its
//!   address and its first port), what players reach the pod at.
//! - **Ready** once the server listens (in cluster mode: once it has
//!   registered), from [`Server::ready`](crate::Server::ready).
//! - **Health**: from the server's start, a ping every
//!   `--agones-health-period` while every room ticks. A room that has completed no tick for `--agones-stall-timeout`
//!   stops the pings, so the sidecar sees none and Agones marks the
//!   GameServer unhealthy (after the GameServer's own
//!   `health.failureThreshold`); the pings start again if it recovers.
//! - **Spare capacity**: the label `gs-session-ready` (the sidecar prefixes
//!   every SDK label with `agones.dev/sdk-`, so the GameServer carries
//!   `agones.dev/sdk-gs-session-ready`) is `"true"` while the node could
//!   take one more player, by the same counts as matchmaking and the
//!   cluster's placement: its seats under `--max-connections`, and a room
//!   with a free seat (`--max-room-players`) or room for one more room
//!   (`--max-rooms`); `"false"` when full, draining or shutting down.
//!   Checked every [`LABEL_POLL`], sent when it changes: the high-density
//!   pattern, where allocations select Allocated GameServers by it. Such an
//!   allocation sets the label to `"false"` itself: the node watches the
//!   GameServer, and after each allocation (a new `agones.dev/last-allocated`)
//!   sets the label again, `"true"` at once if it still has room.
//! - **Shutdown** at the end of [`Server::shutdown`](crate::Server::shutdown),
//!   after the drain that SIGTERM starts (no new player; the rooms play on
//!   until they empty, at most `--drain-timeout`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::{Config, Shared};

/// The label set by spare capacity, as the SDK is given it; the sidecar
/// stores it as `agones.dev/sdk-gs-session-ready`.
pub const SESSION_READY_LABEL: &str = "gs-session-ready";

/// The port of the sidecar when `AGONES_SDK_GRPC_PORT` is not set (the
/// Agones SDKs' default).
pub const DEFAULT_SDK_PORT: u16 = 9357;

/// How often the spare capacity is looked at for the label.
pub const LABEL_POLL: Duration = Duration::from_millis(250);

/// The annotation Agones stamps on a GameServer at each allocation.
pub const LAST_ALLOCATED: &str = "agones.dev/last-allocated";

/// How long the watch of the GameServer waits before it watches again,
/// after its stream ended.
const REWATCH: Duration = Duration::from_secs(1);

/// How long the start-up waits for an address in the GameServer's status
/// between two looks.
const ADDRESS_POLL: Duration = Duration::from_millis(200);

/// How long Shutdown is given to reach the sidecar.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the GameServer's sidecar, made before the server
/// starts; [`ServerBuilder::agones`](crate::ServerBuilder::agones) hands
/// it to the server.
#[derive(Clone)]
pub struct Sidecar {
    sdk: agones::Sdk,
    port: u16,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Sidecar {
    /// What `config` asks for: `None` without `--agones`; else the
    /// sidecar, connected ([`Sidecar::connect`]). In cluster mode without
    /// `--public-url`, sets it to the GameServer's address
    /// ([`Sidecar::public_url`]).
    pub async fn for_config(config: &mut Config) -> anyhow::Result<Option<Self>> {
        if !config.agones {
            return Ok(None);
        }
        let within = config.agones_connect_timeout;
        let sidecar = Self::connect(within).await?;
        if config.redis.is_some() && config.public_url.is_none() {
            let url = sidecar.public_url(within).await?;
            tracing::info!(%url, "agones: the node's public URL is the GameServer's address");
            config.public_url = Some(url);
        }
        Ok(Some(sidecar))
    }

    /// Connects to the sidecar on `localhost` at the port in
    /// `AGONES_SDK_GRPC_PORT` (default [`DEFAULT_SDK_PORT`]); fails if it
    /// has not answered within `within` (the SDK gives up at 30 s itself).
    pub async fn connect(within: Duration) -> anyhow::Result<Self> {
        let port = match std::env::var("AGONES_SDK_GRPC_PORT") {
            Ok(port) => port.trim().parse().map_err(|_| {
                anyhow::anyhow!("AGONES_SDK_GRPC_PORT is `{port}`, not a port number")
            })?,
            Err(_) => DEFAULT_SDK_PORT,
        };
        let refused = || {
            format!(
                "--agones: the Agones SDK sidecar did not answer on localhost:{port} \
                 within {within:?} (is this a pod of an Agones GameServer, and is \
                 AGONES_SDK_GRPC_PORT right?)"
            )
        };
        let sdk = tokio::time::timeout(within, agones::Sdk::new(Some(port), None))
            .await
            .map_err(|_| anyhow::anyhow!(refused()))?
            .with_context(refused)?;
        tracing::info!(port, "agones: connected to the sidecar");
        Ok(Self { sdk, port })
    }

    /// The URL players reach this GameServer at: `http://ADDRESS:PORT` of
    /// its status, the first of its ports. Waits for the status to have
    /// them (a GameServer gets its address once its pod is scheduled), at
    /// most `within`.
    pub async fn public_url(&self, within: Duration) -> anyhow::Result<url::Url> {
        let deadline = Instant::now() + within;
        let mut sdk = self.sdk.clone();
        loop {
            let server = sdk
                .get_gameserver()
                .await
                .context("--agones: cannot read the GameServer from the sidecar")?;
            if let Some(url) = server.status.as_ref().and_then(status_url) {
                return Ok(url);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "--agones: the GameServer's status has no address and port after \
                 {within:?}: give --public-url"
            );
            tokio::time::sleep(ADDRESS_POLL).await;
        }
    }
}

/// `http://ADDRESS:PORT` of a GameServer's status: its address and its
/// first port (0 stands for the port the server bound, as in
/// `--public-url`). `None` while it has neither.
fn status_url(status: &agones::Status) -> Option<url::Url> {
    let address = status.address.trim();
    let port = u16::try_from(status.ports.first()?.port).ok()?;
    if address.is_empty() {
        return None;
    }
    let host = if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_owned()
    };
    crate::config::parse_public_url(&format!("http://{host}:{port}")).ok()
}

/// The server's side of Agones once it runs: the pings, Ready, the
/// label, and Shutdown.
pub(crate) struct Node {
    sidecar: Sidecar,
    /// The health pings' task from the start; the label's and the
    /// allocations' watch from Ready.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Ready was told.
    ready: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("sidecar", &self.sidecar)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The node of `sidecar`; says nothing to it yet.
    pub(crate) fn new(sidecar: Sidecar) -> Self {
        Self {
            sidecar,
            tasks: Mutex::new(Vec::new()),
            ready: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts the health pings, as the server starts: Agones checks them
    /// from the GameServer's `health.initialDelaySeconds` on, Ready or not
    /// (in cluster mode Ready waits for the node's registration).
    pub(crate) fn start(&self, shared: &Arc<Shared>) {
        let config = &shared.config;
        let health = health_pings(
            self.sidecar.sdk.clone(),
            Arc::clone(shared),
            config.agones_health_period,
            config.agones_stall_timeout,
        );
        self.tasks.lock().push(tokio::spawn(health));
    }

    /// Tells the sidecar the GameServer is Ready, and starts the label
    /// and the watch of allocations. Once: a second call does nothing.
    pub(crate) async fn ready(&self, shared: &Arc<Shared>) -> anyhow::Result<()> {
        if self.ready.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let mut sdk = self.sidecar.sdk.clone();
        sdk.ready()
            .await
            .context("--agones: the sidecar did not take Ready")?;
        self.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("agones: the GameServer is Ready");
        let allocated = Arc::new(tokio::sync::Notify::new());
        let allocations = watch_allocations(self.sidecar.sdk.clone(), Arc::clone(&allocated));
        let label = session_ready_label(self.sidecar.sdk.clone(), Arc::clone(shared), allocated);
        let mut tasks = self.tasks.lock();
        tasks.push(tokio::spawn(allocations));
        tasks.push(tokio::spawn(label));
        Ok(())
    }

    /// Tells the sidecar the GameServer shuts down (Agones then deletes
    /// it), and stops the pings and the label.
    pub(crate) async fn shutdown(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let mut sdk = self.sidecar.sdk.clone();
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, sdk.shutdown()).await {
            Ok(Ok(())) => tracing::info!("agones: told the sidecar the GameServer shuts down"),
            Ok(Err(error)) => tracing::warn!(%error, "agones: the sidecar did not take Shutdown"),
            Err(_) => tracing::warn!("agones: the sidecar did not answer Shutdown in time"),
        }
        for task in tasks {
            task.abort();
        }
    }
}

/// Pings the sidecar every `period` while no room has gone `stall`
/// without completing a tick.
async fn health_pings(sdk: agones::Sdk, shared: Arc<Shared>, period: Duration, stall: Duration) {
    let mut pings = sdk.health_check();
    let mut liveness = Liveness::new(stall);
    let mut stalled = false;
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let infos = shared.lobby.infos();
        let ticks = infos.iter().map(|info| {
            (
                info.match_id,
                info.tick.load(std::sync::atomic::Ordering::Relaxed),
            )
        });
        if let Some((id, idle)) = liveness.observe(ticks, Instant::now()) {
            if !stalled {
                let room = infos.iter().find(|i| i.match_id == id).map(|i| &i.name);
                tracing::error!(
                    ?room,
                    ?idle,
                    "agones: a room has stalled (no tick completed): no more health \
                     pings, Agones will mark the GameServer unhealthy"
                );
                stalled = true;
            }
            continue;
        }
        if stalled {
            tracing::info!("agones: every room ticks again: health pings resume");
            stalled = false;
        }
        match pings.try_send(()) {
            // Full: the sidecar has not taken the last ten yet.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Closed(())) => {
                // The health stream ended (the sidecar restarted): a new one.
                tracing::warn!("agones: the health stream to the sidecar ended; opening another");
                pings = sdk.health_check();
                let _ = pings.try_send(());
            }
        }
    }
}

/// Whether each room's tick moves on: the last tick seen of each room and
/// since when it is the same.
#[derive(Debug)]
struct Liveness {
    stall: Duration,
    rooms: HashMap<u64, (u64, Instant)>,
}

impl Liveness {
    fn new(stall: Duration) -> Self {
        Self {
            stall,
            rooms: HashMap::new(),
        }
    }

    /// Takes in every open room's id and last completed tick at `now`;
    /// returns the room that has been longest on the same tick, if that
    /// is `stall` or longer. A room first seen counts from `now`; a room
    /// gone is forgotten.
    fn observe(
        &mut self,
        rooms: impl IntoIterator<Item = (u64, u64)>,
        now: Instant,
    ) -> Option<(u64, Duration)> {
        let mut seen = HashMap::with_capacity(self.rooms.len());
        let mut worst: Option<(u64, Duration)> = None;
        for (id, tick) in rooms {
            let since = match self.rooms.get(&id) {
                Some(&(last, since)) if last == tick => since,
                _ => now,
            };
            seen.insert(id, (tick, since));
            let idle = now.saturating_duration_since(since);
            if idle >= self.stall && worst.is_none_or(|(_, w)| idle > w) {
                worst = Some((id, idle));
            }
        }
        self.rooms = seen;
        worst
    }
}

/// Watches the GameServer: each allocation (a new [`LAST_ALLOCATED`])
/// wakes `allocated`. Watches again after [`REWATCH`] if its stream ends.
async fn watch_allocations(mut sdk: agones::Sdk, allocated: Arc<tokio::sync::Notify>) {
    let mut last: Option<String> = None;
    loop {
        match sdk.watch_gameserver().await {
            Ok(mut stream) => {
                while let Ok(Some(server)) = stream.message().await {
                    let stamp = server
                        .object_meta
                        .and_then(|mut meta| meta.annotations.remove(LAST_ALLOCATED));
                    if stamp.is_some() && stamp != last {
                        tracing::info!(at = ?stamp, "agones: the GameServer was allocated");
                        allocated.notify_one();
                    }
                    last = stamp;
                }
            }
            Err(error) => tracing::debug!(%error, "agones: cannot watch the GameServer"),
        }
        tokio::time::sleep(REWATCH).await;
    }
}

/// Sets the label [`SESSION_READY_LABEL`] to the node's spare capacity
/// every time it changes (looked at every [`LABEL_POLL`]), and after every
/// allocation (woken by `allocated`: the allocation may have set it).
async fn session_ready_label(
    mut sdk: agones::Sdk,
    shared: Arc<Shared>,
    allocated: Arc<tokio::sync::Notify>,
) {
    let mut sent: Option<bool> = None;
    let mut failing = false;
    let mut every = tokio::time::interval(LABEL_POLL);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = allocated.notified() => sent = None,
        }
        let spare = has_spare_capacity(&shared);
        if sent == Some(spare) {
            continue;
        }
        let value = if spare { "true" } else { "false" };
        match sdk.set_label(SESSION_READY_LABEL, value).await {
            Ok(()) => {
                tracing::debug!(value, "agones: label {SESSION_READY_LABEL}");
                sent = Some(spare);
                failing = false;
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "agones: cannot set the label {SESSION_READY_LABEL}");
                }
                failing = true;
                sent = None;
            }
        }
    }
}

/// Whether the node could take one more player now: not draining nor
/// shutting down, and [`Capacity::spare`] of its rooms.
fn has_spare_capacity(shared: &Shared) -> bool {
    if *shared.shutdown.borrow()
        || shared.lobby.is_draining()
        || shared.cluster.as_ref().is_some_and(|c| c.is_draining())
    {
        return false;
    }
    let capacity = Capacity {
        max_players: shared.config.max_connections,
        max_rooms: shared.config.max_rooms,
    };
    let rooms = shared.lobby.occupancy();
    capacity.spare(
        rooms
            .iter()
            .map(|(_, seats, info)| (*seats, info.max_players)),
    )
}

/// A node's limits, as the cluster's placement counts them.
#[derive(Clone, Copy, Debug)]
struct Capacity {
    /// Most players (`--max-connections`).
    max_players: usize,
    /// Most rooms (`--max-rooms`).
    max_rooms: usize,
}

impl Capacity {
    /// Whether one more player fits, given every open room's seats and
    /// player limit: fewer players than the limit, and a free seat in a
    /// room or a room more allowed.
    fn spare(self, rooms: impl IntoIterator<Item = (usize, usize)>) -> bool {
        let (mut players, mut count, mut free_seat) = (0, 0, false);
        for (seats, limit) in rooms {
            players += seats;
            count += 1;
            free_seat |= seats < limit;
        }
        players < self.max_players && (free_seat || count < self.max_rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(address: &str, ports: &[i32]) -> agones::Status {
        agones::Status {
            address: address.to_owned(),
            ports: ports
                .iter()
                .map(|&port| agones::Port {
                    name: "default".to_owned(),
                    port,
                })
                .collect(),
            ..agones::Status::default()
        }
    }

    #[test]
    fn the_public_url_is_the_status_address_and_first_port() {
        let url = |address, ports: &[i32]| status_url(&status(address, ports)).map(String::from);
        assert_eq!(
            url("10.0.0.7", &[7345, 7346]).as_deref(),
            Some("http://10.0.0.7:7345/")
        );
        assert_eq!(
            url("node-1.example", &[7000]).as_deref(),
            Some("http://node-1.example:7000/")
        );
        assert_eq!(
            url("fd00::7", &[7000]).as_deref(),
            Some("http://[fd00::7]:7000/")
        );
        assert_eq!(url("", &[7000]), None, "not scheduled yet");
        assert_eq!(url("10.0.0.7", &[]), None, "no port yet");
        assert_eq!(url("10.0.0.7", &[70_000]), None);
        assert_eq!(url("10.0.0.7", &[-1]), None);
    }

    #[test]
    fn a_room_that_stops_ticking_is_stalled_after_the_timeout() {
        let stall = Duration::from_secs(5);
        let mut liveness = Liveness::new(stall);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(liveness.observe([(1, 10), (2, 0)], at(0)), None);
        // Room 1 ticks on, room 2 stays on tick 0.
        assert_eq!(liveness.observe([(1, 70), (2, 0)], at(2)), None);
        assert_eq!(liveness.observe([(1, 130), (2, 0)], at(4)), None);
        assert_eq!(
            liveness.observe([(1, 190), (2, 0)], at(6)),
            Some((2, Duration::from_secs(6)))
        );
        // It ticks again: live.
        assert_eq!(liveness.observe([(1, 250), (2, 1)], at(8)), None);
        // A room that closed is forgotten; a new one counts from now.
        assert_eq!(liveness.observe([(3, 0)], at(20)), None);
        assert_eq!(liveness.observe([(3, 0)], at(24)), None);
        assert_eq!(
            liveness.observe([(3, 0)], at(25)),
            Some((3, Duration::from_secs(5)))
        );
        // No room: nothing to stall.
        assert_eq!(liveness.observe([], at(60)), None);
    }

    #[test]
    fn spare_capacity_counts_seats_rooms_and_players() {
        let capacity = Capacity {
            max_players: 10,
            max_rooms: 2,
        };
        assert!(capacity.spare([]), "an empty node");
        assert!(capacity.spare([(3, 4)]), "a free seat");
        assert!(capacity.spare([(4, 4)]), "room for another room");
        assert!(
            capacity.spare([(4, 4), (3, 4)]),
            "a free seat in the second"
        );
        assert!(
            !capacity.spare([(4, 4), (4, 4)]),
            "every room full, no more rooms"
        );
        let few_players = Capacity {
            max_players: 6,
            max_rooms: 5,
        };
        assert!(few_players.spare([(4, 8), (1, 8)]));
        assert!(
            !few_players.spare([(4, 8), (2, 8)]),
            "--max-connections reached"
        );
    }
}
