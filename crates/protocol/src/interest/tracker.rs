//! What one player's client holds, snapshot by snapshot: the
//! [`ViewTracker`] and the states it keeps, either the sorted ids of a
//! recorded tick (nothing held back) or rows of their own.

use std::collections::VecDeque;
use std::sync::Arc;

use tickwire_types::{NetId, ReplicatedEntity};

use super::VIEW_STATES;

/// What one player's client holds, snapshot by snapshot: the memory that
/// lets each delta be taken against exactly the client's baseline.
///
/// Small: a fast socket keeps two states. A state with nothing held back is
/// the ids of the rows in view (a few dozen `u32`s), which point into the
/// room's rows of that tick, kept once by the [`ViewEncoder`](super::ViewEncoder); only a state
/// in which a budget held a change back keeps its rows.
#[derive(Debug, Default)]
pub struct ViewTracker {
    /// The states put in the player's outbox, oldest first, at most
    /// [`VIEW_STATES`]; older than the written baseline are pruned.
    pub(super) sent: SentStates,
    /// Entities in view with a change the snapshots did not carry yet,
    /// sorted by id, with their accumulated priority. Empty without a
    /// budget.
    pub(super) waiting: Vec<(NetId, f32)>,
    /// A pruned state's rows that no other player shares, reused (buffer
    /// and reference count alike) for the next state: a player's steady
    /// state allocates nothing.
    pub(super) spare_rows: Option<Arc<Vec<ReplicatedEntity>>>,
}

/// A tracker's states, oldest first. The newest two live in the tracker
/// itself: a socket that keeps up needs exactly those (the written baseline
/// and the snapshot after it), so reading a player's baseline touches the
/// tracker and nothing else. Older ones, for a socket that falls behind,
/// spill to the heap. The two slots are a ring: dropping the older one
/// moves nothing, and a fresh state's ids are written into its slot in
/// place.
#[derive(Debug, Default)]
pub(super) struct SentStates {
    /// The states older than the slots', oldest first. Empty unless both
    /// slots are in use.
    older: VecDeque<SentState>,
    /// The newest states: `slots[first]`, then `slots[first ^ 1]`, the
    /// first `count` of those. A slot not in use holds a stale fresh state
    /// (never rows, which are taken out for reuse).
    slots: [SentState; 2],
    /// Which slot holds the older of the newest two.
    first: usize,
    /// How many slots are in use, 0 to 2.
    count: usize,
}

impl SentStates {
    fn len(&self) -> usize {
        self.older.len() + self.count
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `k`th newest-two state (0: the older).
    fn slot(&self, k: usize) -> &SentState {
        &self.slots[(self.first + k) & 1]
    }

    /// Oldest first.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &SentState> {
        self.older
            .iter()
            .chain((0..self.count).map(move |k| self.slot(k)))
    }

    pub(super) fn back(&self) -> Option<&SentState> {
        self.count.checked_sub(1).map(|k| self.slot(k))
    }

    fn front(&self) -> Option<&SentState> {
        self.older
            .front()
            .or_else(|| (self.count > 0).then(|| self.slot(0)))
    }

    /// Drops the oldest state; returns its rows, if it kept rows.
    fn pop_front(&mut self) -> Option<Arc<Vec<ReplicatedEntity>>> {
        if let Some(state) = self.older.pop_front() {
            return state.held.into_rows();
        }
        if self.count == 0 {
            return None;
        }
        let rows = self.slots[self.first].take_rows();
        self.first ^= 1;
        self.count -= 1;
        rows
    }

    /// The slot for a new newest state, spilling the oldest slot's state
    /// when both are in use.
    fn next_slot(&mut self) -> &mut SentState {
        if self.count == 2 {
            let oldest = std::mem::take(&mut self.slots[self.first]);
            self.older.push_back(oldest);
            self.first ^= 1;
        } else {
            self.count += 1;
        }
        &mut self.slots[(self.first + self.count - 1) & 1]
    }

    fn push_back(&mut self, state: SentState) {
        *self.next_slot() = state;
    }

