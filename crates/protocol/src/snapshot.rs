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

use tickwire_types::{MAX_FIELDS, NetId, Quantization, ReplicatedEntity, Schema};

use crate::Limits;
use crate::codec::{ReadError, Reader, put_i32, put_u32};

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
    /// The message is larger than [`Limits::max_snapshot_bytes`].
    #[error("snapshot of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A count above [`Limits::max_entities`] or above what the remaining
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

/// Whether `value` is legal for field `quant`.
#[inline]
fn in_range(quant: &Quantization, value: i32) -> bool {
    match *quant {
        Quantization::Fixed { .. } => true,
        Quantization::Angle { steps } => value >= 0 && i64::from(value) < i64::from(steps),
        Quantization::Int { min, max } => (min..=max).contains(&value),
    }
}

/// Offset that takes `base` to `cur` for field `quant`.
#[inline]
fn field_delta(quant: &Quantization, base: i32, cur: i32) -> i32 {
    match *quant {
        Quantization::Angle { steps } => {
            let steps = i64::from(steps);
            let d = (i64::from(cur) - i64::from(base)).rem_euclid(steps);
            // The shorter way round: in (-steps/2, steps/2], which fits i32.
            (if d > steps / 2 { d - steps } else { d }) as i32
        }
        Quantization::Fixed { .. } | Quantization::Int { .. } => cur.wrapping_sub(base),
    }
}

/// `base` moved by `delta` for field `quant`: the inverse of [`field_delta`].
#[inline]
fn apply_delta(quant: &Quantization, base: i32, delta: i32) -> i32 {
    match *quant {
        Quantization::Angle { steps } => {
            (i64::from(base) + i64::from(delta)).rem_euclid(i64::from(steps)) as i32
        }
        Quantization::Fixed { .. } | Quantization::Int { .. } => base.wrapping_add(delta),
    }
}

/// `base` moved back by `delta`: the exact inverse of [`apply_delta`] for a
/// `base` in range (adding in 32 bits, and modulo an angle's steps, can both
/// be taken back).
#[inline]
fn undo_delta(quant: &Quantization, moved: i32, delta: i32) -> i32 {
    match *quant {
        Quantization::Angle { steps } => {
            (i64::from(moved) - i64::from(delta)).rem_euclid(i64::from(steps)) as i32
        }
        Quantization::Fixed { .. } | Quantization::Int { .. } => moved.wrapping_sub(delta),
    }
}

/// The fields whose bits are set in `mask`, lowest first.
#[inline]
fn mask_fields(mask: u8) -> impl Iterator<Item = usize> {
    let mut bits = mask;
    std::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let f = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(f)
    })
}

/// Appends a body that describes `entities` at `tick` from scratch.
///
/// `entities` must be sorted by id with every value in its declared range.
/// ```
/// # use tickwire_protocol::{encode_full, SnapshotBody, Limits};
/// # use tickwire_types::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
/// let schema = Schema { game: "demo".into(), kinds: vec![KindDecl {
///     id: 0, name: "dot".into(),
///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
/// }] };
/// let dot = ReplicatedEntity { id: NetId(7), kind: 0, values: [160, 0, 0, 0, 0, 0, 0, 0] };
/// let mut body = Vec::new();
/// encode_full(&schema, 30, &[dot], &mut body)?;
/// assert_eq!(body, [30, 0, 0, 0, 0, 1, 7, 0, 0xfb, 0x40, 0x01]);
/// let decoded = SnapshotBody::decode(&schema, &body, &Limits::default())?;
/// assert_eq!(decoded.created, [dot]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_full(
    schema: &Schema,
    tick: u32,
    entities: &[ReplicatedEntity],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check_count(entities.len())?;
    put_u32(out, tick);
    put_u32(out, 0); // no baseline
    put_u32(out, 0); // removed
    put_u32(out, 0); // survivors
    put_u32(out, 0); // changed
    put_u32(out, entities.len() as u32);
    let mut next = 0u32;
    let mut prev: Option<NetId> = None;
    for e in entities {
        if prev.is_some_and(|p| p >= e.id) {
            return Err(EncodeError::NotSorted(e.id));
        }
        prev = Some(e.id);
        put_created(schema, e, &mut next, out)?;
    }
    Ok(())
}

/// Checks what [`encode_full`] checks of a state, without encoding it:
/// at most the decoders' entity limit, ids strictly ascending, every kind
/// declared and every value in its field's range. `Ok` exactly when
/// `encode_full` succeeds, with the same error otherwise; a state that
/// passes encodes, fully or as a delta, without error.
pub fn check_state(schema: &Schema, entities: &[ReplicatedEntity]) -> Result<(), EncodeError> {
    check_count(entities.len())?;
    let mut prev: Option<NetId> = None;
    for e in entities {
        if prev.is_some_and(|p| p >= e.id) {
            return Err(EncodeError::NotSorted(e.id));
        }
        prev = Some(e.id);
        check_entity(schema, e)?;
    }
    Ok(())
}

