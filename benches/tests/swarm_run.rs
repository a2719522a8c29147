//! The swarm against an in-process server: the report counts what happened,
//! and the verdict follows the thresholds.
//!
//! These tests run a debug build on a machine that may be busy: none of them
//! is about speed. Each passes lax values for the thresholds it is not about
//! ([`LAX`]), so a slow tick on a loaded machine misses nothing, and asserts
//! only the figures and verdict it is about.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use std::collections::BTreeMap;
use tickwire::{BundledOptions, Config, Server, bundled};

use tickwire_sim::InputDecl;
use tickwire_swarm::{Args, Behaviour, BehaviourError, Tick, Values, run, run_with};

async fn bench_server(max_room_players: Option<usize>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        max_room_players,
        ..Config::default()
    };
    let game = bundled("bench", BundledOptions::default()).unwrap();
    Server::start(config, listener, game).unwrap()
}

/// Thresholds no run misses for being slow: any snapshot rate, any gap.
/// Errors are left at the default (none allowed): no test here is slow
/// enough to time out a connection.
const LAX: [&str; 4] = ["--min-snapshot-rate", "0", "--max-gap-p99-ms", "1000000"];

/// The swarm's arguments against `server`: `extra`, and the [`LAX`]
/// thresholds `extra` does not set (a test sets the thresholds it is about).
/// The bots play the benchmark scenario unless `extra` names a behaviour.
fn args(server: &Server, extra: &[&str]) -> Args {
    let url = format!("ws://{}/ws", server.local_addr());
    let mut argv = vec!["tickwire-swarm", "--url", &url, "--quiet"];
    if !extra.contains(&"--behaviour") {
        argv.extend_from_slice(&["--behaviour", "scenario"]);
    }
    for pair in LAX.chunks(2) {
        if !extra.contains(&pair[0]) {
            argv.extend_from_slice(pair);
        }
    }
    argv.extend_from_slice(extra);
    Args::parse_from(argv)
}

/// Asserts that `missed` names exactly the thresholds with these words, in
/// the report's order.
fn assert_missed(missed: &[String], expected: &[&str]) {
    assert_eq!(missed.len(), expected.len(), "{missed:?}");
    for (m, words) in missed.iter().zip(expected) {
        assert!(m.contains(words), "{words:?} not in {missed:?}");
    }
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
        ],
    );
    let report = run(&args).await.unwrap();
    server.shutdown().await;

    assert_eq!(report.bots, 6);
    assert_eq!(report.rooms, 2);
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    // The window is measured, never shorter than asked; a busy machine may
    // make it longer.
    assert!(report.duration_s >= 1.99, "{}", report.duration_s);
    // Every bot received snapshots in the window, never more than one per
    // tick of 30 Hz (catch-up ticks after a stall may add a few: a snapshot
    // sent twice would read 60).
    assert!(report.snapshots_per_s_min > 0.0, "{report:?}");
    assert!(report.snapshots_per_s_mean <= 45.0, "{report:?}");
    // Gaps are measured in milliseconds: a 33 ms tick, give or take a busy
    // machine, is neither microseconds nor seconds.
    assert!((1.0..1000.0).contains(&report.gap_ms_p50), "{report:?}");
    // Inputs are acknowledged, and round trips are counted in milliseconds.
    assert!(
        report.rtt_ms_p50 > 0.0 && report.rtt_ms_p50 < 2000.0,
        "{report:?}"
    );
    // Three avatars per room move every tick: bytes flow, and a frame
    // header is counted on top of every payload.
    assert!(report.bytes_per_bot_per_s > 100.0, "{report:?}");
    assert!(report.wire_bytes_per_bot_per_s > report.bytes_per_bot_per_s);
    // Inputs are counted: about ten a second per bot (at least one each),
    // and the scenario's bots never fire; the table says so.
    assert_eq!(report.behaviour, "scenario");
    assert!(report.inputs_sent >= 6, "{report:?}");
    assert!(report.inputs_sent <= 6 * 10 * 3, "{report:?}");
    assert_eq!(
        report.inputs_by_button,
        BTreeMap::from([("buttons.fire".to_string(), 0)])
    );
    let table = report.table();
    assert!(table.contains("buttons.fire 0"), "{table}");
    // With lax thresholds the run holds.
    assert!(report.holds, "{}", report.verdict());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bots_press_the_declared_buttons_and_are_never_refused() {
    let server = bench_server(None).await;
    let args = args(
        &server,
        &[
            "--behaviour",
            "random",
            "--bots",
            "4",
            "--duration",
            "3s",
            "--warmup",
            "300ms",
        ],
    );
    let report = run(&args).await.unwrap();
    server.shutdown().await;

    // Every input was in range: the server closed no socket.
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert_eq!(report.behaviour, "random");
    assert!(report.inputs_sent >= 4, "{report:?}");
    // Fire is held in some inputs and not in others.
    let fired = report.inputs_by_button.get("buttons.fire").copied();
    assert!(
        fired.is_some_and(|n| n > 0 && n < report.inputs_sent),
        "{report:?}"
    );
    let table = report.table();
    assert!(table.contains("buttons.fire"), "{table}");
}

