//! The swarm against an in-process server: the report counts what happened,
//! and the verdict follows the thresholds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use tickwire::{Config, GameKind, Server};
use tickwire_swarm::{Args, run};

async fn bench_server(max_room_players: Option<usize>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        game: GameKind::Bench,
        max_room_players,
        ..Config::default()
    };
    Server::start(config, listener).unwrap()
}

fn args(server: &Server, extra: &[&str]) -> Args {
    let url = format!("ws://{}/ws", server.local_addr());
    let mut argv = vec!["tickwire-swarm", "--url", &url, "--quiet"];
    argv.extend_from_slice(extra);
    Args::parse_from(argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_holds_and_counts_what_it_received() {
    let server = bench_server(None).await;
    let args = args(
        &server,
        &[
            "--bots",
            "6",
            "--room-size",
            "3",
            "--duration",
            "2s",
            "--warmup",
            "500ms",
            // This test proves counting and judging, not speed (a debug
            // build on a busy machine): thresholds with room to spare.
            "--min-snapshot-rate",
            "20",
            "--max-gap-p99-ms",
            "500",
        ],
    );
    let report = run(&args).await.unwrap();
    server.shutdown().await;

    assert_eq!(report.bots, 6);
    assert_eq!(report.rooms, 2);
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert!(
        (1.9..2.5).contains(&report.duration_s),
        "{}",
        report.duration_s
    );
    // 30 Hz ticks, measured over two seconds.
    assert!(report.snapshots_per_s_min >= 20.0, "{report:?}");
    assert!(report.snapshots_per_s_mean <= 31.0, "{report:?}");
    assert!((20.0..50.0).contains(&report.gap_ms_p50), "{report:?}");
    // Inputs are acknowledged: a round trip is at least part of a tick.
    assert!(
        report.rtt_ms_p50 > 0.0 && report.rtt_ms_p50 < 200.0,
        "{report:?}"
    );
    // Three avatars per room move every tick: bytes flow, and a frame
    // header is counted on top of every payload.
    assert!(report.bytes_per_bot_per_s > 100.0, "{report:?}");
    assert!(report.wire_bytes_per_bot_per_s > report.bytes_per_bot_per_s);
    assert!(report.holds, "{}", report.verdict());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_threshold_is_missed() {
    let server = bench_server(None).await;
    let args = args(
        &server,
        &[
            "--bots",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--min-snapshot-rate",
            "45",
            "--max-bytes-per-bot",
            "1",
        ],
    );
    let report = run(&args).await.unwrap();
    server.shutdown().await;

    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert!(!report.holds);
    assert_eq!(report.missed.len(), 2, "{:?}", report.missed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bots_are_counted_as_errors() {
    // Rooms of two, and three bots in one room: the third is refused (1013).
    let server = bench_server(Some(2)).await;
    let args = args(
        &server,
        &["--bots", "3", "--duration", "1s", "--warmup", "200ms"],
    );
    let report = run(&args).await.unwrap();
    server.shutdown().await;

    assert_eq!(report.errors, 1, "{:?}", report.errors_by_kind);
    assert_eq!(
        report.errors_by_kind.get("closed 1013"),
        Some(&1),
        "{:?}",
        report.errors_by_kind
    );
    assert!(!report.holds);
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    // A port nobody listens on: bind, learn the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("ws://127.0.0.1:{port}/ws");
    let args = Args::parse_from([
        "tickwire-swarm",
        "--url",
        &url,
        "--quiet",
        "--bots",
        "2",
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ]);
    let report = run(&args).await.unwrap();
    assert_eq!(report.errors, 2, "{:?}", report.errors_by_kind);
    assert!(!report.holds);
}
