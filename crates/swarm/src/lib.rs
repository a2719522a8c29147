//! Tickwire's bot swarm: many bots in one process, each a real WebSocket
//! client speaking the real protocol, following the arena benchmark scenario
//! and reporting its figures with a verdict.
//!
//! `docs/load-testing.md` is the user's guide; [`run`] is the whole run.

pub mod bot;
pub mod config;
pub mod cpu;
pub mod report;
pub mod runner;
pub mod stats;
pub mod wire;

pub use config::Args;
pub use report::{Report, Thresholds};
pub use runner::run;
