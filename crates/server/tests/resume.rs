//! Seat hold and resume, end to end: players reach the server through a
//! small TCP proxy that the test cuts, as a network drop would, and come
//! back with the token of their welcome (`/ws?resume=TOKEN&since=TICK`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tickwire::Config;
use tickwire_protocol::{Limits, ServerMessage, error_code};
use tickwire_sim::games::arena::{Arena, ArenaConfig};
use tickwire_sim::{PlayerInput, ReplicatedEntity};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// A TCP proxy in front of the server: every connection through it is
/// piped both ways until [`Proxy::cut`] drops them all at once, both ends,
/// without a WebSocket close.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                    // Both sockets dropped here: each end sees its
                    // connection end, and no close frame.
                });
            }
        });
        Self { addr, cut, task }
    }

    /// Drops every connection open through the proxy.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An arena of 300 units where one hit kills and the dead come back after
/// a second: a kill, and so a score, comes quickly.
async fn arena_server(config: Config) -> tickwire::Server {
    let arena = ArenaConfig {
        arena_size: 300.0,
        max_hp: 1,
        respawn_delay: 1.0,
        ..ArenaConfig::default()
    };
    let game = tickwire::Configured::<Arena>::with_config(arena, 30).unwrap();
    start_with(config, Arc::new(game)).await
}

fn grace(seconds: f64) -> Config {
    Config {
        reconnect_grace: Duration::from_secs_f64(seconds),
        ..test_config()
    }
}

/// The URL that resumes with `token`, holding `since`.
fn resume_url(addr: SocketAddr, token: &str, since: Option<u32>) -> String {
    match since {
        Some(tick) => format!("ws://{addr}/ws?resume={token}&since={tick}"),
        None => format!("ws://{addr}/ws?resume={token}"),
    }
}

/// A refused resume: the error message's code and reason, and the close.
type Refused = ((u16, String), Closed);

/// Resumes `old`'s seat through `addr` with `token`: the player with its
/// new welcome, keeping what its client held (`old`'s states), or the
/// refusal.
async fn resume(addr: SocketAddr, token: &str, old: &Player) -> Result<Player, Refused> {
    let since = old.state.latest_tick();
    let (mut ws, _) = tokio_tungstenite::connect_async(resume_url(addr, token, since))
        .await
        .expect("websocket connects");
    let first = timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an answer in time")
        .expect("stream open")
        .expect("no socket error");
    let Message::Binary(bytes) = first else {
        panic!("expected a welcome or an error, got {first:?}");
    };
    match ServerMessage::decode(&bytes, None, &Limits::default()).expect("decodes") {
        ServerMessage::Welcome(welcome) => Ok(Player {
            ws,
            welcome,
            state: old.state.clone(),
            snapshots: 0,
            last_input: None,
            last_tick: None,
            last_baseline: None,
        }),
        ServerMessage::Error { code, reason } => Err(((code, reason), expect_close(&mut ws).await)),
        other => panic!("expected a welcome or an error, got {other:?}"),
    }
}

