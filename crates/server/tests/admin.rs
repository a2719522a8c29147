//! The operator console and its admin API (`/admin`, `/admin/api/`): off
//! without `--admin-token`, 401 (counted) without the right token, the
//! room list with its players and tick-time history, kick (4014), close
//! room (4015, that room only), drain, the records, `--admin-bind`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tickwire::config::Secret;
use tickwire::{BundledOptions, Config};
use tickwire_protocol::{ServerMessage, close_code, error_code};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "the operators' token";

fn admin_config() -> Config {
    Config {
        admin_token: Some(Secret::new(TOKEN)),
        ..test_config()
    }
}

/// One request to the admin API, with the bearer `token` if any: the
/// status and the body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    common::http(addr, method, path, token, body).await
}

/// `GET /admin/api/rooms` with the token.
async fn rooms(addr: SocketAddr) -> Value {
    let (status, body) = call(addr, "GET", "/admin/api/rooms", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The room `name` of a room list, if listed.
fn room<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == name)
}

/// Polls the room list until `ok` holds (at most 10 s); returns the list.
async fn until(addr: SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = rooms(addr).await;
        if ok(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "not within 10 s: {what}: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a player's messages up to its close: the protocol error before it
/// (code, reason) and the close (code, reason).
async fn closed(player: &mut Player) -> (Option<(u16, String)>, (u16, String)) {
    let mut error = None;
    loop {
        match player.next_frame(Duration::from_secs(10)).await {
            Message::Binary(bytes) => {
                if let ServerMessage::Error { code, reason } = player.decode(&bytes) {
                    error = Some((code, reason));
                }
            }
            Message::Close(Some(frame)) => {
                return (error, (u16::from(frame.code), frame.reason.to_string()));
            }
            Message::Close(None) => return (error, (1005, String::new())),
            _ => {}
        }
    }
}

#[tokio::test]
async fn without_a_token_the_console_is_not_there() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    for (method, path) in [
        ("GET", "/admin"),
        ("GET", "/admin/"),
        ("GET", "/admin/console.js"),
        ("GET", "/admin/api/rooms"),
        ("GET", "/admin/api/cluster"),
        ("POST", "/admin/api/kick"),
        ("POST", "/admin/api/drain"),
    ] {
        let (status, body) = call(addr, method, path, Some(TOKEN), "{}").await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let config = Config {
        admin_token_file: Some(file),
        ..test_config()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    let _player = join(addr, "secret-room", "ann").await;

    // The page is a shell: served without the token, holding no data.
    for path in ["/admin", "/admin/"] {
        let (status, body) = call(addr, "GET", path, None, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("operator console"), "{body}");
        assert!(!body.contains("secret-room") && !body.contains("ann"));
    }
    let (status, js) = call(addr, "GET", "/admin/console.js", None, "").await;
    assert_eq!(status, 200);
    assert!(js.contains("sessionStorage"));

    let refused = |text: &str| metric(text, "tickwire_admin_requests_refused_total");
    let before = refused(&http_get(addr, "/metrics").await);
    let calls = [
        ("GET", "/admin/api/rooms", None),
        ("GET", "/admin/api/rooms", Some("not the token")),
        ("GET", "/admin/api/cluster", Some("")),
        ("POST", "/admin/api/kick", Some("the operators' token!")),
        ("POST", "/admin/api/close", None),
        ("POST", "/admin/api/drain", Some("THE OPERATORS' TOKEN")),
        ("GET", "/admin/api/record?room=secret-room", None),
    ];
    for (method, path, token) in calls {
        let (status, body) = call(addr, method, path, token, "{}").await;
        assert_eq!(status, 401, "{method} {path} {token:?}: {body}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        assert!(!body.contains("secret-room"), "{body}");
    }
    let after = refused(&http_get(addr, "/metrics").await);
    assert!(
        after - before >= calls.len() as f64,
        "refusals counted: {before} then {after}"
    );
    // The token from the file opens it, and nothing was drained.
    let list = rooms(addr).await;
    assert_eq!(list["status"], "up");
    assert!(room(&list, "secret-room").is_some(), "{list:#}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_room_list_shows_players_and_a_moving_tick_history() {
    let server = start(admin_config()).await;
    let addr = server.local_addr();
    let mut ann = join(addr, "alpha", "ann").await;
    let _bob = join(addr, "alpha", "bob").await;
    let _cat = join(addr, "beta", "cat").await;
    for seq in 1..=5 {
        ann.input(seq, 1, 0).await;
    }
    let first = until(addr, "two seconds of history in alpha", |list| {
        room(list, "alpha").is_some_and(|r| r["history"].as_array().unwrap().len() >= 2)
    })
    .await;
    let alpha = room(&first, "alpha").unwrap();
    assert_eq!(alpha["players"], 2);
    assert_eq!(alpha["game"], "arena");
    assert!(alpha["record"].is_null(), "no --record: {alpha}");
    let names: Vec<&str> = alpha["player_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    for player in alpha["player_list"].as_array().unwrap() {
        for field in [
            "player",
            "bytes_per_second",
            "snapshots_skipped",
            "inputs_dropped",
        ] {
            assert!(player[field].is_u64(), "{field}: {player}");
        }
        assert!(player.get("rtt_ms").is_some(), "{player}");
        assert!(
            player["bytes_per_second"].as_u64().unwrap() > 0,
            "snapshots went out: {player}"
        );
    }
    let sample = &alpha["history"][0];
    assert!(sample["tick"].as_u64().unwrap() > 0, "{sample}");
    assert_eq!(sample["mean_us"].as_array().unwrap().len(), 3);
    assert_eq!(sample["max_us"].as_array().unwrap().len(), 3);
    assert!(room(&first, "beta").is_some());

    // The graph moves: a second later there is more history, newer.
    let had = alpha["history"].as_array().unwrap().len();
    let newest = alpha["history"][had - 1]["tick"].as_u64().unwrap();
    let later = until(addr, "one more sample", |list| {
        room(list, "alpha").is_some_and(|r| r["history"].as_array().unwrap().len() > had)
    })
    .await;
    let history = room(&later, "alpha").unwrap()["history"]
        .as_array()
        .unwrap()
        .clone();
    assert!(history.last().unwrap()["tick"].as_u64().unwrap() > newest);
    // `since` gives only what is newer.
    let (status, body) = call(
        addr,
        "GET",
        &format!("/admin/api/rooms?since={newest}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let since: Value = serde_json::from_str(&body).unwrap();
    let since = room(&since, "alpha").unwrap()["history"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!since.is_empty());
    assert!(since.iter().all(|s| s["tick"].as_u64().unwrap() > newest));

    // Without a cluster, the cluster view is this server alone.
    let (status, body) = call(addr, "GET", "/admin/api/cluster", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let cluster: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cluster["cluster"], false);
    assert_eq!(cluster["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(cluster["nodes"][0]["rooms"].as_array().unwrap().len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_kick_closes_the_player_with_4014_and_its_reason_and_frees_its_seat() {
    // Seats are held for dropped players: a kick must not hold one.
    let config = Config {
        reconnect_grace: Duration::from_secs(20),
        ..admin_config()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    let mut ann = join(addr, "alpha", "ann").await;
    let mut bob = join(addr, "alpha", "bob").await;
    let ann_id = ann.welcome.player.0;
    let kicked_before = metric(
        &http_get(addr, "/metrics").await,
        "tickwire_closes_total{reason=\"kicked\"}",
    );

    let (status, body) = call(
        addr,
        "POST",
        "/admin/api/kick",
        Some(TOKEN),
        &format!(r#"{{"room": "alpha", "player": {ann_id}, "reason": "spamming the chat"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["close_code"], 4014);

    let (error, close) = closed(&mut ann).await;
    let reason = "kicked by operator: spamming the chat";
    assert_eq!(close, (close_code::KICKED, reason.to_owned()));
    assert_eq!(error, Some((error_code::KICKED, reason.to_owned())));
    assert_eq!(close_code::KICKED, 4014);

    // Bob plays on; Ann's seat is given up, not held.
    bob.next_snapshot().await;
    let list = until(addr, "ann gone", |list| {
        room(list, "alpha").is_some_and(|r| r["players"] == 1)
    })
    .await;
    let alpha = room(&list, "alpha").unwrap();
    assert_eq!(alpha["held"], 0, "{alpha}");
    assert_eq!(alpha["player_list"][0]["name"], "bob");
    let kicked_after = metric(
        &http_get(addr, "/metrics").await,
        "tickwire_closes_total{reason=\"kicked\"}",
    );
    assert!(kicked_after > kicked_before);

    // Nobody to kick: 404; a body that is not a kick: 400.
    let (status, _) = call(
        addr,
        "POST",
        "/admin/api/kick",
        Some(TOKEN),
        &format!(r#"{{"room": "alpha", "player": {ann_id}}}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        addr,
        "POST",
        "/admin/api/kick",
        Some(TOKEN),
        r#"{"room": "nowhere", "player": 1}"#,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(addr, "POST", "/admin/api/kick", Some(TOKEN), "[1, 2").await;
    assert_eq!(status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn closing_a_room_ends_that_room_only() {
    let server = start(admin_config()).await;
    let addr = server.local_addr();
    let mut ann = join(addr, "alpha", "ann").await;
    let mut bob = join(addr, "alpha", "bob").await;
    let mut cat = join(addr, "beta", "cat").await;

    let (status, body) = call(
        addr,
        "POST",
        "/admin/api/close",
        Some(TOKEN),
        r#"{"room": "alpha", "reason": "match abandoned"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reason = "room closed by operator: match abandoned";
    for player in [&mut ann, &mut bob] {
        let (error, close) = closed(player).await;
        assert_eq!(close, (close_code::ROOM_CLOSED, reason.to_owned()));
        assert_eq!(error, Some((error_code::ROOM_CLOSED, reason.to_owned())));
    }
    // Beta goes on.
    let tick = cat.last_tick;
    cat.next_snapshot().await;
    cat.next_snapshot().await;
    assert!(cat.last_tick > tick);
    let list = until(addr, "alpha gone", |list| room(list, "alpha").is_none()).await;
    assert_eq!(room(&list, "beta").unwrap()["players"], 1);
    // A new join in its name opens a fresh room.
    let dan = join(addr, "alpha", "dan").await;
    assert_eq!(
        dan.welcome.roster.len(),
        1,
        "a fresh room: {:?}",
        dan.welcome.roster
    );

    let (status, _) = call(
        addr,
        "POST",
        "/admin/api/close",
        Some(TOKEN),
        r#"{"room": "gamma"}"#,
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_drain_admits_no_one_and_closes_the_rooms_left_after_the_timeout() {
    let config = Config {
        drain_timeout: Duration::from_secs(1),
        ..admin_config()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    let mut ann = join(addr, "alpha", "ann").await;

    let (status, body) = call(addr, "POST", "/admin/api/drain", Some(TOKEN), "").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(rooms(addr).await["status"], "draining");

    // No one new, in an open room or a new one.
    for room in ["alpha", "beta"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(addr, room, "late"))
            .await
            .unwrap();
        let ((code, reason), close) = expect_refusal(&mut ws).await;
        assert_eq!(code, error_code::FULL, "{reason}");
        assert!(reason.contains("draining"), "{reason}");
        assert_eq!(close.code, 1013);
    }
    // Ann played until the timeout; then her room is closed.
    let started = Instant::now();
    let (error, close) = closed(&mut ann).await;
    assert_eq!(close.0, 1001, "{close:?}");
    assert!(close.1.contains("drained"), "{close:?}");
    assert_eq!(error.map(|e| e.0), Some(error_code::SHUTDOWN));
    assert!(started.elapsed() >= Duration::from_millis(500));
    until(addr, "no room left", |list| {
        list["rooms"].as_array().unwrap().is_empty()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_room_list_links_each_rooms_record() {
    let dir = tempfile::tempdir().unwrap();
    let options = BundledOptions {
        record_dir: Some(dir.path().to_owned()),
        ..BundledOptions::default()
    };
    let server = start_game("arena", options, admin_config()).await;
    let addr = server.local_addr();
    let mut ann = join(addr, "alpha", "ann").await;
    ann.next_snapshot().await;
    let list = rooms(addr).await;
    let record = room(&list, "alpha").unwrap()["record"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        record.starts_with("alpha-") && record.ends_with(".jsonl"),
        "{record}"
    );
    assert!(dir.path().join(&record).exists());

    // The record as written so far: its writer's buffer fills within
    // seconds, header first.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) =
            call(addr, "GET", "/admin/api/record?room=alpha", Some(TOKEN), "").await;
        assert_eq!(status, 200, "{body}");
        if body.contains('\n') {
            break body;
        }
        assert!(Instant::now() < deadline, "the record stayed empty");
        ann.input(1, 1, 0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let header: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(header["game"], "arena", "{header}");
    let (status, _) = call(addr, "GET", "/admin/api/record?room=zeta", Some(TOKEN), "").await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn with_an_admin_address_the_console_is_served_there_only() {
    let config = Config {
        admin_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..admin_config()
    };
    let server = start(config).await;
    let public = server.local_addr();
    let admin = server.admin_addr().unwrap();
    let (status, _) = call(public, "GET", "/admin/", None, "").await;
    assert_eq!(status, 404);
    let (status, _) = call(public, "GET", "/admin/api/rooms", Some(TOKEN), "").await;
    assert_eq!(status, 404);
    let (status, _) = call(admin, "GET", "/admin/", None, "").await;
    assert_eq!(status, 200);
    let (status, _) = call(admin, "GET", "/admin/api/rooms", Some(TOKEN), "").await;
    assert_eq!(status, 200);
    let (status, _) = call(admin, "GET", "/admin/api/rooms", None, "").await;
    assert_eq!(status, 401);
    server.shutdown().await;
}
