//! The network lab's flags delay a bot's messages both ways: a bot run with
//! `--lag` against a stand-in server that welcomes at once (the protocol's
//! golden welcome) and times what it receives.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use tickwire_swarm::Args;
use tickwire_swarm::bot::{self, Target};
use tickwire_swarm::stats::Shared;

/// What the stand-in server saw: when it accepted, and when each binary
/// message came, with its first byte (the message's tag).
struct Seen {
    accepted: Instant,
    messages: Vec<(Instant, u8)>,
}

/// Accepts one WebSocket on `listener`, sends the golden welcome at once,
/// then reports the first `count` binary messages.
async fn serve(listener: TcpListener, count: usize, seen: mpsc::Sender<Seen>) {
    let Ok((stream, _)) = listener.accept().await else {
        return;
    };
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let accepted = Instant::now();
    let welcome = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../protocol/golden/server_welcome.bin"
    ))
    .unwrap_or_else(|e| panic!("golden welcome: {e}"));
    if ws.send(Message::Binary(welcome.into())).await.is_err() {
        return;
    }
    let mut messages = Vec::new();
    while messages.len() < count {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                messages.push((Instant::now(), bytes.first().copied().unwrap_or(0)))
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let _ = seen.send(Seen { accepted, messages }).await;
    // Hold the socket until the bot leaves.
    while let Some(Ok(_)) = ws.next().await {}
}

/// Runs one bot with these swarm flags until the server saw `count`
/// messages: what the server saw, and when the bot handled the welcome.
async fn run_bot(flags: &[&str], count: usize) -> (Seen, Instant) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (tx, mut rx) = mpsc::channel(1);
    let server = tokio::spawn(serve(listener, count, tx));
    let url = format!("ws://{addr}/ws");
    let mut argv = vec!["tickwire-swarm", "--url", url.as_str()];
    argv.extend_from_slice(flags);
    let args = Args::parse_from(argv);
    let mut target = Target::from_url(&args.url).unwrap_or_else(|e| panic!("{e}"));
    target.lab = args.lab().unwrap_or_else(|e| panic!("{e}"));
    let (stop, done) = watch::channel(false);
    let bot = tokio::spawn(bot::run(
        0,
        "r".into(),
        Arc::new(target),
        Arc::new(Shared::new()),
        tickwire_swarm::behaviour::by_name("random").unwrap_or_else(|e| panic!("{e}")),
        done,
        bot::Outlets::default(),
    ));
    let seen = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("the server did not see {count} messages"))
        .unwrap_or_else(|| panic!("the server stopped"));
    let _ = stop.send(true);
    let totals = tokio::time::timeout(Duration::from_secs(10), bot)
        .await
        .unwrap_or_else(|_| panic!("the bot did not stop"))
        .unwrap_or_else(|e| panic!("{e}"));
    server.abort();
    let welcomed = totals
        .welcomed
        .unwrap_or_else(|| panic!("the bot was not welcomed"));
    (seen, welcomed)
}

#[tokio::test]
async fn lag_delays_what_a_bot_sends_and_what_it_receives() {
    let lag = Duration::from_millis(300);
    let (seen, welcomed) = run_bot(&["--lag", "300ms"], 3).await;
    let (join_at, tag) = seen.messages[0];
    assert_eq!(tag, 0, "the join comes first");
    assert!(
        join_at - seen.accepted >= lag,
        "the join came {:?} after the accept",
        join_at - seen.accepted
    );
    // The welcome went out at the accept; the bot handled it a lag later.
    assert!(
        welcomed - seen.accepted >= lag,
        "welcomed {:?} after the accept",
        welcomed - seen.accepted
    );
    // The inputs follow the welcome (a lag down, a lag up, at the least)
    // and keep their order.
    for (i, &(at, tag)) in seen.messages.iter().enumerate().skip(1) {
        assert_eq!(tag, 1, "message {i} is an input");
        assert!(
            at - seen.accepted >= 2 * lag,
            "input {i} came {:?} after the accept",
            at - seen.accepted
        );
        assert!(at >= seen.messages[i - 1].0);
    }
}

#[tokio::test]
async fn a_stall_holds_messages_to_its_end() {
    // A stall of 1.5 s of every 2 s: the first freeze is from 0.5 s to 2 s
    // after the bot connected; inputs go every 100 ms from the welcome, so
    // those handed over in the freeze arrive together at its end.
    let (seen, _) = run_bot(&["--stall", "1500ms", "--stall-every", "2s"], 12).await;
    let inputs: Vec<Instant> = seen.messages.iter().skip(1).map(|&(at, _)| at).collect();
    let bunched = inputs
        .windows(2)
        .filter(|w| w[1] - w[0] < Duration::from_millis(30))
        .count();
    assert!(
        bunched >= 5,
        "only {bunched} inputs came together: {:?}",
        inputs
            .iter()
            .map(|t| *t - seen.accepted)
            .collect::<Vec<_>>()
    );
    assert!(
        inputs
            .last()
            .map(|t| *t - seen.accepted >= Duration::from_millis(1900))
            .unwrap_or(false)
    );
}
