//! Liveness: a stopped node's keys expire within two leases and nothing is
//! placed on it; when it runs again it registers again, keeps the rooms no
//! one took, and stops (fences) the room another node opened meanwhile,
//! sending its players there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::time::Duration;

use cluster_support::{LEASE, Node, Redis, enter, eventually, metrics, seat, ws_url};
use common::metric;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_drops_out_and_fences_its_stale_rooms_when_it_runs_again() {
    let redis = Redis::start();
    // `c` alone first, so that it gets the two rooms.
    // Without failover (`--snapshot-every 0`): what is told here is the
    // fencing of a room opened afresh elsewhere; `cluster_failover.rs`
    // tells the room continued.
    let c = Node::start(&redis, "c", &["--snapshot-every", "0"]);
    let mut stale = enter(&ws_url(&c.url(), Some("stale-1"), "ann", None), "ann").await;
    let mut kept = enter(&ws_url(&c.url(), Some("kept-1"), "bob", None), "bob").await;
    let a = Node::start(&redis, "a", &["--snapshot-every", "0"]);
    let b = Node::start(&redis, "b", &["--snapshot-every", "0"]);
    stale.next_snapshot().await;
    kept.next_snapshot().await;

    c.signal("STOP");
    tokio::time::sleep(LEASE * 2).await;
    for key in [
        c.key(),
        "tickwire:room:stale-1".into(),
        "tickwire:room:kept-1".into(),
    ] {
        assert!(!redis.exists(&key).await, "{key} outlived two leases");
    }
    let left: Vec<String> = redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":node:c") || k.contains("-1"))
        .collect();
    assert!(
        left.is_empty(),
        "keys of the stopped node outlived two leases: {left:?}"
    );
    // Nothing goes to `c` now: new rooms, and its lost room's name.
    for i in 0..6 {
        let offer = seat(a.addr, Some(&format!("new-{i}")), "x").await;
        assert_ne!(offer.node, "c", "{offer:?}");
    }
    let offer = seat(b.addr, Some("stale-1"), "cy").await;
    assert_ne!(offer.node, "c");
    let owner_url = offer.url.clone();
    let mut cy = enter(&offer.ws("cy"), "cy").await;
    cy.next_snapshot().await;

    c.signal("CONT");
    // Registered again within a few heartbeats, its untaken room with it.
    assert!(
        eventually(Duration::from_secs(5), || async {
            redis.hget(&c.key(), "status").await.as_deref() == Some("up")
                && redis.hget("tickwire:room:kept-1", "node").await.as_deref() == Some("c")
        })
        .await,
        "c did not register again:\n{}",
        c.log()
    );
    assert_eq!(
        redis.hget("tickwire:room:stale-1", "node").await.as_deref(),
        Some(offer.node.as_str()),
        "the room opened meanwhile stays where it is"
    );

    // The player of the fenced room is sent to its new node, then 4010.
    let redirect = cluster_support::next_redirect(&mut stale).await;
    assert_eq!(
        (redirect.0.as_str(), redirect.1.as_str()),
        (owner_url.as_str(), "stale-1")
    );
    let close = common::expect_close(&mut stale.ws).await;
    assert_eq!(close.code, 4010);
    let ann = enter(
        &ws_url(&redirect.0, Some("stale-1"), "ann", Some(&redirect.2)),
        "ann",
    )
    .await;
    let names: Vec<&str> = ann.welcome.roster.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["cy", "ann"]);
    assert!(
        metric(
            &metrics(c.addr).await,
            "tickwire_cluster_rooms_fenced_total"
        ) >= 1.0
    );

    // The room no one took ticks on at `c`.
    kept.next_snapshot().await;
    drop((kept, ann, cy));
    redis.assert_every_key_has_a_ttl().await;
}
