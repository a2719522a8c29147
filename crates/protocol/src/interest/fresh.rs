//! The fresh way: the common delta of [`ViewEncoder::encode_ids`], put
//! together from the changes the record worked out once per tick.
//!
//! A state with nothing held back is kept as the sorted ids in view, inline
//! in the tracker: the rows are the record's. The common delta, from such a
//! state of the tick just before, is then a merge of two short id lists
//! plus a copy of each survivor's change worked out by
//! [`ViewEncoder::record`]; touching little per-player memory is what makes
//! ten thousand players a tick affordable. Anything else (a slow socket's
//! older baseline, a budget, a row that does not encode) takes the general
//! way: the baseline's rows, the view's rows, and a delta between them,
//! with the same bytes. [`ViewEncoder::encode`] is that general way for
//! rows given directly.

use std::collections::VecDeque;

use tickwire_types::{NetId, Schema};

use super::encoder::{Encoded, ViewEncoder, ViewError};
use super::record::{IN_PREVIOUS, INLINE_DELTA, PRESENT, RowChange, SAME_KIND, TickRows, VALID};
use super::share::{FINGERPRINT_SEED, fingerprint, share_key};
use super::tracker::{Held, SentState, SentStates, ViewTracker};
use crate::Limits;
use crate::snapshot::{put_created, put_delta_body};

/// The fresh way's buffers, reused from player to player: one player's
/// delta, in pieces, before it is written.
#[derive(Debug, Default)]
pub(super) struct FreshScratch {
    /// The ids the baseline holds and the client will not: those out of
    /// view, and those replaced by a different kind under the same id.
    removed: Vec<NetId>,
    /// The survivors whose row changed, `(index among the survivors,
    /// mask)`, as the delta lists them.
    changed: Vec<(u32, u8)>,
    /// The changed survivors' encoded offsets, copied from the record, in
    /// order.
    deltas: Vec<u8>,
    /// The created rows (new in view, or replaced), as positions in the
    /// newest table.
    created: Vec<u32>,
    /// What the client will hold after the delta, sorted ids: the state
    /// recorded in the tracker, and what a shared body is confirmed by.
    next_ids: Vec<NetId>,
    /// The survivors, sorted ids, when some were created or removed: what
    /// the created are merged into to make `next_ids`.
    kept_ids: Vec<NetId>,
}

impl ViewEncoder {
    /// The common case of [`ViewEncoder::encode_ids`], without a budget:
    /// the baseline is a fresh state of the tick recorded before the newest,
    /// so each survivor's change is the one [`ViewEncoder::record`] worked
    /// out. `view_ids` is sorted. `None` (having changed nothing) when that
    /// is not the case, or a row in view does not encode, for the general
    /// way to handle.
    pub(super) fn encode_fresh(
        &mut self,
        tracker: &mut ViewTracker,
        tick: u32,
        baseline: Option<u32>,
        view_ids: &mut [NetId],
    ) -> Result<Option<Encoded>, ViewError> {
        let record = &mut self.record;
        let Some((table, base, base_ids)) =
            fresh_baseline(&record.tables, &tracker.sent, tick, baseline)
        else {
            return Ok(None);
        };
        if view_ids.len() > Limits::default().max_entities as usize {
            return Ok(None);
        }

        // Every entity into removed, survivor or created; ids not recorded
        // are skipped, and only created rows are read from the record.
        // `next_ids` gets what the client will hold: the view's recorded
        // ids, sorted.
        let delta = &mut self.fresh;
        delta.clear();
        let survivors = if record.changes_by_id {
            let in_view = next_epoch(&mut record.epoch, &mut record.changes);
            let (changes, bytes) = (&mut record.changes[..], &record.change_bytes[..]);
            delta.walk_by_id(changes, bytes, table, in_view, view_ids, base_ids)
        } else {
            let (changes, bytes) = (&record.changes[..], &record.change_bytes[..]);
            delta.walk_by_position(changes, bytes, table, view_ids, base_ids)
        };
        let Some(survivors) = survivors else {
            return Ok(None);
        };
        // Without a budget, nothing waits.
        tracker.waiting.clear();

        // Sharing, as in the general way.
        let (base_id, base_tick) = (base.id, base.tick);
        let shareable = self.sharing.is_shared(base_id);
        let h = if shareable {
            fingerprint(delta.next_ids.iter().copied())
        } else {
            FINGERPRINT_SEED
        };
        let key = share_key(Some(base_id), h);
        let next_ids = &delta.next_ids[..];
        let same = |held: &Held| matches!(held, Held::Fresh(ids) if ids.as_slice() == next_ids);
        if let Some((body, state)) = self.sharing.hit(shareable, key, Some(base_id), tick, same) {
            tracker.push(state);
            return Ok(Some(Encoded {
                baseline: Some(base_tick),
                deferred: 0,
                shared: true,
                body: Some(body),
            }));
        }

        let bytes = &mut self.scratch.bytes;
        delta.write_body(&self.schema, table, tick, base_tick, survivors, bytes)?;
        let state_id = self.sharing.next_state_id();
        tracker.push_fresh(tick, state_id, delta.next_ids.iter().copied());
        let mut body = None;
        if let (true, Some(state)) = (shareable, tracker.sent.back()) {
            let (base, baseline) = (Some(base_id), Some(base_tick));
            let state = state.clone();
            body = Some(self.sharing.keep(key, base, state, tick, baseline, bytes));
        }
        Ok(Some(Encoded {
            baseline: Some(base_tick),
            deferred: 0,
            shared: false,
            body,
        }))
    }
}

