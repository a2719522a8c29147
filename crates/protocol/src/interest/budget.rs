//! The bandwidth budget: which changes a snapshot carries when they do not
//! all fit.
//!
//! With a [`Budget`], a snapshot that would exceed `budget` bytes carries
//! only the changes that matter most. Every entity in view with a change
//! the client lacks accumulates its priority (a weight in
//! `MIN_PRIORITY..=1`, the game's ranking, such as
//! the game's `Game::priority`, such as nearness to the view's centre) each tick; the snapshot takes them by
//! accumulated priority while they fit (the first always goes, so even a
//! budget below one entity makes progress), and an entity sent starts again
//! from zero. An entity that waits keeps, in what the client holds, the row
//! it had at the baseline, and creations may wait too; removals always go.
//! With `n` entities in view, one entity waits at most
//! `2 (n - 1) (1 + 1 / MIN_PRIORITY)` snapshots (each snapshot carries the
//! most urgent change, and an entity can come first only so often before
//! its accumulated priority falls behind one that waits); in practice far
//! less: 40 moving avatars under 50 bytes a snapshot wait at most 20 ticks
//! in the tests. A change carried by a snapshot the socket then skipped is
//! due again from the baseline, and accumulates anew.

use tickwire_types::{NetId, Quantization, ReplicatedEntity, Schema};

use super::encoder::ViewEncoder;
use super::share::FINGERPRINT_SEED;
use super::{MIN_PRIORITY, mix};
use crate::codec::{varint_len, zigzag};
use crate::rules::angle_delta;
use crate::snapshot::MAX_SNAPSHOT_HEADER_BYTES;

/// A player's bandwidth budget for one snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most bytes one snapshot message should take, header included. The
    /// size of each change is estimated before encoding, so a snapshot may
    /// pass this by a few bytes; it always carries at least one change.
    pub bytes_per_snapshot: usize,
}

impl Budget {
    /// The per-snapshot share of `bytes_per_second` at `tick_rate`
    /// snapshots per second.
    pub fn per_second(bytes_per_second: u64, tick_rate: u32) -> Self {
        let per = bytes_per_second / u64::from(tick_rate.max(1));
        Self {
            bytes_per_snapshot: usize::try_from(per).unwrap_or(usize::MAX),
        }
    }
}

/// The budget's buffers, reused from player to player: one player's
/// selection.
#[derive(Debug, Default)]
pub(super) struct Selection {
    /// The entities in view with something to send, in id order: what the
    /// snapshot chooses from.
    candidates: Vec<Candidate>,
    /// The candidates' urgency keys (see [`urgency_key`]), sorted: most
    /// urgent first.
    order: Vec<u64>,
    /// The next waiting list, built here and then swapped with the
    /// tracker's, so that neither allocates in the steady state.
    waiting: Vec<(NetId, f32)>,
}

/// One entity with something to send, under a budget.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// Its id.
    id: NetId,
    /// Accumulated priority, this tick's weight included.
    priority: f32,
    /// Estimated bytes of its change or creation.
    cost: usize,
    /// Whether this snapshot carries it.
    send: bool,
}

impl ViewEncoder {
    /// Under a budget: picks the changes this snapshot carries, fills
    /// `rows` with what the client will hold, updates the tracker's
    /// waiting list, and returns the rows' fingerprint and how many changes
    /// wait.
    pub(super) fn select(
        &mut self,
        waiting_list: &mut Vec<(NetId, f32)>,
        base: &[ReplicatedEntity],
        visible: &[ReplicatedEntity],
        budget: Budget,
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
        rows: &mut Vec<ReplicatedEntity>,
    ) -> (u64, usize) {
        let selection = &mut self.selection;
        let used = selection.gather(&self.schema, waiting_list, base, visible, priority);
        selection.choose(used, budget);
        let (h, deferred) = selection.fill(base, visible, rows);
        std::mem::swap(waiting_list, &mut selection.waiting);
        (h, deferred)
    }
}

impl Selection {
    /// Gathers the candidates: each entity in `visible` whose row differs
    /// from the client's in `base`, with its estimated cost and its
    /// priority accumulated from `waiting_list`. Returns the bytes the
    /// snapshot takes whatever it carries: the header, the counts, and
    /// every removal.
    #[inline]
    fn gather(
        &mut self,
        schema: &Schema,
        waiting_list: &[(NetId, f32)],
        base: &[ReplicatedEntity],
        visible: &[ReplicatedEntity],
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
    ) -> usize {
        // Fixed costs first: the header, the counts, and every removal.
        let mut used = MAX_SNAPSHOT_HEADER_BYTES + 12 + base.len().div_ceil(8);
        self.candidates.clear();
        let mut waiting = waiting_list.iter().peekable();
        let mut b = 0;
        let mut prev_created = 0u32;
        for e in visible {
            while base.get(b).is_some_and(|x| x.id < e.id) {
                used += 2; // removed
                b += 1;
            }
            let held = base.get(b).filter(|x| x.id == e.id);
            if held.is_some() {
                b += 1;
            }
            let cost = match held {
                Some(old) if old.kind == e.kind => change_cost(schema, old, e),
                _ => {
                    let cost = creation_cost(schema, e, prev_created);
                    prev_created = e.id.0;
                    cost
                }
            };
            if cost == 0 {
                continue; // up to date: nothing to send
            }
            let mut acc = 0.0;
            while let Some(&&(id, a)) = waiting.peek() {
                if id > e.id {
                    break;
                }
                if id == e.id {
                    acc = a;
                }
                waiting.next();
            }
            let weight = priority(e);
            let weight = if weight.is_nan() {
                MIN_PRIORITY
            } else {
                weight.clamp(MIN_PRIORITY, 1.0)
            };
            self.candidates.push(Candidate {
                id: e.id,
                priority: acc + weight,
                cost,
                send: false,
            });
        }
        used + 2 * base.len().saturating_sub(b)
    }

