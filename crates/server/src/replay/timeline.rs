//! The whole match, replayed once when the viewer starts: every tick's
//! state hash beside the recorded one, keyframes to seek from, and what
//! each player was sent at every tick.
//!
//! [`Timeline::build`] runs the record from its first tick to its last, as
//! the room ran it: the calls of a tick, the step, then the replication
//! core (`tickwire_protocol::Replicator`) for every player in the match,
//! each delivered at once (a socket that keeps up: the record does not say
//! when sockets were slow; a player whose connection dropped, the record's
//! `d`, is held and sent nothing until its next input). Each player's
//! messages are decoded by a client
//! of its own, so the figures are what the player's client held: the
//! bytes of each snapshot, the entities it held after it, and how many
//! entities in its view a bandwidth budget left out of date
//! ([`Figures`]). A copy of the match is kept every `keyframe_ticks`
//! ([`Replayable::fork`]); [`Timeline::seek`] starts from the one at or
//! before the tick asked and steps the rest of the way.
//!
//! Memory: the record, a copy of the world per keyframe, and four numbers
//! per player per tick (less than the record's own line per input).

use std::collections::BTreeMap;

use parking_lot::Mutex;
use tickwire_protocol::{
    Budget, ClientState, Delivery, Limits, Replicator, Sink, decode_snapshot_message,
};
use tickwire_sim::record::{Call, MatchRecord};
use tickwire_sim::{GameEvent, NetId, PlayerId, ReplicatedEntity, Schema, Simulation};

use super::recorded::{Replayable, Seat};
use crate::wire;

/// How the timeline is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelineOptions {
    /// Ticks between two keyframes (at least 1): a seek steps at most
    /// this many ticks.
    pub keyframe_ticks: u64,
    /// The players' bandwidth budget, in bytes per second, as a server
    /// run with `--bandwidth-budget` applies it; `None`: no budget.
    pub bandwidth_budget: Option<u64>,
}

impl Default for TimelineOptions {
    /// A keyframe every 150 ticks (5 s at 30 Hz), no budget.
    fn default() -> Self {
        Self {
            keyframe_ticks: 150,
            bandwidth_budget: None,
        }
    }
}

/// What one player was sent at one tick, as its client held it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    /// Bytes of the snapshot message (without the WebSocket frame's
    /// head); 0 when the player got none that tick (its connection had
    /// dropped: then `held` is what its client still held).
    pub bytes: u32,
    /// Entities the player's client held after it.
    pub held: u32,
    /// Entities in the player's view whose state the client holds out of
    /// date (or not at all): what a bandwidth budget held back.
    pub deferred: u32,
    /// Whether the snapshot was a full one (the player's first, or after
    /// a switch between a view and the whole room).
    pub full: bool,
}

/// One player over the match: its name, and its figures from the tick it
/// joined.
#[derive(Clone, Debug)]
pub struct Track {
    /// The name it joined with.
    pub name: String,
    /// The first tick it was sent a snapshot of.
    pub first: u64,
    /// `figures[i]` is of tick `first + i`; the last is of the tick it
    /// left at (or the match's last).
    pub figures: Vec<Figures>,
}

impl Track {
    /// The figures of `tick`, if the player was in the match then.
    pub fn at(&self, tick: u64) -> Option<&Figures> {
        let i = usize::try_from(tick.checked_sub(self.first)?).ok()?;
        self.figures.get(i)
    }

    /// The last tick the player was in the match.
    pub fn last(&self) -> u64 {
        self.first + (self.figures.len() as u64).saturating_sub(1)
    }
}

/// A tick whose replayed state hash is not the recorded one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The tick (the first is 1).
    pub tick: u64,
    /// The hash in the record.
    pub recorded: u64,
    /// The hash of the replay.
    pub replayed: u64,
}

/// The replayed match: see the module docs.
pub struct Timeline {
    /// What the viewer calls the record (its file name, without `.jsonl`).
    name: String,
    /// The record: the calls of every tick, replayed again at each seek.
    record: MatchRecord,
    /// The game's schema.
    schema: Schema,
    /// The game's constants for its clients, as a welcome carries them.
    constants: Vec<(String, f32)>,
    /// Ticks between two keyframes.
    keyframe_ticks: u64,
    /// The match before its first tick: the first keyframe.
    start: Keyframe,
    /// `keyframes[i]`: the match after tick `(i + 1) * keyframe_ticks`.
    keyframes: Vec<Keyframe>,
    /// `replayed[t - 1]`: the state hash after tick `t`.
    replayed: Vec<u64>,
    /// `entities[t - 1]`: the replicated entities after tick `t`.
    entities: Vec<u32>,
    /// Every player that was ever in the match.
    players: BTreeMap<PlayerId, Track>,
    /// The budget, per snapshot.
    budget: Option<Budget>,
    /// The budget, in bytes per second.
    bandwidth_budget: Option<u64>,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("name", &self.name)
            .field("game", &self.record.setup.game)
            .field("ticks", &self.replayed.len())
            .field("keyframes", &(self.keyframes.len() + 1))
            .field("players", &self.players.len())
            .finish_non_exhaustive()
    }
}