impl FreshScratch {
    /// Empties every buffer for the next player.
    #[inline]
    fn clear(&mut self) {
        self.removed.clear();
        self.changed.clear();
        self.deltas.clear();
        self.created.clear();
        self.next_ids.clear();
        self.kept_ids.clear();
    }

    /// The walk when `changes` is by id, with no sort of the view: mark it,
    /// walk the (sorted) baseline for survivors and removals, and what is
    /// marked but not walked was created: usually none or a few, sorted on
    /// their own. Returns how many survive; `None` for the general way.
    #[inline]
    fn walk_by_id(
        &mut self,
        changes: &mut [RowChange],
        change_bytes: &[u8],
        table: &TickRows,
        in_view: u32,
        view_ids: &[NetId],
        base_ids: &[NetId],
    ) -> Option<u32> {
        // `changes` is by id: one subtraction finds an id's change.
        let first = table.index.first;
        let marked = mark_view(changes, first, in_view, view_ids)?;
        let (survivors, replaced) =
            self.walk_baseline(changes, change_bytes, first, in_view, base_ids)?;
        // Those not removed were marked, the replaced ones included.
        let walked = base_ids.len() - self.removed.len() + replaced;
        if walked < marked {
            // Some marked ids were not in the baseline: created.
            for &id in view_ids.iter() {
                if let Some(change) = changes.get(slot(first, id)).filter(|c| c.stamp == in_view) {
                    self.created.push(change.pos);
                }
            }
        }
        if self.created.is_empty() && self.removed.is_empty() {
            // The common case: the client will hold what it held.
            self.next_ids.extend_from_slice(base_ids);
        } else {
            self.merge_next_ids(table, base_ids)?;
        }
        Some(survivors)
    }

    /// Walks the (sorted) baseline against a view marked `in_view`: a
    /// survivor is marked `in_view + 1` and its change copied, the rest
    /// removed (and created again when replaced). Returns how many survive
    /// and how many were replaced; `None` for the general way.
    #[inline]
    fn walk_baseline(
        &mut self,
        changes: &mut [RowChange],
        change_bytes: &[u8],
        first: u32,
        in_view: u32,
        base_ids: &[NetId],
    ) -> Option<(u32, usize)> {
        let in_both = in_view + 1;
        let mut survivors = 0u32;
        // Marks are this player's only, so a mark means present.
        let mut replaced = 0usize;
        for &id in base_ids {
            let Some(change) = changes
                .get_mut(slot(first, id))
                .filter(|c| c.stamp == in_view)
            else {
                self.removed.push(id);
                continue;
            };
            change.stamp = in_both;
            let change = *change;
            if change.flags & (IN_PREVIOUS | SAME_KIND) != IN_PREVIOUS | SAME_KIND {
                if change.flags & IN_PREVIOUS == 0 {
                    return None; // not from the previous tick after all
                }
                // Not the same thing any more: replace it.
                self.removed.push(id);
                self.created.push(change.pos);
                replaced += 1;
                continue;
            }
            if change.mask != 0 {
                if !push_change(&change, change_bytes, &mut self.deltas) {
                    return None;
                }
                self.changed.push((survivors, change.mask));
            }
            survivors += 1;
        }
        Some((survivors, replaced))
    }

    /// `next_ids` when some were created or removed: the survivors and the
    /// created, both sorted, merged. `None` for the general way.
    #[inline]
    fn merge_next_ids(&mut self, table: &TickRows, base_ids: &[NetId]) -> Option<()> {
        // The survivors: the baseline less the removed, which are some of
        // its ids in the same order.
        let mut gone = self.removed.iter().peekable();
        for &id in base_ids {
            if gone.next_if_eq(&&id).is_none() {
                self.kept_ids.push(id);
            }
        }
        // Positions are in id order.
        self.created.sort_unstable();
        // The survivors and the created, both sorted, merged.
        let mut kept = self.kept_ids.iter().copied().peekable();
        for &p in &self.created {
            let row = table.rows.get(p as usize)?;
            while let Some(id) = kept.next_if(|&id| id < row.id) {
                self.next_ids.push(id);
            }
            self.next_ids.push(row.id);
        }
        self.next_ids.extend(kept);
        Some(())
    }

