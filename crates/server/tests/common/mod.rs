//! Shared helpers of the server's integration tests: an in-process server on
//! `127.0.0.1:0`, and a player client built on tokio-tungstenite (an
//! independent WebSocket implementation) and the protocol crate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire::{BundledOptions, Config, GameFactory, Server, bundled};
use tickwire_protocol::{ClientMessage, ClientState, Limits, ServerMessage, Welcome};
use tickwire_sim::{PlayerInput, ReplicatedEntity};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A config for tests: the arena, short timeouts, and no seat held for a
/// dropped socket (a test that drops a player's socket sees it leave at
/// once; the resume tests set a grace of their own).
pub fn test_config() -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        reconnect_grace: Duration::ZERO,
        ..Config::default()
    }
}

/// Starts a server running the bundled arena with its default options.
pub async fn start(config: Config) -> Server {
    start_game("arena", BundledOptions::default(), config).await
}

/// Starts a server running the bundled game `name` with `options`.
pub async fn start_game(name: &str, options: BundledOptions, config: Config) -> Server {
    start_with(config, bundled(name, options).unwrap()).await
}

/// Starts a server running `game`.
pub async fn start_with(config: Config, game: Arc<dyn GameFactory>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::start(config, listener, game).unwrap()
}

/// Starts an arena server with default limits, in an arena small enough
/// (1000 units) that every player's 2000-unit view holds everyone.
pub async fn arena() -> Server {
    let options = BundledOptions {
        arena_size: Some(1000.0),
        ..BundledOptions::default()
    };
    start_game("arena", options, test_config()).await
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The URL of `/ws` with a room and a name.
/// An arena input (move_x, move_y, aim, buttons) that moves and does
/// nothing else.
pub fn arena_input(seq: u32, move_x: i8, move_y: i8) -> PlayerInput {
    PlayerInput::new(seq, &[i32::from(move_x), i32::from(move_y), 0, 0])
}

pub fn ws_url(addr: SocketAddr, room: &str, name: &str) -> String {
    format!("ws://{addr}/ws?room={room}&name={name}")
}

/// A connected player that has read its welcome.
pub struct Player {
    pub ws: Ws,
    pub welcome: Welcome,
    pub state: ClientState,
    /// Snapshots applied.
    pub snapshots: u64,
    /// Last input sequence the server says it applied.
    pub last_input: Option<u32>,
    /// Tick of the last snapshot applied.
    pub last_tick: Option<u32>,
    /// The tick the last snapshot was a delta against (`None`: full).
    pub last_baseline: Option<u32>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

/// Connects and reads up to the welcome.
pub async fn join(addr: SocketAddr, room: &str, name: &str) -> Player {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(addr, room, name))
        .await
        .expect("websocket connects");
    welcome(ws).await
}

/// Reads the welcome from a fresh connection.
pub async fn welcome(mut ws: Ws) -> Player {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let msg = timeout(deadline - Instant::now(), ws.next())
            .await
            .expect("welcome in time")
            .expect("stream open")
            .expect("no socket error");
        if let Message::Binary(bytes) = msg {
            match ServerMessage::decode(&bytes, None, &Limits::default()).expect("decodes") {
                ServerMessage::Welcome(welcome) => return Player::welcomed(ws, welcome),
                other => panic!("expected the welcome first, got {other:?}"),
            }
        }
    }
}

