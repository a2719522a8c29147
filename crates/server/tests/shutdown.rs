//! Graceful shutdown: every player gets close 1001, quickly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_1001_to_every_player_and_returns_promptly() {
    let server = arena().await;
    let addr = server.local_addr();
    let mut players = vec![
        join(addr, "one", "a").await,
        join(addr, "one", "b").await,
        join(addr, "two", "c").await,
    ];
    for p in &mut players {
        p.next_snapshot().await;
    }
    let started = Instant::now();
    server.shutdown().await;
    // It waits for sessions at most the grace: no hang. The slack is for a
    // busy machine, not a second grace.
    assert!(
        started.elapsed() < tickwire::SHUTDOWN_GRACE + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    for p in &mut players {
        let closed = expect_close(&mut p.ws).await;
        assert_eq!(closed.code, 1001, "{closed:?}");
    }
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