    /// The walk when `changes` is by position: one merge walk of the view,
    /// sorted here, and the baseline. Returns how many survive; `None` for
    /// the general way.
    #[inline]
    fn walk_by_position(
        &mut self,
        changes: &[RowChange],
        change_bytes: &[u8],
        table: &TickRows,
        view_ids: &mut [NetId],
        base_ids: &[NetId],
    ) -> Option<u32> {
        view_ids.sort_unstable();
        let mut survivors = 0u32;
        let mut b = 0;
        let mut prev: Option<NetId> = None;
        for &id in view_ids.iter() {
            let Some(&change) = table
                .index
                .position(&table.rows, id)
                .and_then(|slot| changes.get(slot))
            else {
                continue;
            };
            let p = change.pos;
            if change.flags & VALID == 0 || prev == Some(id) {
                return None; // the general way reports the error
            }
            prev = Some(id);
            self.next_ids.push(id);
            while let Some(&gone) = base_ids.get(b).filter(|&&x| x < id) {
                self.removed.push(gone);
                b += 1;
            }
            if base_ids.get(b) != Some(&id) {
                self.created.push(p);
                continue;
            }
            b += 1;
            if change.flags & IN_PREVIOUS == 0 {
                return None; // not from the previous tick after all
            }
            if change.flags & SAME_KIND == 0 {
                // Not the same thing any more: replace it.
                self.removed.push(id);
                self.created.push(p);
                continue;
            }
            if change.mask != 0 {
                if !push_change(&change, change_bytes, &mut self.deltas) {
                    return None;
                }
                self.changed.push((survivors, change.mask));
            }
            survivors += 1;
        }
        self.removed
            .extend_from_slice(base_ids.get(b..).unwrap_or(&[]));
        Some(survivors)
    }

    /// Writes the delta from the tick `base_tick` to `tick` into `bytes`,
    /// `survivors` of the baseline's rows surviving: the lists, then each
    /// created row, read from `table`.
    fn write_body(
        &self,
        schema: &Schema,
        table: &TickRows,
        tick: u32,
        base_tick: u32,
        survivors: u32,
        bytes: &mut Vec<u8>,
    ) -> Result<(), ViewError> {
        bytes.clear();
        put_delta_body(
            bytes,
            tick,
            base_tick,
            &self.removed,
            survivors,
            &self.changed,
            &self.deltas,
            self.created.len(),
        );
        let mut next = 0u32;
        for &p in &self.created {
            if let Some(row) = table.rows.get(p as usize) {
                put_created(schema, row, &mut next, bytes)?;
            }
        }
        Ok(())
    }
}

/// The newest table, and the player's baseline with its ids when that
/// baseline is a fresh state of the tick recorded before the newest: the
/// fresh way's case.
#[inline]
fn fresh_baseline<'r, 's>(
    tables: &'r VecDeque<TickRows>,
    sent: &'s SentStates,
    tick: u32,
    baseline: Option<u32>,
) -> Option<(&'r TickRows, &'s SentState, &'s [NetId])> {
    let n = tables.len();
    let (Some(previous), Some(table)) =
        (n.checked_sub(2).and_then(|i| tables.get(i)), tables.back())
    else {
        return None;
    };
    let base = baseline
        .filter(|&b| b < tick && b == previous.tick)
        .and_then(|b| sent.iter().rev().find(|s| s.tick == b))?;
    let Held::Fresh(ids) = &base.held else {
        return None;
    };
    Some((table, base, ids.as_slice()))
}

/// Advances the player's mark in `changes` (by two: `epoch` for in view,
/// `epoch + 1` for in view and in the baseline) and returns it, clearing
/// every stamp when the mark wraps.
#[inline]
fn next_epoch(epoch: &mut u32, changes: &mut [RowChange]) -> u32 {
    *epoch = epoch.wrapping_add(2);
    if *epoch == 0 {
        for change in changes.iter_mut() {
            change.stamp = 0;
        }
        *epoch = 2;
    }
    *epoch
}

/// Where the change of `id` is in `changes` by id.
#[inline]
fn slot(first: u32, id: NetId) -> usize {
    id.0.wrapping_sub(first) as usize
}

/// Marks the view's recorded ids `in_view` in `changes` (by id); returns
/// how many. `None` when a row in view does not encode or an id comes
/// twice: the general way reports the error.
#[inline]
fn mark_view(
    changes: &mut [RowChange],
    first: u32,
    in_view: u32,
    view_ids: &[NetId],
) -> Option<usize> {
    let mut marked = 0usize;
    for &id in view_ids {
        let Some(change) = changes.get_mut(slot(first, id)) else {
            continue;
        };
        if change.flags & (PRESENT | VALID) != PRESENT | VALID || change.stamp == in_view {
            if change.flags & PRESENT == 0 {
                continue; // not recorded
            }
            return None; // the general way reports the error
        }
        change.stamp = in_view;
        marked += 1;
    }
    Some(marked)
}

/// Appends a recorded change's encoded offsets to `deltas`; false when
/// they are not where the change says.
#[inline]
fn push_change(change: &RowChange, change_bytes: &[u8], deltas: &mut Vec<u8>) -> bool {
    let len = usize::from(change.len);
    if len <= INLINE_DELTA {
        // A fixed-size copy, then cut back: no call for a few bytes.
        let end = deltas.len() + len;
        deltas.extend_from_slice(&change.inline);
        deltas.truncate(end);
        true
    } else {
        let start = u32::from_le_bytes(change.inline) as usize;
        match change_bytes.get(start..start + len) {
            Some(bytes) => {
                deltas.extend_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}
