//! Applying a decoded snapshot body to the baseline state the client holds:
//! a new state (removed, changed and created entities merged in id order),
//! or, for a delta that neither removes nor creates, changes in place that
//! are undone exactly on error.

use tickwire_types::{ReplicatedEntity, Schema};

use super::error::ApplyError;
use super::field::{apply_delta, in_range, mask_fields, undo_delta};
use super::{ChangedEntity, SnapshotBody};
use crate::Limits;

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
