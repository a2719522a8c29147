//! Who may connect and who may look: the `Origin` check at the upgrade,
//! signed tickets, the admission hook, the admin token of
//! `/api/rooms?players=1`, and the admin address of `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tickwire::admission::{Admission, AdmissionRequest, Refusal, Verdict};
use tickwire::config::Secret;
use tickwire::ticket::{self, Claims};
use tickwire::{BundledOptions, Config, Server, bundled};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const SECRET: &str = "the shared secret of the tests";

/// Sends a GET with `headers` (already `Name: value` lines) and reads the
/// answer's status and body (by its `Content-Length`: a 101 has none, and
/// its connection stays open).
async fn get(addr: SocketAddr, path: &str, headers: &[String]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-answer: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let status: u16 = head[9..12].parse().unwrap();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return (status, body.to_owned());
            }
        }
    };
    timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer within 5 s")
}

/// The upgrade request's headers, and `extra`.
fn upgrade_headers(extra: &[&str]) -> Vec<String> {
    let mut headers: Vec<String> = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    headers.extend(extra.iter().map(|h| (*h).to_owned()));
    headers
}

async fn upgrade(addr: SocketAddr, path: &str, extra: &[&str]) -> (u16, String) {
    get(addr, path, &upgrade_headers(extra)).await
}

fn ticketed() -> Config {
    Config {
        ticket_secret: Some(Secret::new(SECRET)),
        ..test_config()
    }
}

fn ticket_for(subject: &str, ttl: i64, room: Option<&str>) -> String {
    let exp = ticket::now_unix().saturating_add_signed(ttl);
    let mut claims = Claims::new(subject, exp);
    claims.room = room.map(str::to_owned);
    ticket::issue(SECRET.as_bytes(), &claims)
}

