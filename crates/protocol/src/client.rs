//! The client's side of replication: the last few states it applied, so that
//! a snapshot can name any of them as its baseline.
//!
//! Over WebSocket the server's baseline for a player is the last snapshot it
//! wrote to that socket, which the client receives in order; keeping a few
//! ticks makes the keeper also work when the server deliberately uses an
//! older, acknowledged baseline (a reconnect that resumes, or a transport
//! that drops). Used by the swarm's bots, by tests, and mirrored in the
//! browser client's `protocol.js`.

use std::collections::VecDeque;
use std::sync::Arc;

use tickwire_sim::{ReplicatedEntity, Schema, SchemaError};

use crate::Limits;
use crate::snapshot::{ApplyError, SnapshotBody, apply_snapshot};

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
    states: VecDeque<(u32, Arc<[ReplicatedEntity]>)>,
    /// How many states are kept.
    capacity: usize,
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
    pub fn apply(&mut self, body: &SnapshotBody) -> Result<&Arc<[ReplicatedEntity]>, ApplyError> {
        if let Some(latest) = self.latest_tick() {
            if body.tick <= latest {
                return Err(ApplyError::NotNewer {
                    tick: body.tick,
                    latest,
                });
            }
        }
        let base: &[ReplicatedEntity] = match body.baseline {
            None => &[],
            Some(b) => self.state_at(b).ok_or(ApplyError::BaselineNotHeld(b))?,
        };
        let state = apply_snapshot(&self.schema, base, body, &self.limits)?;
        if self.states.len() == self.capacity {
            self.states.pop_front();
        }
        self.states.push_back((body.tick, state.into()));
        match self.states.back() {
            Some((_, state)) => Ok(state),
            None => Err(ApplyError::BaselineNotHeld(body.tick)),
        }
    }

    /// The newest tick applied: what to acknowledge, and what to name as
    /// `resume_tick` when reconnecting.
    pub fn latest_tick(&self) -> Option<u32> {
        self.states.back().map(|(tick, _)| *tick)
    }

    /// The newest state.
    pub fn latest(&self) -> Option<&Arc<[ReplicatedEntity]>> {
        self.states.back().map(|(_, state)| state)
    }

    /// The state at `tick`, if still held.
    pub fn state_at(&self, tick: u32) -> Option<&Arc<[ReplicatedEntity]>> {
        self.states
            .iter()
            .rev()
            .find(|(t, _)| *t == tick)
            .map(|(_, state)| state)
    }

    /// Forgets every state (the next snapshot must be full).
    pub fn clear(&mut self) {
        self.states.clear();
    }
}
