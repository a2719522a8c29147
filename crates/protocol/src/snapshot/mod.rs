//! Snapshot bodies: the replicated state of one tick, full or as a delta
//! against a baseline tick the client holds.
//!
//! After every tick the server turns the world into a sorted slice of
//! [`ReplicatedEntity`] rows. For each player it picks a baseline (the last
//! snapshot written to that player's socket) and encodes the difference:
//!
//! * entities **removed** since the baseline, as sorted id gaps;
//! * the baseline's **surviving** entities (baseline minus removed, in id
//!   order) that **changed**: which ones (nothing when all or none changed,
//!   else the smallest of a bitset, the changed indices or the unchanged
//!   indices), their field masks (the most common mask, since neighbours
//!   mostly change the same fields, plus the exceptions), then each changed
//!   field as a zigzag varint offset from the baseline;
//! * entities **created** since the baseline, with their full state.
//!
//! A full snapshot is the same layout with no baseline: nothing removed, no
//! survivors, every entity created. The body holds nothing that is per
//! player, so players that share a baseline and a view share one encoded
//! body; [`write_snapshot_message`] puts the per-player header in front.
//!
//! Decoding ([`SnapshotBody::decode`]) checks the structure against the
//! schema without needing the baseline; applying it
//! ([`apply_snapshot`], or [`crate::ClientState`]) checks it against the
//! baseline. The byte layout is in `docs/protocol.md`.
//!
//! One concern per file: `encode` writes bodies and the message header,
//! `selection` the changed survivors and their masks (both ways), `decode`
//! reads bodies, `apply` applies them to a baseline, `field` holds the
//! per-field rules all of them share, and `error` the error types.

mod apply;
mod decode;
mod encode;
mod error;
mod field;
mod selection;

use tickwire_types::{MAX_FIELDS, NetId, ReplicatedEntity};

pub use apply::apply_snapshot;
pub(crate) use apply::{apply_changes_in_place, apply_snapshot_into};
pub(crate) use decode::decode_body;
pub use encode::{
    DeltaScratch, check_state, encode_delta, encode_delta_with, encode_full, snapshot_message_len,
    write_snapshot_message,
};
pub(crate) use encode::{put_created, put_delta_body, put_entity_delta, row_in_range};
pub use error::{ApplyError, EncodeError, SnapshotDecodeError};

/// Variant index of `Snapshot` among server messages: the first byte of
/// every snapshot message.
pub const SNAPSHOT_TAG: u8 = 1;

/// Most bytes of per-player header [`write_snapshot_message`] writes before
/// the shared body: the tag, the option byte and a 5-byte varint.
pub const MAX_SNAPSHOT_HEADER_BYTES: usize = 7;

/// One changed survivor of a delta snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangedEntity {
    /// Position of the entity among the baseline's survivors (the baseline's
    /// entities minus the removed ones, in id order).
    pub index: u32,
    /// Bit `i` set: field `i` changed.
    pub mask: u8,
    /// `deltas[i]` is field `i`'s offset from the baseline when bit `i` of
    /// `mask` is set, and 0 otherwise. Fixed and Int fields add it (wrapping
    /// in 32 bits); Angle fields add it modulo the field's steps.
    pub deltas: [i32; MAX_FIELDS],
}

impl ChangedEntity {
    /// The offsets of the fields in the mask, in field order.
    pub fn changed_deltas(&self) -> impl Iterator<Item = i32> + '_ {
        (0..MAX_FIELDS)
            .filter(|f| self.mask & (1 << f) != 0)
            .map(|f| self.deltas[f])
    }
}

/// A decoded snapshot body: what changed between a baseline tick and `tick`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotBody {
    /// The tick this snapshot describes.
    pub tick: u32,
    /// The tick it is a delta against, or `None` for a full snapshot.
    pub baseline: Option<u32>,
    /// Ids of baseline entities that are gone, ascending.
    pub removed: Vec<NetId>,
    /// How many baseline entities survive (baseline count minus removed);
    /// checked against the baseline when applied.
    pub survivors: u32,
    /// Survivors whose fields changed, by ascending survivor index.
    pub changed: Vec<ChangedEntity>,
    /// Entities new since the baseline, full state, ascending by id.
    pub created: Vec<ReplicatedEntity>,
}
