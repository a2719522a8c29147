//! The client's side of replication: the last few states it applied, so that
//! a snapshot can name any of them as its baseline.
//!
//! Over WebSocket the server's baseline for a player is the last snapshot it
//! wrote to that socket, which the client receives in order; keeping a few
//! ticks makes the keeper also work when the server deliberately uses an
//! older, acknowledged baseline (a reconnect that resumes, or a transport
//! that drops). Used by the swarm's bots, by tests, and mirrored in the
//! browser client's `protocol.js`.
//!
//! Applying costs memory traffic more than arithmetic: a client of a room of
//! a thousand holds 40 KB per state, and a thousand bots in one process walk
//! through far more than any cache. So the keeper reuses the storage of the
//! state it drops for the state it makes, and a keeper of one state (all a
//! client needs over WebSocket, where the baseline is always the last
//! snapshot received) applies a delta that neither creates nor removes in
//! place, touching only the entities that changed.

use std::collections::VecDeque;

use tickwire_types::{ReplicatedEntity, Schema, SchemaError};

use crate::Limits;
use crate::rules::not_newer;
use crate::snapshot::{ApplyError, SnapshotBody, apply_changes_in_place, apply_snapshot_into};

/// Ticks of state a client keeps by default: as many as the server's
/// history, so any baseline the server can encode against is held.
pub const CLIENT_STATES: usize = crate::HISTORY_TICKS;

/// The states a client holds, newest last, and the schema to read them by.
#[derive(Debug, Clone)]
pub struct ClientState {
    /// The welcome's schema.
    schema: Schema,
    /// Decoding and state-size limits.
    limits: Limits,
    /// `(tick, state sorted by id)`, oldest first, at most `capacity`.
    states: VecDeque<(u32, Vec<ReplicatedEntity>)>,
    /// How many states are kept.
    capacity: usize,
    /// Storage of the last state dropped, for the next state made.
    spare: Vec<ReplicatedEntity>,
}

impl ClientState {
    /// An empty keeper of [`CLIENT_STATES`] states for `schema`.
    pub fn new(schema: Schema) -> Result<Self, SchemaError> {
        Self::with_capacity(schema, CLIENT_STATES, Limits::default())
    }

    /// An empty keeper of `capacity` states (at least 1).
    pub fn with_capacity(
        schema: Schema,
        capacity: usize,
        limits: Limits,
    ) -> Result<Self, SchemaError> {
        schema.validate()?;
        let capacity = capacity.max(1);
        Ok(Self {
            schema,
            limits,
            states: VecDeque::with_capacity(capacity),
            capacity,
            spare: Vec::new(),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies a snapshot to its baseline (or from scratch when full), keeps
    /// the result as the newest state and returns it. On error nothing
    /// changes.
    ///
    /// A snapshot must be newer than the newest state held, with one
    /// exception: a full snapshot needs nothing held, so one that is not
    /// newer starts the client over at its tick, every state held before
    /// forgotten (the replay viewer starts a page over so when it seeks
    /// back).
    pub fn apply(&mut self, body: &SnapshotBody) -> Result<&[ReplicatedEntity], ApplyError> {
        let earlier = self
            .latest_tick()
            .is_some_and(|latest| not_newer(body.tick, latest));
        if body.baseline.is_none() && earlier {
            let mut state = std::mem::take(&mut self.spare);
            if let Err(e) = apply_snapshot_into(&self.schema, &[], body, &self.limits, &mut state) {
                self.spare = state;
                return Err(e);
            }
            if let Some((_, old)) = self.states.pop_back() {
                self.spare = old;
            }
            self.states.clear();
            self.states.push_back((body.tick, state));
            return self.latest().ok_or(ApplyError::BaselineNotHeld(body.tick));
        }
        let latest = self.latest_tick();
        if let Some(latest) = latest {
            if not_newer(body.tick, latest) {
                return Err(ApplyError::NotNewer {
                    tick: body.tick,
                    latest,
                });
            }
        }
        // One state kept, and the delta is against it: change it in place.
        let mut done = false;
        if self.capacity == 1
            && body.baseline.is_some()
            && body.baseline == latest
            && body.removed.is_empty()
            && body.created.is_empty()
        {
            if let Some((tick, state)) = self.states.back_mut() {
                if apply_changes_in_place(&self.schema, state, body)? {
                    *tick = body.tick;
                    done = true;
                }
            }
        }
        if !done {
            let mut state = std::mem::take(&mut self.spare);
            let base = match body.baseline {
                None => Ok(&[][..]),
                Some(b) => find(&self.states, b).ok_or(ApplyError::BaselineNotHeld(b)),
            };
            let applied = base.and_then(|base| {
                apply_snapshot_into(&self.schema, base, body, &self.limits, &mut state)
            });
            if let Err(e) = applied {
                self.spare = state;
                return Err(e);
            }
            if self.states.len() == self.capacity {
                if let Some((_, old)) = self.states.pop_front() {
                    self.spare = old;
                }
            }
            self.states.push_back((body.tick, state));
        }
        self.latest().ok_or(ApplyError::BaselineNotHeld(body.tick))
    }

    /// The newest tick applied: what to acknowledge, and what to name as
    /// `since` when reconnecting.
    pub fn latest_tick(&self) -> Option<u32> {
        self.states.back().map(|(tick, _)| *tick)
    }

    /// The newest state.
    pub fn latest(&self) -> Option<&[ReplicatedEntity]> {
        self.states.back().map(|(_, state)| &state[..])
    }

    /// The state at `tick`, if still held.
    pub fn state_at(&self, tick: u32) -> Option<&[ReplicatedEntity]> {
        find(&self.states, tick)
    }

    /// Forgets every state (the next snapshot must be full).
    pub fn clear(&mut self) {
        self.states.clear();
    }
}

/// The state at `tick` among `states`.
fn find(states: &VecDeque<(u32, Vec<ReplicatedEntity>)>, tick: u32) -> Option<&[ReplicatedEntity]> {
    states
        .iter()
        .rev()
        .find(|(t, _)| *t == tick)
        .map(|(_, state)| &state[..])
}
