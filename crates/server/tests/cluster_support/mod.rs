//! What the cluster tests share: a `redis-server` of their own on a free
//! loopback port, `tickwire` nodes (the binary, in cluster mode), and the
//! clients: matchmaking over HTTP, and players over WebSocket that follow
//! a redirect.
//!
//! A machine without `redis-server` fails these tests with the command that
//! installs it; they never skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::Value;
use tickwire_protocol::{ClientMessage, Limits, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Closed, Player, Ws, expect_close};

/// The secret every test node shares.
pub const SECRET: &str = "the test cluster's secret";

/// Heartbeat and lease of the test nodes: a node's keys outlive it by at
/// most the lease.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
pub const LEASE: Duration = Duration::from_millis(750);

/// A `redis-server` of the test's own, on loopback, with nothing saved.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    /// Starts one on `port`.
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the cluster tests need it. \
                     Install it with `apt-get install redis-server` \
                     (./test.sh does, run as root)"
                )
            });
        let redis = Self {
            child: Some(child),
            port,
        };
        redis.wait_ready();
        redis
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut answer = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && &answer == b"+PONG\r\n"
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops it (all its keys are lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.port);
    }

    /// A connection for the test's own look at the keys.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Every key.
    pub async fn keys(&self) -> Vec<String> {
        let mut c = self.connection().await;
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut c)
            .await
            .unwrap()
    }

    /// Whether `key` exists (an expired key does not).
    pub async fn exists(&self, key: &str) -> bool {
        let mut c = self.connection().await;
        let n: u64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap();
        n == 1
    }

    /// A field of a hash.
    pub async fn hget(&self, key: &str, field: &str) -> Option<String> {
        let mut c = self.connection().await;
        redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query_async(&mut c)
            .await
            .unwrap()
    }

    /// The room keys (not their seat sets, states or logs).
    pub async fn room_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys()
            .await
            .into_iter()
            .filter(|k| {
                k.starts_with("tickwire:room:")
                    && ![":seats", ":state", ":log"].iter().any(|s| k.ends_with(s))
            })
            .collect();
        keys.sort();
        keys
    }

    /// Asserts that every key has a TTL: nothing Tickwire wrote outlives
    /// its owner.
    pub async fn assert_every_key_has_a_ttl(&self) {
        let mut c = self.connection().await;
        let mut without = Vec::new();
        let keys = self.keys().await;
        for key in &keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut c)
                .await
                .unwrap();
            if ttl == -1 {
                without.push(key.clone());
            }
        }
        assert!(
            without.is_empty(),
            "keys without a TTL: {without:?} (of {keys:?})"
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on now (redis-server cannot bind port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tickwire` node of the cluster in `redis`, as a process.
pub struct Node {
    child: Child,
    pub addr: SocketAddr,
    pub id: String,
    log: tempfile::NamedTempFile,
}

impl Node {
    /// Starts node `id` (the arena, heartbeat [`HEARTBEAT`], lease
    /// [`LEASE`]), with `extra` flags; returns once it has registered.
    pub fn start(redis: &Redis, id: &str, extra: &[&str]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["--bind", "127.0.0.1:0", "--redis", &redis.url()])
            .args(["--public-url", "http://127.0.0.1:0", "--node-id", id])
            .args(["--cluster-secret", SECRET])
            .args(["--heartbeat", &secs(HEARTBEAT), "--lease", &secs(LEASE)])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("the tickwire binary starts");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let addr = stdout.lines().map_while(Result::ok).find_map(|line| {
            let rest = line.split("open http://").nth(1)?;
            rest.trim_end_matches('/').parse().ok()
        });
        let Some(addr) = addr else {
            let log = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("node {id} did not start:\n{log}");
        };
        Self {
            child,
            addr,
            id: id.to_owned(),
            log,
        }
    }

    /// Its public base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its key in Redis.
    pub fn key(&self) -> String {
        format!("tickwire:node:{}", self.id)
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits at most `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// One HTTP/1.1 request (`Connection: close`): the status and the body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    crate::common::http(addr, method, path, None, body).await
}

/// `POST /api/matchmake` on `addr`: the status and the JSON answer.
pub async fn matchmake(addr: SocketAddr, room: Option<&str>, name: &str) -> (u16, Value) {
    let body = serde_json::json!({ "room": room, "name": name }).to_string();
    let (status, body) = http(addr, "POST", "/api/matchmake", &body).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A seat matchmaking must find: the answer's `url`, `room`, `node` and
/// `ticket`.
pub async fn seat(addr: SocketAddr, room: Option<&str>, name: &str) -> Offer {
    let (status, answer) = matchmake(addr, room, name).await;
    assert_eq!(status, 200, "{answer}");
    Offer {
        url: answer["url"].as_str().unwrap().to_owned(),
        room: answer["room"].as_str().unwrap().to_owned(),
        node: answer["node"].as_str().unwrap().to_owned(),
        ticket: answer["ticket"].as_str().unwrap().to_owned(),
    }
}

/// A seat offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub url: String,
    pub room: String,
    pub node: String,
    pub ticket: String,
}

impl Offer {
    /// The WebSocket URL to take the seat as `name`.
    pub fn ws(&self, name: &str) -> String {
        ws_url(&self.url, Some(&self.room), name, Some(&self.ticket))
    }
}

/// The WebSocket URL of the node at `base` (`http://host:port`).
pub fn ws_url(base: &str, room: Option<&str>, name: &str, seat: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(room) = room {
        query.append_pair("room", room);
    }
    query.append_pair("name", name);
    if let Some(seat) = seat.filter(|s| !s.is_empty()) {
        query.append_pair("seat", seat);
    }
    format!(
        "{}/ws?{}",
        base.replacen("http://", "ws://", 1),
        query.finish()
    )
}

/// `/api/rooms` of `addr`.
pub async fn rooms(addr: SocketAddr) -> Value {
    let (status, body) = http(addr, "GET", "/api/rooms", "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// `/metrics` of `addr`.
pub async fn metrics(addr: SocketAddr) -> String {
    http(addr, "GET", "/metrics", "").await.1
}

/// How a connection went.
pub enum Entered {
    /// Welcomed: a player in its room (its join sent).
    Welcomed(Box<Player>),
    /// Sent on: the redirect and the close.
    Redirected {
        url: String,
        room: String,
        ticket: String,
        close: Closed,
    },
    /// Refused: the error and the close.
    Refused {
        code: u16,
        reason: String,
        close: Closed,
    },
}

impl std::fmt::Debug for Entered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Welcomed(player) => write!(f, "Welcomed in {}", player.welcome.room),
            Self::Redirected {
                url, room, close, ..
            } => {
                write!(f, "Redirected to {url} ({room}), then {close:?}")
            }
            Self::Refused {
                code,
                reason,
                close,
            } => write!(f, "Refused: {code} {reason}, then {close:?}"),
        }
    }
}

