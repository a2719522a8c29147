//! Cluster placement: rooms fill fullest-first, new rooms go to the
//! least-loaded node, and concurrent matchmakes for one new room name make
//! one room. Each test runs its own redis-server and three nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::collections::BTreeMap;

use cluster_support::{Node, Redis, enter, rooms, seat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_bots_fill_rooms_fullest_first_and_new_rooms_go_to_the_least_loaded_node() {
    let redis = Redis::start();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|id| Node::start(&redis, id, &["--max-room-players", "10"]))
        .collect();

    // Each bot matchmakes on a node in turn (any node decides the same),
    // then takes its seat.
    let mut players = Vec::new();
    let mut placed = Vec::new();
    for i in 0..60 {
        let asked = &nodes[i % 3];
        let name = format!("bot{i}");
        let offer = seat(asked.addr, None, &name).await;
        let player = enter(&offer.ws(&name), &name).await;
        assert_eq!(player.welcome.room, offer.room);
        placed.push((offer.room, offer.node));
        players.push(player);
    }

    // Fullest first: a room takes ten bots before the next one opens.
    let mut order: Vec<(String, String)> = Vec::new();
    for (i, room) in placed.iter().enumerate() {
        if i % 10 == 0 {
            assert!(
                !order.contains(room),
                "bot {i} opened {room:?}, which had bots already: {placed:?}"
            );
            order.push(room.clone());
        } else {
            assert_eq!(room, order.last().unwrap(), "bot {i}: {placed:?}");
        }
    }
    // New rooms on the least-loaded node: nodes with fewest players, ties
    // broken by fewest rooms, then by id.
    let owners: Vec<&str> = order.iter().map(|(_, node)| node.as_str()).collect();
    assert_eq!(owners, ["a", "b", "c", "a", "b", "c"]);

    // What the cluster lists, from any node, once every heartbeat counted
    // the players.
    let listed = cluster_support::eventually(std::time::Duration::from_secs(5), || async {
        let listing = rooms(nodes[1].addr).await;
        let rooms = listing["rooms"].as_array().cloned().unwrap_or_default();
        rooms.len() == 6 && rooms.iter().all(|r| r["players"] == 10)
    })
    .await;
    let listing = rooms(nodes[1].addr).await;
    assert!(listed, "{listing:#}");
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for room in listing["rooms"].as_array().unwrap() {
        *per_node
            .entry(room["node"].as_str().unwrap().to_owned())
            .or_default() += 1;
        assert_eq!(room["max_players"], 10);
    }
    assert_eq!(
        per_node,
        BTreeMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 2)])
    );
    drop(players);
    redis.assert_every_key_has_a_ttl().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_matchmakes_for_one_new_name_make_one_room() {
    let redis = Redis::start();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|id| Node::start(&redis, id, &[]))
        .collect();
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();

    let asks = (0..50).map(|i| {
        let addr = addrs[i % 3];
        tokio::spawn(async move { seat(addr, Some("lobby-x"), &format!("bot{i}")).await })
    });
    let mut offers = Vec::new();
    for ask in asks {
        offers.push(ask.await.unwrap());
    }
    let node = &offers[0].node;
    assert!(
        offers
            .iter()
            .all(|o| o.room == "lobby-x" && &o.node == node),
        "{offers:?}"
    );
    assert_eq!(redis.room_keys().await, ["tickwire:room:lobby-x"]);

    // Every seat taken: one room, on that node, with all fifty.
    let mut players = Vec::new();
    for (i, offer) in offers.iter().enumerate() {
        let name = format!("bot{i}");
        players.push(enter(&offer.ws(&name), &name).await);
    }
    let owner = nodes.iter().find(|n| &n.id == node).unwrap();
    let counted = cluster_support::eventually(std::time::Duration::from_secs(5), || async {
        let listing = rooms(owner.addr).await;
        let rooms = listing["rooms"].as_array().cloned().unwrap_or_default();
        rooms.len() == 1 && rooms[0]["players"] == 50 && rooms[0]["reserved"] == 0
    })
    .await;
    let listing = rooms(owner.addr).await;
    assert!(counted, "{listing:#}");
    assert_eq!(redis.room_keys().await, ["tickwire:room:lobby-x"]);
    drop(players);
    redis.assert_every_key_has_a_ttl().await;
}
