//! Spectators through the real server: a follower receives exactly the
//! followed player's view, tick by tick, and switches at runtime; a full
//! room still admits a spectator, who holds no seat, is not in the game,
//! is counted apart, and is closed with 4009 for an input; with a delay,
//! spectators are that many ticks behind the players; and shutdown closes
//! them like players.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tickwire::{BundledOptions, Config, Server};
use tickwire_protocol::{
    ClientMessage, Limits, NO_PLAYER, ServerEvent, ServerMessage, WatchTarget, error_code,
};
use tickwire_sim::{PlayerId, ReplicatedEntity};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Side of every player's view in the open-world tests.
const VIEW: f32 = 2000.0;

/// A bench-game server in a 5000-unit square, every player seeing `VIEW`.
async fn open_world(config: Config) -> Server {
    let options = BundledOptions {
        arena_size: Some(5000.0),
        view_size: Some(VIEW),
        ..BundledOptions::default()
    };
    start_game("bench", options, config).await
}

/// Connects a spectator to `room`, following `follow` if given, and reads
/// its welcome.
async fn spectate(addr: SocketAddr, room: &str, follow: Option<PlayerId>) -> Player {
    let follow = follow.map_or(String::new(), |p| format!("&follow={}", p.0));
    let url = format!("ws://{addr}/ws?room={room}&spectate=1{follow}");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    welcome(ws).await
}

/// What a client read: a snapshot (its tick and the whole state after it)
/// or whom a spectator follows now.
#[derive(Debug)]
enum Read {
    Snapshot(u32, Vec<ReplicatedEntity>),
    Watching(Option<PlayerId>),
}

/// Reads messages until a snapshot is applied or a `Watching` event comes.
async fn next(p: &mut Player) -> Read {
    loop {
        match p.next_message(Duration::from_secs(5)).await {
            ServerMessage::Snapshot(snapshot) => {
                let state = p.state.apply(&snapshot.body).expect("snapshot applies");
                p.last_tick = Some(snapshot.body.tick);
                return Read::Snapshot(snapshot.body.tick, state.to_vec());
            }
            ServerMessage::Event(ServerEvent::Watching { followed }) => {
                return Read::Watching(followed.map(|(player, _)| player));
            }
            _ => {}
        }
    }
}

/// Every state `p` holds after each of its next `n` snapshots, by tick.
async fn states(p: &mut Player, n: usize) -> BTreeMap<u32, Vec<ReplicatedEntity>> {
    let mut out = BTreeMap::new();
    while out.len() < n {
        if let Read::Snapshot(tick, state) = next(p).await {
            out.insert(tick, state);
        }
    }
    out
}

/// Every state `p` holds after each snapshot up to `tick`, by tick: what
/// a player behind on its socket catches up with.
async fn states_through(p: &mut Player, tick: u32) -> BTreeMap<u32, Vec<ReplicatedEntity>> {
    let mut out = BTreeMap::new();
    while p.last_tick.is_none_or(|t| t < tick) {
        if let Read::Snapshot(tick, state) = next(p).await {
            out.insert(tick, state);
        }
    }
    out
}

/// The spectator's next `n` states, and the player's up to the last of
/// them: the player reads on meanwhile, then catches up.
async fn both(
    spectator: &mut Player,
    player: &mut Player,
    n: usize,
) -> [BTreeMap<u32, Vec<ReplicatedEntity>>; 2] {
    let seen = states(spectator, n).await;
    let last = seen.keys().next_back().copied().unwrap_or(0);
    [seen, states_through(player, last).await]
}

