//! Tickwire's server: HTTP and WebSocket sessions, rooms, the tick loop and
//! the sockets the snapshots go out on.
//!
//! The server is the glue between the simulation crate (which runs a match
//! and knows nothing of the network) and the protocol crate (which decides
//! what each player is sent, as bytes, and knows nothing of sockets). It is a
//! library so that tests, benches and embedding programs can start it
//! in-process. [`run`] makes a whole game server binary of any game built
//! from its config (`tickwire_sim::Configure`): flags, logging, graceful
//! shutdown, recording and a `replay` subcommand; the `tickwire` binary is
//! [`Games`] with the bundled arena and bench game.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let config = tickwire::Config::default();
//! let game = tickwire::bundled("arena", tickwire::BundledOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = tickwire::Server::start(config, listener, game)?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await; // close 1001 to every player, then return
//! # Ok(()) }
//! ```
//!
//! Modules (private but for [`config`], [`bundled`](mod@bundled),
//! [`admission`], [`ticket`] and [`cluster`]), in the order a connection
//! meets them:
//! `accept` (the limits before the upgrade), `http` (routes, the upgrade's checks, the admin address),
//! `page` (the SDK at `/sdk/` and the game's [`Page`] at `/`), [`admission`]
//! (who may connect: the hook and the ticket check), [`ticket`] (signed
//! join tickets, and how a backend issues them), `resume` (the tokens
//! that take a dropped player's held seat back), `session` (one
//! player's connection: its reader and writer tasks, the rate limit, every
//! close), `lobby` (rooms, matchmaking, seats, each room's phase on the
//! tick grid), `room` (one match: its timing, its commands, and the sink
//! through which the protocol's replication core reaches the players'
//! outboxes), `frame` (server frames as bytes), `outbox` (a socket's write
//! half and its latest-wins snapshot slot), `wire` (control messages to
//! and from the protocol), `stats` (metrics and tick-time histograms); and
//! around them [`config`] (every flag of the server), `game` (any
//! `Configure` game as a [`GameFactory`], recording its matches), `app` (the
//! one-call binary: [`run`], [`Games`]) and [`bundled`](mod@bundled) (the
//! bundled games). [`cluster`] is cluster mode (`--redis`): the node's
//! heartbeat, placement and routing through Redis. `agones` (public, with
//! the `agones` feature) is the node as an Agones GameServer (`--agones`):
//! Ready, health, spare capacity and Shutdown told to the pod's sidecar.
//! One tick is told step by step in `docs/architecture.md`.

mod accept;
pub mod admin;
pub mod admission;
#[cfg(feature = "agones")]
pub mod agones;
mod app;
pub mod bundled;
pub mod cluster;
pub mod config;
mod frame;
mod game;
mod http;
mod lobby;
mod malloc;
mod name;
mod outbox;
mod page;
pub mod replay;
mod resume;
mod room;
mod session;
mod stats;
pub mod ticket;
mod wire;

/// The server's insides that the benches in `benches/` drive directly (the
/// room's tick, the outbox, the framing), behind the `bench` feature: they
/// are not part of the library's API.
#[cfg(feature = "bench")]
pub mod bench {
    /// The WebSocket framing of snapshot messages.
    pub mod frame {
        pub use crate::frame::{begin, finish, push};
    }
    pub use crate::outbox::{Offered, Outbox};
    pub use crate::room::{Outboxes, PlayerLink, Room, RoomInfo, RoomSettings, Spectating};
    pub use crate::stats::{TickTimes, prometheus};
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tickwire_sim::Simulation;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

pub use admission::Admission;
pub use app::{GameFlags, Games, ReplayVerdict, run, run_with_page};
pub use bundled::{BundledOptions, bundled};
pub use config::{Config, LogFormat};
pub use game::{Configured, GameOptions, factory};
pub use page::Page;
pub use room::{PlayerSummary, RoomSummary};
/// rust-embed, for [`page!`]: a game crate embeds its page without a
/// dependency of its own.
#[doc(hidden)]
pub use rust_embed;

/// How long shutdown waits for players to get their close frame and for
/// rooms to finish (their records written) before returning anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Makes the matches a server's rooms run. The bundled games implement it
/// in [`bundled`](mod@bundled); a game developer can hand the server their own.
pub trait GameFactory: Send + Sync + 'static {
    /// The game's name, shown in `/api/rooms`.
    fn name(&self) -> &str;
    /// A fresh match for room `room`; `serial` counts rooms from 1 and may
    /// seed the match.
    fn new_match(&self, room: &str, serial: u64) -> anyhow::Result<Box<dyn Simulation>>;
    /// Most players in one room unless `--max-room-players` says
    /// otherwise. Default: 64.
    fn room_player_limit(&self) -> usize {
        64
    }
    /// A fresh match, as [`GameFactory::new_match`], and the file it is
    /// recorded into, if it is (`--record`): the operator console links
    /// it. The default records nothing.
    fn open_match(
        &self,
        room: &str,
        serial: u64,
    ) -> anyhow::Result<(Box<dyn Simulation>, Option<std::path::PathBuf>)> {
        Ok((self.new_match(room, serial)?, None))
    }
    /// A match continued from `snapshot` (`Simulation::save`'s bytes of a
    /// match of this game, taken on another node): a cluster's failover.
    /// The default refuses, for a game without snapshots.
    fn restore_match(&self, room: &str, snapshot: &[u8]) -> anyhow::Result<Box<dyn Simulation>> {
        let _ = (room, snapshot);
        anyhow::bail!("the game `{}` does not take snapshots", self.name())
    }
    /// Called with the finished match when a room closes (to write its
    /// record, for instance). The default drops it.
    fn match_over(&self, room: &str, sim: Box<dyn Simulation>) {
        let _ = (room, sim);
    }
}