/// `e`'s kind, once its kind is declared and every value lies in its
/// field's range (the first one outside is the error).
fn check_entity<'s>(
    schema: &'s Schema,
    e: &ReplicatedEntity,
) -> Result<&'s tickwire_types::KindDecl, EncodeError> {
    let kind = schema.kind(e.kind).ok_or(EncodeError::UnknownKind {
        id: e.id,
        kind: e.kind,
    })?;
    for (f, field) in kind.fields.iter().enumerate() {
        let value = e.values[f];
        if !in_range(&field.quant, value) {
            return Err(EncodeError::ValueOutOfRange {
                id: e.id,
                field: f as u8,
                value,
            });
        }
    }
    Ok(kind)
}

fn check_count(count: usize) -> Result<(), EncodeError> {
    let limit = Limits::default().max_entities;
    if count > limit as usize {
        return Err(EncodeError::TooManyEntities { count, limit });
    }
    Ok(())
}

/// Writes one entity with its full state: id gap, kind, every declared field.
pub(crate) fn put_created(
    schema: &Schema,
    e: &ReplicatedEntity,
    next: &mut u32,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let kind = check_entity(schema, e)?;
    put_u32(out, e.id.0.wrapping_sub(*next)); // ids ascend: the gap is small
    *next = e.id.0.wrapping_add(1);
    out.push(e.kind);
    for &value in &e.values[..kind.fields.len()] {
        put_i32(out, value);
    }
    Ok(())
}

/// Appends a body that takes a client from `base` (the state at
/// `baseline_tick`) to `cur` (the state at `tick`).
///
/// Both slices must be sorted by id; `cur`'s values must lie in their
/// declared ranges (`base` was a `cur` once, so it is not checked again).
/// The slices may be any view of the world, such as the entities one player
/// may see, as long as the client's baseline is the same view.
pub fn encode_delta(
    schema: &Schema,
    baseline_tick: u32,
    base: &[ReplicatedEntity],
    tick: u32,
    cur: &[ReplicatedEntity],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_delta_with(
        &mut DeltaScratch::default(),
        schema,
        baseline_tick,
        base,
        tick,
        cur,
        out,
    )
}

/// Working buffers of [`encode_delta_with`], kept between calls so that a
/// server encoding thousands of small per-player deltas a tick does not
/// allocate them each time. Holds nothing between calls but capacity.
#[derive(Debug, Default)]
pub struct DeltaScratch {
    /// Ids of baseline entities gone from the current state.
    removed: Vec<NetId>,
    /// Indices into the current state of the created entities.
    created: Vec<u32>,
    /// `(survivor index, field mask)` of the changed survivors.
    changed: Vec<(u32, u8)>,
    /// The changed fields' offsets, already encoded.
    deltas: Vec<u8>,
}

/// [`encode_delta`] with reusable working buffers: the same bytes.
pub fn encode_delta_with(
    scratch: &mut DeltaScratch,
    schema: &Schema,
    baseline_tick: u32,
    base: &[ReplicatedEntity],
    tick: u32,
    cur: &[ReplicatedEntity],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if baseline_tick >= tick {
        return Err(EncodeError::BaselineNotOlder {
            tick,
            baseline: baseline_tick,
        });
    }
    check_count(cur.len())?;
    // One merge walk over both sorted lists sorts every entity into removed,
    // survivor (changed or not) or created. Deltas go straight to a scratch
    // buffer; the sections are then written in wire order.
    let DeltaScratch {
        removed,
        created,
        changed,
        deltas,
    } = scratch;
    removed.clear();
    created.clear();
    changed.clear();
    deltas.clear();
    let mut survivors = 0u32;
    let (mut i, mut j) = (0, 0);
    let mut prev_cur: Option<NetId> = None;
    loop {
        let b = base.get(i);
        let c = cur.get(j);
        if let Some(c) = c {
            if prev_cur.is_some_and(|p| p >= c.id) {
                return Err(EncodeError::NotSorted(c.id));
            }
        }
        match (b, c) {
            (None, None) => break,
            (Some(b), None) => {
                removed.push(b.id);
                i += 1;
            }
            (None, Some(c)) => {
                created.push(j as u32);
                prev_cur = Some(c.id);
                j += 1;
            }
            (Some(b), Some(c)) => {
                if b.id < c.id {
                    removed.push(b.id);
                    i += 1;
                    continue;
                }
                prev_cur = Some(c.id);
                let index = j as u32;
                j += 1;
                if c.id < b.id {
                    created.push(index);
                    continue;
                }
                i += 1;
                if b.kind != c.kind {
                    // Not the same thing any more: replace it.
                    removed.push(b.id);
                    created.push(index);
                    continue;
                }
                let kind = schema.kind(c.kind).ok_or(EncodeError::UnknownKind {
                    id: c.id,
                    kind: c.kind,
                })?;
                let mask = put_entity_delta(kind, b, c, deltas)?;
                if mask != 0 {
                    changed.push((survivors, mask));
                }
                survivors += 1;
            }
        }
    }

    put_delta_body(
        out,
        tick,
        baseline_tick,
        removed,
        survivors,
        changed,
        deltas,
        created.len(),
    );
    let mut next = 0u32;
    for c in created.iter().filter_map(|&j| cur.get(j as usize)) {
        put_created(schema, c, &mut next, out)?;
    }
    Ok(())
}