async fn metrics_text(addr: SocketAddr) -> String {
    get(addr, "/metrics", &[]).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_gets_403_and_the_own_and_allowed_ones_101() {
    let server = start(Config {
        allowed_origins: vec!["https://game.example".to_owned()],
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let path = "/ws?room=origins&name=ann";

    let (status, body) = upgrade(addr, path, &["Origin: https://evil.example"]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("https://evil.example"), "{body}");
    assert_eq!(body.lines().count(), 1, "one line: {body:?}");
    // A look-alike of the server's own origin on another port is foreign.
    let other_port = format!("Origin: http://127.0.0.1:{}", addr.port().wrapping_add(1));
    assert_eq!(upgrade(addr, path, &[&other_port]).await.0, 403);

    let own = format!("Origin: http://{addr}");
    let own_https = format!("Origin: https://{addr}");
    for extra in [
        vec![own.as_str()],
        vec![own_https.as_str()],
        vec!["Origin: https://game.example"],
        vec!["Origin: https://GAME.example"],
        vec![],
    ] {
        let (status, body) = upgrade(addr, path, &extra).await;
        assert_eq!(status, 101, "{extra:?}: {body}");
    }
    let metrics = metrics_text(addr).await;
    assert!(
        metrics.contains("tickwire_upgrades_refused_total{reason=\"origin\"}"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_ticket_lets_the_player_in_as_its_subject() {
    let server = start(Config {
        admin_token: Some(Secret::new("opstoken")),
        ..ticketed()
    })
    .await;
    let addr = server.local_addr();
    let ticket = ticket_for("user-42", 60, Some("ticketed"));
    let url = format!("ws://{addr}/ws?room=ticketed&name=ann&ticket={ticket}");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut player = welcome(ws).await;
    player.next_snapshot().await;

    let rooms = server.rooms();
    let details = rooms[0].player_details.as_ref().unwrap();
    assert_eq!(details[0].name, "ann");
    assert_eq!(details[0].identity.as_deref(), Some("user-42"));
    let (status, body) = get(
        addr,
        "/api/rooms?players=1",
        &["Authorization: Bearer opstoken".to_owned()],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"identity\": \"user-42\""), "{body}");

    // A ticket for any room is good for this one too.
    let anywhere = ticket_for("user-43", 60, None);
    let (status, body) = upgrade(
        addr,
        &format!("/ws?room=ticketed&name=bob&ticket={anywhere}"),
        &[],
    )
    .await;
    assert_eq!(status, 101, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tickets_are_refused_with_their_reasons() {
    let server = start(ticketed()).await;
    let addr = server.local_addr();
    let good = ticket_for("user-1", 60, Some("r1"));
    let (payload, signature) = good.split_once('.').unwrap();
    let forged = ticket::issue(
        b"not the server's secret at all",
        &Claims::new("user-1", ticket::now_unix() + 60),
    );
    let resigned = format!(
        "{}.{signature}",
        ticket_for("root", 60, None).split('.').next().unwrap()
    );
    let cases = [
        ("/ws?room=r1".to_owned(), 401, "needs a ticket"),
        (
            format!("/ws?room=r1&ticket={}", ticket_for("user-1", -1, None)),
            401,
            "expired",
        ),
        (format!("/ws?room=r1&ticket={forged}"), 401, "signature"),
        (format!("/ws?room=r1&ticket={resigned}"), 401, "signature"),
        (format!("/ws?room=r1&ticket={payload}"), 401, "malformed"),
        ("/ws?room=r1&ticket=%%%.%%%".to_owned(), 401, "malformed"),
        (format!("/ws?room=r2&ticket={good}"), 403, "for room r1"),
        (format!("/ws?ticket={good}"), 403, "for room r1"),
    ];
    for (path, status, reason) in cases {
        let (got, body) = upgrade(addr, &path, &[]).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body:?} lacks {reason:?}");
        assert_eq!(body.lines().count(), 1, "{path}: one line: {body:?}");
    }
    assert_eq!(
        upgrade(addr, &format!("/ws?room=r1&ticket={good}"), &[])
            .await
            .0,
        101
    );
    let metrics = metrics_text(addr).await;
    for label in [
        "ticket_missing",
        "ticket_expired",
        "ticket_forged",
        "ticket_malformed",
        "ticket_room",
    ] {
        let needle = format!("tickwire_upgrades_refused_total{{reason=\"{label}\"}}");
        assert!(metrics.contains(&needle), "no {needle}:\n{metrics}");
    }
    server.shutdown().await;
}

/// A game's hook: refuses "mallory" and anyone from outside loopback, and
/// vouches for everyone else as `guest:<name>` unless a ticket already did.
#[derive(Debug)]
struct Bouncer;

impl Admission for Bouncer {
    fn admit(&self, request: &AdmissionRequest<'_>) -> Verdict {
        if request.name == "mallory" {
            return Verdict::Refuse(Refusal::forbidden("mallory is banned from this server"));
        }
        if !request.peer.ip().is_loopback() || request.path != "/ws" {
            return Verdict::Refuse(Refusal::unauthorized("not from here"));
        }
        if request.query("invite").as_deref() == Some("none") {
            return Verdict::Refuse(
                Refusal::unauthorized("an invite is needed").labelled("invite"),
            );
        }
        match request.identity {
            Some(_) => Verdict::Accept,
            None => Verdict::Identified(format!("guest:{}", request.name)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_hook_refuses_with_its_reason_or_names_the_player() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let game = bundled("arena", BundledOptions::default()).unwrap();
    let server = Server::builder(test_config(), game)
        .admission(Arc::new(Bouncer))
        .start(listener)
        .unwrap();
    let addr = server.local_addr();

    let (status, body) = upgrade(addr, "/ws?room=hooked&name=mallory", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (403, "mallory is banned from this server\n")
    );
    let (status, body) = upgrade(addr, "/ws?room=hooked&name=eve&invite=none", &[]).await;
    assert_eq!((status, body.as_str()), (401, "an invite is needed\n"));

    let mut player = join(addr, "hooked", "ann").await;
    player.next_snapshot().await;
    let rooms = server.rooms();
    let details = rooms[0].player_details.as_ref().unwrap();
    assert_eq!(details[0].identity.as_deref(), Some("guest:ann"));
    let metrics = metrics_text(addr).await;
    for label in ["admission", "invite"] {
        let needle = format!("tickwire_upgrades_refused_total{{reason=\"{label}\"}}");
        assert!(metrics.contains(&needle), "no {needle}:\n{metrics}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sees_the_ticket_subject_after_the_ticket_check() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let game = bundled("arena", BundledOptions::default()).unwrap();
    let server = Server::builder(ticketed(), game)
        .admission(Arc::new(Bouncer))
        .start(listener)
        .unwrap();
    let addr = server.local_addr();
    let ticket = ticket_for("user-7", 60, None);
    // The ticket check comes first: without one, the hook is not asked.
    let (status, body) = upgrade(addr, "/ws?room=both&name=ann", &[]).await;
    assert_eq!(status, 401, "{body}");
    let url = format!("ws://{addr}/ws?room=both&name=ann&ticket={ticket}");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut player = welcome(ws).await;
    player.next_snapshot().await;
    let rooms = server.rooms();
    let details = rooms[0].player_details.as_ref().unwrap();
    assert_eq!(details[0].identity.as_deref(), Some("user-7"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn player_names_are_listed_only_with_the_admin_token() {
    let server = start(Config {
        admin_token: Some(Secret::new("opstoken")),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let mut player = join(addr, "listed", "zelda").await;
    player.next_snapshot().await;

    let (status, body) = get(addr, "/api/rooms", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"listed\""), "{body}");
    assert!(!body.contains("zelda"), "{body}");
    for headers in [
        vec![],
        vec!["Authorization: Bearer wrong".to_owned()],
        vec!["Authorization: Bearer opstoke".to_owned()],
        vec!["Authorization: Basic opstoken".to_owned()],
    ] {
        let (status, body) = get(addr, "/api/rooms?players=1", &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert!(!body.contains("zelda"), "{body}");
    }
    let (status, body) = get(
        addr,
        "/api/rooms?players=1",
        &["Authorization: Bearer opstoken".to_owned()],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\": \"zelda\""), "{body}");
    server.shutdown().await;

    // No token configured: never listed on the public address.
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let mut player = join(addr, "unlisted", "zelda").await;
    player.next_snapshot().await;
    let (status, body) = get(addr, "/api/rooms?players=1", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("zelda"), "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_list_catches_up_with_new_rooms() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let (_, before) = get(addr, "/api/rooms", &[]).await;
    assert!(!before.contains("\"late-room\""), "{before}");
    let mut player = join(addr, "late-room", "ann").await;
    player.next_snapshot().await;
    // Cached for a moment, but not for long: poll, bounded.
    let mut seen = false;
    for _ in 0..50 {
        if get(addr, "/api/rooms", &[])
            .await
            .1
            .contains("\"late-room\"")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the new room never showed in /api/rooms");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_player_lists_move_to_the_admin_address() {
    let server = start(Config {
        admin_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let admin = server.admin_addr().expect("an admin address");
    assert_ne!(admin, addr);
    let mut player = join(addr, "operated", "zelda").await;
    player.next_snapshot().await;

    assert_eq!(get(addr, "/metrics", &[]).await.0, 404);
    let (status, body) = get(addr, "/api/rooms?players=1", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("zelda"), "{body}");
    assert_eq!(get(addr, "/api/rooms", &[]).await.0, 200);

    let (status, body) = get(admin, "/metrics", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tickwire_rooms"), "{body}");
    let (status, body) = get(admin, "/api/rooms?players=1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\": \"zelda\""), "{body}");
    // The game is not served on the admin address.
    assert_eq!(upgrade(admin, "/ws?room=operated", &[]).await.0, 404);
    assert_eq!(get(admin, "/", &[]).await.0, 404);
    server.shutdown().await;

    let server = start(test_config()).await;
    assert_eq!(server.admin_addr(), None);
    assert_eq!(get(server.local_addr(), "/metrics", &[]).await.0, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_is_still_asked_for_on_the_admin_address() {
    let server = start(Config {
        admin_bind: Some("127.0.0.1:0".parse().unwrap()),
        admin_token: Some(Secret::new("opstoken")),
        ..test_config()
    })
    .await;
    let admin = server.admin_addr().unwrap();
    assert_eq!(get(admin, "/api/rooms?players=1", &[]).await.0, 401);
    let with = ["Authorization: Bearer opstoken".to_owned()];
    assert_eq!(get(admin, "/api/rooms?players=1", &with).await.0, 200);
    // Even with the token, the public address lists no players.
    assert_eq!(
        get(server.local_addr(), "/api/rooms?players=1", &with)
            .await
            .0,
        403
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_or_unreadable_ticket_secret_fails_the_start() {
    let game = || bundled("arena", BundledOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let short = Config {
        ticket_secret: Some(Secret::new("short")),
        ..test_config()
    };
    assert!(Server::start(short, listener, game()).is_err());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let from_file = Config {
        ticket_secret_file: Some(file),
        ..test_config()
    };
    let server = Server::start(from_file, listener, game()).unwrap();
    let ticket = ticket_for("filed", 60, None);
    let (status, body) = upgrade(
        server.local_addr(),
        &format!("/ws?room=f&ticket={ticket}"),
        &[],
    )
    .await;
    assert_eq!(status, 101, "{body}");
    server.shutdown().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let missing = Config {
        ticket_secret_file: Some(dir.path().join("none")),
        ..test_config()
    };
    assert!(Server::start(missing, listener, game()).is_err());
}
