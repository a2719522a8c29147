//! Playing: joining, moving, seeing each other, leaving, full rooms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tickwire::{Config, GameFactory};
use tickwire_sim::Simulation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_gets_the_welcome_then_30_snapshots_per_second() {
    let _turn = rate_measuring_turn().await;
    let server = arena().await;
    let mut player = join(server.local_addr(), "solo", "ann").await;
    assert_eq!(
        player.welcome.protocol_version,
        tickwire_protocol::PROTOCOL_VERSION
    );
    assert_eq!(player.welcome.schema.game, "arena");
    assert_eq!(player.welcome.room, "solo");
    // The first snapshot is full; the avatar is in it.
    player.next_snapshot().await;
    assert!(player.entity(player.welcome.avatar.0).is_some());
    assert_full_rate(&mut player, Duration::from_secs(2)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_moves_the_avatar() {
    let server = arena().await;
    let mut player = join(server.local_addr(), "moving", "bob").await;
    player.next_snapshot().await;
    let avatar = player.welcome.avatar.0;
    let x0 = player.entity(avatar).unwrap().values[0];
    // Move away from the nearer wall (x is fixed-point; the test arena is
    // 1000).
    let dir: i8 = if x0 > 500 * 16 { -127 } else { 127 };
    for seq in 1..=10 {
        player.input(seq, dir, 0).await;
        player.next_snapshot().await;
    }
    for _ in 0..5 {
        player.next_snapshot().await;
    }
    let x1 = player.entity(avatar).unwrap().values[0];
    assert!(
        (x1 - x0) * i32::from(dir.signum()) > 0,
        "avatar did not move: x {x0} -> {x1}"
    );
    assert_eq!(
        player.last_input,
        Some(10),
        "the server acknowledges input 10"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_see_each_other() {
    let server = arena().await;
    let mut a = join(server.local_addr(), "pair", "a").await;
    let mut b = join(server.local_addr(), "pair", "b").await;
    for _ in 0..3 {
        a.next_snapshot().await;
        b.next_snapshot().await;
    }
    let (avatar_a, avatar_b) = (a.welcome.avatar.0, b.welcome.avatar.0);
    assert_ne!(avatar_a, avatar_b);
    for p in [&a, &b] {
        assert!(p.entity(avatar_a).is_some() && p.entity(avatar_b).is_some());
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_leaves_is_removed_from_the_others_state() {
    let server = arena().await;
    let mut stay = join(server.local_addr(), "leaving", "stay").await;
    let mut go = join(server.local_addr(), "leaving", "go").await;
    go.next_snapshot().await;
    let gone = go.welcome.avatar.0;
    for _ in 0..3 {
        stay.next_snapshot().await;
    }
    assert!(stay.entity(gone).is_some());
    go.ws.close(None).await.unwrap();
    drop(go);
    let mut removed = false;
    for _ in 0..30 {
        stay.next_snapshot().await;
        if stay.entity(gone).is_none() {
            removed = true;
            break;
        }
    }
    assert!(removed, "the leaver's avatar is still replicated after 1 s");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_with_1013() {
    let server = start(Config {
        max_room_players: Some(2),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let _a = join(addr, "small", "a").await;
    let _b = join(addr, "small", "b").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(addr, "small", "c"))
        .await
        .unwrap();
    let ((code, _), closed) = expect_refusal(&mut ws).await;
    assert_eq!(code, tickwire_protocol::error_code::FULL);
    assert_eq!(closed.code, 1013, "{closed:?}");
    assert!(closed.reason.contains("full"), "{closed:?}");
    server.shutdown().await;
}

/// A game whose every match fails to start.
struct Broken;

impl GameFactory for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn new_match(&self, _room: &str, _serial: u64) -> anyhow::Result<Box<dyn Simulation>> {
        anyhow::bail!("no arena today")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_that_cannot_start_refuses_with_1011_not_full() {
    let server = start_with(test_config(), Arc::new(Broken)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server.local_addr(), "r", "a"))
        .await
        .unwrap();
    let ((code, reason), closed) = expect_refusal(&mut ws).await;
    // No code means "server error": 4003 is what the server sends when it
    // cannot start or reach a room (see `session::close`).
    assert_eq!(code, tickwire_protocol::error_code::UNEXPECTED, "{reason}");
    assert!(reason.contains("no arena today"), "{reason}");
    assert_eq!(closed.code, 1011, "{closed:?}");
    assert!(closed.reason.contains("could not start"), "{closed:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matchmaking_fills_the_fullest_room_first_and_opens_new_ones() {
    let server = start(Config {
        max_room_players: Some(2),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let p1 = join(addr, "", "p1").await;
    let p2 = join(addr, "", "p2").await;
    let p3 = join(addr, "", "p3").await;
    assert_eq!(p1.welcome.room, p2.welcome.room);
    assert_ne!(p1.welcome.room, p3.welcome.room);
    let rooms = server.rooms();
    assert_eq!(rooms.len(), 2);
    drop(p3);
    // An emptied room closes (the bound only ends a test where it never does).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.rooms().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "empty room did not close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_welcome_tells_the_client_the_configured_arena() {
    // `arena()` runs the arena with `--arena-size 1000`.
    let server = arena().await;
    let player = join(server.local_addr(), "sized", "ann").await;
    let constants = &player.welcome.constants;
    assert!(
        constants.contains(&("arena_size".to_string(), 1000.0)),
        "{constants:?}"
    );
    assert!(
        constants.iter().any(|(name, _)| name == "player_speed"),
        "{constants:?}"
    );
    server.shutdown().await;
}
