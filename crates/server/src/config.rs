//! The server's configuration: every flag, its environment variable, its
//! default and its unit.
//!
//! [`Config`] is both the clap command line of the `tickwire` binary and the
//! plain struct that tests and embedders fill in (it implements `Default`),
//! so a limit added here is a flag, an environment variable and a field at
//! once. `docs/operations.md` lists every one of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything the server needs to start, whatever game it serves. Each
/// field is a flag (`--bind`) and an environment variable (`TICKWIRE_BIND`);
/// flags win. The game flags (`--config`, `--record`, ...) are
/// [`GameFlags`](crate::GameFlags), added by [`run`](crate::run).
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "TICKWIRE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Most snapshot bytes per second per player that sees a view (off by
    /// default). Over it, the changes nearest the player go first and the
    /// rest wait, gaining priority each tick until they are sent.
    #[arg(long, env = "TICKWIRE_BANDWIDTH_BUDGET", value_parser = clap::value_parser!(u64).range(1..))]
    pub bandwidth_budget: Option<u64>,

    /// Most players in one room; default: the game's own limit
    /// (`Game::max_players`, through `GameFactory::room_player_limit`).
    /// A join over it is refused with close code 1013.
    #[arg(long, env = "TICKWIRE_MAX_ROOM_PLAYERS")]
    pub max_room_players: Option<usize>,

    /// Most open WebSocket connections; over it `/ws` answers HTTP 503.
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most accepted connections that have not (yet) upgraded to a
    /// WebSocket: HTTP requests in progress, idle keep-alive connections,
    /// clients still sending their headers. Over it a new connection is
    /// answered 503 and closed at once. An upgraded connection counts under
    /// `--max-connections` instead.
    #[arg(long, env = "TICKWIRE_MAX_PENDING_CONNECTIONS", default_value_t = 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_pending_connections: usize,

    /// Most connections from one address, pending and upgraded together
    /// (IPv6 addresses count by their /64); over it a new connection is
    /// answered 503 and closed at once. 0: no cap. Loopback peers are exempt
    /// unless `--limit-loopback` is given.
    #[arg(
        long,
        env = "TICKWIRE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 64
    )]
    pub max_connections_per_address: usize,

    /// Apply `--max-connections-per-address` to loopback peers too. Off by
    /// default: local tests, the swarm's thousands of bots and a reverse
    /// proxy on the same host all connect from loopback.
    #[arg(long, env = "TICKWIRE_LIMIT_LOOPBACK")]
    pub limit_loopback: bool,

    /// Most bytes of one request's head (request line and headers); over it
    /// the request is answered 431 and the connection closed. At least 8192.
    #[arg(long, env = "TICKWIRE_MAX_HEADER_BYTES", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8192..))]
    pub max_header_bytes: usize,

    /// Most open rooms; a join that would open one more is refused with
    /// close code 1013 (protocol error 4004).
    #[arg(long, env = "TICKWIRE_MAX_ROOMS", default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_rooms: usize,

    /// Largest client message in bytes; over it the socket is closed with 1009.
    #[arg(long, env = "TICKWIRE_MAX_MESSAGE_SIZE", default_value_t = 64 * 1024)]
    pub max_message_size: usize,

    /// Frames a player may send per second, of every kind: inputs, chat,
    /// acks, pings, joins, WebSocket pings, pongs and closes, fragments
    /// (a burst of one second's worth is allowed). The excess is dropped
    /// unread and counted; a real client sends about 70 a second.
    #[arg(long, env = "TICKWIRE_MAX_FRAMES_PER_SECOND", default_value_t = 240)]
    pub max_frames_per_second: u32,

    /// Inputs a player may send per second (a burst of one second's worth is
    /// allowed), within the frame budget; the excess is dropped and counted.
    #[arg(long, env = "TICKWIRE_MAX_INPUTS_PER_SECOND", default_value_t = 120)]
    pub max_inputs_per_second: u32,

    /// Chat lines a player may send per second, within the frame budget;
    /// the excess is dropped and counted.
    #[arg(long, env = "TICKWIRE_MAX_CHAT_PER_SECOND", default_value_t = 2)]
    pub max_chat_per_second: u32,

    /// Chat lines a player may send at once, before `--max-chat-per-second`
    /// applies: each line goes to every player in the room.
    #[arg(long, env = "TICKWIRE_CHAT_BURST", default_value_t = 5)]
    pub chat_burst: u32,

    /// Seconds of sustained flooding (frames or inputs over their budget,
    /// dropped with no pause of a second) after which the socket is closed
    /// with 1008.
    #[arg(long, env = "TICKWIRE_FLOOD_SECONDS", default_value_t = 3)]
    pub flood_seconds: u32,

    /// Seconds a client has to send its HTTP request headers (each request's,
    /// on a kept-alive connection too) and complete the WebSocket upgrade;
    /// a connection that sends nothing is closed after it.
    #[arg(long, env = "TICKWIRE_HANDSHAKE_TIMEOUT", value_parser = parse_secs, default_value = "10")]
    pub handshake_timeout: Duration,

    /// Seconds without any frame from a client before it is closed (1001 is
    /// not used: the close code is 1008). The server pings at a third of it.
    #[arg(long, env = "TICKWIRE_IDLE_TIMEOUT", value_parser = parse_secs, default_value = "30")]
    pub idle_timeout: Duration,

    /// Seconds a socket may stay unwritable (one frame write not completing)
    /// before it is dropped. Until then a slow socket skips stale snapshots.
    #[arg(long, env = "TICKWIRE_OUTBOX_LAG", value_parser = parse_secs, default_value = "10")]
    pub outbox_lag: Duration,

    /// Seconds a player's seat and avatar are held after its connection
    /// drops without a leave (a network drop, not a close with code 1000,
    /// nor a close for misbehaviour), for it to resume with its token
    /// (`/ws?resume=...`); the game is told (`Game::dropped`: by default
    /// the avatar idles). A held seat counts toward the room's limit and
    /// keeps the room open. After it, the player leaves. 0: never held (a
    /// drop is a leave, and welcomes carry no token).
    #[arg(long, env = "TICKWIRE_RECONNECT_GRACE", value_parser = parse_secs_or_zero, default_value = "20")]
    pub reconnect_grace: Duration,

    /// Seconds a resume token is good for after it is issued (at the join,
    /// and at each resume). A connection older than this that drops comes
    /// back as a new player.
    #[arg(long, env = "TICKWIRE_RESUME_TOKEN_LIFETIME", value_parser = parse_secs, default_value = "86400")]
    pub resume_token_lifetime: Duration,

    /// Seconds between two trims of the allocator: every this often a
    /// housekeeping task gives the pages glibc holds free in its arenas
    /// back to the system (`malloc_trim(0)`), so that the resident set of a
    /// server under churn levels off instead of creeping up with freed
    /// buffers of closed connections and rooms. Each trim's time is in
    /// `tickwire_malloc_trim_seconds`. 0: never (glibc keeps them). Does
    /// nothing off glibc, nor with the `jemalloc` feature (jemalloc gives
    /// its free pages back by itself; the server says so at start).
    #[arg(long, env = "TICKWIRE_MALLOC_TRIM_EVERY", value_parser = parse_secs_or_zero, default_value = "1")]
    pub malloc_trim_every: Duration,

    /// Catch-up ticks a late room may run back to back before it drops the
    /// remaining time (counted in `tickwire_catchup_ticks_dropped_total`).
    #[arg(long, env = "TICKWIRE_MAX_CATCH_UP", default_value_t = 4)]
    pub max_catch_up: u32,

    /// Worker threads of the server's runtime (0: one per core): HTTP and
    /// the players' sessions are tasks spread over them.
    #[arg(long, env = "TICKWIRE_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Threads of the rooms' own runtime, where every room ticks: work on
    /// the sessions' runtime (a flood of frames, say) cannot delay a tick.
    #[arg(long, env = "TICKWIRE_ROOM_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub room_threads: u16,

    /// Serve the game's page from this folder instead of the one built in,
    /// reading every file at every request, so an edit shows on reload
    /// (for developing a page). The SDK stays at `/sdk/`. A folder that
    /// does not exist stops the server at start-up.
    #[arg(long, env = "TICKWIRE_CLIENT_DIR", value_name = "DIR")]
    pub client_dir: Option<PathBuf>,

    /// Log line format.
    #[arg(long, env = "TICKWIRE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Agones: run as an Agones GameServer, talking to the sidecar of its
    /// pod (on `localhost`, the port in `AGONES_SDK_GRPC_PORT`, default
    /// 9357): Ready once listening, health pings while every room ticks,
    /// the label `agones.dev/sdk-gs-session-ready` set by spare capacity,
    /// Shutdown after the drain on SIGTERM; in cluster mode without
    /// `--public-url`, the node's URL from the GameServer's address and
    /// port (see `docs/deploy.md`). Needs a build with the `agones`
    /// feature; a sidecar that does not answer stops the start-up.
    #[arg(long, env = "TICKWIRE_AGONES", help_heading = "Agones")]
    pub agones: bool,

    /// Seconds between two health pings to the Agones sidecar; keep it
    /// under the GameServer's `health.periodSeconds`.
    #[arg(long, env = "TICKWIRE_AGONES_HEALTH_PERIOD", value_parser = parse_secs, default_value = "2", help_heading = "Agones")]
    pub agones_health_period: Duration,

    /// Seconds a room may go without completing a tick before the node
    /// stops its health pings (a stalled room: Agones then marks the
    /// GameServer unhealthy, after its `health.failureThreshold`).
    #[arg(long, env = "TICKWIRE_AGONES_STALL_TIMEOUT", value_parser = parse_secs, default_value = "5", help_heading = "Agones")]
    pub agones_stall_timeout: Duration,

    /// Seconds the start-up waits for the Agones sidecar to answer (and,
    /// when the node's URL comes from the GameServer, for its address)
    /// before it gives up with an error; the SDK gives up at 30 itself.
    #[arg(long, env = "TICKWIRE_AGONES_CONNECT_TIMEOUT", value_parser = parse_secs, default_value = "30", help_heading = "Agones")]
    pub agones_connect_timeout: Duration,

    /// A web origin (`https://game.example`) whose pages may open `/ws`,
    /// besides the server's own; repeatable (the environment variable:
    /// comma-separated). A browser's upgrade from any other origin is
    /// answered 403. Requests without an `Origin` header (not from a
    /// browser) are not checked.
    #[arg(long = "allowed-origin", env = "TICKWIRE_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// Shared secret of signed join tickets (at least 16 bytes): when set,
    /// every `/ws` must carry `?ticket=...` that a game backend signed with
    /// it (`tickwire::ticket::issue`, or `tickwire ticket`); its subject
    /// becomes the player's identity.
    #[arg(
        long,
        env = "TICKWIRE_TICKET_SECRET",
        hide_env_values = true,
        conflicts_with = "ticket_secret_file"
    )]
    pub ticket_secret: Option<Secret>,

    /// The ticket secret, read from this file (one trailing newline ignored).
    #[arg(long, env = "TICKWIRE_TICKET_SECRET_FILE")]
    pub ticket_secret_file: Option<PathBuf>,

    /// Bearer token of the operators (`Authorization: Bearer TOKEN`): it
    /// turns on the operator console at `/admin` and its JSON API at
    /// `/admin/api/` (404 without it), and `/api/rooms?players=1` asks for
    /// it; without it, player lists are never served on the public address.
    /// In cluster mode every node has the same one (actions are forwarded
    /// to a room's node with it).
    #[arg(
        long,
        env = "TICKWIRE_ADMIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "admin_token_file"
    )]
    pub admin_token: Option<Secret>,

    /// The admin token, read from this file (one trailing newline ignored).
    #[arg(long, env = "TICKWIRE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// A second address for operators: when set, `/metrics` and
    /// `/api/rooms?players=1` are served there only (the token, if set, is
    /// still asked for), and the public address answers 404 to `/metrics`.
    #[arg(long, env = "TICKWIRE_ADMIN_BIND")]
    pub admin_bind: Option<SocketAddr>,

    /// Most spectators in one room (`/ws?spectate=1`), apart from its
    /// players: a full room still admits spectators up to this. Over it a
    /// spectator is refused with close code 1013. 0: no spectators.
    #[arg(long, env = "TICKWIRE_MAX_SPECTATORS", default_value_t = 64)]
    pub max_spectators: usize,

    /// Seconds in the past spectators see the world (0: as players see it),
    /// so that a spectator cannot tell a player what the others do now. A
    /// room with spectators keeps that many ticks of its replicated state
    /// (and of its followed players' views) to send them; at most 60.
    #[arg(long, env = "TICKWIRE_SPECTATOR_DELAY", value_parser = parse_delay, default_value = "0")]
    pub spectator_delay: Duration,

    /// Largest side, in world units, of the rectangle a spectator may watch
    /// (`WatchTarget::Rect`); a larger side is shrunk about the
    /// rectangle's centre.
    #[arg(long, env = "TICKWIRE_MAX_SPECTATOR_RECT", default_value_t = 2000.0, value_parser = parse_units)]
    pub max_spectator_rect: f32,
    /// Cluster mode: the Redis server (`redis://host:6379/0`) that holds
    /// the cluster's nodes, rooms and placement (see `docs/scaling.md`).
    /// Needs `--public-url` and `--cluster-secret`. Without it the server
    /// runs alone and needs no Redis. Printed as `Secret(..)`: the URL may
    /// hold a password.
    #[arg(
        long,
        env = "TICKWIRE_REDIS",
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Cluster"
    )]
    pub redis: Option<Secret>,

    /// The URL players reach this node at, straight and not through a load
    /// balancer (`https://node-2.game.example`, `http://10.0.0.2:8080`):
    /// what matchmaking and redirects send them to. Cluster mode refuses
    /// to start without it. A port of 0 stands for the port the server
    /// bound (with `--bind ...:0`).
    #[arg(long, env = "TICKWIRE_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url, help_heading = "Cluster")]
    pub public_url: Option<url::Url>,

    /// This node's id in the cluster (1 to 64 of `A-Z a-z 0-9 - _ .`);
    /// default: a random one per start.
    #[arg(long, env = "TICKWIRE_NODE_ID", value_name = "ID", value_parser = parse_node_id, help_heading = "Cluster")]
    pub node_id: Option<String>,

    /// Shared secret of the cluster's seat tickets (at least 16 bytes), the
    /// same on every node: a node signs a player's ticket when it places
    /// the player, the room's node checks it.
    #[arg(
        long,
        env = "TICKWIRE_CLUSTER_SECRET",
        hide_env_values = true,
        conflicts_with = "cluster_secret_file",
        help_heading = "Cluster"
    )]
    pub cluster_secret: Option<Secret>,

    /// The cluster secret, read from this file (one trailing newline ignored).
    #[arg(long, env = "TICKWIRE_CLUSTER_SECRET_FILE", help_heading = "Cluster")]
    pub cluster_secret_file: Option<PathBuf>,

    /// Seconds between two heartbeats of this node to Redis: each renews
    /// the node's and its rooms' leases and writes their counts.
    #[arg(long, env = "TICKWIRE_HEARTBEAT", value_parser = parse_secs, default_value = "1", help_heading = "Cluster")]
    pub heartbeat: Duration,

    /// Seconds a node's and its rooms' keys live in Redis unless renewed
    /// by a heartbeat; at least two heartbeats. A node that stops (or loses
    /// Redis) for this long drops out of placement, and its rooms may be
    /// opened elsewhere.
    #[arg(long, env = "TICKWIRE_LEASE", value_parser = parse_secs, default_value = "3", help_heading = "Cluster")]
    pub lease: Duration,

    /// Seconds a seat ticket from matchmaking is good for (whole seconds):
    /// the player connects within it, once.
    #[arg(long, env = "TICKWIRE_SEAT_TICKET_TTL", value_parser = parse_whole_secs, default_value = "10", help_heading = "Cluster")]
    pub seat_ticket_ttl: Duration,

    /// Cluster mode: on SIGTERM, the node first drains (no new rooms or
    /// players are placed on it) for at most this many seconds, until its
    /// rooms have emptied; then it leaves the cluster and closes whoever is
    /// left with 1001. With `--agones` too (no new player admitted), before
    /// it reports Shutdown. A second SIGTERM or SIGINT stops waiting. Also how
    /// long an operator's drain (`POST /admin/api/drain`) waits, in any
    /// mode, before it closes the rooms left.
    #[arg(long, env = "TICKWIRE_DRAIN_TIMEOUT", value_parser = parse_secs, default_value = "30", help_heading = "Cluster")]
    pub drain_timeout: Duration,

    /// Cluster mode, failover: every room of a game that takes snapshots
    /// writes its full state to Redis every this many ticks (default: the
    /// tick rate, a second's worth), and each tick's inputs, joins and
    /// leaves in between; a room whose node dies is continued from them
    /// on another node (`docs/scaling.md`). 0: no failover.
    #[arg(
        long,
        env = "TICKWIRE_SNAPSHOT_EVERY",
        value_name = "TICKS",
        help_heading = "Cluster"
    )]
    pub snapshot_every: Option<u32>,

    /// Cluster mode, failover: seconds a room's snapshot and input log
    /// live in Redis unless written again (whole seconds, at least two
    /// leases): how long after its node's death a room can still be
    /// continued.
    #[arg(long, env = "TICKWIRE_ROOM_STATE_TTL", value_parser = parse_whole_secs, default_value = "30", help_heading = "Cluster")]
    pub room_state_ttl: Duration,

    /// Cluster mode, failover: the longest a room waits, each tick, for
    /// Redis to confirm the tick's inputs before it sends the tick's
    /// snapshots, so that no input a player saw acknowledged is lost with
    /// the node. A room whose wait runs out sends anyway (counted) and
    /// stops waiting until Redis has caught up.
    #[arg(long, env = "TICKWIRE_JOURNAL_WAIT", value_parser = parse_secs_or_zero, default_value = "0.05", help_heading = "Cluster")]
    pub journal_wait: Duration,
}

