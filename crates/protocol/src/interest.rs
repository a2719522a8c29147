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
//! 1. records the tick's replicated state once ([`ViewEncoder::record`]):
//!    the encoder keeps the last [`VIEW_STATES`] ticks' rows and works out
//!    how each row changed since the tick before (its mask and encoded
//!    offsets), which is every up-to-date player's delta for that entity;
//! 2. for each player, asks the simulation for the view and the ids of the
//!    entities in it, and calls [`ViewEncoder::encode_ids`] with the
//!    player's tracker, its baseline (the last snapshot written to its
//!    socket) and those ids. The encoder finds what the client holds at
//!    that baseline, decides what this snapshot carries, encodes the delta,
//!    and records the result in the tracker as the state of this tick.
//!
//! A state with nothing held back is kept as the sorted ids in view, inline
//! in the tracker: the rows are the record's. The common delta, from such a
//! state of the tick just before, is then a merge of two short id lists
//! plus a copy of each survivor's change worked out in step 1; touching
//! little per-player memory is what makes ten thousand players a tick
//! affordable. Anything else (a slow socket's older baseline, a budget, a
//! row that does not encode) takes the general way: the baseline's rows,
//! the view's rows, and a delta between them, with the same bytes.
//! [`ViewEncoder::encode`] is that general way for rows given directly.
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
//! lookups (and pruning), never iterated for output.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use tickwire_types::{NetId, Quantization, Rect, ReplicatedEntity, Schema, SchemaError};

