//! Lifecycle events (joins, leaves, game events) are never dropped, however
//! much chat shares the way: a legal chat burst while a player joins must
//! not cost any client in the room the `PlayerJoined` event (the issue's
//! point 3: an observer missed a newcomer's join in most tries, and the
//! page showed "player #id").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Player, Ws, join, start, test_config};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::{ClientMessage, Limits, ServerEvent, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// A player's writing half.
type WsSink = SplitSink<Ws, Message>;

/// Players already in the room, each of which must see every join.
const WATCHERS: usize = 6;
/// Of them, how many chat.
const CHATTERS: usize = 2;
/// Joins tried, each during a burst.
const ROUNDS: usize = 4;

/// Splits a player: its reading half goes to a task that reports the ids of
/// every `PlayerJoined` it decodes (every message must decode).
fn watch(player: Player, name: String, seen: mpsc::UnboundedSender<(String, u32)>) -> WsSink {
    let schema = player.welcome.schema.clone();
    let (sink, mut stream) = player.ws.split();
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(Some(Ok(message))) = timeout(deadline - Instant::now(), stream.next()).await {
            let Message::Binary(bytes) = message else {
                continue;
            };
            // Snapshots are not applied here, only decoded: a reader that
            // keeps the state is not what this test is about.
            let decoded = ServerMessage::decode(&bytes, Some(&schema), &Limits::default())
                .expect("every server message decodes");
            if let ServerMessage::Event(ServerEvent::PlayerJoined { player, .. }) = decoded
                && seen.send((name.clone(), player.0)).is_err()
            {
                break;
            }
        }
    });
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_burst_during_a_join_does_not_hide_the_join_from_anyone() {
    let config = test_config();
    let burst = config.max_inputs_per_second;
    let server = start(config).await;
    let addr = server.local_addr();
    let room = "burst";

    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let mut sinks = Vec::new();
    for i in 0..WATCHERS {
        let name = format!("watcher{i}");
        let player = join(addr, room, &name).await;
        sinks.push(watch(player, name, seen_tx.clone()));
    }
    // The watchers' own joins, as the earlier watchers saw them: drained so
    // that only the newcomers' joins are counted below.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while seen_rx.try_recv().is_ok() {}

    let chat = ClientMessage::Chat {
        text: "spam ".repeat(50),
    }
    .to_bytes();
    let mut newcomers = Vec::new();
    for round in 0..ROUNDS {
        // Every chatter queues a whole burst (as many lines as the rate
        // limit lets through at once) in one write, while the newcomer
        // joins.
        let chatting = async {
            for sink in sinks.iter_mut().take(CHATTERS) {
                for _ in 0..burst {
                    sink.feed(Message::Binary(chat.clone().into()))
                        .await
                        .unwrap();
                }
            }
            for sink in sinks.iter_mut().take(CHATTERS) {
                sink.flush().await.unwrap();
            }
        };
        let name = format!("newcomer{round}");
        let joining = join(addr, room, &name);
        let ((), newcomer) = tokio::join!(chatting, joining);
        newcomers.push(newcomer);
        // The rate limit's bucket refills between bursts, so the chatters
        // never count as flooding.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let expected: BTreeSet<u32> = newcomers.iter().map(|p| p.welcome.player.0).collect();

    // Every watcher must have seen every newcomer's join.
    let mut missing: BTreeSet<(String, u32)> = (0..WATCHERS)
        .flat_map(|i| expected.iter().map(move |&id| (format!("watcher{i}"), id)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !missing.is_empty() {
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            seen_rx.recv(),
        )
        .await
        {
            Ok(Some(seen)) => {
                missing.remove(&seen);
            }
            _ => break,
        }
    }
    assert!(
        missing.is_empty(),
        "joins never seen (watcher, player): {missing:?}"
    );
    drop(newcomers);
    drop(sinks);
    server.shutdown().await;
}
