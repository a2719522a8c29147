//! A room's journal: what a cluster needs to continue the room on another
//! node when this one dies (`docs/scaling.md`, "Failover").
//!
//! The room's match is deterministic, so its state at any tick is the
//! state of an earlier tick plus the calls made since. The journal sends
//! both to a writer (`crate::cluster::failover`, which puts them in
//! Redis): the match's full state ([`tickwire_sim::Simulation::save`])
//! with the room's seats every `--snapshot-every` ticks, and each tick's
//! calls (joins, leaves, inputs, dropped connections, in call order) with
//! the state hash after the tick, as a line of the match record's format
//! ([`TickCalls`]), so the node that continues the room checks its replay
//! tick by tick.
//!
//! The writer confirms each tick once Redis holds it, and the room waits
//! for that (at most `--journal-wait`) before it sends the tick's
//! snapshots: an input a player sees acknowledged is in Redis, so a
//! failover never loses one. When Redis is slower than the wait, or away,
//! the room sends anyway, counts the tick, and stops waiting until the
//! writer has caught up; the room never stalls on Redis. An entry that
//! finds the writer's queue full is dropped, which leaves a gap in the
//! log: the next tick writes a snapshot, which starts the log over.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickwire_sim::record::{Call, TickCalls};
use tickwire_sim::{NetId, PlayerId, Simulation};
use tokio::sync::watch;

use crate::stats;

/// What a room sends its journal's writer.
#[derive(Debug)]
pub enum Entry {
    /// The calls made before `tick` and the hash after it: a line of the
    /// match record's format (JSON [`TickCalls`]).
    Tick {
        /// The tick.
        tick: u64,
        /// The line.
        line: String,
    },
    /// The room's full state after `tick`: the match's snapshot and the
    /// room's seats ([`SavedSeats`] as JSON). The log before it is no
    /// longer needed.
    Snapshot {
        /// The tick.
        tick: u64,
        /// [`Simulation::save`]'s bytes.
        snapshot: Vec<u8>,
        /// The seats, as JSON.
        seats: String,
    },
    /// The room ended: its state is deleted.
    End,
}

/// How far the writer has got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// The newest tick Redis holds.
    pub tick: u64,
    /// The writer's last write failed (Redis away, or the room fenced):
    /// nothing is confirmed until one goes through.
    pub failing: bool,
}

/// The room's seats as a snapshot keeps them: what the match does not
/// know of its players (their seat's generation, the room's match id) and
/// what the room needs to hold their seats again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSeats {
    /// The room's match id ([`crate::room::RoomInfo::match_id`]): resume
    /// tokens name it.
    #[serde(rename = "match")]
    pub match_id: u64,
    /// Every player with a seat, held or not.
    pub players: Vec<SavedPlayer>,
}

/// One seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlayer {
    /// The player's id.
    pub id: u32,
    /// Its name in the room.
    pub name: String,
    /// Its avatar's net id.
    pub avatar: u32,
    /// Its seat's generation (see [`crate::resume`]).
    #[serde(rename = "gen")]
    pub generation: u32,
}

impl SavedPlayer {
    /// The player's id.
    pub fn player(&self) -> PlayerId {
        PlayerId(self.id)
    }

    /// Its avatar.
    pub fn avatar(&self) -> NetId {
        NetId(self.avatar)
    }
}

/// Where a journal's entries go: `true` when queued, `false` when the
/// writer's queue is full (the entry is dropped).
pub type Sender = Box<dyn FnMut(Entry) -> bool + std::marker::Send>;

/// A room's side of its journal.
pub struct Journal {
    /// The calls made since the last step.
    calls: Vec<Call>,
    entries: Sender,
    confirmed: watch::Receiver<Confirmed>,
    /// A snapshot every this many ticks.
    every: u64,
    /// The longest wait for a confirmation.
    wait: Duration,
    /// An entry was dropped: the next tick writes a snapshot.
    broken: bool,
    /// A wait ran out: no waiting until the writer confirms `lagging`.
    lagging: Option<u64>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("calls", &self.calls.len())
            .field("every", &self.every)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal sending to `entries`, told what Redis holds by
    /// `confirmed`; a snapshot every `every` ticks, waits of at most
    /// `wait`.
    pub fn new(
        entries: Sender,
        confirmed: watch::Receiver<Confirmed>,
        every: u32,
        wait: Duration,
    ) -> Self {
        Self {
            calls: Vec::new(),
            entries,
            confirmed,
            every: u64::from(every.max(1)),
            wait,
            broken: false,
            lagging: None,
        }
    }

