//! Cluster routing: a connection that reaches the wrong node is sent to the
//! right one and ends up in its room; a node refuses to start in cluster
//! mode without a public URL or a secret; a server alone has no
//! matchmaking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use cluster_support::{
    Entered, Node, Redis, enter, eventually, metrics, open, rooms, seat, ws_url,
};
use common::metric;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_at_the_wrong_node_ends_up_in_the_right_room() {
    let redis = Redis::start();
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);

    // A room opened by a connection without a ticket: the node it reached
    // placed it (on the least-loaded node: `a`, the first by id).
    let mut first = enter(&ws_url(&b.url(), Some("arena-1"), "ann", None), "ann").await;
    assert_eq!(first.welcome.room, "arena-1");
    let owner = redis.hget("tickwire:room:arena-1", "node").await;
    assert_eq!(owner.as_deref(), Some("a"));

    // A second player asks the wrong node for that room: a redirect to
    // `a`, with a seat ticket, then close 4010.
    let Entered::Redirected {
        url,
        room,
        ticket,
        close,
    } = open(&ws_url(&b.url(), Some("arena-1"), "bob", None)).await
    else {
        panic!("not redirected");
    };
    assert_eq!((url.as_str(), room.as_str()), (a.url().as_str(), "arena-1"));
    assert!(!ticket.is_empty());
    assert_eq!(close.code, 4010);
    let mut second = match open(&ws_url(&url, Some(&room), "bob", Some(&ticket))).await {
        Entered::Welcomed(player) => *player,
        other => panic!("{other:?}"),
    };
    assert_eq!(second.welcome.room, "arena-1");
    let names: Vec<&str> = second
        .welcome
        .roster
        .iter()
        .map(|(_, n)| n.as_str())
        .collect();
    assert_eq!(names, ["ann", "bob"], "one room, both players");
    second.next_snapshot().await;
    first.next_snapshot().await;

    // A seat ticket for `a` shown to `b`: the same, `b` sends it on.
    let offer = seat(a.addr, Some("arena-1"), "cy").await;
    assert_eq!(offer.node, "a");
    let wrong = ws_url(&b.url(), Some("arena-1"), "cy", Some(&offer.ticket));
    let third = enter(&wrong, "cy").await;
    assert_eq!(third.welcome.room, "arena-1");
    assert_eq!(third.welcome.roster.len(), 3);
    assert!(metric(&metrics(b.addr).await, "tickwire_redirects_total") >= 2.0);

    // Every node lists the room, with its three players.
    assert!(
        eventually(Duration::from_secs(5), || async {
            let listing = rooms(b.addr).await;
            listing["rooms"]
                .as_array()
                .is_some_and(|r| r.len() == 1 && r[0]["players"] == 3 && r[0]["node"] == "a")
        })
        .await,
        "{:#}",
        rooms(b.addr).await
    );
    drop((first, second, third));
    redis.assert_every_key_has_a_ttl().await;
}

/// The binary's exit status and what it printed, run with `args`.
fn refused_start(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn cluster_mode_refuses_to_start_without_a_public_url_or_a_secret() {
    // No Redis is needed to be refused: the flags are checked first.
    let redis = ["--redis", "redis://127.0.0.1:1/"];
    let (ok, text) =
        refused_start(&[&redis[..], &["--cluster-secret", cluster_support::SECRET]].concat());
    assert!(!ok && text.contains("--public-url"), "{text}");
    let (ok, text) = refused_start(&[&redis[..], &["--public-url", "http://127.0.0.1:0"]].concat());
    assert!(!ok && text.contains("--cluster-secret"), "{text}");
    let (ok, text) = refused_start(&["--public-url", "http://127.0.0.1:0"]);
    assert!(!ok && text.contains("--redis"), "{text}");
    let (ok, text) = refused_start(
        &[
            &redis[..],
            &[
                "--public-url",
                "http://127.0.0.1:0",
                "--cluster-secret",
                "short",
            ],
        ]
        .concat(),
    );
    assert!(!ok && text.contains("16"), "{text}");
    let (ok, text) = refused_start(
        &[
            &redis[..],
            &[
                "--public-url",
                "http://127.0.0.1:0",
                "--cluster-secret",
                cluster_support::SECRET,
                "--heartbeat",
                "1",
                "--lease",
                "1.5",
            ],
        ]
        .concat(),
    );
    assert!(!ok && text.contains("--lease"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_alone_has_no_matchmaking_and_needs_no_redis() {
    let server = common::arena().await;
    let (status, answer) = cluster_support::matchmake(server.local_addr(), None, "ann").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not part of a cluster")
    );
    assert!(rooms(server.local_addr()).await.get("node").is_none());
    server.shutdown().await;
}