/// What every connection and room task shares.
pub struct Shared {
    /// The configuration the server started with.
    pub config: Config,
    /// The game's name.
    pub game_name: String,
    /// Rooms and matchmaking.
    pub lobby: Arc<lobby::Lobby>,
    /// One permit per open WebSocket connection.
    pub connections: Arc<Semaphore>,
    /// Flips to `true` when shutdown begins.
    pub shutdown: watch::Receiver<bool>,
    /// Cloned by every session; shutdown waits until all clones are gone.
    /// `None` once shutdown began.
    pub alive: Mutex<Option<mpsc::Sender<()>>>,
    /// Who may connect, and the cached room list.
    pub front: http::Front,
    /// Resume tokens and the reconnect grace.
    pub resumes: Arc<resume::Resumes>,
    /// This node of a cluster, with `--redis`.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("game", &self.game_name)
            .field("lobby", &self.lobby)
            .finish_non_exhaustive()
    }
}

/// A running server. Dropping it without [`Server::shutdown`] leaves it
/// running until the runtime ends.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    admin: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    done: mpsc::Receiver<()>,
    acceptor: tokio::task::JoinHandle<()>,
    /// The allocator's trims (`--malloc-trim-every`), if on.
    trimmer: Option<tokio::task::JoinHandle<()>>,
    /// The Agones GameServer this node is, with `--agones`.
    #[cfg(feature = "agones")]
    agones: Option<agones::Node>,
}

/// A server not started yet, to give it what the config cannot hold (an
/// [`Admission`] hook): `Server::builder(config, game).admission(hook).start(listener)`.
pub struct ServerBuilder {
    config: Config,
    game: Arc<dyn GameFactory>,
    admission: Option<Arc<dyn Admission>>,
    page: Page,
    #[cfg(feature = "agones")]
    agones: Option<agones::Sidecar>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("game", &self.game.name())
            .field("admission", &self.admission)
            .field("page", &self.page)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Asks `hook` about every upgrade, after the ticket check if there is
    /// one (see [`admission`]).
    #[must_use]
    pub fn admission(mut self, hook: Arc<dyn Admission>) -> Self {
        self.admission = Some(hook);
        self
    }

    /// Serves `page` at `/` (default: [`Page::minimal`]); `--client-dir`
    /// wins over it.
    #[must_use]
    pub fn page(mut self, page: Page) -> Self {
        self.page = page;
        self
    }

    /// Makes the server the Agones GameServer of `sidecar` (connected by
    /// [`agones::Sidecar::for_config`], which `--agones` asks for): Ready
    /// at [`Server::ready`], then health pings and the session-ready
    /// label, and Shutdown at the end of [`Server::shutdown`].
    #[cfg(feature = "agones")]
    #[must_use]
    pub fn agones(mut self, sidecar: agones::Sidecar) -> Self {
        self.agones = Some(sidecar);
        self
    }

    /// Starts serving on `listener` (and on `--admin-bind`, if set). Must be
    /// called inside a tokio runtime. Fails if the admin address cannot be
    /// bound, the ticket secret cannot be read, `--client-dir` is not a
    /// folder, or `--agones` is given without a sidecar.
    pub fn start(self, listener: TcpListener) -> anyhow::Result<Server> {
        Server::launch(self, listener)
    }
}

impl Server {
    /// Starts serving `game` on `listener` (and on `--admin-bind`, if set),
    /// with the SDK's generic page at `/` (see [`ServerBuilder::page`]).
    /// Must be called inside a tokio runtime.
    pub fn start(
        config: Config,
        listener: TcpListener,
        game: Arc<dyn GameFactory>,
    ) -> anyhow::Result<Self> {
        Self::builder(config, game).start(listener)
    }

