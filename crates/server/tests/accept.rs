//! The limits before the upgrade, attacked as the issue's hostile client
//! did: pending connections that send headers and wait, idle connections
//! that fill the server's places, one address holding many connections,
//! request heads too big or too slow, and a client opening rooms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{ErrorKind, Read as _};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tickwire::Config;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

/// How long any one wait in these tests may last before it fails.
const BOUND: Duration = Duration::from_secs(10);

/// A TCP connection to `addr` from the loopback address `source`
/// (127.0.0.0/8 is all loopback on Linux, so a test can play several
/// addresses).
async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    timeout(BOUND, socket.connect(addr))
        .await
        .expect("connects in time")
        .expect("connects")
}

/// What the server has done with a connection, as its client sees it now.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Still open, nothing to read.
    Open,
    /// Closed (an end of stream or a reset), after these bytes.
    Closed(String),
}

/// Reads what has arrived without waiting.
fn look(stream: &mut std::net::TcpStream) -> Seen {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Seen::Closed(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(got.is_empty(), "an answer without a close: {got:?}");
                return Seen::Open;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Seen::Closed(String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

/// Waits (at most [`BOUND`]) for the server to close `stream`; returns
/// what it wrote first.
async fn closed_by_server(stream: &mut std::net::TcpStream) -> String {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Seen::Closed(text) = look(stream) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the server left the connection open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A refused connection's answer: a 503, or nothing if the close came
/// first (a reset can overtake it).
fn assert_refused(answer: &str) {
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503 "),
        "{answer:?}"
    );
}

/// Joins `room` within [`BOUND`], retrying while the server refuses (a
/// place or a room given back is free a moment after the client's close).
async fn join_soon(addr: SocketAddr, room: &str, name: &str) -> Player {
    use futures_util::StreamExt as _;
    use tickwire_protocol::{Limits, ServerMessage};
    use tokio_tungstenite::tungstenite::Message;
    let deadline = Instant::now() + BOUND;
    loop {
        assert!(Instant::now() < deadline, "no join within {BOUND:?}");
        let Ok(Ok((mut ws, _))) = timeout(
            BOUND,
            tokio_tungstenite::connect_async(ws_url(addr, room, name)),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // The first message: the welcome, or a refusal.
        let first = loop {
            match timeout(BOUND, ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => break Some(bytes),
                Ok(Some(Ok(_))) => {}
                _ => break None,
            }
        };
        let decoded = first.map(|bytes| ServerMessage::decode(&bytes, None, &Limits::default()));
        if let Some(Ok(ServerMessage::Welcome(welcome))) = decoded {
            return Player::welcomed(ws, welcome);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one metric sample in `/metrics`, 0 if absent.
async fn metric(addr: SocketAddr, sample: &str) -> f64 {
    common::metric(&http_get(addr, "/metrics").await, sample)
}

/// The `tickwire` binary, running on `127.0.0.1:0`; killed on drop.
struct Process {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Process {
    fn start(args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut process = Self {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while process.addr.port() == 0 {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(wait).expect("the server prints its URL");
            if let Some(rest) = line.split("open http://").nth(1) {
                process.addr = rest.trim_end_matches('/').parse().expect("an address");
            }
        }
        process
    }

    /// The server's resident memory, bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb * 1024
    }

    /// The resident memory once it stops moving (at most a few seconds).
    async fn settled_rss(&self) -> u64 {
        let mut last = self.rss();
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.rss();
            if now == last {
                break;
            }
            last = now;
        }
        last
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request head of about `bytes` bytes, its last line unfinished.
fn partial_head(bytes: usize) -> Vec<u8> {
    let mut head = b"GET /ws?room=r HTTP/1.1\r\nHost: tickwire\r\n".to_vec();
    head.extend(padding(bytes));
    head
}

/// Header lines of 1,000 bytes each, about `bytes` in all.
fn padding(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 1000);
    let mut i = 0;
    while out.len() < bytes {
        out.extend(format!("X-Pad-{i:04}: {}\r\n", "a".repeat(986)).into_bytes());
        i += 1;
    }
    out
}

/// Pending connections: 300 clients each send 12 KB of request head
/// without its final blank line, and wait. Then each sends 64 KB more: the
/// server closes every one (431) instead of buffering it, and grows by less
/// than 20 KiB per connection from the first phase. (hyper's default
/// buffer took up to 400 KB a connection: 300 such connections cost over
/// 100 MiB. This build, before the limit: about 130 KiB each.)
///
/// While they are pending, each costs at most 32 KiB: the head buffer (at
/// most 16 KiB) and what any accepted connection costs (about 10 KiB
/// measured for one that sends nothing, in a debug build, before and after
/// these limits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_connection_memory_stays_bounded() {
    const CONNECTIONS: usize = 300;
    const PER_CONNECTION: u64 = 20 * 1024;
    const PER_PENDING: u64 = 32 * 1024;
    let server = Process::start(&["--handshake-timeout", "120"]);
    assert!(http_get(server.addr, "/healthz").await.contains("ok"));
    let before = server.settled_rss().await;

    let mut held = Vec::with_capacity(CONNECTIONS);
    let head = partial_head(12_000);
    for _ in 0..CONNECTIONS {
        let mut stream = connect_from([127, 0, 0, 1], server.addr).await;
        timeout(BOUND, stream.write_all(&head))
            .await
            .expect("the head is taken in time")
            .unwrap();
        held.push(stream);
    }
    let pending = server.settled_rss().await;
    let grown = pending.saturating_sub(before);
    assert!(
        grown < PER_PENDING * CONNECTIONS as u64,
        "{CONNECTIONS} pending connections grew the server by {} KiB ({} KiB each)",
        grown / 1024,
        grown / 1024 / CONNECTIONS as u64
    );

    // Every one of them is still pending (open), not closed.
    let mut held: Vec<_> = held.into_iter().map(|s| s.into_std().unwrap()).collect();
    for stream in &mut held {
        assert_eq!(look(stream), Seen::Open);
    }

    // 64 KB more each: over the head limit.
    let more = padding(64_000);
    let mut writes = tokio::task::JoinSet::new();
    for stream in held {
        let more = more.clone();
        writes.spawn(async move {
            let mut stream = TcpStream::from_std(stream).unwrap();
            // A server that stopped reading may refuse the rest: fine.
            let _ = timeout(BOUND, stream.write_all(&more)).await;
            stream.into_std().unwrap()
        });
    }
    let mut answers = Vec::with_capacity(CONNECTIONS);
    while let Some(stream) = timeout(BOUND * 2, writes.join_next())
        .await
        .expect("the writes end in time")
    {
        answers.push(stream.unwrap());
    }
    let after = server.settled_rss().await;
    let mut status_431 = 0;
    for stream in &mut answers {
        let answer = closed_by_server(stream).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
            "{answer:?}"
        );
        status_431 += usize::from(!answer.is_empty());
    }
    // Measured from the pending phase: the allocator keeps what it had.
    let grown = after.saturating_sub(pending);
    assert!(
        grown < PER_CONNECTION * CONNECTIONS as u64,
        "{CONNECTIONS} connections sending 64 KB more of headers grew the server by {} KiB",
        grown / 1024
    );
    println!(
        "{CONNECTIONS} pending: +{} KiB each; oversized: {status_431} answered 431, the rest reset",
        pending.saturating_sub(before) / 1024 / CONNECTIONS as u64
    );
}

/// Idle connections filling the server's places: one address can hold no
/// more than its share, so a join from another still succeeds while it
/// holds 300 connections open; the connection past the pending cap is
/// refused at once (not left to time out), and the connections it holds
/// stay open; a place given back is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_keep_a_join_out() {
    let server = start(Config {
        max_pending_connections: 100,
        max_connections_per_address: 64,
        limit_loopback: true,
        handshake_timeout: Duration::from_secs(120),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();

    // One attacking address opens 300 idle connections: 64 are kept.
    let mut attacker = Vec::new();
    for _ in 0..300 {
        let stream = connect_from([127, 0, 0, 2], addr).await;
        attacker.push(stream.into_std().unwrap());
    }
    for stream in &mut attacker[64..] {
        assert_refused(&closed_by_server(stream).await);
    }
    // Accepted in order: every kept one was admitted before the last refusal.
    for stream in &mut attacker[..64] {
        assert_eq!(look(stream), Seen::Open);
    }
    let _player = timeout(BOUND, join(addr, "r", "legit"))
        .await
        .expect("a join while one address holds 300 idle connections");

    // A second address fills the pending places: 64 + 36 = 100.
    let mut second = Vec::new();
    for _ in 0..36 {
        second.push(connect_from([127, 0, 0, 3], addr).await.into_std().unwrap());
    }
    let mut over = connect_from([127, 0, 0, 3], addr).await.into_std().unwrap();
    assert_refused(&closed_by_server(&mut over).await);
    for stream in attacker[..64].iter_mut().chain(&mut second) {
        assert_eq!(look(stream), Seen::Open, "a pending connection was dropped");
    }
    // A join now is refused at once, not left waiting.
    let refused = timeout(
        BOUND,
        tokio_tungstenite::connect_async(ws_url(addr, "r", "late")),
    )
    .await
    .expect("a refusal, not a hang");
    assert!(refused.is_err(), "a join got a pending place past the cap");

    // Places given back are taken again.
    attacker.truncate(54);
    let _late = join_soon(addr, "r", "late").await;
    drop((attacker, second));
    assert!(metric(addr, "tickwire_accepts_refused_total{limit=\"pending\"}").await >= 2.0);
    assert!(metric(addr, "tickwire_accepts_refused_total{limit=\"address\"}").await >= 236.0);
    server.shutdown().await;
}

/// The per-address cap counts upgraded players too, until they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_counts_players_until_they_leave() {
    let server = start(Config {
        max_connections_per_address: 3,
        limit_loopback: true,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut players = Vec::new();
    for name in ["a", "b", "c"] {
        players.push(join(addr, "r", name).await);
    }
    let mut fourth = connect_from([127, 0, 0, 1], addr).await.into_std().unwrap();
    let answer = closed_by_server(&mut fourth).await;
    assert_refused(&answer);
    let refused = tokio_tungstenite::connect_async(ws_url(addr, "r", "d")).await;
    assert!(refused.is_err(), "a fourth connection from one address");
    // Another address is not held back.
    let mut other = connect_from([127, 0, 0, 4], addr).await.into_std().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(look(&mut other), Seen::Open);
    drop(other);

    let mut left = players.remove(0);
    left.ws.close(None).await.unwrap();
    drop(left);
    let _d = join_soon(addr, "r", "d").await;
    server.shutdown().await;
}

/// The swarm and local tests run thousands of bots from 127.0.0.1: loopback
/// is exempt from the per-address cap unless `--limit-loopback`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_exempt_from_the_per_address_cap_by_default() {
    let server = start(Config {
        max_connections_per_address: 3,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut players = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        players.push(join(addr, "r", name).await);
    }
    assert!(http_get(addr, "/healthz").await.contains("ok"));
    server.shutdown().await;
}

/// A request head over 16 KiB is answered 431 (hyper's default buffer took
/// up to 400 KB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_16_kib_is_answered_431() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    // Under the limit: served.
    let mut small = TcpStream::connect(addr).await.unwrap();
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".to_vec();
    head.extend(padding(12_000));
    head.extend(b"\r\n");
    small.write_all(&head).await.unwrap();
    let mut small = small.into_std().unwrap();
    let answer = closed_by_server(&mut small).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");

    // Over it: 431, or a reset that overtook it; never served.
    let mut big = TcpStream::connect(addr).await.unwrap();
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".to_vec();
    head.extend(padding(20_000));
    head.extend(b"\r\n");
    let _ = big.write_all(&head).await;
    let mut big = big.into_std().unwrap();
    let answer = closed_by_server(&mut big).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
        "{answer:?}"
    );
    assert!(
        metric(
            addr,
            "tickwire_http_head_refused_total{reason=\"headers_too_large\"}"
        )
        .await
            >= 1.0
    );
    server.shutdown().await;
}

/// `--handshake-timeout` closes a connection that sends nothing, and one
/// that sends its head a byte at a time (slowloris): the timeout is for the
/// whole head, not between bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_timeout_closes_idle_and_slow_heads() {
    let server = start(Config {
        handshake_timeout: Duration::from_millis(500),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut idle = TcpStream::connect(addr).await.unwrap().into_std().unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = partial_head(2_000);
    let start = Instant::now();
    let mut sent = 0;
    // One byte every 50 ms, for at most BOUND: the server must close first.
    while start.elapsed() < BOUND && sent < head.len() {
        if slow.write_all(&head[sent..=sent]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut peek = [0u8; 1];
        if let Ok(Ok(0)) = timeout(Duration::ZERO, slow.peek(&mut peek)).await {
            break;
        }
    }
    assert!(
        sent < head.len(),
        "a head sent a byte at a time over {:?} was still read",
        start.elapsed()
    );
    let mut slow = slow.into_std().unwrap();
    let _ = closed_by_server(&mut slow).await;
    let _ = closed_by_server(&mut idle).await;
    assert!(
        metric(
            addr,
            "tickwire_http_head_refused_total{reason=\"header_timeout\"}"
        )
        .await
            >= 1.0
    );
    server.shutdown().await;
}

/// `--max-rooms`: joins into two rooms succeed, a third room is refused
/// with 1013 (protocol error 4004), joins into open rooms still succeed,
/// and a room that closes makes space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_cap_refuses_a_room_past_it() {
    let server = start(Config {
        max_rooms: 2,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let _a = join(addr, "a", "a").await;
    let mut b = join(addr, "b", "b").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(addr, "c", "c"))
        .await
        .unwrap();
    let ((code, reason), closed) = expect_refusal(&mut ws).await;
    assert_eq!(code, tickwire_protocol::error_code::FULL);
    assert_eq!(closed.code, 1013, "{closed:?}");
    assert!(reason.contains("room limit"), "{reason}");
    // A named open room still takes players.
    let _a2 = join(addr, "a", "a2").await;
    assert!(metric(addr, "tickwire_rooms_refused_total").await >= 1.0);

    // A room that closes makes space.
    b.ws.close(None).await.unwrap();
    drop(b);
    let _c = join_soon(addr, "c", "c").await;
    // Matchmaking joins an open room rather than opening a third.
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?name=m"))
        .await
        .unwrap();
    let _m = welcome(ws).await;
    assert_eq!(server.rooms().len(), 2);
    server.shutdown().await;
}