/// The secret in the file at `path` (one trailing newline ignored), `what`
/// naming it in the error.
pub(crate) fn read_secret_file(path: &std::path::Path, what: &str) -> anyhow::Result<Secret> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Secret::new(text.strip_suffix('\r').unwrap_or(text)))
}

/// A secret from the command line or the environment: printed as
/// `Secret(..)`, so a logged config does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("a secret cannot be empty".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Parses a web origin: `http` or `https`, a host, maybe a port, nothing
/// after; kept lowercase without a trailing `/`, as browsers send it.
fn parse_origin(s: &str) -> Result<String, String> {
    let origin = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("`{s}` is not an origin: it starts with http:// or https://"))?;
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "`{s}` is not an origin: a scheme and a host (and a port), nothing else"
        ));
    }
    Ok(origin)
}

impl Default for Config {
    fn default() -> Self {
        // Must equal the command line with no arguments; a test checks it.
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bandwidth_budget: None,
            max_room_players: None,
            max_connections: 10_000,
            max_pending_connections: 1024,
            max_connections_per_address: 64,
            limit_loopback: false,
            max_header_bytes: 16 * 1024,
            max_rooms: 10_000,
            max_message_size: 64 * 1024,
            max_frames_per_second: 240,
            max_inputs_per_second: 120,
            max_chat_per_second: 2,
            chat_burst: 5,
            flood_seconds: 3,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            outbox_lag: Duration::from_secs(10),
            reconnect_grace: Duration::from_secs(20),
            resume_token_lifetime: Duration::from_secs(86_400),
            malloc_trim_every: Duration::from_secs(1),
            max_catch_up: 4,
            threads: 0,
            room_threads: 1,
            client_dir: None,
            log_format: LogFormat::Text,
            agones: false,
            agones_health_period: Duration::from_secs(2),
            agones_stall_timeout: Duration::from_secs(5),
            agones_connect_timeout: Duration::from_secs(30),
            allowed_origins: Vec::new(),
            ticket_secret: None,
            ticket_secret_file: None,
            admin_token: None,
            admin_token_file: None,
            admin_bind: None,
            max_spectators: 64,
            spectator_delay: Duration::ZERO,
            max_spectator_rect: 2000.0,
            redis: None,
            public_url: None,
            node_id: None,
            cluster_secret: None,
            cluster_secret_file: None,
            heartbeat: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            seat_ticket_ttl: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            snapshot_every: None,
            room_state_ttl: Duration::from_secs(30),
            journal_wait: Duration::from_millis(50),
        }
    }
}