/// Asserts that `spectator` and `player` held the same state at every tick
/// both were sent (at least `min` of them), and returns how many entities
/// the spectator saw at most.
fn assert_same_views(
    spectator: &BTreeMap<u32, Vec<ReplicatedEntity>>,
    player: &BTreeMap<u32, Vec<ReplicatedEntity>>,
    min: usize,
) -> usize {
    let mut common = 0;
    let mut most = 0;
    for (tick, seen) in spectator {
        if let Some(theirs) = player.get(tick) {
            assert_eq!(seen, theirs, "tick {tick}: the spectator's state differs");
            common += 1;
            most = most.max(seen.len());
        }
    }
    assert!(
        common >= min,
        "only {common} ticks in common: spectator {:?}, player {:?}",
        spectator.keys().collect::<Vec<_>>(),
        player.keys().collect::<Vec<_>>()
    );
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_receives_exactly_the_followed_players_view_and_can_switch() {
    let server = open_world(test_config()).await;
    let addr = server.local_addr();
    // Eight players in 5000 x 5000 seeing 2000 x 2000: each sees a few of
    // the others. All of them move, so values change every tick.
    let mut players = Vec::new();
    for i in 0..8 {
        let mut p = join(addr, "watched", &format!("p{i}")).await;
        let (dx, dy) = [(100, 40), (-60, 90), (30, -100), (-100, -20)][i % 4];
        p.input(1, dx, dy).await;
        players.push(p);
    }
    let (first, second) = (players[2].welcome.player, players[5].welcome.player);
    let mut spectator = spectate(addr, "watched", Some(first)).await;
    let w = &spectator.welcome;
    assert!(w.spectator, "the welcome says the connection spectates");
    assert_eq!(w.following, Some(first));
    assert_eq!(w.player, NO_PLAYER, "a spectator is no player");
    assert_eq!(
        w.avatar, players[2].welcome.avatar,
        "its avatar: the followed one's"
    );
    assert_eq!(w.roster.len(), 8, "the roster lists the players only");

    let [seen, theirs] = both(&mut spectator, &mut players[2], 40).await;
    let most = assert_same_views(&seen, &theirs, 20);
    assert!(
        (1..8).contains(&most),
        "the view is the player's, not the whole world: {most} of 8 avatars"
    );

    // Switch to another player at runtime: a `Watching` event says so, and
    // from then on the snapshots are that player's.
    spectator
        .send(&ClientMessage::Watch(WatchTarget::Player(second)))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no Watching event within 5 s");
        if let Read::Watching(followed) = next(&mut spectator).await {
            assert_eq!(followed, Some(second));
            break;
        }
    }
    let [seen, theirs] = both(&mut spectator, &mut players[5], 40).await;
    assert_same_views(&seen, &theirs, 20);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rectangle_shows_what_is_in_it_shrunk_to_the_limit() {
    let server = open_world(Config {
        max_spectator_rect: 1000.0,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    // Eight idle players: their avatars stay where they spawned.
    let mut players = Vec::new();
    for i in 0..8 {
        players.push(join(addr, "rect", &format!("p{i}")).await);
    }
    let mut spectator = spectate(addr, "rect", None).await;
    let mut all = Vec::new();
    for p in players.iter_mut() {
        p.next_snapshot().await;
        let me = p.entity(p.welcome.avatar.0).expect("a player sees itself");
        let at = (me.values[0] as f32 / 16.0, me.values[1] as f32 / 16.0);
        all.push((me.id.0, at));
    }
    // A 5000-unit square centred on the first avatar, which the server
    // shrinks to 1000 about the same centre.
    let (cx, cy) = all[0].1;
    let rect = WatchTarget::Rect {
        x: cx - 2500.0,
        y: cy - 2500.0,
        width: 5000.0,
        height: 5000.0,
    };
    spectator.send(&ClientMessage::Watch(rect)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no Watching event within 5 s");
        if let Read::Watching(followed) = next(&mut spectator).await {
            assert_eq!(followed, None, "a rectangle follows no one");
            break;
        }
    }
    let expected: Vec<u32> = all
        .iter()
        .filter(|(_, (x, y))| (x - cx).abs() <= 500.0 && (y - cy).abs() <= 500.0)
        .map(|(id, _)| *id)
        .collect();
    let seen = states(&mut spectator, 3).await;
    for (tick, state) in seen {
        let ids: Vec<u32> = state.iter().map(|e| e.id.0).collect();
        assert_eq!(
            ids, expected,
            "tick {tick}: avatars in the 1000-unit square"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_admits_a_spectator_who_holds_no_seat_and_may_not_play() {
    let server = arena_with(Config {
        max_room_players: Some(2),
        max_spectators: 1,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut a = join(addr, "full", "a").await;
    let b = join(addr, "full", "b").await;
    // The room is full for players...
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(addr, "full", "c"))
        .await
        .unwrap();
    let ((code, _), closed) = expect_refusal(&mut ws).await;
    assert_eq!((code, closed.code), (error_code::FULL, 1013));

    // ...not for a spectator, who follows the first player by default.
    let mut spectator = spectate(addr, "full", None).await;
    assert!(spectator.welcome.spectator);
    assert_eq!(spectator.welcome.following, Some(a.welcome.player));
    assert!(matches!(next(&mut spectator).await, Read::Snapshot(..)));

    // It holds no seat and is no player: the room counts it apart, and the
    // players hear of no join.
    let rooms = server.rooms();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (
            rooms[0].players,
            rooms[0].spectators,
            rooms[0].max_spectators
        ),
        (2, 1, 1)
    );
    let listed = http_get(addr, "/api/rooms").await;
    assert!(listed.contains("\"spectators\": 1"), "{listed}");
    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.contains("tickwire_spectators "), "{metrics}");
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        let Ok(Some(Ok(Message::Binary(bytes)))) = timeout(end - Instant::now(), a.ws.next()).await
        else {
            continue;
        };
        let decoded = ServerMessage::decode(&bytes, Some(&a.welcome.schema), &Limits::default());
        match decoded.expect("every server message decodes") {
            ServerMessage::Event(ServerEvent::PlayerJoined { player, .. }) => {
                assert_eq!(player, b.welcome.player, "a player was told of a spectator");
            }
            ServerMessage::Snapshot(snapshot) => {
                a.state.apply(&snapshot.body).expect("snapshot applies");
            }
            _ => {}
        }
    }

    // The room's spectator limit holds.
    let url = format!("ws://{addr}/ws?room=full&spectate=1");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ((code, reason), closed) = expect_refusal(&mut ws).await;
    assert_eq!((code, closed.code), (error_code::FULL, 1013));
    assert!(reason.contains("spectators"), "{reason}");

    // An input from a spectator closes it: protocol error 4009, then 1008.
    spectator.input(1, 100, 0).await;
    let schema = spectator.welcome.schema.clone();
    let mut errors = Vec::new();
    let closed = loop {
        let msg = timeout(Duration::from_secs(3), spectator.ws.next())
            .await
            .expect("the close within 3 s");
        match msg {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Error { code, reason }) =
                    ServerMessage::decode(&bytes, Some(&schema), &Limits::default())
                {
                    errors.push((code, reason));
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.expect("a close code"),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(closed.code), 1008, "{closed:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, error_code::SPECTATOR_INPUT);
    assert!(errors[0].1.contains("spectator"), "{errors:?}");
    // Its place is given back; the players play on.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.rooms()[0].spectators != 0 {
        assert!(Instant::now() < deadline, "the spectator was not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.rooms()[0].players, 2);
    a.next_snapshot().await;
    server.shutdown().await;
}

/// The bundled arena in a 1000-unit square with `config`.
async fn arena_with(config: Config) -> Server {
    let options = BundledOptions {
        arena_size: Some(1000.0),
        ..BundledOptions::default()
    };
    start_game("arena", options, config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_delay_of_3_s_spectators_are_90_ticks_behind_the_players() {
    let server = arena_with(Config {
        spectator_delay: Duration::from_secs(3),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut player = join(addr, "delayed", "p").await;
    let spectator = spectate(addr, "delayed", Some(player.welcome.player)).await;
    // Each reads on in a task of its own, noting when each tick arrived.
    let read = |mut p: Player, seconds: u64| {
        tokio::spawn(async move {
            let mut arrivals = Vec::new();
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end {
                if let Read::Snapshot(tick, _) = next(&mut p).await {
                    arrivals.push((tick, Instant::now()));
                }
            }
            (p, arrivals)
        })
    };
    player.next_snapshot().await;
    let players = read(player, 6);
    let spectators = read(spectator, 6);
    let (player, ours) = players.await.unwrap();
    let (_spectator, theirs) = spectators.await.unwrap();
    drop(player);
    assert!(theirs.len() >= 30, "{} delayed snapshots", theirs.len());
    // For each delayed snapshot, the newest tick the player had when it
    // arrived: both are sent in the same room tick.
    let mut behind: Vec<i64> = theirs
        .iter()
        .filter_map(|(tick, at)| {
            let newest = ours.iter().take_while(|(_, t)| t <= at).last()?;
            Some(i64::from(newest.0) - i64::from(*tick))
        })
        .collect();
    behind.sort_unstable();
    let median = behind[behind.len() / 2];
    eprintln!(
        "ticks behind: min {}, median {median}, max {}",
        behind[0],
        behind[behind.len() - 1]
    );
    assert!(
        (88..=92).contains(&median),
        "spectators are {median} ticks behind (90 expected): {behind:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_spectators_like_players() {
    let server = arena().await;
    let addr = server.local_addr();
    let mut player = join(addr, "closing", "p").await;
    let mut spectator = spectate(addr, "closing", None).await;
    player.next_snapshot().await;
    assert!(matches!(next(&mut spectator).await, Read::Snapshot(..)));
    server.shutdown().await;
    for p in [&mut player, &mut spectator] {
        let closed = expect_close(&mut p.ws).await;
        assert_eq!(closed.code, 1001, "{closed:?}");
    }
}
