//! Tickwire's deterministic simulation.
//!
//! See `docs/extending.md` for how to write a game against this crate.

pub mod replicate;
pub mod simulation;

pub use replicate::{
    FieldDecl, GameEvent, KindDecl, MAX_FIELDS, NetId, PlayerId, PlayerInput, Quantization, Rect,
    ReplicatedEntity, Schema, SchemaError,
};
pub use simulation::{JoinError, Joined, Simulation};