/// Connects to `url` and reads what the node answers first.
pub async fn open(url: &str) -> Entered {
    match try_open(url).await {
        Ok(entered) => entered,
        Err(error) => panic!("the websocket connects: {error}"),
    }
}

/// [`open`], or why the connection could not be opened (nothing listens
/// there, say).
pub async fn try_open(url: &str) -> Result<Entered, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let message = first_message(&mut ws).await;
    match message {
        ServerMessage::Welcome(welcome) => {
            let mut player = Player::welcomed(ws, welcome);
            player.send(&ClientMessage::join(0)).await;
            Ok(Entered::Welcomed(Box::new(player)))
        }
        ServerMessage::Redirect { url, room, ticket } => Ok(Entered::Redirected {
            url,
            room,
            ticket,
            close: expect_close(&mut ws).await,
        }),
        ServerMessage::Error { code, reason } => Ok(Entered::Refused {
            code,
            reason,
            close: expect_close(&mut ws).await,
        }),
        other => panic!("unexpected first message {other:?}"),
    }
}

async fn first_message(ws: &mut Ws) -> ServerMessage {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("no socket error");
        if let Message::Binary(bytes) = msg {
            return ServerMessage::decode(&bytes, None, &Limits::default()).expect("decodes");
        }
    }
}

/// The next `Redirect` a player is sent (its node's url, room and seat
/// ticket), skipping snapshots and other messages; a message at least every
/// 10 s, or the test fails.
pub async fn next_redirect(player: &mut Player) -> (String, String, String) {
    loop {
        if let ServerMessage::Redirect { url, room, ticket } =
            player.next_message(Duration::from_secs(10)).await
        {
            return (url, room, ticket);
        }
    }
}

/// Connects to `url`, following one redirect (as clients do), and returns
/// the player welcomed.
pub async fn enter(url: &str, name: &str) -> Player {
    match open(url).await {
        Entered::Welcomed(player) => *player,
        Entered::Redirected {
            url: node,
            room,
            ticket,
            close,
        } => {
            assert_eq!(close.code, 4010, "a redirect closes with 4010");
            match open(&ws_url(&node, Some(&room), name, Some(&ticket))).await {
                Entered::Welcomed(player) => *player,
                other => panic!("after a redirect: {other:?}"),
            }
        }
        other => panic!("not welcomed: {other:?}"),
    }
}

/// Waits (at most `within`) until `check` holds; whether it did.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
