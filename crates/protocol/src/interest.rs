//! Interest management: each player is sent only what it may see, as a
//! delta against exactly what its client holds, within an optional
//! bandwidth budget.
//!
//! A game that declares a view per player (the arena: a 2000 x 2000 square
//! centred on the avatar) has no single room state to diff against: every
//! player holds its own filtered picture of the world. So for such a player
//! the server keeps a [`ViewTracker`]: the rows of the last few snapshots it
//! put in the player's outbox, each one *what the client will hold after
//! applying that snapshot*. After each tick the room:
//!
//! 1. asks the simulation for the player's view and the entities in it, and
//!    picks their rows out of the tick's replicated state ([`RowIndex`]);
//! 2. calls [`ViewEncoder::encode`] with the player's tracker, its baseline
//!    (the last snapshot written to its socket) and those rows. The encoder
//!    finds the rows the client holds at that baseline, decides what this
//!    snapshot carries, encodes the delta, and records the result in the
//!    tracker as the state of this tick.
//!
//! Because every delta is taken against the recorded state at the written
//! baseline, the subtle cases are right by construction: an entity that
//! enters the view is absent from the baseline, so it arrives *created* with
//! full state; one that leaves is in the baseline but not in the view, so it
//! arrives *removed*; one that leaves and comes back between two snapshots
//! the client received is a plain change; and snapshots a slow socket
//! skipped never were a baseline, so nothing depends on them. A baseline no
//! longer held (older than [`VIEW_STATES`] snapshots) gets a full snapshot.
//!
//! **Bandwidth budget.** With a [`Budget`], a snapshot that would exceed
//! `budget` bytes carries only the changes that matter most. Every entity in
//! view with a change the client lacks accumulates its priority (a weight in
//! `MIN_PRIORITY..=1`, the game's ranking, such as [`Nearness`]) each tick;
//! the snapshot takes them by accumulated priority while they fit (the first
//! always goes, so even a budget below one entity makes progress), and an
//! entity sent starts again from zero. An entity that waits keeps, in what
//! the client holds, the row it had at the baseline, and creations may wait
//! too; removals always go. With `n` entities in view, one entity waits at
//! most `2 (n - 1) (1 + 1 / MIN_PRIORITY)` snapshots (each snapshot carries
//! the most urgent change, and an entity can come first only so often
//! before its accumulated priority falls behind one that waits); in
//! practice far less: 40 moving avatars under 50 bytes a snapshot wait at
//! most 20 ticks in the tests. A change carried by a snapshot the socket
//! then skipped is due again from the baseline, and accumulates anew.
//!
//! **Sharing.** Players whose baselines are the same recorded state and
//! whose snapshots carry the same rows share one encoded body, and the
//! state they will hold is recorded once: an encoder serves every player of
//! a room, tick by tick. A baseline state that only one player holds
//! cannot start anyone else's delta, so such players skip the lookup: in
//! an open world, where views rarely coincide, sharing costs next to
//! nothing. Games without views keep using the room-wide
//! [`crate::ServerHistory`], which shares one body per baseline.
//!
//! Everything here is pure: no clock, no I/O, and hash maps only for
//! lookups, never iterated.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use tickwire_sim::{NetId, Quantization, Rect, ReplicatedEntity, Schema, SchemaError};

use crate::history::EncodedBody;
use crate::snapshot::{
    DeltaScratch, EncodeError, MAX_SNAPSHOT_HEADER_BYTES, encode_delta_with, encode_full,
};

/// Snapshots a [`ViewTracker`] remembers: the oldest baseline it can encode
/// a delta against, as the room-wide history does. A fast socket needs two
/// (the written baseline and the snapshot waiting or in flight); the rest
/// are for a socket that falls behind.
pub const VIEW_STATES: usize = crate::HISTORY_TICKS;

/// Smallest priority weight an entity gets, whatever the game says: it sets
/// the bound on how long an entity waits under a budget.
pub const MIN_PRIORITY: f32 = 1.0 / 8.0;

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