/// Parses seconds, fractions allowed (`0.5`), zero allowed (off).
fn parse_secs_or_zero(s: &str) -> Result<Duration, String> {
    if s.parse::<f64>().is_ok_and(|secs| secs == 0.0) {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

/// Longest `--spectator-delay`: what a room keeps per tick of it is its
/// whole replicated state.
pub const MAX_SPECTATOR_DELAY: Duration = Duration::from_secs(60);

/// Parses a delay in seconds, fractions allowed: 0 to
/// [`MAX_SPECTATOR_DELAY`].
fn parse_delay(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let max = MAX_SPECTATOR_DELAY.as_secs_f64();
    if !secs.is_finite() || !(0.0..=max).contains(&secs) {
        return Err(format!("`{s}` must be between 0 and {max} seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a length in world units: finite and positive.
fn parse_units(s: &str) -> Result<f32, String> {
    let units: f32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of world units"))?;
    if !units.is_finite() || units <= 0.0 {
        return Err(format!("`{s}` must be a positive number of world units"));
    }
    Ok(units)
}

/// Parses a node's public URL: `http` or `https`, a host, maybe a port
/// and a path, nothing after; kept without a trailing `/`.
pub(crate) fn parse_public_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{s}`: a public URL starts with http:// or https:// (the WebSocket URL is derived from it)"
        ));
    }
    if url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{s}`: a public URL is a scheme, a host, maybe a port and a path, nothing else"
        ));
    }
    Ok(url)
}

/// Parses a node id: 1 to 64 of `A-Z a-z 0-9 - _ .`.
fn parse_node_id(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!("`{s}`: a node id is 1 to 64 of A-Z a-z 0-9 - _ ."));
    }
    Ok(s.to_owned())
}