    /// A server of `game` to start once given more than its config.
    pub fn builder(config: Config, game: Arc<dyn GameFactory>) -> ServerBuilder {
        ServerBuilder {
            config,
            game,
            admission: None,
            page: Page::minimal(),
            #[cfg(feature = "agones")]
            agones: None,
        }
    }

    fn launch(builder: ServerBuilder, listener: TcpListener) -> anyhow::Result<Self> {
        let ServerBuilder {
            mut config,
            game,
            admission,
            page,
            #[cfg(feature = "agones")]
            agones,
        } = builder;
        #[cfg(feature = "agones")]
        let agones = match agones {
            Some(sidecar) => Some(agones::Node::new(sidecar)),
            None if config.agones => anyhow::bail!(
                "--agones: connect the sidecar first (`tickwire::agones::Sidecar::for_config`) \
                 and give it to `ServerBuilder::agones`"
            ),
            None => None,
        };
        #[cfg(not(feature = "agones"))]
        anyhow::ensure!(
            !config.agones,
            "--agones: this server was built without Agones support; build it with \
             `--features agones` (its build needs protoc: apt-get install \
             protobuf-compiler libprotobuf-dev)"
        );
        let local_addr = listener.local_addr()?;
        if config.admin_token.is_none()
            && let Some(path) = &config.admin_token_file
        {
            config.admin_token = Some(config::read_secret_file(path, "admin token")?);
        }
        if config
            .admin_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().is_empty())
        {
            anyhow::bail!("the admin token is empty");
        }
        let front = http::Front::new(&config, admission, page)?;
        let resumes = Arc::new(resume::Resumes::from_config(&config)?);
        let admin_listener = match config.admin_bind {
            Some(addr) => Some(bind_now(addr)?),
            None => None,
        };
        if stats::prometheus().is_some() {
            stats::zero_series(&session::close_labels(), config.redis.is_some());
        }
        let room_limit = config
            .max_room_players
            .unwrap_or_else(|| game.room_player_limit());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (alive, done) = mpsc::channel(1);
        let game_name = game.name().to_owned();
        let lobby = Arc::new(
            lobby::Lobby::new(game, room_limit, config.max_catch_up, alive.clone())
                .with_bandwidth_budget(config.bandwidth_budget)
                .with_max_rooms(config.max_rooms)
                .with_resumes(Arc::clone(&resumes))
                .with_spectating(room::Spectating {
                    max: config.max_spectators,
                    delay: config.spectator_delay,
                    max_rect: config.max_spectator_rect,
                })
                .with_room_runtime(lobby::RoomRuntime::new(usize::from(config.room_threads))?),
        );
        let cluster = match cluster::Settings::from_config(&config, local_addr)? {
            Some(settings) => Some(Arc::new(cluster::Cluster::new(
                settings,
                Arc::clone(&lobby),
                room_limit,
                &config,
            )?)),
            None => None,
        };
        let shared = Arc::new(Shared {
            game_name,
            lobby,
            connections: Arc::new(Semaphore::new(config.max_connections)),
            shutdown: shutdown_rx,
            alive: Mutex::new(Some(alive)),
            front,
            resumes,
            cluster,
            config,
        });
        if let Some(cluster) = &shared.cluster {
            cluster.start();
        }
        #[cfg(feature = "agones")]
        if let Some(agones) = &agones {
            agones.start(&shared);
        }
        let acceptor = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let admin = admin_listener.map(|l| tokio::spawn(admin_loop(l, Arc::clone(&shared))));
        let trim_every = shared.config.malloc_trim_every;
        if !malloc::TRIMS && !trim_every.is_zero() {
            tracing::info!(
                "--malloc-trim-every does nothing: the server is built with jemalloc, \
                 which gives its free pages back by itself"
            );
        }
        let trimmer = (malloc::TRIMS && !trim_every.is_zero())
            .then(|| tokio::spawn(malloc::trim_every(trim_every)));
        Ok(Self {
            local_addr,
            admin_addr,
            admin,
            shared,
            shutdown: shutdown_tx,
            done,
            acceptor,
            trimmer,
            #[cfg(feature = "agones")]
            agones,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin address (`--admin-bind`), if the server has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Every room, as `/api/rooms?players=1` shows it: the inspection hook
    /// for tests and embedders.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        self.shared.lobby.summaries(true)
    }

    /// This node's id, in cluster mode (`--redis`).
    pub fn cluster_node(&self) -> Option<&str> {
        self.shared.cluster.as_deref().map(cluster::Cluster::node)
    }

    /// In cluster mode, waits until the node has registered in Redis (at
    /// most [`cluster::READY_TIMEOUT`]); at once otherwise. Then, with
    /// Agones, tells the sidecar the GameServer is Ready.
    pub async fn ready(&self) -> anyhow::Result<()> {
        if let Some(cluster) = &self.shared.cluster {
            cluster.ready().await?;
        }
        #[cfg(feature = "agones")]
        if let Some(agones) = &self.agones {
            agones.ready(&self.shared).await?;
        }
        Ok(())
    }

    /// Whether [`Server::drain`] waits for anything: in cluster mode and
    /// with Agones. The binary drains on SIGTERM when it does.
    pub fn drains(&self) -> bool {
        #[cfg(feature = "agones")]
        if self.agones.is_some() {
            return true;
        }
        self.shared.cluster.is_some()
    }

    /// In cluster mode, drains the node: no new placement on it, and waits
    /// (at most `--drain-timeout`) for its rooms to empty. With Agones
    /// alone, admits no new player (resumes still are) and waits the same.
    /// At once otherwise. [`Server::shutdown`] follows.
    pub async fn drain(&self) {
        if let Some(cluster) = &self.shared.cluster {
            cluster.drain().await;
        } else if self.drains() {
            let timeout = self.shared.config.drain_timeout;
            tracing::info!(?timeout, "draining: no new player on this server");
            self.shared.lobby.drain();
            if rooms_emptied(&self.shared.lobby, timeout).await {
                tracing::info!("drained: every room has emptied");
            } else {
                tracing::warn!("drain timed out; closing the rooms left");
            }
        }
    }

    /// Stops accepting, sends close 1001 to every player, and waits (at
    /// most [`SHUTDOWN_GRACE`]) for every session and room to finish.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        self.acceptor.abort();
        if let Some(cluster) = &self.shared.cluster {
            // Out of the cluster first, so no one is placed here any more.
            cluster.leave().await;
        }
        if let Some(admin) = &self.admin {
            admin.abort();
        }
        if let Some(trimmer) = &self.trimmer {
            trimmer.abort();
        }
        let _ = self.shutdown.send(true);
        self.shared.alive.lock().take();
        self.shared.lobby.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.done.recv())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not finish within the shutdown grace period");
        }
        #[cfg(feature = "agones")]
        if let Some(agones) = &self.agones {
            agones.shutdown().await;
        }
    }
}

