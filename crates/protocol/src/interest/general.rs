//! The general way: the baseline's rows, the rows the client will hold, and
//! a delta between them. It takes every snapshot the fresh way does not: a
//! baseline older than the tick before, a budget, rows given directly
//! ([`ViewEncoder::encode`]), and rows that do not encode, whose error it
//! reports. Its bytes are the fresh way's wherever both apply.

use std::sync::Arc;

use tickwire_types::{NetId, ReplicatedEntity};

use super::budget::Budget;
use super::encoder::{Encoded, ViewEncoder, ViewError};
use super::record::TickRecord;
use super::share::{FINGERPRINT_SEED, fingerprint, share_key};
use super::tracker::{Held, Ids, SentState, SentStates, ViewTracker};
use crate::snapshot::{EncodeError, encode_delta_with, encode_full};

impl ViewEncoder {
    /// The general way: the baseline's rows, the rows the client will hold,
    /// and a delta between them. `fresh_from_record`: `visible` is the
    /// newest record's rows, so a state that holds exactly them is kept as
    /// ids.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn encode_rows(
        &mut self,
        tracker: &mut ViewTracker,
        tick: u32,
        baseline: Option<u32>,
        visible: &[ReplicatedEntity],
        budget: Option<Budget>,
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
        fresh_from_record: bool,
    ) -> Result<Encoded, ViewError> {
        let mut state_rows = tracker.take_spare_rows();
        // Unique by construction, so this never copies.
        let rows = Arc::make_mut(&mut state_rows);
        let mut base_rows = std::mem::take(&mut self.scratch.base_rows);
        base_rows.clear();
        let base = find_base(&self.record, &tracker.sent, tick, baseline, &mut base_rows);
        let base_slice: &[ReplicatedEntity] = match base.map(|s| &s.held) {
            Some(Held::Rows(rows)) => rows,
            Some(Held::Fresh(_)) => &base_rows,
            None => &[],
        };

        // What this snapshot leaves the client with, and a fingerprint of
        // which rows are fresh and which are carried over from the baseline.
        // Only a player whose baseline is shared with another (or who has
        // none) can share this tick's body: a baseline state held by one
        // tracker alone means nobody else's delta starts from it.
        let shareable = base.is_none_or(|b| match &b.held {
            Held::Fresh(_) => self.sharing.is_shared(b.id),
            Held::Rows(rows) => Arc::strong_count(rows) > 1,
        });
        let waiting = &mut tracker.waiting;
        let (h, deferred) = self.fill_rows(
            waiting, base_slice, visible, budget, priority, rows, shareable,
        );
        let rows: &[ReplicatedEntity] = rows;
        // Nothing held back from the record's rows: keep ids only.
        let fresh = fresh_from_record && deferred == 0;

        let base_id = base.map(|s| s.id);
        let base_tick = base.map(|s| s.tick);
        let key = share_key(base_id, h);
        let same = |held: &Held| holds_exactly(held, fresh, rows);
        if let Some((body, state)) = self.sharing.hit(shareable, key, base_id, tick, same) {
            tracker.spare_rows = Some(state_rows);
            tracker.push(state);
            self.scratch.base_rows = base_rows;
            return Ok(Encoded {
                baseline: base_tick,
                deferred,
                shared: true,
                body: Some(body),
            });
        }

        let encoded = self.write_rows(base_tick, base_slice, tick, rows);
        self.scratch.base_rows = base_rows;
        if let Err(error) = encoded {
            tracker.spare_rows = Some(state_rows);
            return Err(error.into());
        }
        let held = self.held(tracker, state_rows, fresh);
        let id = self.sharing.next_state_id();
        let state = SentState { tick, id, held };
        let mut body = None;
        if shareable {
            let bytes = &self.scratch.bytes;
            let kept = state.clone();
            body = Some(
                self.sharing
                    .keep(key, base_id, kept, tick, base_tick, bytes),
            );
        }
        tracker.push(state);
        Ok(Encoded {
            baseline: base_tick,
            deferred,
            shared: false,
            body,
        })
    }

    /// Fills `rows` with what the client will hold: `visible`, or under a
    /// `budget` the selection. Returns the rows' fingerprint (when
    /// `shareable`) and how many changes wait.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn fill_rows(
        &mut self,
        waiting: &mut Vec<(NetId, f32)>,
        base: &[ReplicatedEntity],
        visible: &[ReplicatedEntity],
        budget: Option<Budget>,
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
        rows: &mut Vec<ReplicatedEntity>,
        shareable: bool,
    ) -> (u64, usize) {
        match budget {
            None => {
                waiting.clear();
                rows.extend_from_slice(visible);
                if shareable {
                    (fingerprint(visible.iter().map(|e| e.id)), 0)
                } else {
                    (FINGERPRINT_SEED, 0)
                }
            }
            Some(budget) => self.select(waiting, base, visible, budget, priority, rows),
        }
    }

    /// The rows `state_rows` as the new state keeps them: their ids when
    /// `fresh` (the buffer going back to the tracker for reuse), else the
    /// rows themselves.
    #[inline]
    fn held(
        &mut self,
        tracker: &mut ViewTracker,
        state_rows: Arc<Vec<ReplicatedEntity>>,
        fresh: bool,
    ) -> Held {
        if fresh {
            let ids = &mut self.scratch.view_ids;
            ids.clear();
            ids.extend(state_rows.iter().map(|r| r.id));
            tracker.spare_rows = Some(state_rows);
            Held::Fresh(Ids::new(ids))
        } else {
            Held::Rows(state_rows)
        }
    }

    /// Encodes into `Scratch::bytes` the snapshot of `tick` that leaves the
    /// client with `rows`: a delta from `base`, the rows of `base_tick`, or
    /// a full snapshot without a baseline.
    fn write_rows(
        &mut self,
        base_tick: Option<u32>,
        base: &[ReplicatedEntity],
        tick: u32,
        rows: &[ReplicatedEntity],
    ) -> Result<(), EncodeError> {
        let bytes = &mut self.scratch.bytes;
        bytes.clear();
        match base_tick {
            Some(b) => {
                let scratch = &mut self.scratch.delta;
                encode_delta_with(scratch, &self.schema, b, base, tick, rows, bytes)
            }
            None => encode_full(&self.schema, tick, rows, bytes),
        }
    }
}

/// The state `baseline` left the client with, if remembered and its rows
/// still known; a fresh state's rows are appended to `base_rows`.
fn find_base<'a>(
    record: &TickRecord,
    sent: &'a SentStates,
    tick: u32,
    baseline: Option<u32>,
    base_rows: &mut Vec<ReplicatedEntity>,
) -> Option<&'a SentState> {
    baseline
        .filter(|&b| b < tick)
        .and_then(|b| sent.iter().rev().find(|s| s.tick == b))
        .filter(|s| match &s.held {
            Held::Rows(_) => true,
            Held::Fresh(_) => record.held_rows(s, base_rows),
        })
}

/// Whether a state kept for sharing is exactly `rows`, kept the same way:
/// as ids when `fresh`, as rows otherwise.
#[inline]
fn holds_exactly(held: &Held, fresh: bool, rows: &[ReplicatedEntity]) -> bool {
    match held {
        Held::Fresh(ids) => {
            let ids = ids.as_slice();
            fresh
                && ids.len() == rows.len()
                && ids.iter().zip(rows.iter()).all(|(id, r)| *id == r.id)
        }
        Held::Rows(held) => !fresh && held[..] == rows[..],
    }
}
