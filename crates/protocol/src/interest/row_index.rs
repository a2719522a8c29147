//! Where each id's row is in one tick's rows: the [`RowIndex`] the tick
//! record keeps per tick, also public for games that pick rows by id.

use tickwire_types::{NetId, ReplicatedEntity};

/// Picks one tick's rows for a set of entity ids, fast: an index from id to
/// position in the tick's replicated state (sorted by id, as
/// `Simulation::replicated` gives it), rebuilt once per tick and used for
/// every player.
///
/// Ids are dense in practice (a counter, never reused), so the index is a
/// table covering the ids present; when they are too sparse for that (a long
/// match with much churn), it falls back to binary search.
#[derive(Debug, Default)]
pub struct RowIndex {
    /// Smallest id present.
    pub(super) first: u32,
    /// `table[id - first]` is the row of that id, or `u32::MAX`; empty when
    /// the ids are too sparse.
    pub(super) table: Vec<u32>,
}

impl RowIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes `rows` (sorted by id).
    pub fn rebuild(&mut self, rows: &[ReplicatedEntity]) {
        self.table.clear();
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return;
        };
        self.first = first.id.0;
        let span = last.id.0.saturating_sub(first.id.0) as usize + 1;
        if span > rows.len() * 4 + 1024 {
            return; // sparse: binary search instead
        }
        self.table.resize(span, u32::MAX);
        for (i, e) in rows.iter().enumerate() {
            if let Some(slot) = self.table.get_mut((e.id.0 - self.first) as usize) {
                *slot = i as u32;
            }
        }
    }

    /// Position of `id` in the indexed rows.
    #[inline]
    pub fn position(&self, rows: &[ReplicatedEntity], id: NetId) -> Option<usize> {
        if self.table.is_empty() {
            return rows.binary_search_by_key(&id, |e| e.id).ok();
        }
        let i = *self.table.get(id.0.checked_sub(self.first)? as usize)?;
        (i != u32::MAX).then_some(i as usize)
    }

    /// Appends the rows of `ids` to `out`, sorted by id; ids not present are
    /// skipped. `ids` is reordered.
    pub fn select(
        &self,
        rows: &[ReplicatedEntity],
        ids: &mut [NetId],
        out: &mut Vec<ReplicatedEntity>,
    ) {
        ids.sort_unstable();
        out.reserve(ids.len());
        for &id in ids.iter() {
            if let Some(row) = self.position(rows, id).and_then(|i| rows.get(i)) {
                out.push(*row);
            }
        }
    }
}