use crate::Limits;
use crate::history::EncodedBody;
use crate::snapshot::{
    DeltaScratch, EncodeError, MAX_SNAPSHOT_HEADER_BYTES, encode_delta_with, encode_full,
    put_created, put_delta_body, put_entity_delta, row_in_range, write_snapshot_message,
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
/// Small: a fast socket keeps two states. A state with nothing held back is
/// the ids of the rows in view (a few dozen `u32`s), which point into the
/// room's rows of that tick, kept once by the [`ViewEncoder`]; only a state
/// in which a budget held a change back keeps its rows.
#[derive(Debug, Default)]
pub struct ViewTracker {
    /// The states put in the player's outbox, oldest first, at most
    /// [`VIEW_STATES`]; older than the written baseline are pruned.
    sent: SentStates,
    /// Entities in view with a change the snapshots did not carry yet,
    /// sorted by id, with their accumulated priority. Empty without a
    /// budget.
    waiting: Vec<(NetId, f32)>,
    /// A pruned state's rows that no other player shares, reused (buffer
    /// and reference count alike) for the next state: a player's steady
    /// state allocates nothing.
    spare_rows: Option<Arc<Vec<ReplicatedEntity>>>,
}

/// A tracker's states, oldest first. The newest two live in the tracker
/// itself: a socket that keeps up needs exactly those (the written baseline
/// and the snapshot after it), so reading a player's baseline touches the
/// tracker and nothing else. Older ones, for a socket that falls behind,
/// spill to the heap. The two slots are a ring: dropping the older one
/// moves nothing, and a fresh state's ids are written into its slot in
/// place.
#[derive(Debug, Default)]
struct SentStates {
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
    fn iter(&self) -> impl DoubleEndedIterator<Item = &SentState> {
        self.older
            .iter()
            .chain((0..self.count).map(move |k| self.slot(k)))
    }

    fn back(&self) -> Option<&SentState> {
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
struct SentState {
    /// The snapshot's tick.
    tick: u32,
    /// Identity of this state within its encoder, for sharing bodies:
    /// players whose baselines have the same identity hold the same rows.
    id: u64,
    /// The rows. Shared with the players that share this state, and with
    /// the encoder for the rest of the tick.
    held: Held,
}

/// The rows a client holds after one snapshot, sorted by id.
#[derive(Clone, Debug)]
enum Held {
    /// Exactly the room's rows of these ids at the state's tick, as
    /// recorded by [`ViewEncoder::record`]: nothing was held back. Kept in
    /// the state itself, so that reading a player's baseline touches one
    /// place in memory.
    Fresh(Ids),
    /// Any rows: some change was held back by a budget, or the rows were
    /// not picked from a recorded tick ([`ViewEncoder::encode`]).
    Rows(Arc<Vec<ReplicatedEntity>>),
}

/// Ids a fresh state holds inline: a typical view and then some.
const INLINE_IDS: usize = 40;

/// The sorted ids of a fresh state: inline when few, as most views are.
#[derive(Clone, Debug)]
enum Ids {
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
    fn new(ids: &[NetId]) -> Self {
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
    fn as_slice(&self) -> &[NetId] {
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
    fn prune(&mut self, baseline: Option<u32>) {
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
    fn take_spare_rows(&mut self) -> Arc<Vec<ReplicatedEntity>> {
        if let Some(mut buffer) = self.spare_rows.take() {
            if let Some(rows) = Arc::get_mut(&mut buffer) {
                rows.clear();
                return buffer;
            }
        }
        Arc::default()
    }

    /// The state of `tick`, if remembered.
    fn state(&self, tick: u32) -> Option<&SentState> {
        self.sent.iter().rev().find(|s| s.tick == tick)
    }

    /// Records `state` as the newest snapshot put in the player's outbox.
    fn push(&mut self, state: SentState) {
        self.make_room();
        self.sent.push_back(state);
    }

    /// Records a fresh state of `ids` (sorted) as the newest snapshot put
    /// in the player's outbox.
    fn push_fresh(&mut self, tick: u32, id: u64, ids: impl ExactSizeIterator<Item = NetId>) {
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

/// What [`ViewEncoder::encode_message`] wrote for one player.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewMessage {
    /// The snapshot's tick: the newest recorded.
    pub tick: u32,
    /// The tick it is a delta against, `None` for a full snapshot.
    pub baseline: Option<u32>,
    /// Entities in view whose change (or creation) the budget held back.
    pub deferred: usize,
    /// Whether the body was shared with a player encoded earlier this tick.
    pub shared: bool,
}

/// One player's body as encoded, before it is handed out.
#[derive(Debug)]
struct Encoded {
    /// The tick it is a delta against, `None` for a full snapshot.
    baseline: Option<u32>,
    /// Entities in view whose change the budget held back.
    deferred: usize,
    /// Whether the body is another player's.
    shared: bool,
    /// The body, when it is kept for sharing; otherwise it is in
    /// `ViewEncoder::bytes`.
    body: Option<Arc<[u8]>>,
}

/// Why a view snapshot was not encoded. All are bugs of the caller, never a
/// peer's doing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ViewError {
    /// The tracker (or the encoder's record) already holds this tick or a
    /// later one.
    #[error("tick {tick} is not after the latest one {latest}")]
    NotNewer {
        /// The tick offered.
        tick: u32,
        /// The newest tick held.
        latest: u32,
    },
    /// [`ViewEncoder::encode_ids`] before any [`ViewEncoder::record`].
    #[error("no tick has been recorded")]
    NotRecorded,
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
    /// The room's rows of the last [`VIEW_STATES`] recorded ticks, oldest
    /// first: what the players' fresh states point into.
    tables: VecDeque<TickRows>,
    /// Per row of the newest table, its change since the table before: by
    /// id less the first id when the table's ids are dense (its index is a
    /// table), else by position.
    changes: Vec<RowChange>,
    /// Whether `changes` is by id.
    changes_by_id: bool,
    /// The encoded field offsets of `changes`.
    change_bytes: Vec<u8>,
    /// Fresh states more than one player holds (a body was shared), with
    /// their ticks: only they can start a delta another player shares.
    shared_states: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    /// Reused per player: the ids in view.
    view_ids: Vec<NetId>,
    /// Reused per player: what the client will hold after a common delta,
    /// sorted ids.
    next_ids: Vec<NetId>,
    /// Reused per player: the survivors of a common delta, sorted ids.
    kept_ids: Vec<NetId>,
    /// This player's mark in `changes` (see `RowChange::stamp`); even,
    /// advanced by two per player.
    epoch: u32,
    /// Reused per player: rows picked from a table (the view, or a fresh
    /// baseline), when a delta takes the general way.
    view_rows: Vec<ReplicatedEntity>,
    /// Reused per player: a fresh baseline's rows, picked from its table.
    base_rows: Vec<ReplicatedEntity>,
    /// Reused per player: the removed ids of a delta from a fresh baseline.
    removed: Vec<NetId>,
    /// Reused per player: its changed survivors, `(index, mask)`.
    changed: Vec<(u32, u8)>,
    /// Reused per player: its changed survivors' offsets, encoded.
    deltas: Vec<u8>,
    /// Reused per player: its created rows, as positions in the newest
    /// table.
    created: Vec<u32>,
    /// Reused per player under a budget: the candidates for sending.
    candidates: Vec<Candidate>,
    /// Reused per player under a budget: the candidates, most urgent first.
    order: Vec<u64>,
    /// Reused per player under a budget: the next waiting list.
    waiting: Vec<(NetId, f32)>,
    /// Reused per player: the body being encoded.
    bytes: Vec<u8>,
    /// Reused per player: the delta encoder's working buffers.
    scratch: DeltaScratch,
}

/// The room's replicated rows of one recorded tick.
#[derive(Debug, Default)]
struct TickRows {
    /// The tick.
    tick: u32,
    /// Its rows, sorted by id.
    rows: Vec<ReplicatedEntity>,
    /// Where each id's row is.
    index: RowIndex,
}

impl TickRows {
    /// The row of `id`, if present.
    fn row(&self, id: NetId) -> Option<&ReplicatedEntity> {
        self.index
            .position(&self.rows, id)
            .and_then(|i| self.rows.get(i))
    }
}

/// How one row of the newest recorded tick changed since the tick recorded
/// before it: computed once per tick, used by every player whose baseline
/// is a fresh state of that earlier tick.
///
/// Looked up by id (see `ViewEncoder::changes`) with one load: the row's
/// position, the mark of the player being encoded and, when short (a
/// moving avatar's two or three bytes), its encoded offsets are right here.
#[derive(Clone, Copy, Debug, Default)]
struct RowChange {
    /// Which player last had this entity in view (`ViewEncoder::epoch`) or
    /// in view and in its baseline (`epoch + 1`): a view marked this way
    /// needs no sort.
    stamp: u32,
    /// The row's position in the newest table.
    pos: u32,
    /// Its encoded field offsets when at most [`INLINE_DELTA`] bytes;
    /// otherwise where they start in `change_bytes`, little-endian.
    inline: [u8; INLINE_DELTA],
    /// How many bytes the offsets take.
    len: u8,
    /// The fields that changed; 0 when none did.
    mask: u8,
    /// [`PRESENT`], [`IN_PREVIOUS`], [`SAME_KIND`], [`VALID`].
    flags: u8,
}

/// Encoded offsets kept in a [`RowChange`] itself.
const INLINE_DELTA: usize = 4;

/// The id is in the newest table (a table by id has gaps).
const PRESENT: u8 = 8;

/// The id was in the previous recorded tick.
const IN_PREVIOUS: u8 = 1;
/// ... with the same kind, so a client that holds it gets a change.
const SAME_KIND: u8 = 2;
/// The row's kind is declared and every field lies in its range: it
/// encodes without error.
const VALID: u8 = 4;

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
            tables: VecDeque::new(),
            changes: Vec::new(),
            changes_by_id: false,
            change_bytes: Vec::new(),
            shared_states: HashMap::default(),
            view_ids: Vec::new(),
            next_ids: Vec::new(),
            kept_ids: Vec::new(),
            epoch: 0,
            view_rows: Vec::new(),
            base_rows: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            deltas: Vec::new(),
            created: Vec::new(),
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

    /// Records the room's replicated state after `tick` (every row, sorted
    /// by id, as `Simulation::replicated` gives it), for
    /// [`ViewEncoder::encode_ids`]. Once per tick, before the players'
    /// snapshots. Keeps the last [`VIEW_STATES`] ticks, and works out once
    /// how each row changed since the tick recorded before, which is the
    /// delta of every player whose baseline is that tick.
    pub fn record(&mut self, tick: u32, rows: &[ReplicatedEntity]) -> Result<(), ViewError> {
        if let Some(latest) = self.tables.back().map(|t| t.tick) {
            if tick <= latest {
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
            let kind = self.schema.kind(row.kind);
            let mut change = RowChange {
                pos: pos as u32,
                flags: PRESENT,
                ..RowChange::default()
            };
            if kind.is_some_and(|k| row_in_range(k, row)) {
                change.flags |= VALID;
            }
            if let Some(old) = previous.get(p).filter(|x| x.id == row.id) {
                change.flags |= IN_PREVIOUS;
                if let (Some(kind), true) = (kind, old.kind == row.kind) {
                    change.flags |= SAME_KIND;
                    let start = self.change_bytes.len();
                    match put_entity_delta(kind, old, row, &mut self.change_bytes) {
                        Ok(mask) => change.mask = mask,
                        Err(_) => change.flags &= !VALID,
                    }
                    let len = self.change_bytes.len() - start;
                    change.len = len as u8;
                    if let Some(bytes) = self
                        .change_bytes
                        .get(start..)
                        .filter(|_| len <= INLINE_DELTA)
                    {
                        change.inline[..len].copy_from_slice(bytes);
                        self.change_bytes.truncate(start);
                    } else {
                        change.inline = (start as u32).to_le_bytes();
                    }
                }
            }
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
        // A fresh state older than every record can no longer be a
        // baseline.
        let oldest = self.tables.front().map_or(tick, |t| t.tick);
        self.shared_states.retain(|_, t| *t >= oldest);
        Ok(())
    }

    /// The rows `tracker`'s client holds after applying the snapshot of
    /// `tick`, if that snapshot is remembered.
    pub fn state_at(&self, tracker: &ViewTracker, tick: u32) -> Option<Vec<ReplicatedEntity>> {
        let state = tracker.state(tick)?;
        let mut rows = Vec::new();
        self.held_rows(state, &mut rows).then_some(rows)
    }

    /// Appends the rows `state` holds to `out`; false when they are no
    /// longer known (a fresh state older than every recorded tick).
    fn held_rows(&self, state: &SentState, out: &mut Vec<ReplicatedEntity>) -> bool {
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

    /// Whether the fresh state `id` is held by more than one player.
    fn is_shared(&self, id: u64) -> bool {
        !self.shared_states.is_empty() && self.shared_states.contains_key(&state_key(id))
    }

    /// The recorded rows of `tick`.
    fn table(&self, tick: u32) -> Option<&TickRows> {
        self.tables.iter().rev().find(|t| t.tick == tick)
    }

    /// Checks `tick` is newer than what `tracker` holds, starts a new tick's
    /// sharing, and drops the states older than `baseline`.
    fn begin(
        &mut self,
        tracker: &mut ViewTracker,
        tick: u32,
        baseline: Option<u32>,
    ) -> Result<(), ViewError> {
        if let Some(latest) = tracker.latest_tick() {
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
        Ok(())
    }

    /// Encodes the snapshot of the newest recorded tick for one player who
    /// sees the entities `ids` (in any order; ids not recorded are
    /// skipped), and records it in the player's tracker: what
    /// [`ViewEncoder::encode`] does with the rows of `ids`, with the rows
    /// picked from the record. `baseline`, `budget` and `priority` are as
    /// there.
    ///
    /// This is the room's way: what the client holds is kept as ids into
    /// the record, and the common delta (from the tick recorded just
    /// before, nothing held back) is put together from the changes worked
    /// out once per tick by [`ViewEncoder::record`].
    ///
    /// ```
    /// # use tickwire_protocol::{ViewEncoder, ViewTracker};
    /// # use tickwire_types::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
    /// let schema = Schema { game: "demo".into(), kinds: vec![KindDecl {
    ///     id: 0, name: "dot".into(),
    ///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// }] };
    /// let dot = |id, x| ReplicatedEntity { id: NetId(id), kind: 0, values: [x, 0, 0, 0, 0, 0, 0, 0] };
    /// let mut encoder = ViewEncoder::new(schema)?;
    /// let mut player = ViewTracker::new();
    /// encoder.record(1, &[dot(1, 0), dot(2, 0), dot(3, 0)])?;
    /// let first = encoder.encode_ids(&mut player, None, &[NetId(2), NetId(1)], None, |_| 1.0)?;
    /// assert_eq!(first.body.baseline, None);
    /// encoder.record(2, &[dot(1, 16), dot(2, 0), dot(3, 0)])?;
    /// let second = encoder.encode_ids(&mut player, Some(1), &[NetId(1), NetId(3)], None, |_| 1.0)?;
    /// assert_eq!(second.body.baseline, Some(1));
    /// assert_eq!(encoder.state_at(&player, 2).unwrap(), [dot(1, 16), dot(3, 0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_ids(
        &mut self,
        tracker: &mut ViewTracker,
        baseline: Option<u32>,
        ids: &[NetId],
        budget: Option<Budget>,
        mut priority: impl FnMut(&ReplicatedEntity) -> f32,
    ) -> Result<ViewSnapshot, ViewError> {
        let (tick, encoded) =
            self.encode_recorded(tracker, baseline, ids, budget, &mut priority)?;
        Ok(self.snapshot(tick, encoded))
    }

    /// [`ViewEncoder::encode_ids`], written straight into one snapshot
    /// message: appends the player's header (`last_input`, as
    /// [`crate::write_snapshot_message`]) and the body to `out`, reserving
    /// exactly what they take. A room's frame is then one allocation, and the
    /// body is kept apart only when another player may share it.
    ///
    /// ```
    /// # use tickwire_protocol::{ViewEncoder, ViewTracker, write_snapshot_message};
    /// # use tickwire_types::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
    /// # let schema = Schema { game: "demo".into(), kinds: vec![KindDecl {
    /// #     id: 0, name: "dot".into(),
    /// #     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// # }] };
    /// # let dot = |id, x| ReplicatedEntity { id: NetId(id), kind: 0, values: [x, 0, 0, 0, 0, 0, 0, 0] };
    /// let (mut a, mut b) = (ViewEncoder::new(schema.clone())?, ViewEncoder::new(schema)?);
    /// let (mut p, mut q) = (ViewTracker::new(), ViewTracker::new());
    /// a.record(1, &[dot(1, 0), dot(2, 0)])?;
    /// b.record(1, &[dot(1, 0), dot(2, 0)])?;
    /// let mut frame = Vec::new();
    /// let out = a.encode_message(&mut p, None, &[NetId(1)], None, |_| 1.0, Some(4), &mut frame)?;
    /// assert_eq!(out.baseline, None);
    /// let body = b.encode_ids(&mut q, None, &[NetId(1)], None, |_| 1.0)?.body;
    /// let mut expected = Vec::new();
    /// write_snapshot_message(&mut expected, Some(4), &body.bytes);
    /// assert_eq!(frame, expected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn encode_message(
        &mut self,
        tracker: &mut ViewTracker,
        baseline: Option<u32>,
        ids: &[NetId],
        budget: Option<Budget>,
        mut priority: impl FnMut(&ReplicatedEntity) -> f32,
        last_input: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Result<ViewMessage, ViewError> {
        let (tick, encoded) =
            self.encode_recorded(tracker, baseline, ids, budget, &mut priority)?;
        let body = encoded.body.as_deref().unwrap_or(&self.bytes);
        write_snapshot_message(out, last_input, body);
        Ok(ViewMessage {
            tick,
            baseline: encoded.baseline,
            deferred: encoded.deferred,
            shared: encoded.shared,
        })
    }

    /// What [`ViewEncoder::encode_ids`] and [`ViewEncoder::encode_message`]
    /// share: the body of the newest recorded tick, and that tick.
    fn encode_recorded(
        &mut self,
        tracker: &mut ViewTracker,
        baseline: Option<u32>,
        ids: &[NetId],
        budget: Option<Budget>,
        priority: &mut impl FnMut(&ReplicatedEntity) -> f32,
    ) -> Result<(u32, Encoded), ViewError> {
        let tick = self
            .tables
            .back()
            .map(|t| t.tick)
            .ok_or(ViewError::NotRecorded)?;
        self.begin(tracker, tick, baseline)?;
        let mut view_ids = std::mem::take(&mut self.view_ids);
        view_ids.clear();
        view_ids.extend_from_slice(ids);
        let out = match budget {
            None => self.encode_fresh(tracker, tick, baseline, &mut view_ids),
            Some(_) => Ok(None),
        };
        let out = match out {
            Ok(Some(out)) => Ok(out),
            Ok(None) => {
                view_ids.sort_unstable();
                let mut visible = std::mem::take(&mut self.view_rows);
                visible.clear();
                if let Some(table) = self.tables.back() {
                    visible.extend(view_ids.iter().filter_map(|&id| table.row(id)));
                }
                let out =
                    self.encode_rows(tracker, tick, baseline, &visible, budget, priority, true);
                self.view_rows = visible;
                out
            }
            Err(e) => Err(e),
        };
        self.view_ids = view_ids;
        out.map(|encoded| (tick, encoded))
    }

    /// The common case of [`ViewEncoder::encode_ids`], without a budget:
    /// the baseline is a fresh state of the tick recorded before the newest,
    /// so each survivor's change is the one [`ViewEncoder::record`] worked
    /// out. `view_ids` is sorted. `None` (having changed nothing) when that
    /// is not the case, or a row in view does not encode, for the general
    /// way to handle.
    fn encode_fresh(
        &mut self,
        tracker: &mut ViewTracker,
        tick: u32,
        baseline: Option<u32>,
        view_ids: &mut [NetId],
    ) -> Result<Option<Encoded>, ViewError> {
        let n = self.tables.len();
        let (Some(previous), Some(table)) = (
            n.checked_sub(2).and_then(|i| self.tables.get(i)),
            self.tables.back(),
        ) else {
            return Ok(None);
        };
        let Some(base) = baseline
            .filter(|&b| b < tick && b == previous.tick)
            .and_then(|b| tracker.sent.iter().rev().find(|s| s.tick == b))
        else {
            return Ok(None);
        };
        let Held::Fresh(base_ids) = &base.held else {
            return Ok(None);
        };
        let base_ids = base_ids.as_slice();
        if view_ids.len() > Limits::default().max_entities as usize {
            return Ok(None);
        }

        // Every entity into removed, survivor or created; ids not recorded
        // are skipped, and only created rows are read from the record.
        // `next_ids` gets what the client will hold: the view's recorded
        // ids, sorted.
        self.removed.clear();
        self.changed.clear();
        self.deltas.clear();
        self.created.clear();
        self.next_ids.clear();
        self.kept_ids.clear();
        let mut survivors = 0u32;
        if self.changes_by_id {
            // No sort of the view: mark it, walk the (sorted) baseline for
            // survivors and removals, and what is marked but not walked was
            // created: usually none or a few, sorted on their own.
            self.epoch = self.epoch.wrapping_add(2);
            if self.epoch == 0 {
                for change in &mut self.changes {
                    change.stamp = 0;
                }
                self.epoch = 2;
            }
            let (in_view, in_both) = (self.epoch, self.epoch + 1);
            // `changes` is by id: one subtraction finds an id's change.
            let first = table.index.first;
            let changes = &mut self.changes[..];
            let slot = |id: NetId| id.0.wrapping_sub(first) as usize;
            let mut marked = 0usize;
            for &id in view_ids.iter() {
                let Some(change) = changes.get_mut(slot(id)) else {
                    continue;
                };
                if change.flags & (PRESENT | VALID) != PRESENT | VALID || change.stamp == in_view {
                    if change.flags & PRESENT == 0 {
                        continue; // not recorded
                    }
                    return Ok(None); // the general way reports the error
                }
                change.stamp = in_view;
                marked += 1;
            }
            // Marks are this player's only, so a mark means present.
            let mut replaced = 0usize;
            for &id in base_ids {
                let Some(change) = changes.get_mut(slot(id)).filter(|c| c.stamp == in_view) else {
                    self.removed.push(id);
                    continue;
                };
                change.stamp = in_both;
                let change = *change;
                if change.flags & (IN_PREVIOUS | SAME_KIND) != IN_PREVIOUS | SAME_KIND {
                    if change.flags & IN_PREVIOUS == 0 {
                        return Ok(None); // not from the previous tick after all
                    }
                    // Not the same thing any more: replace it.
                    self.removed.push(id);
                    self.created.push(change.pos);
                    replaced += 1;
                    continue;
                }
                if change.mask != 0 {
                    if !push_change(&change, &self.change_bytes, &mut self.deltas) {
                        return Ok(None);
                    }
                    self.changed.push((survivors, change.mask));
                }
                survivors += 1;
            }
            // Those not removed were marked, the replaced ones included.
            let walked = base_ids.len() - self.removed.len() + replaced;
            if walked < marked {
                // Some marked ids were not in the baseline: created.
                for &id in view_ids.iter() {
                    if let Some(change) = changes.get(slot(id)).filter(|c| c.stamp == in_view) {
                        self.created.push(change.pos);
                    }
                }
            }
            if self.created.is_empty() && self.removed.is_empty() {
                // The common case: the client will hold what it held.
                self.next_ids.extend_from_slice(base_ids);
            } else {
                // The survivors: the baseline less the removed, which are
                // some of its ids in the same order.
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
                    let Some(row) = table.rows.get(p as usize) else {
                        return Ok(None);
                    };
                    while let Some(id) = kept.next_if(|&id| id < row.id) {
                        self.next_ids.push(id);
                    }
                    self.next_ids.push(row.id);
                }
                self.next_ids.extend(kept);
            }
        } else {
            // One merge walk of the sorted view and the baseline; `changes`
            // is by position.
            view_ids.sort_unstable();
            let mut b = 0;
            let mut prev: Option<NetId> = None;
            for &id in view_ids.iter() {
                let Some(&change) = table
                    .index
                    .position(&table.rows, id)
                    .and_then(|slot| self.changes.get(slot))
                else {
                    continue;
                };
                let p = change.pos;
                if change.flags & VALID == 0 || prev == Some(id) {
                    return Ok(None); // the general way reports the error
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
                    return Ok(None); // not from the previous tick after all
                }
                if change.flags & SAME_KIND == 0 {
                    // Not the same thing any more: replace it.
                    self.removed.push(id);
                    self.created.push(p);
                    continue;
                }
                if change.mask != 0 {
                    if !push_change(&change, &self.change_bytes, &mut self.deltas) {
                        return Ok(None);
                    }
                    self.changed.push((survivors, change.mask));
                }
                survivors += 1;
            }
            self.removed
                .extend_from_slice(base_ids.get(b..).unwrap_or(&[]));
        }
        // Without a budget, nothing waits.
        tracker.waiting.clear();

        // Sharing, as in the general way.
        let shareable = self.is_shared(base.id);
        let mut h = FINGERPRINT_SEED;
        if shareable {
            for id in &self.next_ids {
                h = mix(h, u64::from(id.0) << 1);
            }
        }
        let base_id = base.id;
        let base_id_tick = base.tick;
        let key = share_key(Some(base_id), h);
        if let Some(&i) = shareable.then(|| self.index.get(&key)).flatten() {
            if let Some(hit) = self.shared.get(i).filter(|s| {
                s.base == Some(base_id)
                    && matches!(&s.state.held, Held::Fresh(ids)
                        if ids.as_slice() == &self.next_ids[..])
            }) {
                let body = hit.body.bytes.clone();
                let state = hit.state.clone();
                self.shared_states.insert(state_key(state.id), tick);
                tracker.push(state);
                return Ok(Some(Encoded {
                    baseline: Some(base_id_tick),
                    deferred: 0,
                    shared: true,
                    body: Some(body),
                }));
            }
        }

        self.bytes.clear();
        put_delta_body(
            &mut self.bytes,
            tick,
            base.tick,
            &self.removed,
            survivors,
            &self.changed,
            &self.deltas,
            self.created.len(),
        );
        let mut next = 0u32;
        for &p in &self.created {
            if let Some(row) = table.rows.get(p as usize) {
                put_created(&self.schema, row, &mut next, &mut self.bytes)?;
            }
        }
        let base_tick = base.tick;
        let state_id = self.next_state;
        self.next_state += 1;
        tracker.push_fresh(tick, state_id, self.next_ids.iter().copied());
        let mut body = None;
        if let (true, Some(state)) = (shareable, tracker.sent.back()) {
            let bytes: Arc<[u8]> = Arc::from(&self.bytes[..]);
            self.index.entry(key).or_insert(self.shared.len());
            self.shared.push(Shared {
                base: Some(base_id),
                state: state.clone(),
                body: EncodedBody {
                    tick,
                    baseline: Some(base_tick),
                    bytes: bytes.clone(),
                },
            });
            body = Some(bytes);
        }
        Ok(Some(Encoded {
            baseline: Some(base_tick),
            deferred: 0,
            shared: false,
            body,
        }))
    }

    /// Encodes the snapshot of `tick` for one player and records it in the
    /// player's tracker.
    ///
    /// `baseline` is the last snapshot written to the player's socket (the
    /// one its client is sure to hold); `visible` is every entity the player
    /// may see at `tick`, sorted by id. Without a budget the client will hold
    /// exactly `visible`. With one, `priority` ranks each entity with a
    /// change to send (higher first; clamped into `MIN_PRIORITY..=1`) and is
    /// called only for those. A room picks the rows from its recorded state
    /// instead, with [`ViewEncoder::encode_ids`].
    ///
    /// ```
    /// # use tickwire_protocol::{ViewEncoder, ViewTracker};
    /// # use tickwire_types::{Schema, KindDecl, FieldDecl, Quantization, ReplicatedEntity, NetId};
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
    /// assert_eq!(encoder.state_at(&player, 2).unwrap(), [dot(1, 16), dot(3, 0)]);
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
        self.begin(tracker, tick, baseline)?;
        let encoded = self.encode_rows(
            tracker,
            tick,
            baseline,
            visible,
            budget,
            &mut priority,
            false,
        )?;
        Ok(self.snapshot(tick, encoded))
    }

    /// Hands out an encoded body as a [`ViewSnapshot`].
    fn snapshot(&self, tick: u32, encoded: Encoded) -> ViewSnapshot {
        ViewSnapshot {
            body: EncodedBody {
                tick,
                baseline: encoded.baseline,
                bytes: encoded.body.unwrap_or_else(|| Arc::from(&self.bytes[..])),
            },
            deferred: encoded.deferred,
            shared: encoded.shared,
        }
    }

    /// The general way: the baseline's rows, the rows the client will hold,
    /// and a delta between them. `fresh_from_record`: `visible` is the
    /// newest record's rows, so a state that holds exactly them is kept as
    /// ids.
    #[allow(clippy::too_many_arguments)]
    fn encode_rows(
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
        let mut base_rows = std::mem::take(&mut self.base_rows);
        base_rows.clear();
        let base = baseline
            .filter(|&b| b < tick)
            .and_then(|b| tracker.sent.iter().rev().find(|s| s.tick == b))
            .filter(|s| match &s.held {
                Held::Rows(_) => true,
                Held::Fresh(_) => self.held_rows(s, &mut base_rows),
            });
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
            Held::Fresh(_) => self.is_shared(b.id),
            Held::Rows(rows) => Arc::strong_count(rows) > 1,
        });
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
                base_slice,
                visible,
                budget,
                priority,
                rows,
            ),
        };
        // Nothing held back from the record's rows: keep ids only.
        let fresh = fresh_from_record && deferred == 0;

        let base_id = base.map(|s| s.id);
        let base_tick = base.map(|s| s.tick);
        let key = share_key(base_id, fingerprint);
        if let Some(&i) = shareable.then(|| self.index.get(&key)).flatten() {
            if let Some(hit) = self.shared.get(i).filter(|s| {
                s.base == base_id
                    && match &s.state.held {
                        Held::Fresh(ids) => {
                            let ids = ids.as_slice();
                            fresh
                                && ids.len() == rows.len()
                                && ids.iter().zip(rows.iter()).all(|(id, r)| *id == r.id)
                        }
                        Held::Rows(held) => !fresh && held[..] == rows[..],
                    }
            }) {
                let body = hit.body.bytes.clone();
                let state = hit.state.clone();
                self.shared_states.insert(state_key(state.id), tick);
                tracker.spare_rows = Some(state_rows);
                tracker.push(state);
                self.base_rows = base_rows;
                return Ok(Encoded {
                    baseline: base_tick,
                    deferred,
                    shared: true,
                    body: Some(body),
                });
            }
        }

        self.bytes.clear();
        let encoded = match base_tick {
            Some(b) => encode_delta_with(
                &mut self.scratch,
                &self.schema,
                b,
                base_slice,
                tick,
                rows,
                &mut self.bytes,
            ),
            None => encode_full(&self.schema, tick, rows, &mut self.bytes),
        };
        self.base_rows = base_rows;
        if let Err(error) = encoded {
            tracker.spare_rows = Some(state_rows);
            return Err(error.into());
        }
        let held = if fresh {
            self.view_ids.clear();
            self.view_ids.extend(rows.iter().map(|r| r.id));
            tracker.spare_rows = Some(state_rows);
            Held::Fresh(Ids::new(&self.view_ids))
        } else {
            Held::Rows(state_rows)
        };
        let state = SentState {
            tick,
            id: self.next_state,
            held,
        };
        self.next_state += 1;
        let mut body = None;
        if shareable {
            let bytes: Arc<[u8]> = Arc::from(&self.bytes[..]);
            self.index.entry(key).or_insert(self.shared.len());
            self.shared.push(Shared {
                base: base_id,
                state: state.clone(),
                body: EncodedBody {
                    tick,
                    baseline: base_tick,
                    bytes: bytes.clone(),
                },
            });
            body = Some(bytes);
        }
        tracker.push(state);
        Ok(Encoded {
            baseline: base_tick,
            deferred,
            shared: false,
            body,
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

/// The key of a state identity in `ViewEncoder::shared_states`: mixed (one
/// to one, so identities never collide) for the pass-through hasher.
fn state_key(id: u64) -> u64 {
    mix(id, 0x9e37_79b9_7f4a_7c15)
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

        /// Fresh-state ids read back as given, inline or not.
        #[test]
        fn ids_read_back_as_given(n in 0usize..100) {
            let ids: Vec<NetId> = (0..n as u32).map(|i| NetId(i * 3 + 1)).collect();
            let kept = Ids::new(&ids);
            prop_assert_eq!(kept.as_slice(), &ids[..]);
        }
    }
}