/// Where the viewer stands in the match: a copy of it at some tick, and
/// the game events of that tick.
#[derive(Debug)]
pub struct Cursor {
    /// The match after `tick`.
    sim: Box<dyn Replayable>,
    /// The last tick run (0 before the first).
    tick: u64,
    /// The game events of `tick`, when it was reached by one step.
    events: Vec<GameEvent>,
}

impl Cursor {
    /// The last tick run: the one shown.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The match at the shown tick.
    pub fn sim(&self) -> &dyn Replayable {
        self.sim.as_ref()
    }

    /// The game events of the shown tick, if it was reached by a step
    /// (a seek leaves none: they belong to the ticks skipped).
    pub fn events(&self) -> &[GameEvent] {
        &self.events
    }
}

impl Timeline {
    /// Replays `record` on `fresh`, a match freshly built from the
    /// record's header (see [`super::recorded::fresh`]). `name` is what the
    /// viewer calls the record. Fails only if the game's schema is invalid.
    pub fn build(
        name: &str,
        record: MatchRecord,
        mut fresh: Box<dyn Replayable>,
        options: TimelineOptions,
    ) -> anyhow::Result<Self> {
        let schema = fresh.schema().clone();
        let tick_rate = record.setup.tick_rate;
        let budget = wire::budget(options.bandwidth_budget, tick_rate);
        let keyframe_ticks = options.keyframe_ticks.max(1);
        let mut replicator: Replicator<()> = Replicator::new(schema.clone(), budget)?;
        let mut clients: BTreeMap<PlayerId, ClientState> = BTreeMap::new();
        let mut players: BTreeMap<PlayerId, Track> = BTreeMap::new();
        let ticks = record.ticks.len();
        let start = Keyframe::of(fresh.as_ref());
        let mut keyframes = Vec::new();
        let mut replayed = Vec::with_capacity(ticks);
        let mut entities = Vec::with_capacity(ticks);
        let mut seats = Vec::new();
        let mut rows = Vec::new();
        let mut sent = BTreeMap::new();
        let mut measure = Measure::default();
        let mut failures = 0u64;
        for (i, calls) in record.ticks.iter().enumerate() {
            let tick = i as u64 + 1;
            for call in &calls.calls {
                call.apply(fresh.as_simulation_mut());
            }
            // The players of this tick: as the room adds a player to the
            // core at its join and removes it at its leave.
            fresh.seats(&mut seats);
            clients.retain(|player, _| {
                let stays = seats.iter().any(|s| s.player == *player);
                if !stays {
                    replicator.remove(*player);
                }
                stays
            });
            for seat in &seats {
                if clients.contains_key(&seat.player) {
                    continue;
                }
                replicator.add(seat.player, ());
                clients.insert(
                    seat.player,
                    ClientState::with_capacity(schema.clone(), 2, Limits::default())?,
                );
                players.entry(seat.player).or_insert_with(|| Track {
                    name: seat.name.clone(),
                    first: tick,
                    figures: Vec::new(),
                });
            }
            // A dropped connection (its seat held) is sent nothing; the
            // record does not say when it resumed, so its next input is
            // taken for the resume, from the tick its client holds.
            for call in &calls.calls {
                match call {
                    Call::Dropped { player } => {
                        replicator.hold(*player);
                    }
                    Call::Input { player, .. } if replicator.is_held(*player) => {
                        let since = clients.get(player).and_then(ClientState::latest_tick);
                        replicator.attach(*player, (), since);
                    }
                    _ => {}
                }
            }
            fresh.step();
            replayed.push(fresh.state_hash());
            rows.clear();
            fresh.replicated(&mut rows);
            entities.push(u32::try_from(rows.len()).unwrap_or(u32::MAX));
            sent.clear();
            let mut sink = Measuring {
                sim: fresh.as_simulation(),
                rows: &rows,
                clients: &mut clients,
                sent: &mut sent,
                scratch: &mut measure,
            };
            let interest = fresh.as_simulation();
            if let Err(error) =
                replicator.replicate(wire::wire_tick(tick), &rows, interest, &mut sink)
            {
                failures += 1;
                tracing::warn!(tick, %error, "the replication core refused the tick's rows");
            }
            failures += measure.failures;
            measure.failures = 0;
            for seat in &seats {
                if let Some(track) = players.get_mut(&seat.player) {
                    // No message (a held seat): its client holds what it held.
                    let figures = sent.get(&seat.player).copied().unwrap_or_else(|| Figures {
                        held: clients
                            .get(&seat.player)
                            .and_then(ClientState::latest)
                            .map_or(0, |state| u32::try_from(state.len()).unwrap_or(u32::MAX)),
                        ..Figures::default()
                    });
                    track.figures.push(figures);
                }
            }
            if tick.is_multiple_of(keyframe_ticks) {
                keyframes.push(Keyframe::of(fresh.as_ref()));
            }
        }
        if failures > 0 {
            tracing::warn!(
                failures,
                "some snapshots could not be measured: their figures are 0"
            );
        }
        let constants = fresh.client_constants();
        Ok(Self {
            name: name.to_owned(),
            record,
            schema,
            constants,
            keyframe_ticks,
            start,
            keyframes,
            replayed,
            entities,
            players,
            budget,
            bandwidth_budget: options.bandwidth_budget,
        })
    }

