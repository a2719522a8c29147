//! Drain on SIGTERM: the node places nothing new, lets its players play
//! until its rooms empty or `--drain-timeout` runs out, then leaves the
//! cluster and exits; players still there get the error 4006 and close
//! 1001.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::{Entered, Node, Redis, enter, eventually, matchmake, open, seat, ws_url};
use tickwire_protocol::ServerMessage;
use tokio_tungstenite::tungstenite::Message;

/// Reads a player's messages until the server's error and close; returns
/// the error code, the close code and the snapshots read before.
async fn until_closed(player: &mut common::Player) -> (Option<u16>, u16, u64) {
    let mut error = None;
    let mut snapshots = 0;
    loop {
        match player.next_frame(Duration::from_secs(30)).await {
            Message::Binary(bytes) => match player.decode(&bytes) {
                ServerMessage::Snapshot(_) => snapshots += 1,
                ServerMessage::Error { code, .. } => error = Some(code),
                _ => {}
            },
            Message::Close(frame) => {
                return (error, frame.map_or(1005, |f| u16::from(f.code)), snapshots);
            }
            _ => {}
        }
    }
}

/// Starts nodes `a` (draining for `drain` seconds), `b` and `c`.
fn cluster(redis: &Redis, drain: &str) -> (Node, Node, Node) {
    let a = Node::start(redis, "a", &["--drain-timeout", drain]);
    let b = Node::start(redis, "b", &[]);
    let c = Node::start(redis, "c", &[]);
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_places_nothing_and_closes_its_players_when_the_timeout_runs_out() {
    let redis = Redis::start();
    let drain = Duration::from_secs(3);
    let (mut a, b, _c) = cluster(&redis, "3");
    // The first room goes to `a` (every node empty: the first by id).
    let offer = seat(b.addr, Some("d-1"), "ann").await;
    assert_eq!(offer.node, "a");
    let mut ann = enter(&offer.ws("ann"), "ann").await;
    ann.next_snapshot().await;

    a.signal("TERM");
    let termed = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            redis.hget(&a.key(), "status").await.as_deref() == Some("draining")
        })
        .await,
        "{}",
        a.log()
    );
    // No new room there, whichever node is asked (the draining one too).
    for i in 0..6 {
        let asked = if i % 2 == 0 { a.addr } else { b.addr };
        let offer = seat(asked, Some(&format!("new-{i}")), "x").await;
        assert_ne!(offer.node, "a", "{offer:?}");
        let offer = seat(asked, None, "y").await;
        assert_ne!(offer.node, "a", "{offer:?}");
    }
    // No new player in its room either.
    let (status, answer) = matchmake(b.addr, Some("d-1"), "bob").await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("draining"),
        "{answer}"
    );
    match open(&ws_url(&a.url(), Some("d-1"), "bob", None)).await {
        Entered::Refused { code, close, .. } => assert_eq!((code, close.code), (4004, 1013)),
        other => panic!("{other:?}"),
    }

    // The player plays on until the drain timeout, then 4006 and 1001.
    let (error, close, snapshots) = until_closed(&mut ann).await;
    let closed = termed.elapsed();
    assert_eq!((error, close), (Some(4006), 1001));
    assert!(
        closed >= drain - Duration::from_millis(100),
        "closed after {closed:?}"
    );
    assert!(snapshots > 0);
    let status = a
        .wait_exit(Duration::from_secs(10))
        .expect("the node exits");
    assert!(status.success(), "{status:?}\n{}", a.log());
    // It left the cluster: its keys are gone at once, not at their expiry.
    assert!(!redis.exists(&a.key()).await);
    assert!(!redis.exists("tickwire:room:d-1").await);
    redis.assert_every_key_has_a_ttl().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_exits_once_its_rooms_have_emptied() {
    let redis = Redis::start();
    let drain = Duration::from_secs(30);
    let (mut a, _b, _c) = cluster(&redis, "30");
    let offer = seat(a.addr, Some("d-2"), "ann").await;
    assert_eq!(offer.node, "a");
    let mut ann = enter(&offer.ws("ann"), "ann").await;
    ann.next_snapshot().await;

    a.signal("TERM");
    assert!(
        eventually(Duration::from_secs(5), || async {
            redis.hget(&a.key(), "status").await.as_deref() == Some("draining")
        })
        .await
    );
    ann.next_snapshot().await;
    assert!(
        a.wait_exit(Duration::from_millis(500)).is_none(),
        "it waits for its room"
    );
    ann.ws.close(None).await.unwrap();
    let status = a
        .wait_exit(drain)
        .expect("the node exits once its room emptied, before the timeout");
    assert!(status.success(), "{status:?}\n{}", a.log());
    assert!(!redis.exists(&a.key()).await);
    redis.assert_every_key_has_a_ttl().await;
}
