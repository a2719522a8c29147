//! Why a snapshot could not be encoded, decoded or applied: the three error
//! types of the snapshot module. Encoding errors are the caller's bugs;
//! decoding and applying errors are what a peer's bytes can cause.

use tickwire_types::NetId;

use crate::codec::ReadError;

/// Why state could not be encoded. Every case is a bug in the caller (the
/// game or the server), never a peer's doing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// Entities must be strictly ascending by id.
    #[error("entities are not sorted by id: {0:?} follows a larger or equal id")]
    NotSorted(NetId),
    /// An entity's kind is not in the schema.
    #[error("entity {id:?} has kind {kind}, which the schema does not declare")]
    UnknownKind {
        /// The entity.
        id: NetId,
        /// Its kind.
        kind: u8,
    },
    /// A value outside its field's declared range.
    #[error("entity {id:?} field {field} = {value} is outside its declared range")]
    ValueOutOfRange {
        /// The entity.
        id: NetId,
        /// The field.
        field: u8,
        /// The value.
        value: i32,
    },
    /// A delta's baseline must be older than the tick it describes.
    #[error("baseline tick {baseline} is not older than tick {tick}")]
    BaselineNotOlder {
        /// The snapshot's tick.
        tick: u32,
        /// The baseline's tick.
        baseline: u32,
    },
    /// More entities than a decoder accepts.
    #[error("{count} entities, the protocol's limit is {limit}")]
    TooManyEntities {
        /// How many.
        count: usize,
        /// The limit.
        limit: u32,
    },
}

/// Why bytes are not a snapshot body (or a snapshot message).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotDecodeError {
    /// The input ended early, or a varint was malformed.
    #[error("malformed snapshot: {0}")]
    Read(#[from] ReadError),
    /// The message is larger than [`crate::Limits::max_snapshot_bytes`].
    #[error("snapshot of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A count above [`crate::Limits::max_entities`] or above what the remaining
    /// bytes could possibly hold.
    #[error("{what} count {count} is over the limit of {limit}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// The count on the wire.
        count: u32,
        /// The limit it broke.
        limit: u32,
    },
    /// The baseline age reaches before tick 0.
    #[error("baseline age {age} is older than tick {tick}")]
    BaselineBeforeZero {
        /// The snapshot's tick.
        tick: u32,
        /// The age on the wire.
        age: u32,
    },
    /// A full snapshot cannot remove or change anything.
    #[error("a full snapshot lists removed or surviving entities")]
    FullWithDelta,
    /// The changed count is larger than the survivors.
    #[error("{changed} changed entities among {survivors} survivors")]
    ChangedOverSurvivors {
        /// Changed count.
        changed: u32,
        /// Survivor count.
        survivors: u32,
    },
    /// The selection of changed survivors does not name exactly the
    /// announced number of survivors (bits past the survivors, an index out
    /// of range).
    #[error("the changed survivors do not match the changed count")]
    BadSelection,
    /// A selection form other than 0 (bitset), 1 (changed) or 2 (unchanged).
    #[error("unknown selection form {0}")]
    UnknownSelection(u8),
    /// A field mask of 0, an exception equal to the default mask, or an
    /// exception past the changed entities.
    #[error("invalid field masks")]
    BadMasks,
    /// An entity id would pass `u32::MAX`.
    #[error("entity id overflows")]
    IdOverflow,
    /// A created entity of a kind the schema does not declare.
    #[error("entity {id:?} has unknown kind {kind}")]
    UnknownKind {
        /// The entity.
        id: NetId,
        /// Its kind.
        kind: u8,
    },
    /// A created entity's value outside its field's declared range.
    #[error("entity {id:?} field {field} = {value} is outside its declared range")]
    ValueOutOfRange {
        /// The entity.
        id: NetId,
        /// The field.
        field: u8,
        /// The value.
        value: i32,
    },
    /// Bytes follow the body.
    #[error("{0} trailing bytes after the snapshot")]
    TrailingBytes(usize),
    /// The message's first byte is not the snapshot tag.
    #[error("not a snapshot message (tag {0})")]
    NotASnapshot(u32),
    /// The last-input option byte is neither 0 nor 1.
    #[error("invalid option byte {0}")]
    BadOption(u8),
}

/// Why a decoded snapshot does not apply to the state the client holds.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    /// The baseline tick is not among the states kept.
    #[error("baseline tick {0} is not held")]
    BaselineNotHeld(u32),
    /// The snapshot is not newer than the newest state held.
    #[error("snapshot tick {tick} is not newer than the latest tick {latest}")]
    NotNewer {
        /// The snapshot's tick.
        tick: u32,
        /// The newest tick held.
        latest: u32,
    },
    /// A removed id that the baseline does not have.
    #[error("removed entity {0:?} is not in the baseline")]
    UnknownEntity(NetId),
    /// The survivors on the wire do not match the baseline.
    #[error("snapshot expects {expected} surviving entities, the baseline leaves {actual}")]
    SurvivorMismatch {
        /// Count on the wire.
        expected: u32,
        /// Count computed from the baseline.
        actual: u32,
    },
    /// A change names fields the entity's kind does not declare.
    #[error("field mask {mask:#04x} of entity {id:?} is out of range for its kind")]
    FieldMaskOutOfRange {
        /// The entity.
        id: NetId,
        /// The mask.
        mask: u8,
    },
    /// A change moves a value outside its field's declared range.
    #[error("entity {id:?} field {field} = {value} is outside its declared range")]
    ValueOutOfRange {
        /// The entity.
        id: NetId,
        /// The field.
        field: u8,
        /// The value.
        value: i32,
    },
    /// A created entity already exists.
    #[error("created entity {0:?} already exists")]
    DuplicateEntity(NetId),
    /// A baseline entity's kind is not in the schema.
    #[error("entity {id:?} has unknown kind {kind}")]
    UnknownKind {
        /// The entity.
        id: NetId,
        /// Its kind.
        kind: u8,
    },
    /// The resulting state would hold more entities than the limit.
    #[error("{count} entities, over the limit of {limit}")]
    TooManyEntities {
        /// How many.
        count: usize,
        /// The limit.
        limit: u32,
    },
}