/// What one player's client holds, snapshot by snapshot: the memory that
/// lets each delta be taken against exactly the client's baseline.
///
/// Small: a fast socket keeps two states of a few dozen rows each, plus the
/// accumulated priority of the entities a budget holds back.
#[derive(Debug, Default)]
pub struct ViewTracker {
    /// The states put in the player's outbox, oldest first, at most
    /// [`VIEW_STATES`]; older than the written baseline are pruned.
    sent: VecDeque<SentState>,
    /// Entities in view with a change the snapshots did not carry yet,
    /// sorted by id, with their accumulated priority. Empty without a
    /// budget.
    waiting: Vec<(NetId, f32)>,
    /// A pruned state's rows that no other player shares, reused (buffer
    /// and reference count alike) for the next state: a player's steady
    /// state allocates nothing.
    spare: Option<Arc<Vec<ReplicatedEntity>>>,
}

/// One snapshot put in a player's outbox, as the client will hold it.
#[derive(Clone, Debug)]
struct SentState {
    /// The snapshot's tick.
    tick: u32,
    /// Identity of this state within its encoder, for sharing bodies:
    /// players whose baselines have the same identity hold the same rows.
    id: u64,
    /// The rows, sorted by id. Shared with the players that share this
    /// state, and with the encoder for the rest of the tick.
    rows: Arc<Vec<ReplicatedEntity>>,
}

impl ViewTracker {
    /// A tracker for a player who holds nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows the client holds after applying the snapshot of `tick`, if
    /// that snapshot is remembered.
    pub fn state_at(&self, tick: u32) -> Option<&[ReplicatedEntity]> {
        self.sent
            .iter()
            .rev()
            .find(|s| s.tick == tick)
            .map(|s| &s.rows[..])
    }

    /// The newest snapshot's tick and rows.
    pub fn latest(&self) -> Option<(u32, &[ReplicatedEntity])> {
        self.sent.back().map(|s| (s.tick, &s.rows[..]))
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
        let n = self.sent.len();
        if n >= 2 {
            if let Some(state) = self.sent.remove(n - 2) {
                self.recycle(state);
            }
        }
    }

    /// Forgets everything: the next snapshot is full.
    pub fn clear(&mut self) {
        self.sent.clear();
        self.waiting.clear();
    }

    /// Drops the states that can no longer be a baseline: those older than
    /// `baseline`, the last snapshot written to the socket.
    fn prune(&mut self, baseline: Option<u32>) {
        if let Some(b) = baseline {
            while self.sent.front().is_some_and(|s| s.tick < b) {
                if let Some(state) = self.sent.pop_front() {
                    self.recycle(state);
                }
            }
        }
    }

    /// Keeps a dropped state's rows for the next state, unless another
    /// player still shares them.
    fn recycle(&mut self, mut state: SentState) {
        if Arc::get_mut(&mut state.rows).is_some() {
            self.spare = Some(state.rows);
        }
    }

    /// Empty rows for a new state, held by nobody else.
    fn take_spare(&mut self) -> Arc<Vec<ReplicatedEntity>> {
        match self.spare.take() {
            Some(mut rows) => {
                if let Some(buffer) = Arc::get_mut(&mut rows) {
                    buffer.clear();
                    return rows;
                }
                Arc::default()
            }
            None => Arc::default(),
        }
    }

    /// Records `state` as the newest snapshot put in the player's outbox.
    fn push(&mut self, state: SentState) {
        if self.sent.len() >= VIEW_STATES {
            if let Some(old) = self.sent.pop_front() {
                self.recycle(old);
            }
        }
        self.sent.push_back(state);
    }
}

/// What [`ViewEncoder::encode`] produced for one player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewSnapshot {
    /// The body, to follow the player's header
    /// ([`crate::write_snapshot_message`]). Its `baseline` is `None` when
    /// the player's baseline was not held and the snapshot is full.
    pub body: EncodedBody,
    /// Entities in view whose change (or creation) the budget held back.
    pub deferred: usize,
    /// Whether the body was shared with a player encoded earlier this tick.
    pub shared: bool,
}

/// Why a view snapshot was not encoded. Both are bugs of the caller, never a
/// peer's doing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ViewError {
    /// The tracker already holds a snapshot of this tick or a later one.
    #[error("tick {tick} is not after the player's latest snapshot {latest}")]
    NotNewer {
        /// The tick offered.
        tick: u32,
        /// The tracker's newest tick.
        latest: u32,
    },
    /// The rows cannot be encoded (unsorted, unknown kind, out of range).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Encodes every view player's snapshot of a room, tick by tick, sharing