    /// Notes a call made on the match.
    pub fn note(&mut self, call: Call) {
        self.calls.push(call);
    }

    /// Queues `entry`; a full queue drops it, and the log is broken.
    fn send(&mut self, entry: Entry) -> bool {
        if (self.entries)(entry) {
            true
        } else {
            metrics::counter!(stats::JOURNAL_DROPPED).increment(1);
            self.broken = true;
            false
        }
    }

    /// Queues a snapshot of `sim` (after its last step, its events
    /// drained) with `seats`. A game whose save fails is a bug: logged,
    /// and the log stays broken (the room goes on, without failover).
    pub fn snapshot(&mut self, sim: &dyn Simulation, seats: &SavedSeats) {
        let snapshot = match sim.save() {
            Some(Ok(snapshot)) => snapshot,
            Some(Err(error)) => {
                tracing::error!(%error, "room snapshot failed; the room goes on without failover");
                self.broken = true;
                return;
            }
            None => return,
        };
        let seats = match serde_json::to_string(seats) {
            Ok(seats) => seats,
            Err(error) => {
                tracing::error!(%error, "room seats not encodable");
                self.broken = true;
                return;
            }
        };
        let tick = sim.tick();
        if self.send(Entry::Snapshot {
            tick,
            snapshot,
            seats,
        }) {
            self.broken = false;
        }
    }

    /// After the step of a tick (its events drained): queues its line, and
    /// a snapshot when one is due or the log is broken. `seats` is asked
    /// only for a snapshot.
    pub fn ticked(&mut self, sim: &dyn Simulation, seats: impl FnOnce() -> SavedSeats) {
        let tick = sim.tick();
        let calls = std::mem::take(&mut self.calls);
        // The writer failed: its log has a gap until a snapshot goes
        // through, so no line is worth sending until then.
        let failing = self.confirmed.borrow().failing;
        if failing {
            self.broken = true;
        }
        if !self.broken {
            let line = TickCalls {
                tick,
                calls,
                hash: Some(sim.state_hash()),
            };
            match serde_json::to_string(&line) {
                Ok(line) => {
                    self.send(Entry::Tick { tick, line });
                }
                Err(_) => self.broken = true,
            }
        }
        if tick.is_multiple_of(self.every) || (self.broken && !failing) {
            self.snapshot(sim, &seats());
        }
    }

    /// Waits until the writer confirms `tick`, at most the journal's wait;
    /// returns at once while the writer fails or lags behind a wait that
    /// ran out.
    pub async fn confirm(&mut self, tick: u64) {
        let now = *self.confirmed.borrow();
        if now.tick >= tick {
            return;
        }
        if now.failing || self.broken || self.wait.is_zero() {
            metrics::counter!(stats::JOURNAL_UNCONFIRMED).increment(1);
            return;
        }
        if let Some(lag) = self.lagging {
            if now.tick < lag {
                metrics::counter!(stats::JOURNAL_UNCONFIRMED).increment(1);
                return;
            }
            self.lagging = None;
        }
        let confirmed = self.confirmed.wait_for(|c| c.tick >= tick || c.failing);
        match tokio::time::timeout(self.wait, confirmed).await {
            Ok(Ok(c)) if c.tick >= tick => {}
            _ => {
                metrics::counter!(stats::JOURNAL_UNCONFIRMED).increment(1);
                self.lagging = Some(tick);
            }
        }
    }

    /// The room ended: its state is deleted.
    pub fn end(&mut self) {
        // Not `send`: an end that finds the queue full is lost, and the
        // room's state expires on its own.
        let _ = (self.entries)(Entry::End);
    }
}
