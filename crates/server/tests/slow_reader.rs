//! A client that stops reading slows no one else: its outbox holds at most
//! one unsent snapshot, stale ones are skipped, and the deltas it gets when
//! it reads again still apply. A socket unwritable past the outbox lag is
//! dropped.
//!
//! The game here is a stub with thousands of entities that all change every
//! tick, so snapshots are tens of kilobytes and a client that stops reading
//! fills the socket buffers within a second or two.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tickwire::{Config, GameFactory, Server};
use tickwire_sim::{
    FieldDecl, GameEvent, JoinError, Joined, KindDecl, NetId, PlayerId, PlayerInput, Quantization,
    Rect, ReplicatedEntity, Schema, Simulation,
};
use tokio::net::TcpSocket;

/// Entities in the stub world.
const ENTITIES: u32 = 4000;

/// A world of noise: every entity moves far every tick.
#[derive(Debug)]
struct Noise {
    schema: Schema,
    tick: u64,
    players: u32,
    rows: Vec<ReplicatedEntity>,
}

impl Noise {
    fn new() -> Self {
        let field = |id, name: &str| FieldDecl {
            id,
            name: name.into(),
            quant: Quantization::Fixed { scale: 16 },
        };
        let rows = (0..ENTITIES)
            .map(|i| ReplicatedEntity {
                id: NetId(i + 1),
                kind: 0,
                values: [0; 8],
            })
            .collect();
        Self {
            schema: Schema::new(
                "noise",
                vec![KindDecl {
                    id: 0,
                    name: "dot".into(),
                    fields: vec![field(0, "x"), field(1, "y")],
                }],
                Vec::new(),
                Vec::new(),
            ),
            tick: 0,
            players: 0,
            rows,
        }
    }
}

impl Simulation for Noise {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn tick_rate(&self) -> u32 {
        30
    }
    fn tick(&self) -> u64 {
        self.tick
    }
    fn max_players(&self) -> usize {
        100
    }
    fn player_count(&self) -> usize {
        self.players as usize
    }
    fn join(&mut self, _name: &str) -> Result<Joined, JoinError> {
        self.players += 1;
        Ok(Joined {
            player: PlayerId(self.players),
            avatar: NetId(1),
        })
    }
    fn leave(&mut self, _player: PlayerId) {
        self.players = self.players.saturating_sub(1);
    }
    fn input(&mut self, _player: PlayerId, _input: PlayerInput) {}
    fn step(&mut self) {
        self.tick += 1;
        let t = self.tick as i32;
        for (i, row) in self.rows.iter_mut().enumerate() {
            let i = i as i32;
            row.values[0] = (i.wrapping_mul(7919) ^ t.wrapping_mul(104_729)) % 60_000;
            row.values[1] = (i.wrapping_mul(104_729) ^ t.wrapping_mul(7919)) % 60_000;
        }
    }
    fn replicated(&self, out: &mut Vec<ReplicatedEntity>) {
        out.extend_from_slice(&self.rows);
    }
    fn drain_events(&mut self, _out: &mut Vec<GameEvent>) {}
    fn last_applied_input(&self, _player: PlayerId) -> Option<u32> {
        None
    }
    fn view(&self, _player: PlayerId) -> Option<Rect> {
        None
    }
    fn state_hash(&self) -> u64 {
        self.tick
    }
}

#[derive(Debug)]
struct NoiseGame;

impl GameFactory for NoiseGame {
    fn name(&self) -> &str {
        "noise"
    }
    fn new_match(&self, _room: &str, _serial: u64) -> anyhow::Result<Box<dyn Simulation>> {
        Ok(Box::new(Noise::new()))
    }
}

/// Joins with a tiny receive buffer, so that not reading backs up quickly.
async fn join_with_small_buffer(addr: std::net::SocketAddr, room: &str) -> Player {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio_tungstenite::client_async(ws_url(addr, room, "slow"), stream)
        .await
        .unwrap();
    welcome(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_slows_no_one_and_costs_one_snapshot() {
    let _turn = rate_measuring_turn().await;
    let server = start_with(test_config(), Arc::new(NoiseGame)).await;
    let addr = server.local_addr();
    let mut fast = join(addr, "busy", "fast").await;
    let mut slow = join_with_small_buffer(addr, "busy").await;
    slow.next_snapshot().await;
    fast.next_snapshot().await;

    // `slow` stops reading for five seconds; `fast` counts.
    assert_full_rate(&mut fast, Duration::from_secs(5)).await;

    let rooms = server.rooms();
    let players = rooms[0].player_details.as_ref().unwrap();
    let slow_summary = players.iter().find(|p| p.name == "slow").unwrap();
    let fast_summary = players.iter().find(|p| p.name == "fast").unwrap();
    assert!(slow_summary.outbox_high_water <= 1, "{slow_summary:?}");
    assert!(slow_summary.outbox_pending <= 1, "{slow_summary:?}");
    assert!(
        slow_summary.snapshots_skipped > 30,
        "the slow socket should have skipped most snapshots: {slow_summary:?}"
    );
    assert!(fast_summary.outbox_high_water <= 1, "{fast_summary:?}");

    // Reading again, every snapshot still applies to a state it holds.
    for _ in 0..60 {
        slow.next_snapshot().await;
    }
    server.shutdown().await;
}

/// The server's send buffer per socket, in bytes, for the lag test. On
/// Linux an accepted socket inherits the listening socket's buffer size, and
/// a size set by hand is not autotuned: without it the kernel grows a
/// loopback socket's send buffer to megabytes, and a socket nobody reads
/// stays writable for seconds.
const SERVER_SEND_BUFFER: u32 = 4096;

/// Starts a server whose sockets have a [`SERVER_SEND_BUFFER`] send buffer.
async fn start_with_small_send_buffers(config: Config) -> Server {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SERVER_SEND_BUFFER).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(128).unwrap();
    Server::start(config, listener, Arc::new(NoiseGame)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_unwritable_past_the_outbox_lag_is_dropped() {
    let config = Config {
        outbox_lag: Duration::from_secs(1),
        ..test_config()
    };
    let server = start_with_small_send_buffers(config).await;
    let addr = server.local_addr();
    let mut fast = join(addr, "lag", "fast").await;
    let _slow = join_with_small_buffer(addr, "lag").await;
    // With a few kilobytes of buffer at either end, the first snapshot of
    // tens of kilobytes never finishes: `slow` is dropped one lag after it
    // joined. The bound is the condition's, not the machine's speed: it only
    // ends a test whose socket is never dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // `fast` keeps reading, so that its own socket stays writable.
        fast.next_snapshot().await;
        let room = &server.rooms()[0];
        let details = room.player_details.as_ref().unwrap();
        if room.players == 1 && details.iter().all(|p| p.name == "fast") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unwritable socket was not dropped: {room:?}"
        );
    }
    // `fast` was not dropped with it.
    fast.next_snapshot().await;
    server.shutdown().await;
}