/// [`resume`], tried again while the server has not yet seen the old
/// connection drop (refused as "in use"), within a bound that only ends a
/// test where it never does.
async fn resume_when_held(addr: SocketAddr, token: &str, old: &Player) -> Player {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match resume(addr, token, old).await {
            Ok(player) => return player,
            Err(((code, reason), _))
                if code == error_code::RESUME_REFUSED && reason.contains("in use") =>
            {
                assert!(
                    Instant::now() < deadline,
                    "the drop was never seen: {reason}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(refused) => panic!("resume refused: {refused:?}"),
        }
    }
}

/// The next snapshot: applied to the player's states; its baseline (`None`:
/// full) and the player's last input it acknowledges.
async fn snapshot(player: &mut Player) -> (Option<u32>, Option<u32>, Vec<ReplicatedEntity>) {
    loop {
        if let ServerMessage::Snapshot(snapshot) = player.next_message(Duration::from_secs(5)).await
        {
            let state = player
                .state
                .apply(&snapshot.body)
                .expect("the snapshot applies to what the client holds")
                .to_vec();
            player.last_input = snapshot.last_input;
            player.last_tick = Some(snapshot.body.tick);
            return (snapshot.body.baseline, snapshot.last_input, state);
        }
    }
}

/// The row of `player`'s own avatar in the newest state it holds.
fn own(player: &Player) -> ReplicatedEntity {
    player
        .entity(player.welcome.avatar.0)
        .expect("the avatar is in view")
}

/// The avatar's score (the arena's avatar row: x, y, heading, hp, score).
fn score(row: &ReplicatedEntity) -> i32 {
    row.values[4]
}

/// An arena input: aim (1/65536 turn) and fire.
fn aim_and_fire(seq: u32, aim: u16, fire: bool) -> tickwire_protocol::ClientMessage {
    tickwire_protocol::ClientMessage::Input(PlayerInput::new(
        seq,
        &[0, 0, i32::from(aim), i32::from(fire)],
    ))
}

/// The aim from `from` to `to`, in 1/65536 turn (positions in 1/16 unit).
fn aim(from: &ReplicatedEntity, to: &ReplicatedEntity) -> u16 {
    let dx = (to.values[0] - from.values[0]) as f32;
    let dy = (to.values[1] - from.values[1]) as f32;
    let turns = dy.atan2(dx) / std::f32::consts::TAU;
    (turns.rem_euclid(1.0) * 65536.0).round() as u32 as u16
}

/// Shoots at `target` until `shooter` scores; returns the last input's
/// sequence number, `shooter` idle after it.
async fn score_a_kill(shooter: &mut Player, target: &mut Player) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let target_id = target.welcome.avatar.0;
    let mut seq = 0;
    loop {
        target.next_snapshot().await;
        snapshot(shooter).await;
        let me = own(shooter);
        if score(&me) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no kill: {me:?}");
        if let Some(them) = shooter.entity(target_id) {
            seq += 1;
            shooter
                .send(&aim_and_fire(seq, aim(&me, &them), true))
                .await;
        }
    }
    // Idle, and wait until the server has applied it.
    seq += 1;
    shooter.send(&aim_and_fire(seq, 0, false)).await;
    while shooter.last_input != Some(seq) {
        snapshot(shooter).await;
        target.next_snapshot().await;
    }
    // One more tick, so the held state shows the idle input's effect.
    snapshot(shooter).await;
    seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_player_resumes_its_seat_avatar_score_and_inputs_with_a_delta() {
    let server = arena_server(grace(60.0)).await;
    let proxy = Proxy::start(server.local_addr()).await;
    let mut shooter = join(proxy.addr, "cut", "shooter").await;
    let mut target = join(proxy.addr, "cut", "target").await;
    assert!(
        !shooter.welcome.resume.is_empty(),
        "a welcome carries a token"
    );
    let seq = score_a_kill(&mut shooter, &mut target).await;
    let before = own(&shooter);
    assert_eq!(score(&before), 1);

    proxy.cut();
    // The room holds both seats (the bound only ends a test where it never
    // does): /api/rooms shows them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.rooms()[0].held != 2 {
        assert!(
            Instant::now() < deadline,
            "seats not held: {:?}",
            server.rooms()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let room = &server.rooms()[0];
    assert_eq!(room.players, 2, "held seats are still players");
    assert!(room.player_details.as_ref().unwrap().iter().all(|p| p.held));
    let metrics = http_get(server.local_addr(), "/metrics").await;
    assert!(metrics.contains("tickwire_seats_held"), "{metrics}");

    let token = shooter.welcome.resume.clone();
    let mut back = resume_when_held(proxy.addr, &token, &shooter).await;
    assert_eq!(back.welcome.player, shooter.welcome.player, "same player");
    assert_eq!(back.welcome.avatar, shooter.welcome.avatar, "same avatar");
    assert_ne!(back.welcome.resume, token, "a fresh token");
    assert!(!back.welcome.resume.is_empty());
    let (baseline, last_input, _) = snapshot(&mut back).await;
    assert_eq!(
        baseline,
        shooter.state.latest_tick(),
        "a delta against the tick the client held, not a full snapshot"
    );
    assert_eq!(last_input, Some(seq), "the input sequence carries on");
    let after = own(&back);
    assert_eq!(
        after, before,
        "the avatar idled where it was, its score kept"
    );

    // Its inputs go on from where they were: an old number is stale, the
    // next is applied.
    back.send(&aim_and_fire(1, 0, false)).await;
    back.send(&aim_and_fire(seq + 1, 0, false)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while back.last_input != Some(seq + 1) {
        assert!(Instant::now() < deadline, "input {} not applied", seq + 1);
        let (_, acked, _) = snapshot(&mut back).await;
        assert_ne!(acked, Some(1), "a stale sequence number is ignored");
    }

    // The other player comes back too, whatever it is sent first.
    let token = target.welcome.resume.clone();
    let mut target_back = resume_when_held(proxy.addr, &token, &target).await;
    assert_eq!(target_back.welcome.player, target.welcome.player);
    snapshot(&mut target_back).await;
    assert_eq!(server.rooms()[0].held, 0);
    assert!(
        http_get(server.local_addr(), "/metrics")
            .await
            .lines()
            .any(|l| l.starts_with("tickwire_resumes_total") && !l.ends_with(" 0")),
        "resumes are counted"
    );

    // Neither was told anyone left.
    back.ws.close(None).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_the_seat_is_released_and_the_token_refused() {
    let server = arena_server(grace(0.5)).await;
    let proxy = Proxy::start(server.local_addr()).await;
    // `stays` keeps the room open; `leaving` goes through the proxy.
    let mut stays = join(server.local_addr(), "brief", "stays").await;
    let mut leaving = join(proxy.addr, "brief", "leaving").await;
    leaving.next_snapshot().await;
    stays.next_snapshot().await;
    let token = leaving.welcome.resume.clone();
    let player = leaving.welcome.player;
    proxy.cut();
    // The grace runs out: the room releases the seat.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rooms = server.rooms();
        let released = rooms.iter().all(|r| {
            r.player_details
                .as_ref()
                .unwrap()
                .iter()
                .all(|p| p.player != player.0)
        });
        if released {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the seat was never released: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = resume(server.local_addr(), &token, &leaving).await.err();
    let ((code, reason), closed) = refused.expect("refused");
    assert_eq!(code, error_code::RESUME_REFUSED);
    assert_eq!(closed.code, 4008, "{closed:?}");
    assert!(reason.contains("seat released"), "{reason}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_twice_used_superseded_and_misdirected_tokens_are_refused() {
    let server = arena_server(grace(60.0)).await;
    let addr = server.local_addr();
    let proxy = Proxy::start(addr).await;
    let mut player = join(proxy.addr, "guarded", "ann").await;
    player.next_snapshot().await;
    let token = player.welcome.resume.clone();

    // Forged: the claims changed, the signature kept.
    let (payload, signature) = token.split_once('.').unwrap();
    let mut forged_payload = payload.to_owned();
    let last = forged_payload.pop().unwrap();
    forged_payload.push(if last == 'A' { 'B' } else { 'A' });
    for forged in [
        format!("{forged_payload}.{signature}"),
        "garbage".to_owned(),
    ] {
        let ((code, reason), closed) = resume(addr, &forged, &player).await.err().expect("refused");
        assert_eq!((code, closed.code), (4008, 4008), "{reason}");
        assert!(
            reason.contains("forged") || reason.contains("malformed"),
            "{reason}"
        );
    }

    // Used twice at once: the token's connection is still attached.
    let ((code, reason), closed) = resume(addr, &token, &player).await.err().expect("refused");
    assert_eq!((code, closed.code), (4008, 4008));
    assert!(reason.contains("in use"), "{reason}");
    player.next_snapshot().await;

    // Another room named with it.
    let url = format!("ws://{addr}/ws?room=elsewhere&resume={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ((code, reason), closed) = expect_refusal(&mut ws).await;
    assert_eq!((code, closed.code), (4008, 4008));
    assert!(reason.contains("wrong room"), "{reason}");

    // Resumed once, the old token is superseded.
    proxy.cut();
    let mut back = resume_when_held(proxy.addr, &token, &player).await;
    snapshot(&mut back).await;
    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.rooms()[0].held != 1 {
        assert!(Instant::now() < deadline, "not held again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ((code, reason), _) = resume(addr, &token, &back).await.err().expect("refused");
    assert_eq!(code, 4008);
    assert!(reason.contains("superseded"), "{reason}");
    let newest = back.welcome.resume.clone();
    let again = resume(addr, &newest, &back)
        .await
        .expect("the newest token");
    assert_eq!(again.welcome.player, player.welcome.player);

    let metrics = http_get(addr, "/metrics").await;
    for reason in ["forged", "in_use", "wrong_room", "superseded"] {
        let sample = format!("tickwire_resumes_refused_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&sample), "{sample} missing:\n{metrics}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_and_a_closed_socket_leaves_at_once() {
    let config = Config {
        resume_token_lifetime: Duration::from_secs(1),
        ..grace(60.0)
    };
    let server = arena_server(config).await;
    let addr = server.local_addr();
    let mut player = join(addr, "short", "ann").await;
    let mut other = join(addr, "short", "bob").await;
    // Tokens count whole seconds: two of them see this one expire.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let ((code, reason), closed) = resume(addr, &player.welcome.resume, &player)
        .await
        .err()
        .expect("refused");
    assert_eq!((code, closed.code), (4008, 4008));
    assert!(reason.contains("expired"), "{reason}");

    // A close with 1000 (here: no code) is a leave, held by nobody.
    player.ws.close(None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = timeout(Duration::from_secs(5), other.ws.next()).await;
        if let Ok(Some(Ok(Message::Binary(bytes)))) = msg {
            let decoded =
                ServerMessage::decode(&bytes, Some(&other.welcome.schema), &Limits::default())
                    .unwrap();
            if let ServerMessage::Event(tickwire_protocol::ServerEvent::PlayerLeft {
                player: left,
            }) = decoded
            {
                assert_eq!(left, player.welcome.player);
                break;
            }
        }
        assert!(Instant::now() < deadline, "no leave");
    }
    assert_eq!(server.rooms()[0].held, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_join_naming_a_tick_held_starts_with_a_delta_against_it() {
    // The bench game: everyone sees the whole room, so any player's state
    // is any other's. A client that reconnects as a new player (no token)
    // names the newest tick it holds in the URL, and the room knows it
    // before it encodes anything for the new connection.
    let server = start_game("bench", tickwire::BundledOptions::default(), test_config()).await;
    let addr = server.local_addr();
    let mut first = join(addr, "fresh", "first").await;
    for _ in 0..3 {
        first.next_snapshot().await;
    }
    let held = first.state.latest_tick().unwrap();
    let holding = first.state.clone();
    // The room moves on, as it does while a client reconnects.
    first.next_snapshot().await;
    first.next_snapshot().await;
    let url = format!("ws://{addr}/ws?room=fresh&name=second&since={held}");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut second = welcome(ws).await;
    second.state = holding;
    let (baseline, _, state) = snapshot(&mut second).await;
    assert_eq!(baseline, Some(held), "a delta against the tick named");
    assert!(
        state.iter().any(|e| e.id == second.welcome.avatar),
        "{state:?}"
    );
    server.shutdown().await;
}