/// Writes a delta body up to its created entities, in wire order, from its
/// parts: `removed` ids ascending, the survivor count, the changed
/// survivors as `(survivor index, mask)` ascending, their field offsets
/// already encoded, and how many entities follow as created (the caller
/// writes them with [`put_created`]). `baseline_tick` must be older than
/// `tick`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_delta_body(
    out: &mut Vec<u8>,
    tick: u32,
    baseline_tick: u32,
    removed: &[NetId],
    survivors: u32,
    changed: &[(u32, u8)],
    deltas: &[u8],
    created: usize,
) {
    put_u32(out, tick);
    put_u32(out, tick.wrapping_sub(baseline_tick));
    put_u32(out, removed.len() as u32);
    let mut next = 0u32;
    for id in removed {
        put_u32(out, id.0.wrapping_sub(next));
        next = id.0.wrapping_add(1);
    }
    put_changes(out, survivors, changed);
    out.extend_from_slice(deltas);
    put_u32(out, created as u32);
}

/// Appends the encoded field offsets that take `base` to `cur` (same kind)
/// and returns their mask: 0 when nothing declared changed. The same bytes
/// [`encode_delta`] writes for a changed survivor.
pub(crate) fn put_entity_delta(
    kind: &tickwire_types::KindDecl,
    base: &ReplicatedEntity,
    cur: &ReplicatedEntity,
    out: &mut Vec<u8>,
) -> Result<u8, EncodeError> {
    let fields = &kind.fields;
    let mut mask = 0u8;
    for (f, (old, new)) in base.values.iter().zip(&cur.values).enumerate() {
        if f < fields.len() && old != new {
            mask |= 1 << f;
        }
    }
    for f in mask_fields(mask) {
        let (Some(field), old, new) = (fields.get(f), base.values[f], cur.values[f]) else {
            continue;
        };
        if !in_range(&field.quant, new) {
            return Err(EncodeError::ValueOutOfRange {
                id: cur.id,
                field: f as u8,
                value: new,
            });
        }
        put_i32(out, field_delta(&field.quant, old, new));
    }
    Ok(mask)
}

/// Whether every declared field of `e` lies in its declared range, for a
/// row of `kind`.
pub(crate) fn row_in_range(kind: &tickwire_types::KindDecl, e: &ReplicatedEntity) -> bool {
    kind.fields
        .iter()
        .zip(&e.values)
        .all(|(field, &v)| in_range(&field.quant, v))
}

/// How the changed survivors are picked out, when some but not all changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Selection {
    /// One bit per survivor, LSB first.
    Bitset = 0,
    /// The changed survivors' indices as gaps.
    Changed = 1,
    /// The unchanged survivors' indices as gaps.
    Unchanged = 2,
}

fn varint_len(v: u32) -> usize {
    match v {
        0..=250 => 1,
        251..=65_535 => 3,
        _ => 5,
    }
}

/// Writes index gaps: the first index, then each index minus the previous
/// one minus one.
fn put_gaps(out: &mut Vec<u8>, indices: impl Iterator<Item = u32>) {
    let mut next = 0u32;
    for i in indices {
        put_u32(out, i.wrapping_sub(next));
        next = i.wrapping_add(1);
    }
}

fn gaps_len(indices: impl Iterator<Item = u32>) -> usize {
    let mut next = 0u32;
    let mut len = 0;
    for i in indices {
        len += varint_len(i.wrapping_sub(next));
        next = i.wrapping_add(1);
    }
    len
}