    /// What the viewer calls the record.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record.
    pub fn record(&self) -> &MatchRecord {
        &self.record
    }

    /// The game's schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The game's constants for its clients.
    pub fn constants(&self) -> &[(String, f32)] {
        &self.constants
    }

    /// Ticks in the match.
    pub fn ticks(&self) -> u64 {
        self.replayed.len() as u64
    }

    /// The recorded tick rate.
    pub fn tick_rate(&self) -> u32 {
        self.record.setup.tick_rate
    }

    /// Ticks between two keyframes.
    pub fn keyframe_ticks(&self) -> u64 {
        self.keyframe_ticks
    }

    /// The ticks a keyframe holds the match after (0: before the first).
    pub fn keyframes(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.keyframes.len() as u64).map(|i| i * self.keyframe_ticks)
    }

    /// The per-snapshot budget the figures were measured with.
    pub fn budget(&self) -> Option<Budget> {
        self.budget
    }

    /// The budget in bytes per second, if any.
    pub fn bandwidth_budget(&self) -> Option<u64> {
        self.bandwidth_budget
    }

    /// The state hash recorded after `tick`, if the record kept one.
    pub fn recorded(&self, tick: u64) -> Option<u64> {
        let i = usize::try_from(tick.checked_sub(1)?).ok()?;
        self.record.ticks.get(i)?.hash
    }

    /// The state hash of the replay after `tick`.
    pub fn replayed(&self, tick: u64) -> Option<u64> {
        let i = usize::try_from(tick.checked_sub(1)?).ok()?;
        self.replayed.get(i).copied()
    }

    /// Replicated entities after `tick`.
    pub fn entity_count(&self, tick: u64) -> Option<u32> {
        let i = usize::try_from(tick.checked_sub(1)?).ok()?;
        self.entities.get(i).copied()
    }

    /// Replicated entities after every tick, the first first.
    pub fn entity_counts(&self) -> &[u32] {
        &self.entities
    }

    /// Every tick whose replayed hash differs from the recorded one.
    pub fn divergences(&self) -> impl Iterator<Item = Divergence> + '_ {
        self.record
            .ticks
            .iter()
            .zip(&self.replayed)
            .filter_map(|(t, &replayed)| {
                let recorded = t.hash?;
                (recorded != replayed).then_some(Divergence {
                    tick: t.tick,
                    recorded,
                    replayed,
                })
            })
    }

    /// Ticks that carry a recorded hash.
    pub fn hashed_ticks(&self) -> usize {
        self.record
            .ticks
            .iter()
            .filter(|t| t.hash.is_some())
            .count()
    }

    /// Every player that was ever in the match, in id order.
    pub fn players(&self) -> &BTreeMap<PlayerId, Track> {
        &self.players
    }

    /// A cursor at `tick` (clamped to the match).
    pub fn cursor(&self, tick: u64) -> Cursor {
        let mut cursor = Cursor {
            sim: self.start.fork(),
            tick: 0,
            events: Vec::new(),
        };
        self.seek(&mut cursor, tick);
        cursor
    }

    /// A copy of the newest keyframe at or before `tick`, and its tick.
    fn keyframe_before(&self, tick: u64) -> (Box<dyn Replayable>, u64) {
        let n = usize::try_from(tick / self.keyframe_ticks)
            .unwrap_or(usize::MAX)
            .min(self.keyframes.len());
        match n.checked_sub(1).and_then(|i| self.keyframes.get(i)) {
            Some(keyframe) => (keyframe.fork(), n as u64 * self.keyframe_ticks),
            None => (self.start.fork(), 0),
        }
    }

    /// Moves `cursor` to `tick` (clamped to the match): on from where it
    /// is if that is on the way, else from the newest keyframe at or
    /// before `tick`. Leaves no events.
    pub fn seek(&self, cursor: &mut Cursor, tick: u64) {
        let tick = tick.min(self.ticks());
        let keyframe = (tick / self.keyframe_ticks) * self.keyframe_ticks;
        if tick < cursor.tick || cursor.tick < keyframe {
            (cursor.sim, cursor.tick) = self.keyframe_before(tick);
        }
        while cursor.tick < tick {
            self.step(cursor);
        }
        cursor.events.clear();
    }

    /// Runs the tick after the cursor's, keeping its game events. Returns
    /// false at the end of the match.
    pub fn step(&self, cursor: &mut Cursor) -> bool {
        let Some(calls) = usize::try_from(cursor.tick)
            .ok()
            .and_then(|i| self.record.ticks.get(i))
        else {
            return false;
        };
        for call in &calls.calls {
            call.apply(cursor.sim.as_simulation_mut());
        }
        cursor.sim.step();
        cursor.tick += 1;
        cursor.events.clear();
        cursor.sim.drain_events(&mut cursor.events);
        true
    }

    /// The players in the match at the cursor, in id order.
    pub fn seats(&self, cursor: &Cursor) -> Vec<Seat> {
        let mut seats = Vec::new();
        cursor.sim.seats(&mut seats);
        seats
    }
}

