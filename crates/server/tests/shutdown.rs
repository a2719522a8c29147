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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_in_rooms_get_the_shutdown_error_before_1001() {
    use futures_util::StreamExt;
    use tickwire_protocol::{Limits, ServerMessage, error_code};
    use tokio_tungstenite::tungstenite::Message;

    let server = arena().await;
    let addr = server.local_addr();
    let mut player = join(addr, "one", "a").await;
    player.next_snapshot().await;
    server.shutdown().await;
    let schema = player.welcome.schema.clone();
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let close = loop {
        let next = tokio::time::timeout_at(deadline, player.ws.next()).await;
        match next.expect("the close within 3 s") {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Error { code, .. }) =
                    ServerMessage::decode(&bytes, Some(&schema), &Limits::default())
                {
                    errors.push(code);
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(close, Some(1001));
    assert_eq!(
        errors,
        [error_code::SHUTDOWN],
        "the error comes before the close"
    );
}