/// Reads the close a connection ends with (within 3 s), skipping messages.
pub async fn expect_close(ws: &mut Ws) -> Closed {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match timeout(deadline - Instant::now(), ws.next()).await {
            Err(_) => panic!("no close within 3 s"),
            Ok(None) => panic!("stream ended without a close frame"),
            Ok(Some(Err(e))) => panic!("socket error before the close frame: {e}"),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return Closed {
                    code: u16::from(frame.code),
                    reason: frame.reason.to_string(),
                };
            }
            Ok(Some(Ok(Message::Close(None)))) => {
                return Closed {
                    code: u16::from(CloseCode::Status),
                    reason: String::new(),
                };
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Reads a refusal: the protocol `Error` message the server sends first,
/// as `(code, reason)`, then the close.
pub async fn expect_refusal(ws: &mut Ws) -> ((u16, String), Closed) {
    let msg = timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("a message within 3 s")
        .expect("stream open")
        .expect("no socket error");
    let Message::Binary(bytes) = msg else {
        panic!("expected the error message first, got {msg:?}");
    };
    let error = match ServerMessage::decode(&bytes, None, &Limits::default()).expect("decodes") {
        ServerMessage::Error { code, reason } => (code, reason),
        other => panic!("expected the error message first, got {other:?}"),
    };
    (error, expect_close(ws).await)
}

impl Player {
    /// A player just welcomed on `ws`, holding nothing yet.
    pub fn welcomed(ws: Ws, welcome: Welcome) -> Self {
        let state = ClientState::new(welcome.schema.clone()).unwrap();
        Player {
            ws,
            welcome,
            state,
            snapshots: 0,
            last_input: None,
            last_tick: None,
            last_baseline: None,
        }
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: &ClientMessage) {
        self.ws
            .send(Message::Binary(message.to_bytes().into()))
            .await
            .unwrap();
    }

    /// Sends an arena input: a move, no aim, no buttons (the arena
    /// declares move_x, move_y, aim, buttons).
    pub async fn input(&mut self, seq: u32, move_x: i8, move_y: i8) {
        self.send(&ClientMessage::Input(arena_input(seq, move_x, move_y)))
            .await;
    }

    /// Sends an input; fails if the socket is gone.
    pub async fn try_input(
        &mut self,
        seq: u32,
        move_x: i8,
        move_y: i8,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let message = ClientMessage::Input(arena_input(seq, move_x, move_y));
        self.ws
            .send(Message::Binary(message.to_bytes().into()))
            .await
    }

    /// The next frame the server sends, within `within`, or the test fails.
    pub async fn next_frame(&mut self, within: Duration) -> Message {
        timeout(within, self.ws.next())
            .await
            .unwrap_or_else(|_| panic!("a message within {within:?}"))
            .expect("stream open")
            .expect("no socket error")
    }

    /// A binary frame of the server, decoded against the welcome's schema.
    pub fn decode(&self, bytes: &[u8]) -> ServerMessage {
        ServerMessage::decode(bytes, Some(&self.welcome.schema), &Limits::default())
            .expect("every server message decodes")
    }

    /// The next protocol message, skipping other frames; each frame within
    /// `within`, or the test fails.
    pub async fn next_message(&mut self, within: Duration) -> ServerMessage {
        loop {
            if let Message::Binary(bytes) = self.next_frame(within).await {
                return self.decode(&bytes);
            }
        }
    }

    /// Reads messages until the next snapshot is applied; returns its state.
    pub async fn next_snapshot(&mut self) -> Vec<ReplicatedEntity> {
        loop {
            if let ServerMessage::Snapshot(snapshot) =
                self.next_message(Duration::from_secs(2)).await
            {
                let state = self.state.apply(&snapshot.body).expect("snapshot applies");
                self.snapshots += 1;
                self.last_input = snapshot.last_input;
                self.last_tick = Some(snapshot.body.tick);
                self.last_baseline = snapshot.body.baseline;
                return state.to_vec();
            }
        }
    }

    /// Applies snapshots for `window`; returns how many arrived.
    pub async fn count_snapshots(&mut self, window: Duration) -> u64 {
        let start = self.snapshots;
        let end = Instant::now() + window;
        while Instant::now() < end {
            let remaining = end - Instant::now();
            if timeout(remaining, self.next_snapshot()).await.is_err() {
                break;
            }
        }
        self.snapshots - start
    }

    /// The latest state's row for entity `id`.
    pub fn entity(&self, id: u32) -> Option<ReplicatedEntity> {
        self.state
            .latest()
            .and_then(|s| s.iter().find(|e| e.id.0 == id).copied())
    }
}

/// Snapshots per second a watcher must see at least: half the tick rate.
/// This only tells a room that stalls (blocked on a slow socket, say) from
/// one that ticks: how close to 30 a debug build gets depends on how busy
/// the machine is, so what a player lost is judged by tick numbers instead.
pub const MIN_RATE: f64 = 15.0;

/// Tests that measure a snapshot rate take turns, one at a time within a
/// test binary: each runs its own server and clients on a 2-core machine,
/// and several debug-build servers at once measure the scheduler, not the
/// server. Hold the guard for the whole test.
pub async fn rate_measuring_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// Asserts that `player` gets every snapshot over `window`: the snapshot of
/// every tick the room ran, none skipped for it (consecutive tick numbers;
/// a late room runs its catch-up ticks back to back, and still sends each),
/// and that the room keeps ticking, at [`MIN_RATE`] at least: snapshots
/// received, less one, over the time from the first to the last (so a
/// snapshot late at either edge of the window is not miscounted as a lost
/// one).
pub async fn assert_full_rate(player: &mut Player, window: Duration) {
    player.next_snapshot().await;
    let first = Instant::now();
    let mut last = first;
    let mut n = 0u64;
    let mut skipped = Vec::new();
    let end = first + window;
    while Instant::now() < end {
        let before = player.last_tick;
        if timeout(end - Instant::now(), player.next_snapshot())
            .await
            .is_err()
        {
            break;
        }
        if let (Some(before), Some(now)) = (before, player.last_tick)
            && now != before.wrapping_add(1)
        {
            skipped.push((before, now));
        }
        n += 1;
        last = Instant::now();
    }
    assert!(
        skipped.is_empty(),
        "snapshots skipped (tick before, tick after): {skipped:?}"
    );
    let span = (last - first).as_secs_f64();
    let rate = n as f64 / span.max(1e-3);
    assert!(
        rate >= MIN_RATE && span >= window.as_secs_f64() * 0.5,
        "{n} snapshots in {span:.3} s: {rate:.1}/s"
    );
}

/// A plain HTTP/1.1 GET; returns the whole response as text.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    timeout(Duration::from_secs(3), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// One HTTP/1.1 request (`Connection: close`) with the JSON `body`, and
/// the bearer `token` if any: the answer's status and body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// The value of the metric line of `/metrics` text that starts with
/// `series` (name and labels as Prometheus prints them), 0 if there is none.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
