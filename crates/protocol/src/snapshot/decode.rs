//! Reading snapshot bodies: strict and bounded. Every count is checked
//! against the limits and the bytes left before anything is allocated, and
//! the structure is checked against the schema (the baseline is checked
//! when the body is applied).

use tickwire_types::{MAX_FIELDS, NetId, ReplicatedEntity, Schema};

use super::error::SnapshotDecodeError;
use super::field::{in_range, mask_fields};
use super::selection::read_selection;
use super::{ChangedEntity, SnapshotBody};
use crate::Limits;
use crate::codec::{ReadError, Reader};

impl SnapshotBody {
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
