//! Every kind of bad input gets its close code and a reason, and another
//! player in the same room keeps receiving a snapshot every tick.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tickwire::Config;
use tickwire_protocol::{ClientMessage, Limits, ServerMessage};
use tickwire_sim::PlayerInput;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// Runs `offend` on a fresh player while a watcher in the same room counts
/// snapshots; returns the offender's close.
async fn offend_while_watched(
    config: Config,
    offend: impl AsyncFnOnce(&mut Player) -> Closed,
) -> Closed {
    let _turn = rate_measuring_turn().await;
    let server = start(config).await;
    let addr = server.local_addr();
    let mut watcher = join(addr, "shared", "watcher").await;
    let mut offender = join(addr, "shared", "offender").await;
    watcher.next_snapshot().await;
    let watch = tokio::spawn(async move {
        assert_full_rate(&mut watcher, Duration::from_secs(2)).await;
        watcher
    });
    let closed = offend(&mut offender).await;
    let watched = watch.await;
    assert!(
        watched.is_ok(),
        "the watcher lost its full rate; server view: {:?}",
        server.rooms()
    );
    server.shutdown().await;
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_is_closed_with_1003() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        p.ws.send(Message::text("hello")).await.unwrap();
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1003, "{closed:?}");
    assert!(closed.reason.contains("text"), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_is_closed_with_1002() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        p.ws.send(Message::binary(vec![0xff, 0xfe, 0xfd, 0x00, 0x13]))
            .await
            .unwrap();
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1002, "{closed:?}");
    assert!(!closed.reason.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_that_is_not_utf8_is_closed_with_1007() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        let text = OpCode::Data(Data::Text);
        let frame = Frame::message(vec![0xff, 0xfe, 0x80], text, true);
        p.ws.send(Message::Frame(frame)).await.unwrap();
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1007, "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_close_is_echoed_cut_to_fit_a_control_frame() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        // A close frame of 5,002 bytes; the client refuses (as a socket
        // error) any control frame over 125 bytes it receives.
        let frame = Frame::close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "a".repeat(5000).into(),
        }));
        p.ws.send(Message::Frame(frame)).await.unwrap();
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1000, "{closed:?}");
    assert!(
        closed.reason.len() <= 123 && closed.reason.starts_with("aaa"),
        "{} bytes",
        closed.reason.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_is_closed_with_1008_naming_both_versions() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        p.send(&ClientMessage::Join {
            protocol_version: 999,
            schema_hash: 0,
        })
        .await;
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1008, "{closed:?}");
    assert!(closed.reason.contains("999"), "{closed:?}");
    assert!(
        closed
            .reason
            .contains(&tickwire_protocol::PROTOCOL_VERSION.to_string()),
        "{closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_closed_with_1009() {
    let config = Config {
        max_message_size: 1024,
        ..test_config()
    };
    let closed = offend_while_watched(config, async |p: &mut Player| {
        p.ws.send(Message::binary(vec![0u8; 4096])).await.unwrap();
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1009, "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_flooding_is_dropped_then_closed_with_1008() {
    let config = Config {
        max_inputs_per_second: 20,
        flood_seconds: 2,
        ..test_config()
    };
    let closed = offend_while_watched(config, async |p: &mut Player| {
        // 100 inputs a second, five times the limit, until the close (at
        // most 6 s, 600 inputs): dropped, then closed once the drops have
        // lasted the flood time. What arrives is read as it comes, so the
        // close is seen before the server lets go of the socket.
        let start = Instant::now();
        for seq in 0..600 {
            if start.elapsed() > Duration::from_secs(6) || p.try_input(seq, 1, 0).await.is_err() {
                break;
            }
            while let Some(Some(Ok(message))) = p.ws.next().now_or_never() {
                if let Message::Close(Some(frame)) = message {
                    return Closed {
                        code: u16::from(frame.code),
                        reason: frame.reason.to_string(),
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        expect_close(&mut p.ws).await
    })
    .await;
    assert_eq!(closed.code, 1008, "{closed:?}");
    assert!(closed.reason.contains("flooding"), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_request_to_ws_gets_426_with_a_reason() {
    let server = start(test_config()).await;
    let response = http_get(server.local_addr(), "/ws").await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("WebSocket"), "{response}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_over_the_connection_limit_get_503() {
    let server = start(Config {
        max_connections: 1,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let _first = join(addr, "r", "a").await;
    let refused = tokio_tungstenite::connect_async(ws_url(addr, "r", "b")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(Config {
        idle_timeout: Duration::from_millis(600),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    // A client that never answers pings: a raw socket that upgrades, then
    // only reads (a WebSocket library would answer pings while reading).
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws?room=quiet HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut received))
        .await
        .expect("the server closes a silent client")
        .unwrap();
    assert!(received.starts_with(b"HTTP/1.1 101"));
    // An unmasked close frame (0x88, length) whose code is 1008 (0x03f0).
    let close = received
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xf0);
    assert!(close.is_some(), "no close 1008 among the bytes received");
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("idle"), "the reason names the idle timeout");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmasked_client_frame_is_closed_with_1002() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(test_config()).await;
    let addr = server.local_addr();
    // A raw socket: a WebSocket library masks every frame it sends.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws?room=unmasked HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // An unmasked binary frame holding a valid message (an ack).
    let ack = ClientMessage::Ack { tick: 1 }.to_bytes();
    let mut frame = vec![0x82, u8::try_from(ack.len()).unwrap()];
    frame.extend_from_slice(&ack);
    tcp.write_all(&frame).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .unwrap();
    assert!(received.starts_with(b"HTTP/1.1 101"));
    // A close frame (0x88, length) whose code is 1002 (0x03ea).
    let close = received
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xea);
    assert!(close.is_some(), "no close 1002 among the bytes received");
    assert!(String::from_utf8_lossy(&received).contains("unmasked"));
    server.shutdown().await;
}

/// Reads messages until the protocol `Error` message, as `(code, reason)`,
/// then the close.
async fn expect_error_then_close(p: &mut Player) -> ((u16, String), Closed) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let msg = tokio::time::timeout(deadline - Instant::now(), p.ws.next())
            .await
            .expect("the error message within 3 s")
            .expect("stream open")
            .expect("no socket error");
        let Message::Binary(bytes) = msg else {
            panic!("expected the error message before the close, got {msg:?}");
        };
        let decoded = ServerMessage::decode(&bytes, Some(&p.welcome.schema), &Limits::default())
            .expect("every server message decodes");
        if let ServerMessage::Error { code, reason } = decoded {
            return ((code, reason), expect_close(&mut p.ws).await);
        }
    }
}

/// Sends `input` as an arena player while another player watches; returns
/// the protocol error and the close it got.
async fn send_bad_input(input: PlayerInput) -> ((u16, String), Closed) {
    let error = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::clone(&error);
    let closed = offend_while_watched(test_config(), async move |p: &mut Player| {
        // A valid input first: it is applied, so what follows is refused
        // for its values, not for being an input.
        p.input(1, 1, 0).await;
        p.send(&ClientMessage::Input(input)).await;
        let (message, closed) = expect_error_then_close(p).await;
        *seen.lock().unwrap() = Some(message);
        closed
    })
    .await;
    let message = error.lock().unwrap().take().expect("an error message");
    (message, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_out_of_its_declared_range_is_closed_with_1002_naming_the_field() {
    // The arena declares move_x as an axis of 127 steps: -127..=127.
    let ((code, reason), closed) = send_bad_input(PlayerInput::new(2, &[128, 0, 0, 0])).await;
    assert_eq!(closed.code, 1002, "{closed:?}");
    assert_eq!(code, tickwire_protocol::error_code::BAD_INPUT, "{reason}");
    assert!(
        reason.contains("move_x") && reason.contains("128") && reason.contains("-127..=127"),
        "{reason}"
    );
    assert!(closed.reason.contains("move_x"), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_value_past_the_declared_fields_is_closed_with_1002() {
    // The arena declares four input fields; a fifth value is no field.
    let ((code, reason), closed) = send_bad_input(PlayerInput::new(2, &[0, 0, 0, 0, 7])).await;
    assert_eq!(closed.code, 1002, "{closed:?}");
    assert_eq!(code, tickwire_protocol::error_code::BAD_INPUT, "{reason}");
    assert!(
        reason.contains("value 4") && reason.contains("4 input fields"),
        "{reason}"
    );
}
