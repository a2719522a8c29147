//! Interest management: each player is sent only what it may see, as a
//! delta against exactly what its client holds, within an optional
//! bandwidth budget. `docs/architecture.md` (step 4 of a tick) shows where
//! it sits in the server.
//!
//! A game that declares a view per player (the arena: a 2000 x 2000 square
//! centred on the avatar) has no single room state to diff against: every
//! player holds its own filtered picture of the world. So for such a player
//! the server keeps a [`ViewTracker`]: the rows of the last few snapshots it
//! put in the player's outbox, each one *what the client will hold after
//! applying that snapshot*. After each tick the replication core
//! (`crate::Replicator`):
//!
//! 1. records the tick's replicated state once ([`ViewEncoder::record`]):
//!    the encoder keeps the last [`VIEW_STATES`] ticks' rows and works out
//!    how each row changed since the tick before (its mask and encoded
//!    offsets), which is every up-to-date player's delta for that entity;
//! 2. for each player, asks the game for the view and the ids of the
//!    entities in it, and calls [`ViewEncoder::encode_message`] with the
//!    player's tracker, its baseline (the last snapshot begun on its
//!    socket) and those ids. The encoder finds what the client holds at
//!    that baseline, decides what this snapshot carries, encodes the delta,
//!    and records the result in the tracker as the state of this tick.
//!
//! Because every delta is taken against the recorded state at the written
//! baseline, the subtle cases are right by construction: an entity that
//! enters the view is absent from the baseline, so it arrives *created* with
//! full state; one that leaves is in the baseline but not in the view, so it
//! arrives *removed*; one that leaves and comes back between two snapshots
//! the client received is a plain change; and snapshots a slow socket
//! skipped never were a baseline, so nothing depends on them. A baseline no
//! longer held (older than [`VIEW_STATES`] snapshots) gets a full snapshot.
//!
//! The parts, one concern each:
//! - `tracker`: what one player's client holds, snapshot by snapshot
//!   ([`ViewTracker`]);
//! - `record`: the room's rows of the last ticks and each row's change
//!   since the tick before, worked out once per tick;
//! - `row_index`: where each id's row is in a tick's rows ([`RowIndex`]);
//! - `encoder`: the [`ViewEncoder`] and its entry points;
//! - `fresh`: the common delta, put together from the recorded changes;
//! - `general`: every other delta, from rows;
//! - `budget`: what a snapshot carries under a [`Budget`];
//! - `share`: one body for the players who would get the same one;
//!
//! Everything here is pure: no clock, no I/O, and hash maps only for
//! lookups (and pruning), never iterated for output.

mod budget;
mod encoder;
mod fresh;
mod general;
mod record;
mod row_index;
mod share;
mod tracker;

pub use budget::Budget;
pub use encoder::{ViewEncoder, ViewError, ViewMessage, ViewSnapshot};
pub use row_index::RowIndex;
pub use tracker::ViewTracker;

/// Snapshots a [`ViewTracker`] remembers: the oldest baseline it can encode
/// a delta against, as the room-wide history does. A fast socket needs two
/// (the written baseline and the snapshot waiting or in flight); the rest
/// are for a socket that falls behind.
pub const VIEW_STATES: usize = crate::HISTORY_TICKS;

/// Smallest priority weight an entity gets, whatever the game says: it sets
/// the bound on how long an entity waits under a budget.
pub const MIN_PRIORITY: f32 = 1.0 / 8.0;

/// One step of a fast, non-cryptographic fingerprint. A collision costs
/// only a missed share: a hit is confirmed by comparing rows.
#[inline]
pub(crate) fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}