    /// Marks the candidates this snapshot carries: by accumulated priority
    /// while they fit in `budget` after the `used` bytes, the first always.
    #[inline]
    fn choose(&mut self, mut used: usize, budget: Budget) {
        // Highest accumulated priority first; ties by id, so the choice is
        // deterministic. Candidates are in id order, so each is keyed by its
        // priority (descending) then its position, packed in one integer.
        let candidates = &mut self.candidates;
        self.order.clear();
        self.order.extend(
            candidates
                .iter()
                .enumerate()
                .map(|(i, c)| urgency_key(c.priority, i as u32)),
        );
        self.order.sort_unstable();
        let mut any = false;
        for &key in &self.order {
            if let Some(c) = candidates.get_mut(key as u32 as usize) {
                if !any || used + c.cost <= budget.bytes_per_snapshot {
                    used += c.cost;
                    c.send = true;
                    any = true;
                }
            }
        }
    }

    /// Fills `rows` with what the client will hold and `waiting` with the
    /// candidates not carried; returns the rows' fingerprint and how many
    /// wait.
    #[inline]
    fn fill(
        &mut self,
        base: &[ReplicatedEntity],
        visible: &[ReplicatedEntity],
        rows: &mut Vec<ReplicatedEntity>,
    ) -> (u64, usize) {
        // The rows: fresh for what is sent or unchanged, the baseline's for
        // what waits, nothing for a creation that waits.
        self.waiting.clear();
        let mut deferred = 0;
        let mut h = FINGERPRINT_SEED;
        let mut candidates = self.candidates.iter().peekable();
        let mut b = 0;
        for e in visible {
            while base.get(b).is_some_and(|x| x.id < e.id) {
                b += 1;
            }
            let held = base.get(b).filter(|x| x.id == e.id);
            if held.is_some() {
                b += 1;
            }
            let waits = match candidates.next_if(|c| c.id == e.id) {
                Some(c) if !c.send => {
                    self.waiting.push((c.id, c.priority));
                    deferred += 1;
                    true
                }
                _ => false,
            };
            match (waits, held) {
                (false, _) => {
                    rows.push(*e);
                    h = mix(h, u64::from(e.id.0) << 1);
                }
                (true, Some(old)) if old.kind == e.kind => {
                    rows.push(*old);
                    h = mix(h, u64::from(e.id.0) << 1 | 1);
                }
                (true, _) => {}
            }
        }
        (h, deferred)
    }
}

/// Estimated bytes of the change from `old` to `new`: 0 when nothing
/// changed.
fn change_cost(schema: &Schema, old: &ReplicatedEntity, new: &ReplicatedEntity) -> usize {
    let Some(kind) = schema.kind(new.kind) else {
        return 1;
    };
    let mut cost = 0;
    for (f, field) in kind.fields.iter().enumerate() {
        let (o, n) = (old.values[f], new.values[f]);
        if o != n {
            let delta = match field.quant {
                Quantization::Angle { steps } => angle_delta(o, n, steps),
                _ => n.wrapping_sub(o),
            };
            cost += varint_len(zigzag(delta));
        }
    }
    // A changed entity also costs its share of the selection and masks.
    if cost > 0 { cost + 1 } else { 0 }
}

/// Estimated bytes of creating `e` after a creation of id `prev`.
fn creation_cost(schema: &Schema, e: &ReplicatedEntity, prev: u32) -> usize {
    let fields = schema.kind(e.kind).map_or(0, |k| k.fields.len());
    let values: usize = e.values[..fields.min(e.values.len())]
        .iter()
        .map(|&v| varint_len(zigzag(v)))
        .sum();
    varint_len(e.id.0.wrapping_sub(prev)) + 1 + values
}

/// A sort key that orders by `priority` descending, in the order of
/// `f32::total_cmp`, then by `position` ascending.
fn urgency_key(priority: f32, position: u32) -> u64 {
    // `total_cmp`'s own map of a float's bits to an ordered integer.
    let bits = priority.to_bits() as i32;
    let ordered = bits ^ (((bits >> 31) as u32) >> 1) as i32;
    // As unsigned, then descending.
    let descending = !((ordered as u32) ^ 0x8000_0000);
    (u64::from(descending) << 32) | u64::from(position)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The packed urgency key sorts exactly as the comparison it
        /// replaces: priority descending by `total_cmp`, then position.
        #[test]
        fn urgency_keys_sort_as_priority_then_position(
            items in proptest::collection::vec((any::<u32>(), 0u32..64), 0..40),
        ) {
            let items: Vec<(f32, u32)> = items
                .iter()
                .map(|&(bits, pos)| (f32::from_bits(bits), pos))
                .chain([(1.0, 3), (1.0, 1), (0.125, 2), (f32::NAN, 0), (-0.0, 5), (0.0, 4)])
                .collect();
            let mut by_key: Vec<u64> = items.iter().map(|&(p, i)| urgency_key(p, i)).collect();
            by_key.sort_unstable();
            let mut by_cmp = items.clone();
            by_cmp.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            let expected: Vec<u64> = by_cmp.iter().map(|&(p, i)| urgency_key(p, i)).collect();
            prop_assert_eq!(by_key, expected);
            for w in by_cmp.windows(2) {
                prop_assert!(urgency_key(w[0].0, w[0].1) <= urgency_key(w[1].0, w[1].1));
            }
        }
    }
}
