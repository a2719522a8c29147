//! A bot whose node dies resumes through the entry: scripted stand-ins (on
//! tokio-tungstenite) for a cluster's entry and two nodes. The entry sends
//! the bot to node A, which welcomes it and then dies (its socket and its
//! listener gone: a resume there is refused at TCP level). The bot's resume
//! then goes to the entry with the room named; the entry first answers as
//! a cluster does while A's lease runs out (`Error` 4004, close 1013), then
//! sends it on to node B, where the resume proceeds with the seat ticket,
//! the token and the tick held. The input log says what the bot sent and
//! what each node acknowledged. A second test never lets the bot back in:
//! it gives up after `--resume-timeout`, and that is its one error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use clap::Parser as _;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::ClientMessage;
use tickwire_swarm::Args;
use tickwire_types::{PlayerInput, sent_values};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use common::{accept, next_input, not_answering, param, redirect, send, snapshot, welcome};

/// The swarm's flags for one bot in `swarm-0` against `url`, measuring
/// `duration`, with `extra`.
fn args(url: &str, duration: &str, extra: &[&str]) -> Args {
    let mut argv = vec![
        "tickwire-swarm",
        "--url",
        url,
        "--bots",
        "1",
        "--room-size",
        "1",
        "--warmup",
        "0s",
        "--duration",
        duration,
        "--quiet",
        "--min-snapshot-rate",
        "0",
        "--max-gap-p99-ms",
        "1000000",
    ];
    argv.extend_from_slice(extra);
    Args::parse_from(argv)
}

/// `what`, or a panic after a bound only a broken swarm reaches.
async fn within<T>(what: impl std::future::Future<Output = T>, name: &str) -> T {
    timeout(Duration::from_secs(20), what)
        .await
        .unwrap_or_else(|_| panic!("no {name} within 20 s"))
}