/// Writes the survivor count, which survivors changed (in the smallest of
/// the three selections) and their field masks (the most common mask, then
/// the exceptions). `changed` is `(survivor index, mask)`, ascending.
fn put_changes(out: &mut Vec<u8>, survivors: u32, changed: &[(u32, u8)]) {
    put_u32(out, survivors);
    put_u32(out, changed.len() as u32);
    if changed.is_empty() {
        return;
    }
    if changed.len() as u32 != survivors {
        let changed_indices = || changed.iter().map(|(i, _)| *i);
        let unchanged_indices = || {
            let mut c = changed.iter().map(|(i, _)| *i).peekable();
            (0..survivors).filter(move |i| {
                if c.peek() == Some(i) {
                    c.next();
                    false
                } else {
                    true
                }
            })
        };
        let bitset = (survivors as usize).div_ceil(8);
        let by_changed = gaps_len(changed_indices());
        let by_unchanged = gaps_len(unchanged_indices());
        if bitset <= by_changed && bitset <= by_unchanged {
            out.push(Selection::Bitset as u8);
            let start = out.len();
            out.resize(start + bitset, 0);
            for &(i, _) in changed {
                if let Some(byte) = out.get_mut(start + i as usize / 8) {
                    *byte |= 1 << (i % 8);
                }
            }
        } else if by_changed <= by_unchanged {
            out.push(Selection::Changed as u8);
            put_gaps(out, changed_indices());
        } else {
            out.push(Selection::Unchanged as u8);
            put_gaps(out, unchanged_indices());
        }
    }
    // Most survivors change the same fields (a moving avatar: x and y), so
    // the masks are the most common one (ties: the smallest) plus a list of
    // exceptions.
    if let Some((default, few)) = first_mask_exceptions(changed) {
        // Commonly the first mask is most survivors': one pass found it
        // and its exceptions.
        let exceptions = few.as_slice().iter().map(|&k| {
            let m = changed.get(k as usize).map_or(default, |&(_, m)| m);
            (k, m)
        });
        put_masks(out, default, few.len as u32, exceptions);
        return;
    }
    let (default, count) = most_common_mask(changed);
    let exceptions = (0u32..)
        .zip(changed)
        .filter_map(|(k, &(_, m))| (m != default).then_some((k, m)));
    put_masks(out, default, changed.len() as u32 - count, exceptions);
}

/// Writes the default mask, then `count` exceptions: each its position
/// among the changed survivors, as a gap from the one before, and its mask.
fn put_masks(
    out: &mut Vec<u8>,
    default: u8,
    count: u32,
    exceptions: impl Iterator<Item = (u32, u8)>,
) {
    out.push(default);
    put_u32(out, count);
    let mut next = 0u32;
    // No scan past the last exception (none at all when there are none).
    for (k, m) in exceptions.take(count as usize) {
        put_u32(out, k - next);
        next = k + 1;
        out.push(m);
    }
}

/// The first changed survivor's mask and the indices of those with
/// another, when they are fewer than half (so that mask is the most common
/// one) and at most [`FEW_EXCEPTIONS`]; `None` otherwise.
fn first_mask_exceptions(changed: &[(u32, u8)]) -> Option<(u8, FewExceptions)> {
    let &(_, first) = changed.first()?;
    let mut few = FewExceptions::default();
    for (k, &(_, m)) in changed.iter().enumerate() {
        if m != first {
            *few.slots.get_mut(few.len)? = k as u32;
            few.len += 1;
        }
    }
    (few.len * 2 < changed.len()).then_some((first, few))
}

/// Most exceptions [`first_mask_exceptions`] keeps (on the stack).
const FEW_EXCEPTIONS: usize = 16;

/// Up to [`FEW_EXCEPTIONS`] indices.
#[derive(Default)]
struct FewExceptions {
    slots: [u32; FEW_EXCEPTIONS],
    len: usize,
}

impl FewExceptions {
    fn as_slice(&self) -> &[u32] {
        self.slots.get(..self.len).unwrap_or(&[])
    }
}

/// The most common mask among `changed` (ties go to the smallest) and how
/// many have it. Few distinct masks occur in practice, so they are counted
/// in a short list; many distinct ones fall back to a full table.
fn most_common_mask(changed: &[(u32, u8)]) -> (u8, u32) {
    // Commonly most changed survivors changed the same fields as the
    // first: a mask more than half of them have is the most common one.
    if let Some(&(_, first)) = changed.first() {
        let count = changed.iter().filter(|&&(_, m)| m == first).count();
        if count * 2 > changed.len() {
            return (first, count as u32);
        }
    }
    const SHORT: usize = 16;
    let mut seen = [(0u8, 0u32); SHORT];
    let mut distinct = 0;
    let mut short = true;
    for &(_, m) in changed {
        match seen[..distinct].iter_mut().find(|(mask, _)| *mask == m) {
            Some((_, count)) => *count += 1,
            None if distinct < SHORT => {
                seen[distinct] = (m, 1);
                distinct += 1;
            }
            None => {
                short = false;
                break;
            }
        }
    }
    if short {
        return seen[..distinct]
            .iter()
            .copied()
            .max_by_key(|&(m, count)| (count, std::cmp::Reverse(m)))
            .unwrap_or((1, 0));
    }
    let mut counts = [0u32; 256];
    for &(_, m) in changed {
        counts[usize::from(m)] += 1;
    }
    let default = (1..=255u8)
        .max_by_key(|&m| (counts[usize::from(m)], std::cmp::Reverse(m)))
        .unwrap_or(1);
    (default, counts[usize::from(default)])
}

