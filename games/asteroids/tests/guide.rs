//! The walk-through of `docs/extending.md`, run: every command on that page
//! is read from it and run here, or is one CI runs. The asteroids binary is
//! served through the one-call entry with `--record`, played by the swarm's
//! random bots (which press its buttons, so its shooting code runs), and
//! its record replayed by `asteroids replay FILE` with equal hashes.
//!
//! The test picks a free port and a temporary record directory, and relaxes
//! the swarm's speed thresholds (no test here is about speed); the rest of
//! each command is the page's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clap::Parser;
use tickwire_asteroids::{Asteroids, AsteroidsEvent};
use tickwire_sim::{Call, Event, MatchRecord, Simulation, setup};

/// The asteroids server, started with `args`; stopped with SIGTERM.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asteroids"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the asteroids server starts");
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

    /// SIGTERM, then waits for the graceful shutdown (which closes the
    /// records).
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The commands of the guide's `sh` blocks.
fn guide_commands() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/extending.md");
    let text = std::fs::read_to_string(path).expect("docs/extending.md");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            command if in_sh && !command.is_empty() => commands.push(command.to_owned()),
            _ => {}
        }
    }
    commands
}

const SERVE: &str = "cargo run --release -p tickwire-asteroids -- ";
const REPLAY: &str = "cargo run --release -p tickwire-asteroids -- replay ";
const SWARM: &str = "cargo run --release -p tickwire-swarm -- ";
/// Commands CI runs itself: `./test.sh` runs every test of the workspace.
const RUN_BY_CI: [&str; 1] = ["cargo test -p tickwire-asteroids"];

/// What a command of the guide is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Serve,
    Replay,
    Swarm,
    Ci,
}

fn words(rest: &str) -> Vec<&str> {
    rest.split_whitespace().collect()
}

fn step(command: &str) -> Option<(Step, Vec<&str>)> {
    if let Some(rest) = command.strip_prefix(REPLAY) {
        Some((Step::Replay, words(rest)))
    } else if let Some(rest) = command.strip_prefix(SERVE) {
        Some((Step::Serve, words(rest)))
    } else if let Some(rest) = command.strip_prefix(SWARM) {
        Some((Step::Swarm, words(rest)))
    } else {
        RUN_BY_CI.contains(&command).then(|| (Step::Ci, Vec::new()))
    }
}

/// The words after the prefix of the guide's one command of `kind`.
fn command_of(commands: &[String], kind: Step) -> Vec<&str> {
    let found: Vec<_> = commands
        .iter()
        .filter_map(|c| step(c))
        .filter(|(k, _)| *k == kind)
        .map(|(_, words)| words)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} command in the guide: {commands:?}"
    );
    found.into_iter().next().unwrap_or_default()
}

#[test]
fn every_command_of_the_guide_is_run_by_a_test_or_by_ci() {
    let commands = guide_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    for command in &commands {
        assert!(
            step(command).is_some(),
            "docs/extending.md runs `{command}`, which no test runs"
        );
    }
}

/// The one record in `dir`.
fn the_record(dir: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swarm_plays_asteroids_and_the_record_replays_equal() {
    let commands = guide_commands();
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().to_str().unwrap();

    // Run it, recording: the guide's flags, with the record directory here.
    let mut serve = command_of(&commands, Step::Serve);
    let at = serve
        .iter()
        .position(|w| *w == "--record")
        .expect("--record");
    serve[at + 1] = records;
    let server = Server::start(&serve);

    // Load-test it: the guide's swarm, at this server's address.
    let mut argv = vec!["tickwire-swarm".to_owned()];
    argv.extend(
        command_of(&commands, Step::Swarm)
            .into_iter()
            .map(str::to_owned),
    );
    let at = argv.iter().position(|w| w == "--url").expect("--url");
    argv[at + 1] = format!("ws://{}/ws", server.addr);
    argv.extend(
        [
            "--quiet",
            "--warmup",
            "500ms",
            "--min-snapshot-rate",
            "0",
            "--max-gap-p99-ms",
            "1000000",
        ]
        .map(str::to_owned),
    );
    let args = tickwire_swarm::Args::parse_from(argv);
    let report = tickwire_swarm::run(&args).await.unwrap();
    server.terminate();

    // The bots played the game's own input, and pressed both its buttons.
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert!(report.inputs_sent > 0);
    for button in ["thrust.thrust", "fire.fire"] {
        let held = report.inputs_by_button.get(button).copied().unwrap_or(0);
        assert!(
            held > 0,
            "{button} never held: {:?}",
            report.inputs_by_button
        );
    }

    // The record replays with equal hashes in the game's own binary: the
    // guide's replay command, on the file this run wrote (whose name the
    // guide gives as a pattern).
    let file = the_record(dir.path());
    let replay = command_of(&commands, Step::Replay);
    let pattern = replay.first().expect("replay takes a file");
    let name = file.file_name().unwrap().to_str().unwrap();
    let (head, _) = pattern
        .split_once('<')
        .expect("a <placeholder> in the file name");
    assert!(
        format!("matches/{name}").starts_with(head),
        "the guide says {pattern}, the server wrote {name}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_asteroids"))
        .arg("replay")
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ticks' state hashes are equal"), "{text}");

    // And the shooting code ran: replaying the record in-process, bullets
    // broke rocks or hit ships.
    let record =
        MatchRecord::read(std::io::BufReader::new(std::fs::File::open(&file).unwrap())).unwrap();
    let config = setup::recorded_config::<Asteroids>(&record.setup).unwrap();
    assert_eq!(config.field_size, 600.0, "--arena-size reached the game");
    let mut world =
        setup::world::<Asteroids>(&config, record.setup.seed, record.setup.tick_rate).unwrap();
    let (mut wire, mut hits, mut fired) = (Vec::new(), 0, 0);
    for tick in &record.ticks {
        for call in &tick.calls {
            if let Call::Input { input, .. } = call {
                fired += usize::from(input.values[2] != 0);
            }
            call.apply(&mut world);
        }
        world.step();
        world.drain_events(&mut wire);
        hits += wire
            .drain(..)
            .filter(|e| {
                matches!(
                    AsteroidsEvent::from_wire(e),
                    Some(AsteroidsEvent::Broke { .. } | AsteroidsEvent::Kill { .. })
                )
            })
            .count();
    }
    assert!(fired > 0, "no recorded input held fire");
    assert!(
        hits > 0,
        "no bullet hit anything in {} ticks",
        record.ticks.len()
    );
}
