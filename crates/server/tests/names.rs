//! Player names on the wire: a name short in characters but long in bytes
//! must not break the room (the point 1: one player named with 24
//! emoji made every client in the room fail to decode), and two players
//! never share a name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{MIN_RATE, Player, join, start, test_config, welcome};
use futures_util::StreamExt;
use tickwire_protocol::{Limits, MAX_NAME_BYTES, ServerEvent, ServerMessage};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Joins with `name` percent-encoded into the query.
async fn join_named(addr: SocketAddr, room: &str, name: &str) -> Player {
    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let url = format!("ws://{addr}/ws?room={room}&name={name}");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    welcome(ws).await
}

/// Reads (and applies) messages until `player` has seen a `PlayerJoined`
/// for each of `count` players; every message must decode. Returns the
/// names, in order.
async fn joins_seen(player: &mut Player, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while names.len() < count {
        let message = timeout(deadline - Instant::now(), player.ws.next())
            .await
            .expect("the joins within 5 s")
            .expect("stream open")
            .expect("no socket error");
        let Message::Binary(bytes) = message else {
            continue;
        };
        match ServerMessage::decode(&bytes, Some(&player.welcome.schema), &Limits::default())
            .expect("every server message decodes")
        {
            ServerMessage::Event(ServerEvent::PlayerJoined { name, .. }) => names.push(name),
            ServerMessage::Snapshot(snapshot) => {
                player
                    .state
                    .apply(&snapshot.body)
                    .expect("snapshot applies");
            }
            _ => {}
        }
    }
    names
}

#[tokio::test]
async fn names_long_in_bytes_do_not_break_the_room_for_anyone() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let mut watchers = vec![
        join(addr, "poison", "ann").await,
        join(addr, "poison", "bob").await,
    ];
    let _ = joins_seen(&mut watchers[0], 1).await; // bob

    // 24 emoji (96 bytes) and 22 CJK characters (66 bytes): both over the
    // protocol's 64 bytes, both under the old 24-character cut.
    let emoji = join_named(addr, "poison", &"😀".repeat(24)).await;
    let cjk = join_named(addr, "poison", &"漢".repeat(22)).await;
    let emoji_name = "😀".repeat(16);
    let cjk_name = "漢".repeat(21);

    // Their welcomes decode (`welcome` decodes them) and list everyone.
    let roster: Vec<&str> = cjk.welcome.roster.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        roster,
        ["ann", "bob", emoji_name.as_str(), cjk_name.as_str()]
    );
    for (_, name) in &cjk.welcome.roster {
        assert!(name.len() <= MAX_NAME_BYTES);
    }

    // Every other client decodes both joins and keeps receiving snapshots.
    for watcher in &mut watchers {
        assert_eq!(
            joins_seen(watcher, 2).await,
            [emoji_name.clone(), cjk_name.clone()]
        );
        let window = Duration::from_secs(2);
        let got = watcher.count_snapshots(window).await;
        assert!(
            got as f64 >= MIN_RATE * window.as_secs_f64(),
            "only {got} snapshots in {window:?}"
        );
    }
    // And a client joining after them decodes their names in its roster.
    let late = join(addr, "poison", "cy").await;
    assert_eq!(late.welcome.roster.len(), 5);
    drop((emoji, cjk, late));
    server.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_name_in_a_room_gets_a_suffix_everyone_sees() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let mut first = join(addr, "twins", "ann").await;
    let second = join(addr, "twins", "ann").await;
    let third = join_named(addr, "twins", "ANN\u{200B}").await;

    let names =
        |p: &Player| -> Vec<String> { p.welcome.roster.iter().map(|(_, n)| n.clone()).collect() };
    assert_eq!(names(&second), ["ann", "ann 2"]);
    assert_eq!(names(&third), ["ann", "ann 2", "ANN 3"]);
    assert_eq!(joins_seen(&mut first, 2).await, ["ann 2", "ANN 3"]);

    // Another room has its own names.
    let elsewhere = join(addr, "other", "ann").await;
    assert_eq!(names(&elsewhere), ["ann"]);

    // A name is free again once its player left.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = join(addr, "twins", "ann").await;
        let mine = again.welcome.roster.last().unwrap().1.clone();
        if mine == "ann 2" {
            break;
        }
        assert!(Instant::now() < deadline, "ann 2 never freed; got {mine}");
        drop(again);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((first, third, elsewhere));
    server.shutdown().await;
}
