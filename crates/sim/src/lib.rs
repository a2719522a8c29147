//! Tickwire's deterministic simulation: the game API, the world that runs a
//! game tick by tick, match recording, and the bundled games.
//!
//! A game developer implements [`Game`] (what a join, a leave, an input and
//! a tick do, and which fields of an entity go on the wire, quantized how);
//! a [`World`] runs it at a fixed tick rate with one seeded RNG, and
//! implements [`Simulation`], the type-erased face the server drives. Same
//! seed and same ordered calls give the same state, bit for bit, proven
//! tick by tick with [`Simulation::state_hash`].
//!
//! The crate does no I/O of its own except reading a config file or
//! writing a recording to a writer it is handed, and reads no clock.
//!
//! See `docs/extending.md` for how to write a game against this crate.

// The derives name `::tickwire_sim` paths; this makes them resolve in the
// crate's own games too.
extern crate self as tickwire_sim;

pub mod entities;
pub mod game;
pub mod games;
pub mod grid;
pub mod hash;
pub mod priority;
pub mod record;
pub mod rewind;
/// The wire's shared types live in their own leaf crate, `tickwire-types`,
/// so that the protocol and the swarm need not pull in the simulation.
pub use tickwire_types as replicate;
pub mod setup;
pub mod simulation;
pub mod typed;
pub mod world;

pub use entities::{Entities, EntityKey};
pub use game::{Ctx, Game, SimRng};
pub use grid::{Grid, GridItem, GridSpec};
pub use hash::{StateHash, StateHasher};
pub use priority::{LEAST_NEARNESS, nearness};
pub use record::{Call, MatchRecord, MatchSetup, Recorder, Recording, Replay, TickCalls};
pub use replicate::{
    EventDecl, FieldDecl, GameEvent, InputDecl, InputKind, KindDecl, MAX_FIELDS, MAX_INPUT_FIELDS,
    NetId, PlayerId, PlayerInput, Quantization, Rect, ReplicatedEntity, Schema, SchemaError,
};
pub use rewind::{GridHistory, Rewind};
pub use setup::{Configure, SetupError, Shape};
pub use simulation::{InputTiming, JoinError, Joined, Simulation};
pub use typed::{Event, Input, IntField, NoEvents, RealField, Replicate};
// The derives, each next to the trait of the same name (a derive macro and
// a trait live in different namespaces, so one `use` brings both).
pub use tickwire_derive::{Event, Input, Replicate, StateHash};
pub use world::snapshot::{self, SnapshotError};
pub use world::{DEFAULT_TICK_RATE, World, WorldError};

/// What a game's source needs, in one import.
pub mod prelude {
    pub use crate::{
        Configure, Ctx, EntityKey, Event, Game, GridSpec, Input, JoinError, NetId, NoEvents,
        PlayerId, Rect, Replicate, ReplicatedEntity, Schema, SetupError, Shape, SimRng, Simulation,
        StateHash, StateHasher, World, nearness,
    };
    pub use glam::Vec2;
    pub use rand::Rng;
}
