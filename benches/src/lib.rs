//! Shared fixtures of the benches: the criterion benches live in
//! `benches/`, the bare fan-out and the open-world tick counter in
//! `src/bin/`.

pub mod open_world;