    /// Pushes a fresh state of `ids` (sorted), written in place.
    fn push_fresh(&mut self, tick: u32, id: u64, ids: impl ExactSizeIterator<Item = NetId>) {
        let slot = self.next_slot();
        slot.tick = tick;
        slot.id = id;
        let n = ids.len();
        match &mut slot.held {
            Held::Fresh(Ids::Inline { len, ids: inline }) if n <= INLINE_IDS => {
                for (to, from) in inline.iter_mut().zip(ids) {
                    *to = from;
                }
                *len = n as u8;
            }
            held => *held = Held::Fresh(Ids::new(&ids.collect::<Vec<_>>())),
        }
    }

    /// Drops the state before the newest, if there are two; returns its
    /// rows, if it kept rows.
    fn remove_second_newest(&mut self) -> Option<Arc<Vec<ReplicatedEntity>>> {
        if self.count < 2 {
            return None;
        }
        let rows = self.slots[self.first].take_rows();
        match self.older.pop_back() {
            Some(state) => self.slots[self.first] = state,
            None => {
                self.first ^= 1;
                self.count = 1;
            }
        }
        rows
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// One snapshot put in a player's outbox, as the client will hold it.
#[derive(Clone, Debug, Default)]
pub(super) struct SentState {
    /// The snapshot's tick.
    pub(super) tick: u32,
    /// Identity of this state within its encoder, for sharing bodies:
    /// players whose baselines have the same identity hold the same rows.
    pub(super) id: u64,
    /// The rows. Shared with the players that share this state, and with
    /// the encoder for the rest of the tick.
    pub(super) held: Held,
}

/// The rows a client holds after one snapshot, sorted by id.
#[derive(Clone, Debug)]
pub(super) enum Held {
    /// Exactly the room's rows of these ids at the state's tick, as
    /// recorded by [`ViewEncoder::record`](super::ViewEncoder::record): nothing was held back. Kept in
    /// the state itself, so that reading a player's baseline touches one
    /// place in memory.
    Fresh(Ids),
    /// Any rows: some change was held back by a budget, or the rows were
    /// not picked from a recorded tick
    /// ([`ViewEncoder::encode`](super::ViewEncoder::encode)).
    Rows(Arc<Vec<ReplicatedEntity>>),
}

/// Ids a fresh state holds inline: a typical view and then some.
const INLINE_IDS: usize = 40;

/// The sorted ids of a fresh state: inline when few, as most views are.
#[derive(Clone, Debug)]
pub(super) enum Ids {
    /// The first `len` of `ids`.
    Inline {
        /// How many.
        len: u8,
        /// The ids, then unused slots.
        ids: [NetId; INLINE_IDS],
    },
    /// More than [`INLINE_IDS`].
    Heap(Vec<NetId>),
}

impl Ids {
    /// `ids`, kept inline when they fit.
    pub(super) fn new(ids: &[NetId]) -> Self {
        if ids.len() <= INLINE_IDS {
            let mut inline = [NetId(0); INLINE_IDS];
            if let Some(head) = inline.get_mut(..ids.len()) {
                head.copy_from_slice(ids);
            }
            Ids::Inline {
                len: ids.len() as u8,
                ids: inline,
            }
        } else {
            Ids::Heap(ids.to_vec())
        }
    }

    /// The ids, sorted.
    pub(super) fn as_slice(&self) -> &[NetId] {
        match self {
            Ids::Inline { len, ids } => ids.get(..usize::from(*len)).unwrap_or(&[]),
            Ids::Heap(ids) => ids,
        }
    }
}

impl Default for Held {
    fn default() -> Self {
        Held::Fresh(Ids::Inline {
            len: 0,
            ids: [NetId(0); INLINE_IDS],
        })
    }
}

impl SentState {
    /// Takes this state's rows out, if it kept rows, leaving no rows.
    fn take_rows(&mut self) -> Option<Arc<Vec<ReplicatedEntity>>> {
        match self.held {
            Held::Rows(_) => std::mem::take(&mut self.held).into_rows(),
            Held::Fresh(_) => None,
        }
    }
}

impl Held {
    /// The rows, if these are rows.
    fn into_rows(self) -> Option<Arc<Vec<ReplicatedEntity>>> {
        match self {
            Held::Rows(rows) => Some(rows),
            Held::Fresh(_) => None,
        }
    }

    /// Whether both are the one shared state: rows in the same buffer, or
    /// ids (copied into each tracker) of the same recorded state.
    fn same_buffer(&self, other: &Held) -> bool {
        match (self, other) {
            (Held::Fresh(_), Held::Fresh(_)) => true,
            (Held::Rows(a), Held::Rows(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl ViewTracker {
    /// A tracker for a player who holds nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The newest snapshot's tick.
    pub fn latest_tick(&self) -> Option<u32> {
        self.sent.back().map(|s| s.tick)
    }

    /// Whether this player's newest snapshot left its client with the very
    /// state `other`'s did: one recorded state, shared, as players with the
    /// same view and baseline get.
    pub fn shares_latest_state(&self, other: &ViewTracker) -> bool {
        match (self.sent.back(), other.sent.back()) {
            (Some(a), Some(b)) => a.id == b.id && a.held.same_buffer(&b.held),
            _ => false,
        }
    }

    /// How many snapshots are remembered.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// How many entities in view wait for the budget.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The outbox replaced the snapshot put before the newest one, unsent:
    /// it can never become a baseline, so forget it. (A latest-wins outbox
    /// only ever replaces the snapshot put just before.)
    pub fn forget_replaced(&mut self) {
        if let Some(rows) = self.sent.remove_second_newest() {
            self.recycle(rows);
        }
    }

    /// Forgets everything: the next snapshot is full.
    pub fn clear(&mut self) {
        // The room clears the tracker of every player without a view each
        // tick: an empty one is left untouched.
        if !self.sent.is_empty() {
            self.sent.clear();
        }
        self.waiting.clear();
    }

    /// Drops the states that can no longer be a baseline: those older than
    /// `baseline`, the last snapshot written to the socket.
    pub(super) fn prune(&mut self, baseline: Option<u32>) {
        if let Some(b) = baseline {
            while self.sent.front().is_some_and(|s| s.tick < b) {
                if let Some(rows) = self.sent.pop_front() {
                    self.recycle(rows);
                }
            }
        }
    }

    /// Keeps a dropped state's buffer for the next state, unless another
    /// player still shares it.
    fn recycle(&mut self, mut rows: Arc<Vec<ReplicatedEntity>>) {
        if Arc::get_mut(&mut rows).is_some() {
            self.spare_rows = Some(rows);
        }
    }

    /// Empty rows for a new state, held by nobody else.
    pub(super) fn take_spare_rows(&mut self) -> Arc<Vec<ReplicatedEntity>> {
        if let Some(mut buffer) = self.spare_rows.take() {
            if let Some(rows) = Arc::get_mut(&mut buffer) {
                rows.clear();
                return buffer;
            }
        }
        Arc::default()
    }

    /// The state of `tick`, if remembered.
    pub(super) fn state(&self, tick: u32) -> Option<&SentState> {
        self.sent.iter().rev().find(|s| s.tick == tick)
    }

    /// Records `state` as the newest snapshot put in the player's outbox.
    pub(super) fn push(&mut self, state: SentState) {
        self.make_room();
        self.sent.push_back(state);
    }

    /// Records a fresh state of `ids` (sorted) as the newest snapshot put
    /// in the player's outbox.
    pub(super) fn push_fresh(
        &mut self,
        tick: u32,
        id: u64,
        ids: impl ExactSizeIterator<Item = NetId>,
    ) {
        self.make_room();
        self.sent.push_fresh(tick, id, ids);
    }

    /// Drops the oldest state when [`VIEW_STATES`] are kept.
    fn make_room(&mut self) {
        if self.sent.len() >= VIEW_STATES {
            if let Some(rows) = self.sent.pop_front() {
                self.recycle(rows);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// Odd ticks keep rows, even ticks are fresh.
    fn state(tick: u32) -> SentState {
        let held = if tick % 2 == 1 {
            Held::Rows(Arc::new(vec![ReplicatedEntity {
                id: NetId(tick),
                kind: 0,
                values: [0; 8],
            }]))
        } else {
            Held::Fresh(Ids::new(&[NetId(tick)]))
        };
        SentState {
            tick,
            id: u64::from(tick),
            held,
        }
    }

    /// The ids a state holds, whichever way.
    fn held_ids(s: &SentState) -> Vec<u32> {
        match &s.held {
            Held::Fresh(ids) => ids.as_slice().iter().map(|id| id.0).collect(),
            Held::Rows(rows) => rows.iter().map(|r| r.id.0).collect(),
        }
    }

    proptest! {
        /// The tracker's two-slot ring with older states spilled behaves as
        /// one deque, whatever the sequence of pushes, prunes and
        /// replacements; rows come back out of the states that kept them.
        #[test]
        fn sent_states_behave_as_a_deque(ops in proptest::collection::vec(0u8..5, 0..200)) {
            let mut states = SentStates::default();
            let mut model: VecDeque<u32> = VecDeque::new();
            let mut tick = 0;
            for op in ops {
                match op {
                    0 => {
                        tick += 1;
                        states.push_back(state(tick));
                        model.push_back(tick);
                    }
                    1 => {
                        // Fresh in place, several ids, sometimes too many
                        // to keep inline.
                        tick += 1;
                        let n = if tick % 7 == 0 { INLINE_IDS + 3 } else { 3 };
                        let ids: Vec<NetId> = (0..n as u32).map(|i| NetId(tick * 100 + i)).collect();
                        states.push_fresh(tick, u64::from(tick), ids.into_iter());
                        prop_assert_eq!(held_ids(states.back().unwrap()).len(), n);
                        prop_assert_eq!(held_ids(states.back().unwrap())[0], tick * 100);
                        model.push_back(tick);
                    }
                    2 => {
                        let front = states.front().map(|s| (s.tick, matches!(s.held, Held::Rows(_))));
                        let rows = states.pop_front();
                        prop_assert_eq!(front.map(|f| f.0), model.pop_front());
                        prop_assert_eq!(rows.is_some(), front.is_some_and(|f| f.1));
                    }
                    _ => {
                        let n = model.len();
                        let second = (n >= 2).then(|| {
                            let s = states.iter().rev().nth(1).unwrap();
                            matches!(s.held, Held::Rows(_))
                        });
                        let rows = states.remove_second_newest();
                        if n >= 2 {
                            model.remove(n - 2);
                        }
                        prop_assert_eq!(rows.is_some(), second == Some(true));
                    }
                }
                let ticks: Vec<u32> = states.iter().map(|s| s.tick).collect();
                prop_assert_eq!(&ticks, &model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(states.len(), model.len());
                prop_assert_eq!(states.is_empty(), model.is_empty());
                prop_assert_eq!(states.back().map(|s| s.tick), model.back().copied());
                prop_assert_eq!(states.front().map(|s| s.tick), model.front().copied());
                let rev: Vec<u32> = states.iter().rev().map(|s| s.tick).collect();
                prop_assert_eq!(rev, model.iter().rev().copied().collect::<Vec<_>>());
                // A pushed-with-rows state still holds its own row.
                for s in states.iter().filter(|s| matches!(s.held, Held::Rows(_))) {
                    prop_assert_eq!(held_ids(s), vec![s.tick]);
                }
            }
            states.clear();
            prop_assert!(states.is_empty());
            prop_assert_eq!(states.len(), 0);
        }

        /// Fresh-state ids read back as given, inline or not.
        #[test]
        fn ids_read_back_as_given(n in 0usize..100) {
            let ids: Vec<NetId> = (0..n as u32).map(|i| NetId(i * 3 + 1)).collect();
            let kept = Ids::new(&ids);
            prop_assert_eq!(kept.as_slice(), &ids[..]);
        }
    }
}