/// Parses whole seconds, at least one.
fn parse_whole_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(secs @ 1..=86_400) => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{s}` must be whole seconds between 1 and 86400")),
    }
}

/// Parses seconds, fractions allowed (`0.5`).
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("`{s}` must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The server's flags alone, as a binary flattens them.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let argv = std::iter::once("tickwire").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.config)
    }

    #[test]
    fn default_struct_matches_empty_command_line() {
        let parsed = parse(&[]);
        assert!(parsed.is_ok(), "{parsed:?}");
        if let Ok(parsed) = parsed {
            let d = Config::default();
            assert_eq!(format!("{parsed:?}"), format!("{d:?}"));
        }
    }

    #[test]
    fn the_bandwidth_budget_parses_and_refuses_zero() {
        let parsed = parse(&["--bandwidth-budget", "3000"]);
        assert!(matches!(
            parsed,
            Ok(Config {
                bandwidth_budget: Some(3000),
                ..
            })
        ));
        assert!(parse(&["--bandwidth-budget", "0"]).is_err());
    }

    #[test]
    fn allowed_origins_repeat_and_are_normalised() {
        let parsed = parse(&[
            "--allowed-origin",
            "https://Game.Example/",
            "--allowed-origin",
            "http://localhost:3000",
        ]);
        assert!(
            matches!(&parsed, Ok(c) if c.allowed_origins == ["https://game.example", "http://localhost:3000"]),
            "{parsed:?}"
        );
        assert!(parse(&["--allowed-origin", "game.example"]).is_err());
        assert!(parse(&["--allowed-origin", "https://game.example/play"]).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let parsed = parse(&[
            "--ticket-secret",
            "hunter2hunter2hunter2",
            "--admin-token",
            "tok3n",
        ]);
        assert!(parsed.is_ok(), "{parsed:?}");
        if let Ok(config) = parsed {
            let printed = format!("{config:?}");
            assert!(
                !printed.contains("hunter2") && !printed.contains("tok3n"),
                "{printed}"
            );
            assert_eq!(
                config.admin_token.as_ref().map(Secret::expose),
                Some("tok3n")
            );
        }
        assert!(parse(&["--ticket-secret", "a", "--ticket-secret-file", "/x"]).is_err());
        assert!(parse(&["--admin-token", "a", "--admin-token-file", "/x"]).is_err());
    }

    #[test]
    fn the_accept_limits_parse_and_refuse_nonsense() {
        let parsed = parse(&[
            "--max-pending-connections",
            "100",
            "--max-connections-per-address",
            "0",
            "--limit-loopback",
            "--max-header-bytes",
            "8192",
            "--max-rooms",
            "2",
        ]);
        assert!(
            matches!(
                parsed,
                Ok(Config {
                    max_pending_connections: 100,
                    max_connections_per_address: 0,
                    limit_loopback: true,
                    max_header_bytes: 8192,
                    max_rooms: 2,
                    ..
                })
            ),
            "{parsed:?}"
        );
        assert!(parse(&["--max-pending-connections", "0"]).is_err());
        assert!(parse(&["--max-rooms", "0"]).is_err());
        assert!(
            parse(&["--max-header-bytes", "8191"]).is_err(),
            "hyper's smallest buffer is 8192 bytes"
        );
    }

    #[test]
    fn the_reconnect_grace_parses_and_zero_turns_it_off() {
        let parsed = parse(&["--reconnect-grace", "0.5", "--resume-token-lifetime", "60"]);
        assert!(
            matches!(&parsed, Ok(c) if c.reconnect_grace == Duration::from_millis(500)
                && c.resume_token_lifetime == Duration::from_secs(60)),
            "{parsed:?}"
        );
        let off = parse(&["--reconnect-grace", "0"]);
        assert!(
            matches!(&off, Ok(c) if c.reconnect_grace.is_zero()),
            "{off:?}"
        );
        assert!(parse(&["--reconnect-grace", "-1"]).is_err());
        assert!(parse(&["--resume-token-lifetime", "0"]).is_err());
    }

    #[test]
    fn the_malloc_trim_period_parses_and_zero_turns_it_off() {
        let parsed = parse(&["--malloc-trim-every", "2.5"]);
        assert!(
            matches!(&parsed, Ok(c) if c.malloc_trim_every == Duration::from_millis(2500)),
            "{parsed:?}"
        );
        let off = parse(&["--malloc-trim-every", "0"]);
        assert!(
            matches!(&off, Ok(c) if c.malloc_trim_every.is_zero()),
            "{off:?}"
        );
        let default = parse(&[]);
        assert!(
            matches!(&default, Ok(c) if c.malloc_trim_every == Duration::from_secs(1)),
            "{default:?}"
        );
        assert!(parse(&["--malloc-trim-every", "-1"]).is_err());
        assert!(parse(&["--malloc-trim-every", "soon"]).is_err());
    }

    #[test]
    fn the_agones_flags_parse_and_refuse_nonsense() {
        let parsed = parse(&[
            "--agones",
            "--agones-health-period",
            "0.5",
            "--agones-stall-timeout",
            "3",
            "--agones-connect-timeout",
            "1",
        ]);
        assert!(
            matches!(
                &parsed,
                Ok(c) if c.agones
                    && c.agones_health_period == Duration::from_millis(500)
                    && c.agones_stall_timeout == Duration::from_secs(3)
                    && c.agones_connect_timeout == Duration::from_secs(1)
            ),
            "{parsed:?}"
        );
        assert!(matches!(parse(&[]), Ok(c) if !c.agones));
        assert!(parse(&["--agones-health-period", "0"]).is_err());
        assert!(parse(&["--agones-stall-timeout", "-1"]).is_err());
    }

    #[test]
    fn the_spectator_flags_parse_and_refuse_nonsense() {
        let parsed = parse(&[
            "--max-spectators",
            "3",
            "--spectator-delay",
            "2.5",
            "--max-spectator-rect",
            "800",
        ]);
        assert!(
            matches!(
                &parsed,
                Ok(c) if c.max_spectators == 3
                    && c.spectator_delay == Duration::from_millis(2500)
                    && c.max_spectator_rect == 800.0
            ),
            "{parsed:?}"
        );
        assert!(parse(&["--spectator-delay", "0"]).is_ok());
        assert!(parse(&["--spectator-delay", "61"]).is_err());
        assert!(parse(&["--spectator-delay", "-1"]).is_err());
        assert!(parse(&["--max-spectator-rect", "0"]).is_err());
        assert!(parse(&["--max-spectator-rect", "inf"]).is_err());
    }

    #[test]
    fn the_cluster_flags_parse_and_refuse_nonsense() {
        let parsed = parse(&[
            "--redis",
            "redis://:pw@127.0.0.1:6379/0",
            "--public-url",
            "http://10.0.0.2:8080/",
            "--node-id",
            "node-2",
            "--cluster-secret",
            "sixteen bytes at least",
            "--heartbeat",
            "0.25",
            "--lease",
            "0.75",
            "--seat-ticket-ttl",
            "5",
            "--drain-timeout",
            "2",
        ]);
        assert!(
            matches!(
                &parsed,
                Ok(c) if c.node_id.as_deref() == Some("node-2")
                    && c.public_url.as_ref().map(url::Url::as_str) == Some("http://10.0.0.2:8080/")
                    && c.heartbeat == Duration::from_millis(250)
                    && c.lease == Duration::from_millis(750)
                    && c.seat_ticket_ttl == Duration::from_secs(5)
                    && c.drain_timeout == Duration::from_secs(2)
            ),
            "{parsed:?}"
        );
        let printed = format!("{parsed:?}");
        assert!(
            !printed.contains("pw@") && !printed.contains("sixteen"),
            "{printed}"
        );
        assert!(parse(&["--public-url", "ws://10.0.0.2:8080"]).is_err());
        assert!(parse(&["--public-url", "http://10.0.0.2:8080/?x=1"]).is_err());
        assert!(parse(&["--public-url", "10.0.0.2:8080"]).is_err());
        assert!(parse(&["--node-id", "a b"]).is_err());
        assert!(parse(&["--node-id", &"n".repeat(65)]).is_err());
        assert!(parse(&["--seat-ticket-ttl", "0.5"]).is_err());
    }

    #[test]
    fn seconds_parse_fractions_and_refuse_nonsense() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("abc").is_err());
    }
}
