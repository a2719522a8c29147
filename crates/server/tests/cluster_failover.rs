//! Failover: a room outlives its node. Node `a` is killed (`SIGKILL`, no
//! chance to say anything) under its players; once its lease has run out,
//! their resumes through node `b` continue the room there from the
//! snapshot and input log `a` wrote to Redis: the same players, avatars
//! and tick count, every input `a` acknowledged still applied.
//! A node that was only frozen comes back fenced: it sends its players on
//! to the room's new node, where they resume, and writes nothing over the
//! room's state. `cluster_failover_swarm.rs` does it under 20 swarm bots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::{Entered, LEASE, Node, Redis, eventually, metrics, seat, try_open, ws_url};
use common::Player;
use common::metric;

/// Resumes `player`'s seat through `entry` (any live node), trying again
/// while the dead node's lease runs (1013); the player welcomed back.
async fn resume_through(entry: &str, room: &str, player: &Player, within: Duration) -> Player {
    let token = player.welcome.resume.clone();
    assert!(!token.is_empty(), "the welcome carries a resume token");
    let since = player.last_tick.unwrap_or(0);
    let deadline = Instant::now() + within;
    let start = format!(
        "{}&resume={token}&since={since}",
        ws_url(entry, Some(room), "x", None)
    );
    let mut url = start.clone();
    let mut refusals = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "not resumed within {within:?}; refused: {refusals:?}"
        );
        // The dead node's lease runs: the directory may still send the
        // player there, where nothing answers. Back to the entry.
        let entered = match try_open(&url).await {
            Ok(entered) => entered,
            Err(error) => {
                refusals.push(error);
                url = start.clone();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match entered {
            Entered::Welcomed(player) => return *player,
            Entered::Redirected {
                url: node, ticket, ..
            } => {
                url = format!(
                    "{}&resume={token}&since={since}",
                    ws_url(&node, Some(room), "x", Some(&ticket))
                );
            }
            Entered::Refused { code, reason, .. } => {
                refusals.push(format!("{code} {reason}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_continues_on_another_node_after_its_node_is_killed() {
    let redis = Redis::start();
    let mut a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    // Both empty: placement breaks the tie by id, so `a` gets the room.
    let offer = seat(b.addr, Some("fo-1"), "ann").await;
    assert_eq!(offer.node, "a", "{offer:?}");
    let mut ann = cluster_support::enter(&offer.ws("ann"), "ann").await;
    let mut bob = cluster_support::enter(&ws_url(&b.url(), Some("fo-1"), "bob", None), "bob").await;
    // A second of play: inputs acknowledged.
    let mut seq = 0;
    while ann.last_input.unwrap_or(0) < 20 {
        seq += 1;
        ann.input(seq, 1, 0).await;
        bob.input(seq, 0, 1).await;
        ann.next_snapshot().await;
        bob.next_snapshot().await;
    }
    let acked = ann.last_input.unwrap();
    let tick = ann.last_tick.unwrap();
    let ann_x = ann.entity(ann.welcome.avatar.0).unwrap().values[0];
    assert!(
        redis.exists("tickwire:room:fo-1:state").await,
        "the room's state is in redis"
    );

    let killed = Instant::now();
    a.signal("KILL");
    assert!(a.wait_exit(Duration::from_secs(5)).is_some());

    let within = LEASE * 2 + Duration::from_secs(2);
    let mut ann2 = resume_through(&b.url(), "fo-1", &ann, within + Duration::from_secs(8)).await;
    let back = killed.elapsed();
    let mut bob2 = resume_through(&b.url(), "fo-1", &bob, within + Duration::from_secs(8)).await;
    // The same match: the same players and avatars, the tick count on.
    assert_eq!(ann2.welcome.player, ann.welcome.player);
    assert_eq!(ann2.welcome.avatar, ann.welcome.avatar);
    assert_eq!(bob2.welcome.player, bob.welcome.player);
    assert_eq!(bob2.welcome.avatar, bob.welcome.avatar);
    assert!(
        ann2.welcome.tick >= tick,
        "the tick count went on: {} after {tick}",
        ann2.welcome.tick
    );
    let names: Vec<&str> = ann2
        .welcome
        .roster
        .iter()
        .map(|(_, n)| n.as_str())
        .collect();
    assert!(
        names.contains(&"ann") && names.contains(&"bob"),
        "{names:?}"
    );
    assert!(
        back < within,
        "ann was back {back:?} after the kill, over {within:?}:\n{}",
        b.log()
    );

    // Snapshots flow again, every input `a` acknowledged is still applied,
    // and the avatar is where `a` left it or further on.
    ann2.next_snapshot().await;
    assert!(
        ann2.last_input.unwrap_or(0) >= acked,
        "input {acked} was acknowledged by a, b has {:?}",
        ann2.last_input
    );
    let x = ann2.entity(ann.welcome.avatar.0).unwrap().values[0];
    assert!(x >= ann_x, "ann moved right: {x} < {ann_x}");
    // And inputs go on being applied.
    let before = ann2.last_input.unwrap_or(0);
    let mut moved = false;
    for _ in 0..60 {
        seq += 1;
        ann2.input(seq, 1, 0).await;
        bob2.input(seq, 0, 1).await;
        ann2.next_snapshot().await;
        if ann2.last_input.unwrap_or(0) > before {
            moved = true;
            break;
        }
    }
    assert!(moved, "b applies ann's inputs");

    let text = metrics(b.addr).await;
    eprintln!(
        "ann back {back:?} after the kill; b replayed {} ticks",
        metric(&text, "tickwire_failover_ticks_replayed_total")
    );
    assert_eq!(
        metric(&text, "tickwire_failover_rooms_resumed_total"),
        1.0,
        "{}",
        b.log()
    );
    assert!(metric(&text, "tickwire_failover_ticks_replayed_total") >= 0.0);
    assert!(metric(&text, "tickwire_failover_gap_seconds_count") >= 1.0);
    assert!(
        eventually(Duration::from_secs(5), || async {
            redis.hget("tickwire:room:fo-1", "node").await.as_deref() == Some("b")
        })
        .await
    );
    assert_eq!(
        redis
            .hget("tickwire:room:fo-1:state", "node")
            .await
            .as_deref(),
        Some("b")
    );
    drop((ann, bob));
    redis.assert_every_key_has_a_ttl().await;
    // The room ends with its last player: its state goes.
    for mut player in [ann2, bob2] {
        let _ = player.ws.close(None).await;
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            !redis.exists("tickwire:room:fo-1:state").await
        })
        .await,
        "the room's state outlived the room"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_after_a_failover_gets_a_delta_when_the_game_has_no_views() {
    let redis = Redis::start();
    // The bench game: everyone sees the whole room, so the new node's
    // replayed history holds what the client holds. One snapshot, at the
    // room's opening: the replay covers every tick the client may hold.
    let flags = ["--game", "bench", "--snapshot-every", "1000000"];
    let mut a = Node::start(&redis, "a", &flags);
    let b = Node::start(&redis, "b", &flags);
    let offer = seat(b.addr, Some("fo-2"), "ann").await;
    assert_eq!(offer.node, "a", "{offer:?}");
    let mut ann = cluster_support::enter(&offer.ws("ann"), "ann").await;
    for _ in 0..30 {
        ann.next_snapshot().await;
    }
    let held = ann.state.latest().map_or(0, <[_]>::len);
    a.signal("KILL");
    assert!(a.wait_exit(Duration::from_secs(5)).is_some());
    let mut back = resume_through(&b.url(), "fo-2", &ann, Duration::from_secs(15)).await;
    assert_eq!(back.welcome.player, ann.welcome.player);
    // The client keeps what it holds across the resume, as the SDK does.
    back.state = ann.state;
    back.next_snapshot().await;
    assert_eq!(
        back.last_baseline, ann.last_tick,
        "the first snapshot on b is a delta against the tick the client held"
    );
    assert_eq!(back.state.latest().map_or(0, <[_]>::len), held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_that_comes_back_is_fenced_and_its_players_resume_where_the_room_went_on() {
    let redis = Redis::start();
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    let offer = seat(b.addr, Some("fo-3"), "ann").await;
    assert_eq!(offer.node, "a", "{offer:?}");
    let mut ann = cluster_support::enter(&offer.ws("ann"), "ann").await;
    for _ in 0..10 {
        ann.next_snapshot().await;
    }
    // `a` freezes: its socket to ann stays open, and silent.
    a.signal("STOP");
    tokio::time::sleep(LEASE * 2).await;
    // Someone else comes for the room: `b` continues it, ann's seat held.
    let cy = cluster_support::enter(&ws_url(&b.url(), Some("fo-3"), "cy", None), "cy").await;
    let names: Vec<&str> = cy.welcome.roster.iter().map(|(_, n)| n.as_str()).collect();
    assert!(names.contains(&"ann"), "ann's seat is held on b: {names:?}");
    let epoch = redis.hget("tickwire:room:fo-3:state", "epoch").await;
    assert_eq!(
        redis
            .hget("tickwire:room:fo-3:state", "node")
            .await
            .as_deref(),
        Some("b")
    );

    // `a` runs again: fenced, it sends ann on to `b`, where ann resumes.
    a.signal("CONT");
    let (redirect, _, _) = cluster_support::next_redirect(&mut ann).await;
    assert_eq!(redirect, b.url());
    let mut back = resume_through(&redirect, "fo-3", &ann, Duration::from_secs(10)).await;
    assert_eq!(back.welcome.player, ann.welcome.player);
    assert_eq!(back.welcome.avatar, ann.welcome.avatar);
    back.next_snapshot().await;
    // The node that came back wrote nothing over the room's new life.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        redis.hget("tickwire:room:fo-3:state", "epoch").await,
        epoch,
        "a overwrote b's state:\n{}",
        a.log()
    );
    assert_eq!(
        redis
            .hget("tickwire:room:fo-3:state", "node")
            .await
            .as_deref(),
        Some("b")
    );
    drop(cy);
}