/// Node A: welcomes the bot (the entry sent it with seat `seat.a`), sends
/// three full snapshots, each acknowledging the input before it, reads an
/// input after each, and dies: the socket and the listener are dropped.
/// Returns the inputs it read.
async fn node_a(listener: TcpListener) -> Vec<PlayerInput> {
    let (mut ws, uri) = accept(&listener).await;
    assert_eq!(param(&uri, "seat").as_deref(), Some("seat.a"), "{uri}");
    send(&mut ws, &welcome("tok.1")).await;
    let mut inputs: Vec<PlayerInput> = Vec::new();
    for tick in 1..=3 {
        let acked = inputs.last().map(|i| i.seq);
        let message = snapshot(tick, 10 * tick as i32, None, acked);
        ws.send(Message::Binary(message.into())).await.unwrap();
        inputs.push(next_input(&mut ws).await);
    }
    drop(ws);
    drop(listener);
    inputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_whose_node_died_resumes_through_the_entry_on_another_node() {
    let entry = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_url = format!("http://{}", a.local_addr().unwrap());
    let b_url = format!("http://{}", b.local_addr().unwrap());
    let url = format!("ws://{}/ws", entry.local_addr().unwrap());

    let entry = tokio::spawn(async move {
        // The bot's join: the room is on A.
        let (mut ws, uri) = accept(&entry).await;
        assert_eq!(param(&uri, "resume"), None, "a first join: {uri}");
        redirect(&mut ws, &a_url, "seat.a").await;
        // A is gone: the resume comes here, the room named. A's lease has
        // not run out yet, then it has, and the room is B's.
        for answer in ["not answering", "on B"] {
            let (mut ws, uri) = within(accept(&entry), "a resume through the entry").await;
            assert_eq!(param(&uri, "room").as_deref(), Some("swarm-0"), "{uri}");
            assert_eq!(param(&uri, "resume").as_deref(), Some("tok.1"), "{uri}");
            assert_eq!(param(&uri, "since").as_deref(), Some("3"), "{uri}");
            assert_eq!(param(&uri, "seat"), None, "{uri}");
            match answer {
                "not answering" => not_answering(&mut ws).await,
                _ => redirect(&mut ws, &b_url, "seat.b").await,
            }
        }
    });
    let a = tokio::spawn(node_a(a));
    let b = tokio::spawn(async move {
        // The resume, sent on by the entry: the seat ticket, the token and
        // the tick held.
        let (mut ws, uri) = within(accept(&b), "the resume on B").await;
        assert_eq!(param(&uri, "seat").as_deref(), Some("seat.b"), "{uri}");
        assert_eq!(param(&uri, "resume").as_deref(), Some("tok.1"), "{uri}");
        assert_eq!(param(&uri, "since").as_deref(), Some("3"), "{uri}");
        send(&mut ws, &welcome("tok.2")).await;
        let Some(Ok(Message::Binary(join))) = ws.next().await else {
            panic!("no join");
        };
        assert!(matches!(
            ClientMessage::decode(&join),
            Ok(ClientMessage::Join { .. })
        ));
        // The restored room applied everything A read; a delta against
        // the tick the bot holds.
        let mut tick = 4;
        let message = snapshot(tick, 40, Some((3, 30)), None);
        ws.send(Message::Binary(message.into())).await.unwrap();
        let mut inputs = vec![next_input(&mut ws).await];
        // Snapshots acknowledging the newest input, until the bot leaves.
        loop {
            tick += 1;
            let acked = inputs.last().map(|i| i.seq);
            let message = snapshot(tick, 40, Some((tick - 1, 40)), acked);
            if ws.send(Message::Binary(message.into())).await.is_err() {
                break;
            }
            match timeout(Duration::from_millis(33), ws.next()).await {
                Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => break,
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    if let Ok(ClientMessage::Input(input)) = ClientMessage::decode(&bytes) {
                        inputs.push(input);
                    }
                }
                _ => {}
            }
        }
        inputs
    });

    let log = std::env::temp_dir().join(format!(
        "tickwire-swarm-failover-{}.jsonl",
        std::process::id()
    ));
    let log_arg = log.to_string_lossy().into_owned();
    let args = args(
        &url,
        "3s",
        &["--resume-timeout", "20s", "--input-log", &log_arg],
    );
    let report = tickwire_swarm::run(&args).await.unwrap();
    let (entry, a, b) = (entry.await, a.await, b.await);
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    entry.unwrap();
    let (on_a, on_b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (report.drops, report.resumes, report.failovers),
        (1, 1, 1),
        "{report:?}"
    );
    assert!(report.resume_ms_max > 0.0, "{report:?}");
    assert!(
        report.table().contains("1, 1 resumed (1 through the entry"),
        "{}",
        report.table()
    );
    let last_on_a = on_a.last().unwrap().seq;
    assert!(on_b[0].seq > last_on_a, "the input sequence carries on");

    // The input log: every input either node read is there, with its
    // values, and each connection's highest acknowledged input.
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["bot"], 0);
    assert_eq!(line["room"], "swarm-0");
    assert_eq!(line["players"], serde_json::json!([4, 4]));
    assert_eq!(line["truncated"], false);
    let sent: Vec<(u32, Vec<i32>)> = serde_json::from_value(line["sent"].clone()).unwrap();
    assert!(
        sent.windows(2).all(|w| w[0].0 < w[1].0),
        "numbered on: {sent:?}"
    );
    for input in on_a.iter().chain(&on_b) {
        let logged = sent.iter().find(|(seq, _)| *seq == input.seq);
        assert_eq!(
            logged.map(|(_, values)| values.as_slice()),
            Some(sent_values(&input.values)),
            "input {} as read by a node",
            input.seq
        );
    }
    let acked: Vec<Option<u32>> = serde_json::from_value(line["acked"].clone()).unwrap();
    assert_eq!(acked.len(), 2, "{acked:?}");
    assert_eq!(
        acked[0],
        Some(on_a[1].seq),
        "A acknowledged up to its second"
    );
    let on_b_acked = acked[1].unwrap();
    assert!(
        on_b_acked >= on_b[0].seq && on_b.iter().any(|i| i.seq == on_b_acked),
        "{acked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_no_node_takes_back_gives_up_after_its_resume_timeout() {
    let entry = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_url = format!("http://{}", a.local_addr().unwrap());
    let url = format!("ws://{}/ws", entry.local_addr().unwrap());
    let entry = tokio::spawn(async move {
        let (mut ws, _) = accept(&entry).await;
        redirect(&mut ws, &a_url, "seat.a").await;
        // The dead node's lease never runs out: every resume is refused.
        let mut refused = 0;
        while let Ok((mut ws, uri)) = timeout(Duration::from_secs(4), accept(&entry)).await {
            assert_eq!(param(&uri, "resume").as_deref(), Some("tok.1"), "{uri}");
            not_answering(&mut ws).await;
            refused += 1;
        }
        refused
    });
    let a = tokio::spawn(node_a(a));
    let args = args(&url, "4s", &["--resume-timeout", "1s"]);
    let report = tickwire_swarm::run(&args).await.unwrap();
    a.await.unwrap();
    let refused = entry.await.unwrap();
    assert!(refused >= 2, "tried again with a backoff: {refused}");
    assert_eq!((report.drops, report.resumes), (1, 0), "{report:?}");
    assert_eq!(report.errors, 1, "{:?}", report.errors_by_kind);
    assert_eq!(
        report.errors_by_kind.get("resume timed out"),
        Some(&1),
        "{:?}",
        report.errors_by_kind
    );
}