/// Waits until `lobby` has no room open, at most `timeout`; whether it
/// came to that.
async fn rooms_emptied(lobby: &lobby::Lobby, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !lobby.infos().is_empty() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// Runs a server of `game` until `shutdown` resolves, then shuts it down
/// gracefully.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    game: Arc<dyn GameFactory>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = Server::start(config, listener, game)?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let limits = accept::Limits::new(&shared.config);
    let mut backoff = accept::Backoff::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(error) => {
                // Out of file descriptors, mostly: back off instead of spinning.
                tokio::time::sleep(backoff.failed(&error)).await;
                continue;
            }
        };
        let accept::Admitted { pending, address } = match limits.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(refused) => {
                refused.answer(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let handshake_timeout = shared.config.handshake_timeout;
        let max_header_bytes = shared.config.max_header_bytes;
        tokio::spawn(async move {
            // A connection that sends nothing costs no HTTP state: hyper's
            // buffers wait for the first byte, within the same timeout.
            let accepted = tokio::time::Instant::now();
            if tokio::time::timeout(handshake_timeout, stream.readable())
                .await
                .is_err()
            {
                metrics::counter!(stats::HTTP_HEAD_REFUSED, "reason" => "header_timeout")
                    .increment(1);
                return;
            }
            let handshake_timeout = handshake_timeout
                .saturating_sub(accepted.elapsed())
                .max(Duration::from_millis(1));
            // The address hold rides into the session with the upgrade
            // request (see `http`); the pending permit ends with this task.
            let service = service_fn(move |mut req| {
                if let Some(address) = &address {
                    req.extensions_mut().insert(Arc::clone(address));
                }
                http::route(req, Arc::clone(&shared), peer)
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Some(handshake_timeout))
                .max_buf_size(max_header_bytes)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                accept::count_http_error(&error);
                tracing::debug!(%peer, %error, "http connection ended with an error");
            }
            drop(pending);
        });
    }
}

/// Binds `addr` from synchronous code (inside the runtime): the admin
/// address is bound before `start` returns, so a bad one fails the start.
fn bind_now(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on the admin address {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(TcpListener::from_std(listener)?)
}

/// Serves the admin address (`--admin-bind`): operators' routes only
/// (`http::admin_route`), one task per connection, headers within the
/// handshake timeout.
async fn admin_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let header_timeout = shared.config.handshake_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |req| http::admin_route(req, Arc::clone(&shared)));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Some(header_timeout))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "admin connection ended with an error");
            }
        });
    }
}
