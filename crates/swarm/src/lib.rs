//! Tickwire's bot swarm: many bots in one process, each a real WebSocket
//! client speaking the real protocol, playing any game by its declared input
//! (or the arena benchmark scenario) and reporting its figures with a
//! verdict.
//!
//! `docs/load-testing.md` is the user's guide; [`run`] is the whole run,
//! [`run_with`] the same with a [`Behaviour`] of your own.

pub mod behaviour;
pub mod bot;
pub mod cluster;
pub mod config;
pub mod cpu;
pub mod inputlog;
pub mod lab;
pub mod report;
pub mod runner;
pub mod stats;
pub mod wire;

pub use behaviour::{Behaviour, BehaviourError, Tick, Values};
pub use config::Args;
pub use report::{Report, Thresholds};
pub use runner::{run, run_with};
