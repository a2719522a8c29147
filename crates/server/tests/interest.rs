//! Interest management through the real server: players in a big bench
//! world receive exactly the avatars inside their views, and a bandwidth
//! budget still brings every avatar in view to every client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use tickwire::{BundledOptions, Config, Server};

/// Side of every player's view in these tests.
const VIEW: f32 = 2000.0;

/// A server of the bench game in a square of side `arena`, every player
/// seeing `VIEW`, held to `budget` if given.
async fn open_world(arena: f32, budget: Option<u64>) -> Server {
    let options = BundledOptions {
        arena_size: Some(arena),
        view_size: Some(VIEW),
        ..BundledOptions::default()
    };
    let config = Config {
        bandwidth_budget: budget,
        ..test_config()
    };
    start_game("bench", options, config).await
}

/// A player's own avatar position in world units (bench rows: x, y at
/// 1/16 unit).
fn own_position(p: &Player) -> (f32, f32) {
    let me = p
        .entity(p.welcome.avatar.0)
        .expect("a player always sees itself");
    (me.values[0] as f32 / 16.0, me.values[1] as f32 / 16.0)
}

/// The avatars `p` holds now.
fn seen(p: &Player) -> BTreeSet<u32> {
    p.state
        .latest()
        .map(|s| s.iter().map(|e| e.id.0).collect())
        .unwrap_or_default()
}

/// The avatars of `all` whose positions lie in the view centred on `at`.
fn in_view(at: (f32, f32), all: &[(u32, (f32, f32))]) -> BTreeSet<u32> {
    let half = VIEW / 2.0;
    all.iter()
        .filter(|(_, (x, y))| (x - at.0).abs() <= half && (y - at.1).abs() <= half)
        .map(|(id, _)| *id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_far_apart_see_only_themselves() {
    // 100,000 units square: two random spawns are within one view of each
    // other about once in 2,500 runs, and then must see each other.
    let server = open_world(100_000.0, None).await;
    let mut a = join(server.local_addr(), "far", "a").await;
    let mut b = join(server.local_addr(), "far", "b").await;
    for _ in 0..5 {
        a.next_snapshot().await;
        b.next_snapshot().await;
    }
    let all = [
        (a.welcome.avatar.0, own_position(&a)),
        (b.welcome.avatar.0, own_position(&b)),
    ];
    for p in [&a, &b] {
        assert_eq!(seen(p), in_view(own_position(p), &all));
        assert!(seen(p).contains(&p.welcome.avatar.0));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_player_receives_exactly_the_avatars_in_its_view() {
    // Eight players in 5000 x 5000 with 2000-unit views: some see each
    // other, some do not. Nobody moves, so positions are fixed.
    let server = open_world(5000.0, None).await;
    let mut players = Vec::new();
    for i in 0..8 {
        players.push(join(server.local_addr(), "crowd", &format!("p{i}")).await);
    }
    // Let everyone catch up with the last join.
    for _ in 0..5 {
        for p in players.iter_mut() {
            p.next_snapshot().await;
        }
    }
    let all: Vec<(u32, (f32, f32))> = players
        .iter()
        .map(|p| (p.welcome.avatar.0, own_position(p)))
        .collect();
    let mut pairs_seen = 0;
    for p in &players {
        let expected = in_view(own_position(p), &all);
        assert_eq!(seen(p), expected, "player {:?}", p.welcome.player);
        pairs_seen += expected.len() - 1;
    }
    // The layout is random; record what it exercised.
    eprintln!("{pairs_seen} of 56 ordered pairs in view");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tight_budget_still_brings_every_avatar_in_view_to_every_client() {
    // A 1000-unit square: everyone sees everyone. 600 bytes a second is
    // 20 a snapshot: room for one or two changes, so most wait.
    let server = open_world(1000.0, Some(600)).await;
    let mut players = Vec::new();
    for i in 0..6 {
        players.push(join(server.local_addr(), "tight", &format!("p{i}")).await);
    }
    let ids: BTreeSet<u32> = players.iter().map(|p| p.welcome.avatar.0).collect();
    // Everyone moves, so every avatar always has a change to send.
    for (i, p) in players.iter_mut().enumerate() {
        let dx = [100i8, 60, 20, -20, -60, -100][i];
        p.input(1, dx, 60).await;
    }
    let mut complete = vec![false; players.len()];
    for _ in 0..90 {
        for (i, p) in players.iter_mut().enumerate() {
            p.next_snapshot().await;
            complete[i] |= seen(p) == ids;
        }
        if complete.iter().all(|c| *c) {
            break;
        }
    }
    assert!(
        complete.iter().all(|c| *c),
        "not every client got every avatar within 3 s: {complete:?}"
    );
    // Snapshots keep coming, every tick, budget or not: ten more, of ten
    // consecutive ticks (tick numbers, not a clock: a busy machine may tick
    // late, but never leaves a tick out).
    for p in players.iter_mut() {
        let mut ticks = Vec::new();
        for _ in 0..10 {
            p.next_snapshot().await;
            ticks.extend(p.last_tick);
        }
        assert!(
            ticks.len() == 10 && ticks.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "{ticks:?}"
        );
    }
    server.shutdown().await;
}