/// A behaviour for a game with no input at all.
struct NeedsJump;

impl Behaviour for NeedsJump {
    fn name(&self) -> &'static str {
        "jump"
    }

    fn start(&mut self, game: &str, input: &[InputDecl]) -> Result<(), BehaviourError> {
        match input.iter().any(|d| d.name == "jump") {
            true => Ok(()),
            false => Err(BehaviourError::MissingField {
                behaviour: "jump",
                field: "jump",
                game: game.to_string(),
            }),
        }
    }

    fn next(&mut self, _tick: &mut Tick<'_>) -> Values {
        [0; 8]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_behaviour_that_cannot_drive_the_game_stops_the_run_at_the_welcome() {
    let server = bench_server(None).await;
    // A whole minute asked: the run must stop at the first welcome instead.
    let args = args(
        &server,
        &["--bots", "2", "--duration", "60s", "--warmup", "0s"],
    );
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run_with(&args, || Box::new(NeedsJump)),
    )
    .await
    .expect("the run stops at the welcome, not after the window");
    server.shutdown().await;
    let err = result.expect_err("the behaviour refused the game");
    assert!(err.contains("`jump`") && err.contains("bench"), "{err}");
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
    // The two impossible thresholds, and nothing else.
    assert_missed(&report.missed, &["snapshots/s", "bytes/s"]);
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
    // The refused bot received nothing, but the rate is not what this is
    // about (LAX allows 0): the errors alone miss.
    assert_missed(&report.missed, &["errors"]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_bots_leave_and_join_new_rooms_and_still_count() {
    let server = bench_server(None).await;
    let intervals = std::env::temp_dir().join(format!(
        "tickwire-swarm-intervals-{}.jsonl",
        std::process::id()
    ));
    let intervals_arg = intervals.to_string_lossy().into_owned();
    // 6 bots in rooms of 3; 90 bots a minute in waves of 3: a room closes
    // and a new one opens every 2 s.
    let args = args(
        &server,
        &[
            "--bots",
            "6",
            "--room-size",
            "3",
            "--churn-per-minute",
            "90",
            "--churn-batch",
            "3",
            "--duration",
            "5s",
            "--warmup",
            "500ms",
            "--interval",
            "1s",
            "--interval-json",
            &intervals_arg,
        ],
    );
    let report = run(&args).await.unwrap();
    let open_rooms = server.rooms().len();
    server.shutdown().await;

    // Leaving is not an error, and the bots that joined got in.
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert!((report.churn_per_minute - 90.0).abs() < 1e-9, "{report:?}");
    assert!(report.leaves >= 6, "{report:?}");
    assert!(report.joins >= 6, "{report:?}");
    assert_eq!(report.bots, 6);
    assert_eq!(report.bots_started, 6 + report.leaves as usize);
    // New bots joined new rooms.
    assert!(report.rooms >= 4, "{report:?}");
    // Every bot's rate is per second of its own time in the window: the
    // churned ones do not pull the mean down (a bot in for half the window
    // counted over all of it would read 15).
    assert!(report.snapshots_per_s_mean > 20.0, "{report:?}");
    assert!(report.snapshots_per_s_mean <= 45.0, "{report:?}");
    assert!(report.holds, "{}", report.verdict());
    let table = report.table();
    assert!(table.contains("90.0 bots/min"), "{table}");
    // The emptied rooms closed: at most the two rooms of the last bots
    // (closing is asynchronous, so allow one more).
    assert!(open_rooms <= 3, "{open_rooms} rooms open");

    // The reports over time: one a second, each with the churn so far.
    let text = std::fs::read_to_string(&intervals).unwrap();
    let _ = std::fs::remove_file(&intervals);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4, "{text}");
    let last = lines.last().unwrap();
    assert!(last["leaves"].as_u64().unwrap() >= 6, "{text}");
    for line in &lines {
        assert!(line["t_s"].as_f64().unwrap() > 0.0, "{line}");
        assert!(line["holds"].as_bool().unwrap(), "{line}");
    }
}