/// Appends one snapshot message: the per-player header, then a shared body.
///
/// The header is the server-message tag (`0x01`) and the last input
/// sequence applied for this player as a bincode `Option<u32>`; `body` is
/// the output of [`encode_full`] or [`encode_delta`] (or
/// [`crate::ServerHistory::shared_body`]), encoded once and shared by every
/// player with the same baseline and view. Nothing in the body is
/// re-encoded: the message is `header ++ body`.
pub fn write_snapshot_message(out: &mut Vec<u8>, last_input: Option<u32>, body: &[u8]) {
    // Exactly: a frame handed on as it is (`bytes::Bytes::from`) then needs
    // no second allocation.
    out.reserve_exact(snapshot_message_len(last_input, body.len()));
    out.push(SNAPSHOT_TAG);
    match last_input {
        None => out.push(0),
        Some(seq) => {
            out.push(1);
            put_u32(out, seq);
        }
    }
    out.extend_from_slice(body);
}

/// Bytes of the snapshot message [`write_snapshot_message`] writes for a
/// body of `body_len` bytes.
pub fn snapshot_message_len(last_input: Option<u32>, body_len: usize) -> usize {
    2 + last_input.map_or(0, varint_len) + body_len
}

impl SnapshotBody {
    /// Appends this body's wire form to `out`: the inverse of
    /// [`SnapshotBody::decode`]. Servers encode from state with
    /// [`encode_full`] and [`encode_delta`]; this is for tests and tools.
    /// Fails when a created entity does not fit the schema.
    pub fn encode(&self, schema: &Schema, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u32(out, self.tick);
        put_u32(out, self.baseline.map_or(0, |b| self.tick.wrapping_sub(b)));
        put_u32(out, self.removed.len() as u32);
        let mut next = 0u32;
        for id in &self.removed {
            put_u32(out, id.0.wrapping_sub(next));
            next = id.0.wrapping_add(1);
        }
        let changed: Vec<(u32, u8)> = self.changed.iter().map(|c| (c.index, c.mask)).collect();
        put_changes(out, self.survivors, &changed);
        for c in &self.changed {
            for d in c.changed_deltas() {
                put_i32(out, d);
            }
        }
        put_u32(out, self.created.len() as u32);
        let mut next = 0u32;
        for e in &self.created {
            put_created(schema, e, &mut next, out)?;
        }
        Ok(())
    }

