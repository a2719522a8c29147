//! Writing snapshot bodies: a full body from a state, a delta body from a
//! baseline state and the current one (the server's hot path, one merge
//! walk), a decoded body back to bytes, and the per-player header that
//! turns a shared body into a snapshot message.

use tickwire_types::{NetId, ReplicatedEntity, Schema};

use super::error::EncodeError;
use super::field::{field_delta, in_range, mask_fields};
use super::selection::put_changes;
use super::{SNAPSHOT_TAG, SnapshotBody};
use crate::Limits;
use crate::codec::{put_i32, put_u32, varint_len};
use crate::rules::not_newer;

/// Appends a body that describes `entities` at `tick` from scratch.
///
/// `entities` must be sorted by id with every value in its declared range.
/// ```
/// # use tickwire_protocol::{encode_full, SnapshotBody, Limits};
/// # use tickwire_types::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
/// let schema = Schema::new("demo", vec![KindDecl {
///     id: 0, name: "dot".into(),
///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
/// }], vec![], vec![]);
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
    if not_newer(tick, baseline_tick) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A kind with every quantization, and a kind with one field.
    fn schema() -> Schema {
        use tickwire_types::{FieldDecl, KindDecl, Quantization};
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
            input: vec![],
            events: vec![],
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
    }
}
