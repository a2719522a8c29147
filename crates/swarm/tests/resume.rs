//! A bot whose socket drops resumes by itself: a scripted server (on
//! tokio-tungstenite, an independent WebSocket implementation) welcomes it
//! with a resume token, drops its first socket without a close, and checks
//! that the second connection resumes with the token and the tick the bot
//! holds, gets a delta against that tick applied, and numbers its inputs on
//! from the first connection's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use clap::Parser as _;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::ClientMessage;
use tickwire_swarm::Args;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use common::{accept, next_input, send, snapshot, welcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_whose_socket_drops_resumes_its_seat_and_carries_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        // The first connection: a join, three snapshots, a few inputs, then
        // the socket is dropped without a close.
        let (mut ws, uri) = accept(&listener).await;
        assert!(!uri.contains("resume="), "a first join: {uri}");
        send(&mut ws, &welcome("tok.1")).await;
        let mut last = 0;
        for tick in 1..=3 {
            ws.send(Message::Binary(
                snapshot(tick, 10 * tick as i32, None, None).into(),
            ))
            .await
            .unwrap();
            last = next_input(&mut ws).await.seq;
        }
        drop(ws);

        // The resume: the token, the tick held, then a delta against it.
        let (mut ws, uri) = accept(&listener).await;
        assert!(uri.contains("resume=tok.1"), "{uri}");
        assert!(uri.contains("since=3"), "{uri}");
        assert!(uri.contains("room=swarm-0"), "{uri}");
        // The server speaks first (a bot joins once welcomed).
        send(&mut ws, &welcome("tok.2")).await;
        let Some(Ok(Message::Binary(join))) = ws.next().await else {
            panic!("no join");
        };
        assert!(matches!(
            ClientMessage::decode(&join),
            Ok(ClientMessage::Join { .. })
        ));
        let mut tick = 4;
        let message = snapshot(tick, 40, Some((3, 30)), Some(last));
        ws.send(Message::Binary(message.into())).await.unwrap();
        let first = next_input(&mut ws).await.seq;
        assert_eq!(first, last + 1, "the input sequence carries on");
        // Snapshots until the bot leaves at the end of the run.
        loop {
            tick += 1;
            let message = snapshot(tick, 40, Some((tick - 1, 40)), Some(first));
            if ws.send(Message::Binary(message.into())).await.is_err() {
                break;
            }
            let read = timeout(Duration::from_millis(33), ws.next()).await;
            if let Ok(None | Some(Err(_) | Ok(Message::Close(_)))) = read {
                break;
            }
        }
    });
    let args = Args::parse_from([
        "tickwire-swarm",
        "--url",
        &url,
        "--bots",
        "1",
        "--room-size",
        "1",
        "--behaviour",
        "random",
        "--warmup",
        "0s",
        "--duration",
        "2s",
        "--quiet",
        "--min-snapshot-rate",
        "0",
        "--max-gap-p99-ms",
        "1000000",
    ]);
    let report = tickwire_swarm::run(&args).await.unwrap();
    server.await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert_eq!((report.drops, report.resumes), (1, 1), "{report:?}");
    assert!(report.table().contains("1, 1 resumed"));
}