    /// Decodes a body, checking its structure against `schema` and `limits`.
    ///
    /// Every count is checked against the limits and against the bytes left
    /// before anything is allocated; trailing bytes are an error.
    pub fn decode(
        schema: &Schema,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Self, SnapshotDecodeError> {
        if bytes.len() > limits.max_snapshot_bytes {
            return Err(SnapshotDecodeError::TooLarge {
                size: bytes.len(),
                limit: limits.max_snapshot_bytes,
            });
        }
        let mut r = Reader::new(bytes);
        let body = decode_body(schema, &mut r, limits)?;
        if r.remaining() != 0 {
            return Err(SnapshotDecodeError::TrailingBytes(r.remaining()));
        }
        Ok(body)
    }
}

/// Reads a count and checks it against the limit and against the bytes
/// left, given that every item takes at least `min_item_bytes`.
fn read_count(
    r: &mut Reader<'_>,
    what: &'static str,
    limit: u32,
    min_item_bytes: usize,
) -> Result<u32, SnapshotDecodeError> {
    let count = r.u32()?;
    if count > limit {
        return Err(SnapshotDecodeError::TooMany { what, count, limit });
    }
    if min_item_bytes > 0 && count as usize > r.remaining() / min_item_bytes {
        return Err(ReadError::Truncated.into());
    }
    Ok(count)
}

pub(crate) fn decode_body(
    schema: &Schema,
    r: &mut Reader<'_>,
    limits: &Limits,
) -> Result<SnapshotBody, SnapshotDecodeError> {
    let max = limits.max_entities;
    let tick = r.u32()?;
    let age = r.u32()?;
    let baseline = match age {
        0 => None,
        age => Some(
            tick.checked_sub(age)
                .ok_or(SnapshotDecodeError::BaselineBeforeZero { tick, age })?,
        ),
    };

    let removed_count = read_count(r, "removed", max, 1)?;
    let mut removed = Vec::with_capacity(removed_count as usize);
    let mut next = 0u32;
    for _ in 0..removed_count {
        let id = next
            .checked_add(r.u32()?)
            .ok_or(SnapshotDecodeError::IdOverflow)?;
        removed.push(NetId(id));
        next = id.checked_add(1).ok_or(SnapshotDecodeError::IdOverflow)?;
    }

    let survivors = r.u32()?;
    if survivors > max {
        return Err(SnapshotDecodeError::TooMany {
            what: "survivors",
            count: survivors,
            limit: max,
        });
    }
    if baseline.is_none() && (removed_count != 0 || survivors != 0) {
        return Err(SnapshotDecodeError::FullWithDelta);
    }
    let changed_count = r.u32()?;
    if changed_count > survivors {
        return Err(SnapshotDecodeError::ChangedOverSurvivors {
            changed: changed_count,
            survivors,
        });
    }
    // Each changed entity costs at least one delta byte: this bounds every
    // allocation below by the input's size.
    if changed_count as usize > r.remaining() {
        return Err(ReadError::Truncated.into());
    }
    let mut changed: Vec<ChangedEntity> = Vec::with_capacity(changed_count as usize);
    if changed_count == survivors {
        changed.extend((0..survivors).map(|index| ChangedEntity {
            index,
            ..ChangedEntity::default()
        }));
    } else if changed_count != 0 {
        read_selection(r, survivors, changed_count, &mut changed)?;
    }

    if changed_count != 0 {
        let default = r.u8()?;
        if default == 0 {
            return Err(SnapshotDecodeError::BadMasks);
        }
        for c in changed.iter_mut() {
            c.mask = default;
        }
        let exceptions = r.u32()?;
        if exceptions > changed_count {
            return Err(SnapshotDecodeError::BadMasks);
        }
        let mut next = 0u32;
        for _ in 0..exceptions {
            let k = next
                .checked_add(r.u32()?)
                .ok_or(SnapshotDecodeError::BadMasks)?;
            let mask = r.u8()?;
            let c = changed
                .get_mut(k as usize)
                .ok_or(SnapshotDecodeError::BadMasks)?;
            if mask == 0 || mask == default {
                return Err(SnapshotDecodeError::BadMasks);
            }
            c.mask = mask;
            next = k + 1;
        }
        for c in changed.iter_mut() {
            for f in mask_fields(c.mask) {
                c.deltas[f] = r.i32()?;
            }
        }
    }

    // A created entity takes at least an id byte and a kind byte.
    let created_count = read_count(r, "created", max, 2)?;
    let mut created = Vec::with_capacity(created_count as usize);
    let mut next = 0u32;
    for _ in 0..created_count {
        let id = NetId(
            next.checked_add(r.u32()?)
                .ok_or(SnapshotDecodeError::IdOverflow)?,
        );
        next = id.0.checked_add(1).ok_or(SnapshotDecodeError::IdOverflow)?;
        let kind_id = r.u8()?;
        let kind = schema
            .kind(kind_id)
            .ok_or(SnapshotDecodeError::UnknownKind { id, kind: kind_id })?;
        let mut values = [0i32; MAX_FIELDS];
        for (f, (field, v)) in kind.fields.iter().zip(values.iter_mut()).enumerate() {
            let value = r.i32()?;
            if !in_range(&field.quant, value) {
                return Err(SnapshotDecodeError::ValueOutOfRange {
                    id,
                    field: f as u8,
                    value,
                });
            }
            *v = value;
        }
        created.push(ReplicatedEntity {
            id,
            kind: kind_id,
            values,
        });
    }

    Ok(SnapshotBody {
        tick,
        baseline,
        removed,
        survivors,
        changed,
        created,
    })
}

/// Reads which survivors changed when some but not all did, pushing one
/// [`ChangedEntity`] per changed survivor, by ascending index.
fn read_selection(
    r: &mut Reader<'_>,
    survivors: u32,
    changed_count: u32,
    changed: &mut Vec<ChangedEntity>,
) -> Result<(), SnapshotDecodeError> {
    let entry = |index| ChangedEntity {
        index,
        ..ChangedEntity::default()
    };
    match r.u8()? {
        0 => {
            let bits = r.take((survivors as usize).div_ceil(8))?;
            let set: u32 = bits.iter().map(|b| b.count_ones()).sum();
            let tail = survivors % 8;
            let padding_clear = tail == 0 || bits.last().is_none_or(|&last| last >> tail == 0);
            if set != changed_count || !padding_clear {
                return Err(SnapshotDecodeError::BadSelection);
            }
            for (byte_index, &byte) in bits.iter().enumerate() {
                let mut byte = byte;
                while byte != 0 {
                    let bit = byte.trailing_zeros();
                    byte &= byte - 1;
                    changed.push(entry(byte_index as u32 * 8 + bit));
                }
            }
        }
        1 => {
            let mut next = 0u32;
            for _ in 0..changed_count {
                let index = next
                    .checked_add(r.u32()?)
                    .filter(|&i| i < survivors)
                    .ok_or(SnapshotDecodeError::BadSelection)?;
                changed.push(entry(index));
                next = index + 1;
            }
        }
        2 => {
            // The gaps name the survivors that did not change.
            let unchanged = survivors - changed_count;
            if unchanged as usize > r.remaining() {
                return Err(ReadError::Truncated.into());
            }
            let mut next = 0u32;
            for _ in 0..unchanged {
                let index = next
                    .checked_add(r.u32()?)
                    .filter(|&i| i < survivors)
                    .ok_or(SnapshotDecodeError::BadSelection)?;
                changed.extend((next..index).map(entry));
                next = index + 1;
            }
            changed.extend((next..survivors).map(entry));
        }
        other => return Err(SnapshotDecodeError::UnknownSelection(other)),
    }
    Ok(())
}

/// Applies `body` to `base` (the state at the body's baseline tick; ignored
/// for a full snapshot) and returns the state at the body's tick, sorted by
/// id. Checks the body against the baseline and the schema.
pub fn apply_snapshot(
    schema: &Schema,
    base: &[ReplicatedEntity],
    body: &SnapshotBody,
    limits: &Limits,
) -> Result<Vec<ReplicatedEntity>, ApplyError> {
    let mut state = Vec::new();
    apply_snapshot_into(schema, base, body, limits, &mut state)?;
    Ok(state)
}

/// [`apply_snapshot`] into `out`, whose storage is reused (its contents are
/// replaced). On error `out` holds nothing of use.
pub(crate) fn apply_snapshot_into(
    schema: &Schema,
    base: &[ReplicatedEntity],
    body: &SnapshotBody,
    limits: &Limits,
    out: &mut Vec<ReplicatedEntity>,
) -> Result<(), ApplyError> {
    let base: &[ReplicatedEntity] = if body.baseline.is_some() { base } else { &[] };
    let total = base.len().saturating_sub(body.removed.len()) + body.created.len();
    if total > limits.max_entities as usize {
        return Err(ApplyError::TooManyEntities {
            count: total,
            limit: limits.max_entities,
        });
    }

    // Survivors: the baseline minus the removed ids (both sorted).
    let survivors = out;
    survivors.clear();
    survivors.reserve(total);
    if body.removed.is_empty() {
        survivors.extend_from_slice(base);
    } else {
        let mut removed = body.removed.iter().peekable();
        for e in base {
            if removed.peek().is_some_and(|&&id| id == e.id) {
                removed.next();
            } else if let Some(&&id) = removed.peek().filter(|&&&id| id < e.id) {
                return Err(ApplyError::UnknownEntity(id));
            } else {
                survivors.push(*e);
            }
        }
        if let Some(&id) = removed.next() {
            return Err(ApplyError::UnknownEntity(id));
        }
    }
    check_survivors(body, survivors.len())?;

    for change in &body.changed {
        apply_change(schema, survivor(survivors, body, change)?, change)?;
    }

    if body.created.is_empty() {
        return Ok(());
    }
    // Merge the created entities into the sorted survivors.
    let mut state = Vec::with_capacity(total);
    let mut created = body.created.iter().peekable();
    for &e in survivors.iter() {
        while let Some(c) = created.next_if(|c| c.id < e.id) {
            state.push(*c);
        }
        if created.peek().is_some_and(|c| c.id == e.id) {
            return Err(ApplyError::DuplicateEntity(e.id));
        }
        state.push(e);
    }
    state.extend(created.copied());
    *survivors = state;
    Ok(())
}

/// Applies a delta that neither removes nor creates to `state`, its own
/// baseline, in place. This is what a client that keeps a single state does
/// for almost every snapshot: it touches only what changed and copies
/// nothing. On error `state` is as it was: the changes already written are
/// undone in reverse, which is exact, since adding in 32 bits and adding
/// modulo an angle's steps can both be taken back.
///
/// `Ok(false)`, with nothing changed, when the changes do not name strictly
/// ascending survivors (as decoded bodies always do); such a body takes the
/// copying way.
pub(crate) fn apply_changes_in_place(
    schema: &Schema,
    state: &mut [ReplicatedEntity],
    body: &SnapshotBody,
) -> Result<bool, ApplyError> {
    debug_assert!(body.baseline.is_some() && body.removed.is_empty() && body.created.is_empty());
    check_survivors(body, state.len())?;
    let mut next = 0u32;
    for (k, change) in body.changed.iter().enumerate() {
        let result = if change.index < next {
            Ok(false)
        } else {
            next = change.index.saturating_add(1);
            survivor(state, body, change)
                .and_then(|e| apply_change(schema, e, change).map(|()| true))
        };
        if result != Ok(true) {
            for done in body.changed[..k].iter().rev() {
                if let Some(e) = state.get_mut(done.index as usize) {
                    undo_change(schema, e, done);
                }
            }
            return result;
        }
    }
    Ok(true)
}

fn check_survivors(body: &SnapshotBody, actual: usize) -> Result<(), ApplyError> {
    if actual as u64 != u64::from(body.survivors) {
        return Err(ApplyError::SurvivorMismatch {
            expected: body.survivors,
            actual: actual as u32,
        });
    }
    Ok(())
}

/// The survivor a change names.
fn survivor<'s>(
    survivors: &'s mut [ReplicatedEntity],
    body: &SnapshotBody,
    change: &ChangedEntity,
) -> Result<&'s mut ReplicatedEntity, ApplyError> {
    survivors
        .get_mut(change.index as usize)
        .ok_or(ApplyError::SurvivorMismatch {
            expected: body.survivors,
            actual: change.index,
        })
}

