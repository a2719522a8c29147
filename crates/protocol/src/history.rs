//! The server's memory of what it replicated: a ring of the last
//! [`HISTORY_TICKS`] recorded ticks of state, from which it encodes each
//! player's snapshot as a delta against the baseline that player holds.
//!
//! This is the room-wide state, for players without a view: the
//! replication core ([`crate::Replicator`]) records a tick's rows with
//! [`ServerHistory::record`] when such a player needs them, then asks for
//! each such player's body with [`ServerHistory::shared_body`], which
//! encodes it once per distinct baseline per tick and hands out the same
//! bytes to every player that shares it. A baseline that has fallen out of
//! the ring (or was never recorded) gets a full snapshot instead, which is
//! always safe. Where this fits a tick is told in `docs/architecture.md`.

use std::collections::VecDeque;
use std::sync::Arc;

use tickwire_types::{ReplicatedEntity, Schema, SchemaError};

use crate::rules::not_newer;
use crate::snapshot::{DeltaScratch, EncodeError, check_state, encode_delta_with, encode_full};

/// Ticks of state the server keeps, and so the oldest baseline it can
/// encode a delta against (the Quake 3 model).
pub const HISTORY_TICKS: usize = 32;

/// An encoded snapshot body, shared by every player with the same baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedBody {
    /// The tick it describes.
    pub tick: u32,
    /// The baseline it is a delta against; `None` for a full snapshot.
    pub baseline: Option<u32>,
    /// The body's bytes, to follow the per-player header.
    pub bytes: Arc<[u8]>,
}

/// Why a tick's state was not recorded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// Ticks must increase.
    #[error("tick {tick} is not after the latest recorded tick {latest}")]
    NotNewer {
        /// The tick offered.
        tick: u32,
        /// The newest tick held.
        latest: u32,
    },
    /// The state cannot be encoded (unsorted, unknown kind, value out of
    /// range).
    #[error(transparent)]
    Invalid(#[from] EncodeError),
}

/// The last [`HISTORY_TICKS`] ticks of the whole room's replicated state,
/// oldest first: the baselines of the players without a view.
#[derive(Debug)]
pub struct ServerHistory {
    /// The schema every recorded row follows.
    schema: Schema,
    /// `(tick, state sorted by id)`, oldest first, at most `capacity`.
    ring: VecDeque<(u32, Arc<[ReplicatedEntity]>)>,
    /// How many ticks the ring keeps.
    capacity: usize,
    /// Bodies encoded for the newest tick, one per baseline asked for (at
    /// most `capacity + 1`); cleared when a tick is recorded.
    bodies: Vec<EncodedBody>,
    /// Working buffers of the delta encoder, kept between ticks.
    scratch: DeltaScratch,
    /// The body being encoded, before it is shared.
    buf: Vec<u8>,
}

impl ServerHistory {
    /// An empty history keeping [`HISTORY_TICKS`] ticks.
    pub fn new(schema: Schema) -> Result<Self, SchemaError> {
        Self::with_capacity(schema, HISTORY_TICKS)
    }

    /// An empty history keeping `capacity` ticks (at least 1).
    pub fn with_capacity(schema: Schema, capacity: usize) -> Result<Self, SchemaError> {
        schema.validate()?;
        let capacity = capacity.max(1);
        Ok(Self {
            schema,
            ring: VecDeque::with_capacity(capacity),
            capacity,
            bodies: Vec::new(),
            scratch: DeltaScratch::default(),
            buf: Vec::new(),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Records the state after `tick`, sorted by id; the oldest tick falls
    /// out when the ring is full. The state is checked once here (sorted,
    /// known kinds, values in range) so that encoding from it cannot fail.
    pub fn record(
        &mut self,
        tick: u32,
        entities: impl Into<Arc<[ReplicatedEntity]>>,
    ) -> Result<(), RecordError> {
        if let Some(latest) = self.latest_tick() {
            if not_newer(tick, latest) {
                return Err(RecordError::NotNewer { tick, latest });
            }
        }
        let entities = entities.into();
        check_state(&self.schema, &entities)?;
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back((tick, entities));
        self.bodies.clear();
        Ok(())
    }

    /// The newest recorded tick.
    pub fn latest_tick(&self) -> Option<u32> {
        self.ring.back().map(|(tick, _)| *tick)
    }

    /// The newest recorded state.
    pub fn latest(&self) -> Option<&Arc<[ReplicatedEntity]>> {
        self.ring.back().map(|(_, state)| state)
    }

    /// The state recorded for `tick`, if still held.
    pub fn get(&self, tick: u32) -> Option<&Arc<[ReplicatedEntity]>> {
        self.ring
            .iter()
            .rev()
            .find(|(t, _)| *t == tick)
            .map(|(_, state)| state)
    }

    /// Whether a delta against `tick` can be encoded for the newest tick.
    pub fn holds_baseline(&self, tick: u32) -> bool {
        self.latest_tick()
            .is_some_and(|latest| !not_newer(latest, tick))
            && self.get(tick).is_some()
    }

    /// Encodes the newest tick against `baseline` when it is held (and older
    /// than the newest tick), from scratch otherwise. `None` before the
    /// first [`record`](Self::record).
    pub fn encode_body(&self, baseline: Option<u32>) -> Option<EncodedBody> {
        let mut bytes = Vec::new();
        let (tick, used) = self.encode_into(&mut DeltaScratch::default(), baseline, &mut bytes)?;
        Some(EncodedBody {
            tick,
            baseline: used,
            bytes: bytes.into(),
        })
    }

    /// Appends the newest tick's body against `baseline` (if held) to
    /// `out`; returns the tick and the baseline used.
    fn encode_into(
        &self,
        scratch: &mut DeltaScratch,
        baseline: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Option<(u32, Option<u32>)> {
        let (tick, cur) = self.ring.back()?;
        // Recorded states passed `check_state`, so encoding them cannot fail.
        match baseline.filter(|&b| self.holds_baseline(b)) {
            Some(b) => {
                let base = self.get(b)?;
                encode_delta_with(scratch, &self.schema, b, base, *tick, cur, out).ok()?;
                Some((*tick, Some(b)))
            }
            None => {
                encode_full(&self.schema, *tick, cur, out).ok()?;
                Some((*tick, None))
            }
        }
    }

    /// Like [`encode_body`](Self::encode_body), but encodes each baseline
    /// once per tick: later calls with the same baseline return the same
    /// shared bytes.
    pub fn shared_body(&mut self, baseline: Option<u32>) -> Option<EncodedBody> {
        let baseline = baseline.filter(|&b| self.holds_baseline(b));
        if let Some(body) = self.bodies.iter().find(|b| b.baseline == baseline) {
            return Some(body.clone());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = self.encode_into(&mut scratch, baseline, &mut buf);
        let body = encoded.map(|(tick, used)| EncodedBody {
            tick,
            baseline: used,
            bytes: Arc::from(&buf[..]),
        });
        self.scratch = scratch;
        self.buf = buf;
        let body = body?;
        self.bodies.push(body.clone());
        Some(body)
    }
}
