//! Shared helpers of the swarm's tests against a scripted server (on
//! tokio-tungstenite, an independent WebSocket implementation): a tiny game
//! of one dot, its welcome and snapshots, and the cluster's answers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::{
    ClientMessage, PROTOCOL_VERSION, ServerMessage, Welcome, encode_delta, encode_full,
    write_snapshot_message,
};
use tickwire_types::{
    FieldDecl, InputDecl, InputKind, KindDecl, NetId, PlayerId, PlayerInput, Quantization,
    ReplicatedEntity, Schema,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The game: one dot, pushed by an input of -1, 0 or 1.
pub fn schema() -> Schema {
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

/// The dot at `x`.
pub fn dot(x: i32) -> Vec<ReplicatedEntity> {
    vec![ReplicatedEntity {
        id: NetId(1),
        kind: 0,
        values: [x, 0, 0, 0, 0, 0, 0, 0],
    }]
}

/// Accepts one WebSocket; returns it and the request's path and query.
// The callback's signature is tungstenite's, its large error type too.
#[allow(clippy::result_large_err)]
pub async fn accept(listener: &TcpListener) -> (WebSocketStream<TcpStream>, String) {
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

/// Sends a server message.
pub async fn send(ws: &mut WebSocketStream<TcpStream>, message: &ServerMessage) {
    let bytes = message.to_bytes(&schema()).unwrap();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

/// Player 4's welcome in `swarm-0`, with resume token `resume`.
pub fn welcome(resume: &str) -> ServerMessage {
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
pub fn snapshot(
    tick: u32,
    x: i32,
    baseline: Option<(u32, i32)>,
    last_input: Option<u32>,
) -> Vec<u8> {
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

/// Reads client messages until an input; returns it.
pub async fn next_input(ws: &mut WebSocketStream<TcpStream>) -> PlayerInput {
    loop {
        let msg = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an input in time")
            .expect("open")
            .expect("no error");
        if let Message::Binary(bytes) = msg {
            if let ClientMessage::Input(input) = ClientMessage::decode(&bytes).unwrap() {
                return input;
            }
        }
    }
}

/// Answers a connection as a cluster node that sends it on: the
/// protocol's `Redirect` to the node at `url` with seat `ticket`, then
/// close 4010.
pub async fn redirect(ws: &mut WebSocketStream<TcpStream>, url: &str, ticket: &str) {
    let to = ServerMessage::Redirect {
        url: url.into(),
        room: "swarm-0".into(),
        ticket: ticket.into(),
    };
    send(ws, &to).await;
    close(ws, 4010, "room swarm-0 is on another node: reconnect there").await;
}

/// Refuses a connection as a cluster node does while a dead node's lease
/// runs out: `Error` 4004, then close 1013.
pub async fn not_answering(ws: &mut WebSocketStream<TcpStream>) {
    let reason = "room `swarm-0`'s node is not answering; try again in a few seconds";
    let error = ServerMessage::Error {
        code: 4004,
        reason: reason.into(),
    };
    send(ws, &error).await;
    close(ws, 1013, reason).await;
}

/// Closes with `code` and `reason`, and waits (bounded) for the peer's
/// answer.
pub async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    let _ = timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
}

/// The value of query parameter `key` in `uri` (a request's path and
/// query).
pub fn param(uri: &str, key: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://x{uri}")).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}
