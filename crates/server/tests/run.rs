//! The one-call game server: a game of its own (`common/dots.rs`) served,
//! recorded and replayed through `tickwire::Games`, refusing the flags it
//! cannot honour; and the bundled `tickwire` binary recording a match and
//! replaying it, equal and then tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/dots.rs"]
mod dots;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use common::*;
use dots::Dots;
use tickwire::{GameOptions, Games, ReplayVerdict, Server};
use tickwire_protocol::ClientMessage;
use tickwire_sim::PlayerInput;
use tickwire_sim::record::MatchRecord;

/// The dots game's one-call entry, run in-process with `args`.
fn dots(args: &[&str]) -> anyhow::Result<ExitCode> {
    Games::new()
        .game::<Dots>()
        .try_run_from(std::iter::once("dots").chain(args.iter().copied()))
}

#[test]
fn a_game_without_the_setting_refuses_arena_size_naming_the_flag() {
    let refused = dots(&["--bind", "127.0.0.1:0", "--arena-size", "1000"]);
    let message = format!("{:#}", refused.expect_err("--arena-size is refused"));
    assert!(
        message.contains("--arena-size 1000")
            && message.contains("`dots`")
            && message.contains("no arena size setting"),
        "{message}"
    );
    let refused = dots(&["--bind", "127.0.0.1:0", "--view-size", "300"]);
    let message = format!("{:#}", refused.expect_err("--view-size is refused"));
    assert!(
        message.contains("--view-size 300") && message.contains("no view size setting"),
        "{message}"
    );
    // Printed by `run_from`, with a failure code.
    let code = Games::new()
        .game::<Dots>()
        .run_from(["dots", "--arena-size", "1000"]);
    assert_eq!(code, ExitCode::FAILURE);
}

#[test]
fn a_single_game_binary_has_no_game_flag() {
    let refused = dots(&["--game", "dots"]).expect_err("no --game");
    let usage = refused.downcast::<clap::Error>().expect("a usage error");
    assert_eq!(usage.kind(), clap::error::ErrorKind::UnknownArgument);
    let help = dots(&["--help"]).expect_err("help is clap's");
    let help = help
        .downcast::<clap::Error>()
        .expect("clap's help")
        .to_string();
    assert!(!help.contains("--game"), "{help}");
    for flag in ["--record", "--tick-rate", "--config", "--bind", "replay"] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
}

#[test]
fn a_config_file_reaches_the_game_and_a_bad_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("dots.toml");
    std::fs::write(&good, "step = 7\n").unwrap();
    let options = GameOptions {
        config_file: Some(good),
        ..GameOptions::default()
    };
    let game = tickwire::Configured::<Dots>::new(&options).unwrap();
    assert_eq!(game.config().step, 7);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "step = \"fast\"\n").unwrap();
    let refused = dots(&["--config", bad.to_str().unwrap()]);
    let message = format!("{:#}", refused.expect_err("a bad config is refused"));
    assert!(message.contains("bad.toml"), "{message}");
}

/// The one `.jsonl` record in `dir`.
fn the_record(dir: &Path) -> PathBuf {
    let records: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    records[0].clone()
}

/// Joins `addr`, plays `inputs` one per snapshot with `values`, each
/// saying it shows the tick two before the newest snapshot (as the SDK's
/// interpolation does), and leaves.
async fn play(addr: SocketAddr, values: &[i32], inputs: u32) {
    let mut player = join(addr, "r", "ann").await;
    for seq in 1..=inputs {
        let view = player.last_tick.map_or(0, |t| t.saturating_sub(2));
        player
            .send(&ClientMessage::Input(
                PlayerInput::new(seq, values).viewing(view),
            ))
            .await;
        player.next_snapshot().await;
    }
    // Until the last input is applied, so the record holds every one.
    while player.last_input != Some(inputs) {
        player.next_snapshot().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_of_its_own_records_its_matches_and_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    let options = GameOptions {
        record_dir: Some(dir.path().to_owned()),
        tick_rate: Some(60),
        max_rewind_ms: Some(100),
        ..GameOptions::default()
    };
    let game = tickwire::factory::<Dots>(&options).unwrap();
    let server = Server::start(
        test_config(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        game,
    )
    .unwrap();
    play(server.local_addr(), &[1], 20).await;
    server.shutdown().await;

    let file = the_record(dir.path());
    let record =
        MatchRecord::read(std::io::BufReader::new(std::fs::File::open(&file).unwrap())).unwrap();
    assert_eq!(record.setup.game, "dots");
    assert_eq!(record.setup.tick_rate, 60);
    assert_eq!(record.setup.config, serde_json::json!({ "step": 3 }));
    // 100 ms at 60 Hz.
    assert_eq!(record.setup.max_rewind, 6);
    // Every input's viewed tick reached the match and its record: never
    // one the client could not have been shown yet.
    let views: Vec<(u64, u32)> = record
        .ticks
        .iter()
        .flat_map(|t| t.calls.iter().map(move |c| (t.tick, c)))
        .filter_map(|(tick, c)| match c {
            tickwire_sim::Call::Input { input, .. } => Some((tick, input.view)),
            _ => None,
        })
        .collect();
    assert_eq!(views.len(), 20);
    assert!(views.iter().any(|&(_, view)| view > 0), "{views:?}");
    assert!(
        views.iter().all(|&(tick, view)| u64::from(view) < tick),
        "{views:?}"
    );
    let verdict = Games::new().game::<Dots>().replay(&record).unwrap();
    assert!(
        matches!(verdict, ReplayVerdict::Equal { ticks } if ticks >= 20),
        "{verdict:?}"
    );
    let code = dots(&["replay", file.to_str().unwrap()]).unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
}

/// The `tickwire` binary recording into a directory; stopped with SIGTERM.
struct Process {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Process {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let addr = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.split("open http://").nth(1)?;
                rest.trim_end_matches('/').parse().ok()
            })
            .expect("the server prints its URL");
        Self { child, addr }
    }

    /// SIGTERM, then waits for the graceful shutdown to finish.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tickwire replay FILE`: its exit status and what it printed.
fn replay(file: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .arg("replay")
        .arg(file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_binary_replays_its_record_and_names_a_tampered_tick() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(&["--record", dir.path().to_str().unwrap()]);
    // Move right, aim a quarter turn and fire (the arena's four fields).
    play(server.addr, &[127, 0, 16384, 1], 30).await;
    server.terminate();

    let file = the_record(dir.path());
    let (status, out) = replay(&file);
    assert!(status.success(), "{out}");
    assert!(out.contains("ticks' state hashes are equal"), "{out}");

    // One hash changed: tick 12's.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tick = lines
        .iter_mut()
        .find(|l| l["t"] == 12)
        .expect("tick 12 was recorded");
    let hash = tick["h"].as_u64().expect("tick 12 has a hash");
    tick["h"] = serde_json::json!(hash ^ 1);
    let tampered = dir.path().join("tampered.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&tampered, text).unwrap();
    let (status, out) = replay(&tampered);
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "tick 12 diverges: recorded hash {}, replayed hash {hash}",
            hash ^ 1
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_binary_serves_the_arena_app_and_the_sdk() {
    let server = Process::start(&[]);
    let client_web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../client-web");
    for (path, file) in [("/", "index.html"), ("/sdk/index.js", "sdk/index.js")] {
        let response = http_get(server.addr, path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        let body = response.split("\r\n\r\n").nth(1).unwrap();
        let on_disk = std::fs::read_to_string(client_web.join(file)).unwrap();
        assert_eq!(body, on_disk, "{path}");
    }
    server.terminate();
}
