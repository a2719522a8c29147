//! A bot whose socket drops resumes by itself: a scripted server (on
//! tokio-tungstenite, an independent WebSocket implementation) welcomes it
//! with a resume token, drops its first socket without a close, and checks
//! that the second connection resumes with the token and the tick the bot
//! holds, gets a delta against that tick applied, and numbers its inputs on
//! from the first connection's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser as _;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::{
    ClientMessage, PROTOCOL_VERSION, ServerMessage, Welcome, encode_delta, encode_full,
    write_snapshot_message,
};
use tickwire_swarm::Args;
use tickwire_types::{
    FieldDecl, InputDecl, InputKind, KindDecl, NetId, PlayerId, Quantization, ReplicatedEntity,
    Schema,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

fn schema() -> Schema {
    Schema::new(
        "dots",
        vec![KindDecl {
            id: 0,
            name: "dot".into(),
            fields: vec![FieldDecl {
                id: 0,
                name: "x".into(),
                quant: Quantization::Int { min: 0, max: 1000 },
            }],
        }],
        vec![InputDecl {
            name: "push".into(),
            kind: InputKind::Int { min: -1, max: 1 },
        }],
        vec![],
    )
}

fn dot(x: i32) -> Vec<ReplicatedEntity> {
    vec![ReplicatedEntity {
        id: NetId(1),
        kind: 0,
        values: [x, 0, 0, 0, 0, 0, 0, 0],
    }]
}

/// Accepts one WebSocket; returns it and the request's path and query.
// The callback's signature is tungstenite's, its large error type too.
#[allow(clippy::result_large_err)]
async fn accept(listener: &TcpListener) -> (WebSocketStream<TcpStream>, String) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut uri = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, res: Response| {
        uri = req.uri().to_string();
        Ok(res)
    })
    .await
    .unwrap();
    (ws, uri)
}

async fn send(ws: &mut WebSocketStream<TcpStream>, message: &ServerMessage) {
    let bytes = message.to_bytes(&schema()).unwrap();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

fn welcome(resume: &str) -> ServerMessage {
    let schema = schema();
    ServerMessage::Welcome(Welcome {
        protocol_version: PROTOCOL_VERSION,
        player: PlayerId(4),
        avatar: NetId(1),
        room: "swarm-0".into(),
        tick_rate: 30,
        tick: 0,
        schema_hash: schema.hash(),
        schema,
        roster: vec![(PlayerId(4), "bot0".into())],
        constants: vec![],
        spectator: false,
        following: None,
        resume: resume.into(),
    })
}

/// A snapshot of the dot at `x`, tick `tick`, against `baseline` (held at
/// `base_x`) or full.
fn snapshot(tick: u32, x: i32, baseline: Option<(u32, i32)>, last_input: Option<u32>) -> Vec<u8> {
    let schema = schema();
    let mut body = Vec::new();
    match baseline {
        Some((base, base_x)) => {
            encode_delta(&schema, base, &dot(base_x), tick, &dot(x), &mut body).unwrap();
        }
        None => encode_full(&schema, tick, &dot(x), &mut body).unwrap(),
    }
    let mut message = Vec::new();
    write_snapshot_message(&mut message, last_input, &body);
    message
}

/// Reads client messages until an input; returns its sequence number.
async fn next_input(ws: &mut WebSocketStream<TcpStream>) -> u32 {
    loop {
        let msg = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an input in time")
            .expect("open")
            .expect("no error");
        if let Message::Binary(bytes) = msg {
            if let ClientMessage::Input(input) = ClientMessage::decode(&bytes).unwrap() {
                return input.seq;
            }
        }
    }
}

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
            last = next_input(&mut ws).await;
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
        let first = next_input(&mut ws).await;
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
