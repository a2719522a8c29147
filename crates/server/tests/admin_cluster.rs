//! The operator console of a cluster: every node's console lists every
//! node and its rooms, and an action on a room of another node is
//! forwarded to that node (the nodes share the admin token).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use cluster_support::{Node, Redis, enter, http, seat};
use common::Player;
use serde_json::{Value, json};
use tickwire_protocol::close_code;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "the cluster's operators";

/// One request to `addr`'s admin API with the token.
async fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    common::http(addr, method, path, Some(TOKEN), body).await
}

/// The close a player's connection ends with (code, reason).
async fn close_of(player: &mut Player) -> (u16, String) {
    loop {
        match player.next_frame(Duration::from_secs(10)).await {
            Message::Close(Some(frame)) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Message::Close(None) => return (1005, String::new()),
            Message::Binary(bytes) => {
                player.decode(&bytes);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_console_of_any_node_sees_and_acts_on_every_node() {
    let redis = Redis::start();
    let flags = ["--admin-token", TOKEN];
    let a = Node::start(&redis, "node-a", &flags);
    let b = Node::start(&redis, "node-b", &flags);

    // Rooms until each node has two (placement spreads new rooms).
    let mut placed: Vec<(String, String, Player)> = Vec::new();
    for i in 0..12 {
        let name = format!("room-{i}");
        let offer = seat(a.addr, Some(&name), "bot").await;
        let player = enter(&offer.ws(&format!("p{i}")), &format!("p{i}")).await;
        placed.push((offer.node.clone(), name, player));
        let on = |node: &str| placed.iter().filter(|(n, _, _)| n == node).count();
        if on("node-a") >= 1 && on("node-b") >= 2 {
            break;
        }
    }
    let on_b: Vec<usize> = (0..placed.len())
        .filter(|&i| placed[i].0 == "node-b")
        .collect();
    assert!(on_b.len() >= 2, "placement put two rooms on node-b");

    // A's console lists both nodes, B's rooms as B tells them.
    let (status, body) = admin(a.addr, "GET", "/admin/api/cluster", "").await;
    assert_eq!(status, 200, "{body}");
    let cluster: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cluster["cluster"], true);
    let nodes = cluster["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{cluster:#}");
    let view_b = nodes.iter().find(|n| n["node"] == "node-b").unwrap();
    assert!(view_b.get("error").is_none(), "{view_b}");
    let (_, kick_room, _) = &placed[on_b[0]];
    let listed = view_b["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == kick_room.as_str())
        .unwrap_or_else(|| panic!("{kick_room} on node-b: {view_b:#}"));
    assert_eq!(listed["players"], 1);
    assert!(listed["history"].is_array());

    // A kick through A, of a player on B.
    let player = placed[on_b[0]].2.welcome.player.0;
    let body = json!({ "node": "node-b", "room": kick_room, "player": player, "reason": "afk" });
    let (status, answer) = admin(a.addr, "POST", "/admin/api/kick", &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let close = close_of(&mut placed[on_b[0]].2).await;
    assert_eq!(
        close,
        (close_code::KICKED, "kicked by operator: afk".to_owned())
    );

    // A room of B closed through A; the other rooms go on.
    let close_room = placed[on_b[1]].1.clone();
    let body = json!({ "node": "node-b", "room": close_room, "reason": "test over" });
    let (status, answer) = admin(a.addr, "POST", "/admin/api/close", &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let close = close_of(&mut placed[on_b[1]].2).await;
    assert_eq!(
        close,
        (
            close_code::ROOM_CLOSED,
            "room closed by operator: test over".to_owned()
        )
    );
    for (i, (_, _, player)) in placed.iter_mut().enumerate() {
        if i != on_b[0] && i != on_b[1] {
            player.next_snapshot().await;
        }
    }
    // A node nobody knows: 404, forwarded nowhere.
    let body = json!({ "node": "node-z", "room": close_room });
    let (status, _) = admin(a.addr, "POST", "/admin/api/close", &body.to_string()).await;
    assert_eq!(status, 404);
    // Without the token, B's API refuses what A would forward.
    let (status, _) = http(b.addr, "GET", "/admin/api/rooms", "").await;
    assert_eq!(status, 401);
}
