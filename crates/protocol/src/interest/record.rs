//! The tick record: the room's rows of the last [`VIEW_STATES`] ticks,
//! which the players' fresh states point into, and how each row of the
//! newest tick changed since the tick before, worked out once per tick
//! ([`ViewEncoder::record`]) for every player whose baseline is that tick.

use crate::rules::not_newer;
use std::collections::VecDeque;

use tickwire_types::{NetId, ReplicatedEntity, Schema};

use super::VIEW_STATES;
use super::encoder::{ViewEncoder, ViewError};
use super::row_index::RowIndex;
use super::tracker::{Held, SentState};
use crate::snapshot::{EncodeError, put_entity_delta, row_in_range};

/// The room's rows of the last recorded ticks, and the changes of the
/// newest: what every player's snapshot of a tick is put together from.
#[derive(Debug, Default)]
pub(super) struct TickRecord {
    /// The room's rows of the last [`VIEW_STATES`] recorded ticks, oldest
    /// first: what the players' fresh states point into.
    pub(super) tables: VecDeque<TickRows>,
    /// Per row of the newest table, its change since the table before: by
    /// id less the first id when the table's ids are dense (its index is a
    /// table), else by position.
    pub(super) changes: Vec<RowChange>,
    /// Whether `changes` is by id.
    pub(super) changes_by_id: bool,
    /// The encoded field offsets of `changes` too long to keep inline.
    pub(super) change_bytes: Vec<u8>,
    /// The mark of the player being encoded in `changes` (see
    /// `RowChange::stamp`); even, advanced by two per player, reset with
    /// each record.
    pub(super) epoch: u32,
}

/// The room's replicated rows of one recorded tick.
#[derive(Debug, Default)]
pub(super) struct TickRows {
    /// The tick.
    pub(super) tick: u32,
    /// Its rows, sorted by id.
    pub(super) rows: Vec<ReplicatedEntity>,
    /// Where each id's row is.
    pub(super) index: RowIndex,
}

impl TickRows {
    /// The row of `id`, if present.
    pub(super) fn row(&self, id: NetId) -> Option<&ReplicatedEntity> {
        self.index
            .position(&self.rows, id)
            .and_then(|i| self.rows.get(i))
    }
}

/// How one row of the newest recorded tick changed since the tick recorded
/// before it: computed once per tick, used by every player whose baseline
/// is a fresh state of that earlier tick.
///
/// Looked up by id (see `TickRecord::changes`) with one load: the row's
/// position, the mark of the player being encoded and, when short (a
/// moving avatar's two or three bytes), its encoded offsets are right here.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RowChange {
    /// Which player last had this entity in view (`TickRecord::epoch`) or
    /// in view and in its baseline (`epoch + 1`): a view marked this way
    /// needs no sort.
    pub(super) stamp: u32,
    /// The row's position in the newest table.
    pub(super) pos: u32,
    /// Its encoded field offsets when at most [`INLINE_DELTA`] bytes;
    /// otherwise where they start in `change_bytes`, little-endian.
    pub(super) inline: [u8; INLINE_DELTA],
    /// How many bytes the offsets take.
    pub(super) len: u8,
    /// The fields that changed; 0 when none did.
    pub(super) mask: u8,
    /// [`PRESENT`], [`IN_PREVIOUS`], [`SAME_KIND`], [`VALID`].
    pub(super) flags: u8,
}

/// Encoded offsets kept in a [`RowChange`] itself.
pub(super) const INLINE_DELTA: usize = 4;

/// The id is in the newest table (a table by id has gaps).
pub(super) const PRESENT: u8 = 8;

/// The id was in the previous recorded tick.
pub(super) const IN_PREVIOUS: u8 = 1;
/// ... with the same kind, so a client that holds it gets a change.
pub(super) const SAME_KIND: u8 = 2;
/// The row's kind is declared and every field lies in its range: it
/// encodes without error.
pub(super) const VALID: u8 = 4;

impl ViewEncoder {
    /// Records the room's replicated state after `tick` (every row, sorted
    /// by id, as `Simulation::replicated` gives it), for
    /// [`ViewEncoder::encode_ids`]. Once per tick, before the players'
    /// snapshots. Keeps the last [`VIEW_STATES`] ticks, and works out once
    /// how each row changed since the tick recorded before, which is the
    /// delta of every player whose baseline is that tick.
    pub fn record(&mut self, tick: u32, rows: &[ReplicatedEntity]) -> Result<(), ViewError> {
        self.record.push(&self.schema, tick, rows)?;
        // A fresh state older than every record can no longer be a
        // baseline.
        let oldest = self.record.tables.front().map_or(tick, |t| t.tick);
        self.sharing.forget_states_before(oldest);
        Ok(())
    }
}