/// A copy of the match kept to seek from. A match is `Send` but need not
/// be `Sync`; the lock makes the timeline shareable, and is held only to
/// copy.
struct Keyframe(Mutex<Box<dyn Replayable>>);

impl Keyframe {
    /// A keyframe of `sim` as it is now.
    fn of(sim: &dyn Replayable) -> Self {
        Self(Mutex::new(sim.fork()))
    }

    /// A copy to run on.
    fn fork(&self) -> Box<dyn Replayable> {
        self.0.lock().fork()
    }
}

/// Scratch of the measuring sink, reused over the ticks.
#[derive(Default)]
struct Measure {
    /// The ids in a player's view.
    ids: Vec<NetId>,
    /// Messages that did not decode or apply (a bug).
    failures: u64,
}

/// The load pass's sink: every message delivered at once, decoded by the
/// player's own client, and measured.
struct Measuring<'a> {
    sim: &'a dyn Simulation,
    rows: &'a [ReplicatedEntity],
    clients: &'a mut BTreeMap<PlayerId, ClientState>,
    sent: &'a mut BTreeMap<PlayerId, Figures>,
    scratch: &'a mut Measure,
}

impl Sink<()> for Measuring<'_> {
    fn deliver(
        &mut self,
        player: PlayerId,
        _handle: &(),
        _tick: u32,
        message: &mut Vec<u8>,
    ) -> Delivery {
        match self.measure(player, message) {
            Some(figures) => {
                self.sent.insert(player, figures);
            }
            None => self.scratch.failures += 1,
        }
        Delivery::Written
    }
}

impl Measuring<'_> {
    /// The figures of `player`'s message, applied by its client.
    fn measure(&mut self, player: PlayerId, message: &[u8]) -> Option<Figures> {
        let client = self.clients.get_mut(&player)?;
        let snapshot =
            decode_snapshot_message(client.schema(), message, &Limits::default()).ok()?;
        let held = client.apply(&snapshot.body).ok()?;
        let mut deferred = 0u32;
        if let Some(view) = self.sim.view(player) {
            let ids = &mut self.scratch.ids;
            ids.clear();
            self.sim.entities_in(view, ids);
            for id in ids.iter() {
                let Ok(now) = self.rows.binary_search_by_key(id, |r| r.id) else {
                    continue; // not replicated
                };
                let up_to_date = held
                    .binary_search_by_key(id, |r| r.id)
                    .is_ok_and(|h| held.get(h) == self.rows.get(now));
                if !up_to_date {
                    deferred += 1;
                }
            }
        }
        Some(Figures {
            bytes: u32::try_from(message.len()).unwrap_or(u32::MAX),
            held: u32::try_from(held.len()).unwrap_or(u32::MAX),
            deferred,
            full: snapshot.body.baseline.is_none(),
        })
    }
}
