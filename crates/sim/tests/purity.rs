//! The simulation crate stays pure: no async runtime, no sockets, no wall
//! clock, no unordered hash maps anywhere in its source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sim_source_uses_no_runtime_sockets_clock_or_hash_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("examples"), &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    // Spelled in pieces so this file does not trip its own check when the
    // list is ever extended to tests.
    let banned = [
        ["to", "kio"].concat(),
        ["std::", "net"].concat(),
        ["Instant", "::now"].concat(),
        ["System", "Time"].concat(),
        ["Hash", "Map"].concat(),
        ["Hash", "Set"].concat(),
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in &banned {
            assert!(
                !text.contains(word.as_str()),
                "{} uses `{word}`",
                file.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains(&banned[0]),
        "Cargo.toml depends on the runtime"
    );
}