impl TickRecord {
    /// Records `rows` as the newest tick, `tick`, dropping the oldest when
    /// [`VIEW_STATES`] are kept, and works out `changes`.
    fn push(
        &mut self,
        schema: &Schema,
        tick: u32,
        rows: &[ReplicatedEntity],
    ) -> Result<(), ViewError> {
        if let Some(latest) = self.tables.back().map(|t| t.tick) {
            if not_newer(tick, latest) {
                return Err(ViewError::NotNewer { tick, latest });
            }
        }
        if let Some(w) = rows.windows(2).find(|w| w[0].id >= w[1].id) {
            return Err(EncodeError::NotSorted(w[1].id).into());
        }
        let mut table = if self.tables.len() >= VIEW_STATES {
            self.tables.pop_front().unwrap_or_default()
        } else {
            TickRows::default()
        };
        table.tick = tick;
        table.rows.clear();
        table.rows.extend_from_slice(rows);
        table.index.rebuild(&table.rows);

        self.changes.clear();
        self.change_bytes.clear();
        self.changes_by_id = !table.index.table.is_empty();
        if self.changes_by_id {
            self.changes
                .resize(table.index.table.len(), RowChange::default());
        }
        let first = table.index.first;
        let previous = self.tables.back().map_or(&[][..], |t| &t.rows[..]);
        let mut p = 0;
        for (pos, row) in table.rows.iter().enumerate() {
            while previous.get(p).is_some_and(|x| x.id < row.id) {
                p += 1;
            }
            let old = previous.get(p).filter(|x| x.id == row.id);
            let change = row_change(schema, pos, row, old, &mut self.change_bytes);
            if self.changes_by_id {
                if let Some(slot) = self.changes.get_mut(row.id.0.wrapping_sub(first) as usize) {
                    *slot = change;
                }
            } else {
                self.changes.push(change);
            }
        }
        self.epoch = 0;
        self.tables.push_back(table);
        Ok(())
    }

    /// The recorded rows of `tick`.
    fn table(&self, tick: u32) -> Option<&TickRows> {
        self.tables.iter().rev().find(|t| t.tick == tick)
    }

    /// Appends the rows `state` holds to `out`; false when they are no
    /// longer known (a fresh state older than every recorded tick).
    pub(super) fn held_rows(&self, state: &SentState, out: &mut Vec<ReplicatedEntity>) -> bool {
        match &state.held {
            Held::Rows(rows) => {
                out.extend_from_slice(rows);
                true
            }
            Held::Fresh(ids) => {
                let Some(table) = self.table(state.tick) else {
                    return false;
                };
                out.extend(ids.as_slice().iter().filter_map(|&id| table.row(id)));
                true
            }
        }
    }
}

/// How `row`, at `pos` in the newest table, changed since `old`, its row
/// in the tick recorded before (if it was there). Offsets too long to keep
/// inline are appended to `change_bytes`.
#[inline]
fn row_change(
    schema: &Schema,
    pos: usize,
    row: &ReplicatedEntity,
    old: Option<&ReplicatedEntity>,
    change_bytes: &mut Vec<u8>,
) -> RowChange {
    let kind = schema.kind(row.kind);
    let mut change = RowChange {
        pos: pos as u32,
        flags: PRESENT,
        ..RowChange::default()
    };
    if kind.is_some_and(|k| row_in_range(k, row)) {
        change.flags |= VALID;
    }
    if let Some(old) = old {
        change.flags |= IN_PREVIOUS;
        if let (Some(kind), true) = (kind, old.kind == row.kind) {
            change.flags |= SAME_KIND;
            let start = change_bytes.len();
            match put_entity_delta(kind, old, row, change_bytes) {
                Ok(mask) => change.mask = mask,
                Err(_) => change.flags &= !VALID,
            }
            let len = change_bytes.len() - start;
            change.len = len as u8;
            if let Some(bytes) = change_bytes.get(start..).filter(|_| len <= INLINE_DELTA) {
                change.inline[..len].copy_from_slice(bytes);
                change_bytes.truncate(start);
            } else {
                change.inline = (start as u32).to_le_bytes();
            }
        }
    }
    change
}
