//! Determinism that survives the build profile: matches of the arena and of
//! asteroids recorded by this (debug) test build replay with equal state
//! hashes in the release builds of their game servers (`replay FILE`).
//!
//! The release binaries are the ones `./test.sh` builds before it runs the
//! tests (`cargo build --release -p tickwire -p tickwire-asteroids`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use tickwire_asteroids::{Asteroids, ShipInput};
use tickwire_sim::games::arena::{Arena, ArenaInput};
use tickwire_sim::{Configure, Input, PlayerInput, Recording, Simulation, setup};

/// A release binary of this workspace, or a failure that says how to build
/// it.
fn release_binary(name: &str) -> PathBuf {
    // This test runs from target/debug/deps; the binaries of the release
    // profile sit in target/release.
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_asteroids"));
    let target = debug
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>");
    let path = target.join("release").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the release game servers first with \
         `cargo build --release -p tickwire -p tickwire-asteroids` (./test.sh does)",
        path.display()
    );
    path
}

/// Records a match of `G` in this build: `players` players, each holding a
/// random valid input (from `input`) for a few ticks at a time and showing
/// a tick a little in the past, for `ticks` ticks, with a leave and a late
/// join on the way. Returns the record file.
fn record<G: Configure>(
    dir: &Path,
    players: usize,
    ticks: u32,
    input: impl Fn(&mut rand_pcg::Pcg64Mcg) -> [i32; 8],
) -> PathBuf {
    let config = G::Config::default();
    let world = setup::world::<G>(&config, 42, 30).unwrap();
    let header = setup::match_setup::<G>(&config, 42, 30);
    let path = dir.join(format!("{}.jsonl", G::NAME));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut sim = Recording::new(world, &header, file, true).unwrap();
    let mut ids: Vec<_> = (0..players)
        .map(|i| sim.join(&format!("p{i}")).unwrap().player)
        .collect();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
    let mut held = vec![[0; 8]; players];
    for tick in 1..=ticks {
        if tick == ticks / 3 {
            sim.leave(ids.remove(0));
            held.remove(0);
        }
        if tick == ticks / 2 {
            ids.push(sim.join("late").unwrap().player);
            held.push([0; 8]);
        }
        for (i, &id) in ids.iter().enumerate() {
            if rng.random_range(0..8) == 0 {
                held[i] = input(&mut rng);
            }
            // Shown a few ticks back, sometimes more than the max rewind:
            // the arena's shots rewind, in both builds alike.
            let view = tick.saturating_sub(rng.random_range(1..10));
            sim.input(
                id,
                PlayerInput {
                    seq: tick,
                    values: held[i],
                    view,
                },
            );
        }
        sim.step();
    }
    let (_, file) = sim.finish();
    drop(file.unwrap());
    path
}

/// `BIN replay FILE` in the release build: asserts it says every tick's
/// hash is equal.
fn replays_equal_in_release(binary: &str, file: &Path, ticks: u32) {
    let out = Command::new(release_binary(binary))
        .arg("replay")
        .arg(file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("all {ticks} ticks' state hashes are equal")),
        "{text}"
    );
}

#[test]
fn an_arena_match_recorded_in_debug_replays_equal_in_release() {
    let dir = tempfile::tempdir().unwrap();
    let file = record::<Arena>(dir.path(), 8, 600, |rng| {
        ArenaInput {
            move_x: rng.random_range(-127..=127),
            move_y: rng.random_range(-127..=127),
            aim: rng.random(),
            buttons: u8::from(rng.random_bool(0.6)),
        }
        .to_values()
    });
    replays_equal_in_release("tickwire", &file, 600);
}

#[test]
fn an_asteroids_match_recorded_in_debug_replays_equal_in_release() {
    let dir = tempfile::tempdir().unwrap();
    let file = record::<Asteroids>(dir.path(), 8, 600, |rng| {
        ShipInput {
            turn: rng.random_range(-1.0..=1.0),
            thrust: rng.random_bool(0.5),
            fire: rng.random_bool(0.6),
        }
        .to_values()
    });
    replays_equal_in_release("asteroids", &file, 600);
}
