//! The [`ViewEncoder`], one per room: what it keeps, its entry points, and
//! what they hand out. The work itself is in the sibling modules: the
//! record of each tick, the fresh way, the general way, the budget and
//! sharing.

use crate::rules::not_newer;
use std::sync::Arc;

use tickwire_types::{NetId, ReplicatedEntity, Schema, SchemaError};

use super::budget::{Budget, Selection};
use super::fresh::FreshScratch;
use super::record::TickRecord;
use super::share::Sharing;
use super::tracker::ViewTracker;
use crate::history::EncodedBody;
use crate::snapshot::{DeltaScratch, EncodeError, write_snapshot_message};

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
pub(super) struct Encoded {
    /// The tick it is a delta against, `None` for a full snapshot.
    pub(super) baseline: Option<u32>,
    /// Entities in view whose change the budget held back.
    pub(super) deferred: usize,
    /// Whether the body is another player's.
    pub(super) shared: bool,
    /// The body, when it is kept for sharing; otherwise it is in
    /// `Scratch::bytes`.
    pub(super) body: Option<Arc<[u8]>>,
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
    pub(super) schema: Schema,
    /// The room's rows of the last recorded ticks, and how each row of the
    /// newest changed since the tick before.
    pub(super) record: TickRecord,
    /// This tick's bodies kept for sharing, and the recorded states more
    /// than one player holds.
    pub(super) sharing: Sharing,
    /// Buffers reused from player to player, whichever way the delta takes.
    pub(super) scratch: Scratch,
    /// Buffers reused from player to player by the fresh way.
    pub(super) fresh: FreshScratch,
    /// Buffers reused from player to player under a budget.
    pub(super) selection: Selection,
}

/// Buffers reused from player to player, so that a player's snapshot
/// allocates nothing in the steady state. Their contents mean nothing
/// between two calls.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// The ids in view, as the caller gave them (sorted by the way that
    /// needs them sorted); also where a fresh state's ids are gathered.
    pub(super) view_ids: Vec<NetId>,
    /// Rows picked from a table (the view), when a delta takes the general
    /// way.
    pub(super) view_rows: Vec<ReplicatedEntity>,
    /// A fresh baseline's rows, picked from its table, when a delta takes
    /// the general way.
    pub(super) base_rows: Vec<ReplicatedEntity>,
    /// The body being encoded: handed out from here unless kept for
    /// sharing.
    pub(super) bytes: Vec<u8>,
    /// The delta encoder's working buffers.
    pub(super) delta: DeltaScratch,
}

impl ViewEncoder {
    /// An encoder for a game with `schema`.
    pub fn new(schema: Schema) -> Result<Self, SchemaError> {
        schema.validate()?;
        Ok(Self {
            schema,
            record: TickRecord::default(),
            sharing: Sharing::default(),
            scratch: Scratch::default(),
            fresh: FreshScratch::default(),
            selection: Selection::default(),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The rows `tracker`'s client holds after applying the snapshot of
    /// `tick`, if that snapshot is remembered.
    pub fn state_at(&self, tracker: &ViewTracker, tick: u32) -> Option<Vec<ReplicatedEntity>> {
        let state = tracker.state(tick)?;
        let mut rows = Vec::new();
        self.record.held_rows(state, &mut rows).then_some(rows)
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
            if not_newer(tick, latest) {
                return Err(ViewError::NotNewer { tick, latest });
            }
        }
        self.sharing.begin_tick(tick);
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
    /// let schema = Schema::new("demo", vec![KindDecl {
    ///     id: 0, name: "dot".into(),
    ///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// }], vec![], vec![]);
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
    /// # let schema = Schema::new("demo", vec![KindDecl {
    /// #     id: 0, name: "dot".into(),
    /// #     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// # }], vec![], vec![]);
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
        let body = encoded.body.as_deref().unwrap_or(&self.scratch.bytes);
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
            .record
            .tables
            .back()
            .map(|t| t.tick)
            .ok_or(ViewError::NotRecorded)?;
        self.begin(tracker, tick, baseline)?;
        let mut view_ids = std::mem::take(&mut self.scratch.view_ids);
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
                let mut visible = std::mem::take(&mut self.scratch.view_rows);
                visible.clear();
                if let Some(table) = self.record.tables.back() {
                    visible.extend(view_ids.iter().filter_map(|&id| table.row(id)));
                }
                let out =
                    self.encode_rows(tracker, tick, baseline, &visible, budget, priority, true);
                self.scratch.view_rows = visible;
                out
            }
            Err(e) => Err(e),
        };
        self.scratch.view_ids = view_ids;
        out.map(|encoded| (tick, encoded))
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
    /// let schema = Schema::new("demo", vec![KindDecl {
    ///     id: 0, name: "dot".into(),
    ///     fields: vec![FieldDecl { id: 0, name: "x".into(), quant: Quantization::Fixed { scale: 16 } }],
    /// }], vec![], vec![]);
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
                bytes: encoded
                    .body
                    .unwrap_or_else(|| Arc::from(&self.scratch.bytes[..])),
            },
            deferred: encoded.deferred,
            shared: encoded.shared,
        }
    }
}