/// what players have in common. One per room.
#[derive(Debug)]
pub struct ViewEncoder {
    /// The schema every row follows.
    schema: Schema,
    /// The tick the shared bodies below belong to.
    tick: Option<u32>,
    /// Identity of the next recorded state.
    next_state: u64,
    /// This tick's encoded bodies by sharing key (see [`share_key`]); only
    /// looked up, never iterated. Cleared when the tick changes.
    index: HashMap<u64, usize, BuildHasherDefault<KeyHasher>>,
    /// This tick's shareable results, indexed by `index`.
    shared: Vec<Shared>,
    /// Reused per player under a budget: the candidates for sending.
    candidates: Vec<Candidate>,
    /// Reused per player under a budget: the candidates, most urgent first.
    order: Vec<u32>,
    /// Reused per player under a budget: the next waiting list.
    waiting: Vec<(NetId, f32)>,
    /// Reused per player: the body being encoded.
    bytes: Vec<u8>,
    /// Reused per player: the delta encoder's working buffers.
    scratch: DeltaScratch,
}

/// A body encoded this tick, with what it was encoded from.
#[derive(Debug)]
struct Shared {
    /// Identity of the baseline state, `None` for a full snapshot.
    base: Option<u64>,
    /// The state it leaves the client with, and its identity.
    state: SentState,
    /// The body.
    body: EncodedBody,
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
    /// An encoder for a game with `schema`.
    pub fn new(schema: Schema) -> Result<Self, SchemaError> {
        schema.validate()?;
        Ok(Self {
            schema,
            tick: None,
            next_state: 0,
            index: HashMap::default(),
            shared: Vec::new(),
            candidates: Vec::new(),
            order: Vec::new(),
            waiting: Vec::new(),
            bytes: Vec::new(),
            scratch: DeltaScratch::default(),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Encodes the snapshot of `tick` for one player and records it in the
    /// player's tracker.
    ///
    /// `baseline` is the last snapshot written to the player's socket (the
    /// one its client is sure to hold); `visible` is every entity the player
    /// may see at `tick`, sorted by id. Without a budget the client will hold
    /// exactly `visible`. With one, `priority` ranks each entity with a
    /// change to send (higher first; clamped into `MIN_PRIORITY..=1`) and is
    /// called only for those.
    ///
    /// ```
    /// # use tickwire_protocol::{ViewEncoder, ViewTracker};
    /// # use tickwire_sim::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
    /// let schema = Schema { game: "demo".into(), kinds: vec![KindDecl {
    ///     id: 0, name: "dot".into(),
    ///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// }] };
    /// let dot = |id, x| ReplicatedEntity { id: NetId(id), kind: 0, values: [x, 0, 0, 0, 0, 0, 0, 0] };
    /// let mut encoder = ViewEncoder::new(schema)?;
    /// let mut player = ViewTracker::new();
    /// // Tick 1: nothing written yet, so a full snapshot of the view.
    /// let first = encoder.encode(&mut player, 1, None, &[dot(1, 0), dot(2, 0)], None, |_| 1.0)?;
    /// assert_eq!(first.body.baseline, None);
    /// // Tick 2, after tick 1 was written: entity 2 left the view, 3 entered.
    /// let second = encoder.encode(&mut player, 2, Some(1), &[dot(1, 16), dot(3, 0)], None, |_| 1.0)?;
    /// assert_eq!(second.body.baseline, Some(1));
    /// assert_eq!(player.state_at(2).unwrap()[..], [dot(1, 16), dot(3, 0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(
        &mut self,
        tracker: &mut ViewTracker,
        tick: u32,
        baseline: Option<u32>,
        visible: &[ReplicatedEntity],
        budget: Option<Budget>,
        mut priority: impl FnMut(&ReplicatedEntity) -> f32,
    ) -> Result<ViewSnapshot, ViewError> {
        if let Some(latest) = tracker.sent.back().map(|s| s.tick) {
            if tick <= latest {
                return Err(ViewError::NotNewer { tick, latest });
            }
        }
        if self.tick != Some(tick) {
            self.tick = Some(tick);
            self.index.clear();
            self.shared.clear();
        }
        tracker.prune(baseline);
        let mut state_rows = tracker.take_spare();
        // Unique by construction, so this never copies.
        let rows = Arc::make_mut(&mut state_rows);
        let base = baseline
            .filter(|&b| b < tick)
            .and_then(|b| tracker.sent.iter().rev().find(|s| s.tick == b));
        let base_rows: &[ReplicatedEntity] = base.map_or(&[], |s| &s.rows[..]);

        // What this snapshot leaves the client with, and a fingerprint of
        // which rows are fresh and which are carried over from the baseline.
        // Only a player whose baseline is shared with another (or who has
        // none) can share this tick's body: a baseline state held by one
        // tracker alone means nobody else's delta starts from it.
        let shareable = base.is_none_or(|b| Arc::strong_count(&b.rows) > 1);
        let (fingerprint, deferred) = match budget {
            None => {
                tracker.waiting.clear();
                rows.extend_from_slice(visible);
                let mut h = FINGERPRINT_SEED;
                if shareable {
                    for e in visible {
                        h = mix(h, u64::from(e.id.0) << 1);
                    }
                }
                (h, 0)
            }
            Some(budget) => self.select(
                &mut tracker.waiting,
                base_rows,
                visible,
                budget,
                &mut priority,
                rows,
            ),
        };

        let base_id = base.map(|s| s.id);
        let base_tick = base.map(|s| s.tick);
        let key = share_key(base_id, fingerprint);
        if let Some(&i) = shareable.then(|| self.index.get(&key)).flatten() {
            if let Some(hit) = self
                .shared
                .get(i)
                .filter(|s| s.base == base_id && s.state.rows[..] == rows[..])
            {
                let body = hit.body.clone();
                let state = hit.state.clone();
                tracker.spare = Some(state_rows);
                tracker.push(state);
                return Ok(ViewSnapshot {
                    body,
                    deferred,
                    shared: true,
                });
            }
        }

        self.bytes.clear();
        let encoded = match base_tick {
            Some(b) => encode_delta_with(
                &mut self.scratch,
                &self.schema,
                b,
                base_rows,
                tick,
                rows,
                &mut self.bytes,
            ),
            None => encode_full(&self.schema, tick, rows, &mut self.bytes),
        };
        if let Err(error) = encoded {
            tracker.spare = Some(state_rows);
            return Err(error.into());
        }
        let state = SentState {
            tick,
            id: self.next_state,
            rows: state_rows,
        };
        self.next_state += 1;
        let body = EncodedBody {
            tick,
            baseline: base_tick,
            bytes: Arc::from(&self.bytes[..]),
        };
        if shareable {
            self.index.entry(key).or_insert(self.shared.len());
            self.shared.push(Shared {
                base: base_id,
                state: state.clone(),
                body: body.clone(),
            });
        }
        tracker.push(state);
        Ok(ViewSnapshot {
            body,
            deferred,
            shared: false,
        })
    }

    /// Under a budget: picks the changes this snapshot carries, fills
    /// `rows` with what the client will hold, updates the tracker's
    /// waiting list, and returns the rows' fingerprint and how many changes
    /// wait.
    fn select(
        &mut self,
        waiting_list: &mut Vec<(NetId, f32)>,
        base: &[ReplicatedEntity],
        visible: &[ReplicatedEntity],
        budget: Budget,
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
        rows: &mut Vec<ReplicatedEntity>,
    ) -> (u64, usize) {
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
                Some(old) if old.kind == e.kind => self.change_cost(old, e),
                _ => {
                    let cost = self.creation_cost(e, prev_created);
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
        used += 2 * base.len().saturating_sub(b);

        // Highest accumulated priority first; ties by id, so the choice is
        // deterministic.
        let candidates = &mut self.candidates;
        self.order.clear();
        self.order.extend(0..candidates.len() as u32);
        self.order.sort_unstable_by(|&x, &y| {
            match (candidates.get(x as usize), candidates.get(y as usize)) {
                (Some(x), Some(y)) => y.priority.total_cmp(&x.priority).then(x.id.cmp(&y.id)),
                _ => std::cmp::Ordering::Equal,
            }
        });
        let mut any = false;
        for &i in &self.order {
            if let Some(c) = candidates.get_mut(i as usize) {
                if !any || used + c.cost <= budget.bytes_per_snapshot {
                    used += c.cost;
                    c.send = true;
                    any = true;
                }
            }
        }

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
        std::mem::swap(waiting_list, &mut self.waiting);
        (h, deferred)
    }

    /// Estimated bytes of the change from `old` to `new`: 0 when nothing
    /// changed.
    fn change_cost(&self, old: &ReplicatedEntity, new: &ReplicatedEntity) -> usize {
        let Some(kind) = self.schema.kind(new.kind) else {
            return 1;
        };
        let mut cost = 0;
        for (f, field) in kind.fields.iter().enumerate() {
            let (o, n) = (old.values[f], new.values[f]);
            if o != n {
                let delta = match field.quant {
                    Quantization::Angle { steps } => {
                        let steps = i64::from(steps);
                        let d = (i64::from(n) - i64::from(o)).rem_euclid(steps);
                        (if d > steps / 2 { d - steps } else { d }) as i32
                    }
                    _ => n.wrapping_sub(o),
                };
                cost += varint_len(zigzag(delta));
            }
        }
        // A changed entity also costs its share of the selection and masks.
        if cost > 0 { cost + 1 } else { 0 }
    }

    /// Estimated bytes of creating `e` after a creation of id `prev`.
    fn creation_cost(&self, e: &ReplicatedEntity, prev: u32) -> usize {
        let fields = self.schema.kind(e.kind).map_or(0, |k| k.fields.len());
        let values: usize = e.values[..fields.min(e.values.len())]
            .iter()
            .map(|&v| varint_len(zigzag(v)))
            .sum();
        varint_len(e.id.0.wrapping_sub(prev)) + 1 + values
    }
}

/// Bytes of `v` as a varint.
fn varint_len(v: u32) -> usize {
    match v {
        0..=250 => 1,
        251..=65_535 => 3,
        _ => 5,
    }
}

/// The zigzag map of signed to unsigned integers.
fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

const FINGERPRINT_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// One step of a fast, non-cryptographic fingerprint. A collision costs
/// only a missed share: a hit is confirmed by comparing rows.
#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// The sharing key of a body: its baseline's identity and its rows'
/// fingerprint.
fn share_key(base: Option<u64>, fingerprint: u64) -> u64 {
    mix(mix(fingerprint, base.map_or(u64::MAX, |b| b)), 0x9e37_79b9)
}

/// A hasher for keys that are already well mixed: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

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
    first: u32,
    /// `table[id - first]` is the row of that id, or `u32::MAX`; empty when
    /// the ids are too sparse.
    table: Vec<u32>,
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

/// Ranks entities by how near they are to the centre of a view: the
/// "nearest first" priority of a budget, for schemas with fixed-point
/// fields named `x` and `y`.
#[derive(Clone, Debug)]
pub struct Nearness {
    /// Per kind: the `x` and `y` field indices and their scales.
    fields: Vec<Option<(usize, usize, f32, f32)>>,
    /// The view's centre.
    centre: (f32, f32),
    /// The view's half diagonal, for scaling distances.
    reach: f32,
}

impl Nearness {
    /// Nearness to the centre of `view` for rows of `schema`.
    pub fn new(schema: &Schema, view: Rect) -> Self {
        let fields = schema
            .kinds
            .iter()
            .map(|kind| {
                let find = |name: &str| {
                    kind.fields
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.name == name)
                        .and_then(|(i, f)| match f.quant {
                            Quantization::Fixed { scale } => Some((i, scale as f32)),
                            _ => None,
                        })
                };
                let (x, sx) = find("x")?;
                let (y, sy) = find("y")?;
                Some((x, y, sx, sy))
            })
            .collect();
        let centre = (
            (view.min.x + view.max.x) * 0.5,
            (view.min.y + view.max.y) * 0.5,
        );
        let (hx, hy) = (
            (view.max.x - view.min.x) * 0.5,
            (view.max.y - view.min.y) * 0.5,
        );
        Self {
            fields,
            centre,
            reach: (hx * hx + hy * hy).sqrt().max(f32::MIN_POSITIVE),
        }
    }

    /// A weight in `MIN_PRIORITY..=1`: 1 at the centre, falling with
    /// distance; 1 for an entity without a position.
    pub fn priority(&self, e: &ReplicatedEntity) -> f32 {
        let Some(&Some((x, y, sx, sy))) = self.fields.get(usize::from(e.kind)) else {
            return 1.0;
        };
        let dx = e.values[x] as f32 / sx - self.centre.0;
        let dy = e.values[y] as f32 / sy - self.centre.1;
        let d = (dx * dx + dy * dy).sqrt() / self.reach;
        (1.0 / (1.0 + 4.0 * d)).clamp(MIN_PRIORITY, 1.0)
    }
}