/// Applies one change to `e`: every field it names, or none when the change
/// does not fit `e`'s kind or takes a field out of range.
#[inline]
fn apply_change(
    schema: &Schema,
    e: &mut ReplicatedEntity,
    change: &ChangedEntity,
) -> Result<(), ApplyError> {
    let kind = schema.kind(e.kind).ok_or(ApplyError::UnknownKind {
        id: e.id,
        kind: e.kind,
    })?;
    let declared = kind.fields.len();
    if declared < 8 && change.mask >> declared != 0 {
        return Err(ApplyError::FieldMaskOutOfRange {
            id: e.id,
            mask: change.mask,
        });
    }
    // Written field by field, and put back whole if one is out of range.
    let old = e.values;
    for f in mask_fields(change.mask) {
        let quant = &kind.fields[f].quant;
        let value = apply_delta(quant, e.values[f], change.deltas[f]);
        if !in_range(quant, value) {
            e.values = old;
            return Err(ApplyError::ValueOutOfRange {
                id: e.id,
                field: f as u8,
                value,
            });
        }
        e.values[f] = value;
    }
    Ok(())
}

/// Takes back a change [`apply_change`] made.
fn undo_change(schema: &Schema, e: &mut ReplicatedEntity, change: &ChangedEntity) {
    let Some(kind) = schema.kind(e.kind) else {
        return;
    };
    for f in mask_fields(change.mask) {
        if let Some(field) = kind.fields.get(f) {
            e.values[f] = undo_delta(&field.quant, e.values[f], change.deltas[f]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: the mask most survivors share, ties to the smallest.
    fn most_common_by_count(changed: &[(u32, u8)]) -> (u8, u32) {
        let mut counts = [0u32; 256];
        for &(_, m) in changed {
            counts[usize::from(m)] += 1;
        }
        (1..=255u8)
            .map(|m| (m, counts[usize::from(m)]))
            .max_by_key(|&(m, count)| (count, std::cmp::Reverse(m)))
            .unwrap_or((1, 0))
    }

    /// A kind with every quantization, and a kind with one field.
    fn schema() -> Schema {
        use tickwire_types::{FieldDecl, KindDecl};
        let field = |id: u8, quant| FieldDecl {
            id,
            name: format!("f{id}"),
            quant,
        };
        Schema {
            game: "check".into(),
            kinds: vec![
                KindDecl {
                    id: 0,
                    name: "dot".into(),
                    fields: vec![
                        field(0, Quantization::Fixed { scale: 16 }),
                        field(1, Quantization::Angle { steps: 256 }),
                        field(2, Quantization::Int { min: 0, max: 100 }),
                    ],
                },
                KindDecl {
                    id: 1,
                    name: "flag".into(),
                    fields: vec![field(0, Quantization::Int { min: -1, max: 1 })],
                },
            ],
        }
    }

    proptest! {
        #[test]
        fn checking_a_state_agrees_with_encoding_it(
            rows in prop::collection::vec(
                (0u32..40, prop_oneof![8 => 0u8..2, 1 => 2u8..4], prop::array::uniform4(prop_oneof![4 => -2i32..300, 1 => any::<i32>()])),
                0..24,
            ),
            sort in any::<bool>(),
        ) {
            let mut entities: Vec<ReplicatedEntity> = rows
                .into_iter()
                .map(|(id, kind, v)| {
                    let mut values = [0; tickwire_types::MAX_FIELDS];
                    values[..4].copy_from_slice(&v);
                    ReplicatedEntity { id: NetId(id), kind, values }
                })
                .collect();
            if sort {
                entities.sort_by_key(|e| e.id);
                entities.dedup_by_key(|e| e.id);
            }
            let schema = schema();
            let mut bytes = Vec::new();
            let encoded = encode_full(&schema, 1, &entities, &mut bytes);
            prop_assert_eq!(check_state(&schema, &entities), encoded);
        }

        #[test]
        fn most_common_mask_is_the_most_common_and_ties_go_to_the_smallest(
            masks in prop::collection::vec(prop_oneof![4 => Just(3u8), 1 => 1u8..=255, 1 => 1u8..=4], 1..80)
        ) {
            let changed: Vec<(u32, u8)> =
                masks.iter().enumerate().map(|(i, &m)| (i as u32, m)).collect();
            prop_assert_eq!(most_common_mask(&changed), most_common_by_count(&changed));
        }

        #[test]
        fn the_changes_name_the_most_common_mask_and_list_the_rest(
            masks in prop::collection::vec(prop_oneof![4 => Just(3u8), 1 => 1u8..=255, 1 => 1u8..=4], 1..80)
        ) {
            // Every survivor changed: no selection, then the default mask
            // and the exceptions as (gap, mask).
            let changed: Vec<(u32, u8)> =
                masks.iter().enumerate().map(|(i, &m)| (i as u32, m)).collect();
            let n = changed.len() as u32;
            let mut out = Vec::new();
            put_changes(&mut out, n, &changed);
            let (default, count) = most_common_by_count(&changed);
            let mut expected = vec![n as u8, n as u8, default, (n - count) as u8];
            let mut next = 0;
            for (k, &(_, m)) in changed.iter().enumerate() {
                if m != default {
                    expected.extend([(k as u32 - next) as u8, m]);
                    next = k as u32 + 1;
                }
            }
            prop_assert_eq!(out, expected);
        }
    }
}
