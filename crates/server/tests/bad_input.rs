//! Every kind of bad input gets its close code and a reason, and another
//! player in the same room keeps receiving a snapshot every tick.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tickwire::Config;
use tickwire_protocol::ClientMessage;
use tokio_tungstenite::tungstenite::Message;

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
async fn a_wrong_protocol_version_is_closed_with_1008_naming_both_versions() {
    let closed = offend_while_watched(test_config(), async |p: &mut Player| {
        p.send(&ClientMessage::Join {
            protocol_version: 999,
            schema_hash: 0,
            resume_tick: None,
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
        // Over the limit in two consecutive seconds: dropped, then closed.
        // Sends may fail once the server has closed.
        for seq in 0..400 {
            let _ = p.try_input(seq, 1, 0).await;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for seq in 400..450 {
            let _ = p.try_input(seq, 1, 0).await;
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
