//! Failover: a room that outlives its node.
//!
//! A match is deterministic, so a room can be continued anywhere from a
//! snapshot of its state and the calls made since. Every room of a game
//! that takes snapshots keeps a journal ([`crate::room::journal`]), which a
//! writer task here puts in Redis, under the room's epoch:
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `P room:NAME:state` | hash | `epoch`, `node`, `tick` (of the snapshot), `snapshot` (the match's bytes), `seats` (JSON), `at` (Redis time of the newest write, ms) |
//! | `P room:NAME:log` | stream | one entry a tick since the snapshot, id `TICK-1`, field `c`: the tick's calls and hash as a line of the match record's format |
//!
//! Both live `--room-state-ttl` after the newest write, and are deleted
//! when the room ends. A snapshot deletes the log before it (the log
//! holds only the ticks after the newest snapshot). Every write checks the
//! epoch in the state: a node whose room was taken over (a newer epoch)
//! writes nothing more, so a node that was only frozen cannot overwrite
//! the room's new life.
//!
//! When the node dies its leases run out, and the next connection for the
//! room places it anew, under a newer epoch, on a live node (see
//! [`super::directory::PLACE`]). Before that node opens the room, it
//! **claims** its state ([`CLAIM`]: the state's epoch becomes the new one
//! in the same step that reads the snapshot and the log), restores the
//! match from the snapshot, replays the log tick by tick (checking each
//! tick's state hash against the dead node's), and opens the room with
//! every player's seat held: the players' clients resume it with the
//! tokens the dead node gave them (signed with the cluster secret, so any
//! node checks them), as after a dropped connection. The match goes on:
//! the same tick count, the same entity ids, the same players.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tickwire_protocol::HISTORY_TICKS;
use tickwire_sim::record::{Call, TickCalls};
use tickwire_sim::{GameEvent, ReplicatedEntity, Simulation};
use tokio::sync::{mpsc, watch};

use super::directory::{CALL_TIMEOUT, DirectoryError, PREFIX, connect, invoke, millis};
use crate::room::journal::{Confirmed, Entry, Journal, SavedPlayer, SavedSeats};
use crate::stats;

/// Entries the node's rooms may have queued for the writer: a few seconds
/// of ticks of a thousand rooms.
const JOURNAL_QUEUE: usize = 65_536;

/// Entries written to Redis in one pipeline, at most.
const BATCH: usize = 1024;

/// Appends ticks to a room's log, if the state still names the writer's
/// epoch and the first tick follows the log's last. `KEYS`: state, log.
/// `ARGV`: epoch, TTL ms, count, then tick and line of each. Returns 1; 0
/// when the room's epoch is another one; 2 when the ticks do not follow
/// (a write was lost) or there is no state (Redis restarted empty, or the
/// state expired): the log waits for the next snapshot.
pub const APPEND: &str = r#"
local s = redis.call('HMGET', KEYS[1], 'epoch', 'last')
if s[1] == false then return 2 end
if s[1] ~= ARGV[1] then return 0 end
if tonumber(ARGV[4]) ~= tonumber(s[2]) + 1 then return 2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local i = 4
local last = s[2]
for _ = 1, tonumber(ARGV[3]) do
  redis.call('XADD', KEYS[2], ARGV[i] .. '-1', 'c', ARGV[i + 1])
  last = ARGV[i]
  i = i + 2
end
redis.call('HSET', KEYS[1], 'at', now, 'last', last)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"#;

/// Writes a room's snapshot and deletes its log, unless a newer epoch has
/// the room. `KEYS`: state, log. `ARGV`: epoch, TTL ms, tick, snapshot,
/// seats, node. Returns 1, or 0 when a newer epoch has the room.
pub const SNAPSHOT: &str = r#"
local e = redis.call('HGET', KEYS[1], 'epoch')
if e ~= false and tonumber(e) > tonumber(ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'node', ARGV[6], 'tick', ARGV[3],
  'last', ARGV[3], 'snapshot', ARGV[4], 'seats', ARGV[5], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// Deletes a room's state and log if they are of the epoch. `KEYS`:
/// state, log. `ARGV`: epoch.
pub const END: &str = r#"
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
end
return 1
"#;

/// Claims a room's state for a new epoch: `none` without one; `newer`
/// (and the epoch) when a newer epoch has it; else `saved`, the
/// snapshot's tick, the snapshot, the seats, milliseconds since the
/// newest write, the node that wrote it, then the log's lines in order,
/// and the state is the new epoch's from now on. `KEYS`: state, log.
/// `ARGV`: epoch, node, TTL ms.
pub const CLAIM: &str = r#"
local s = redis.call('HMGET', KEYS[1], 'epoch', 'tick', 'snapshot', 'seats', 'at', 'node')
if s[1] == false or s[3] == false then return {'none'} end
local mine = tonumber(s[1]) == tonumber(ARGV[1]) and s[6] == ARGV[2]
if tonumber(s[1]) >= tonumber(ARGV[1]) and not mine then return {'newer', s[1]} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'node', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local out = {'saved', s[2], s[3], s[4], tostring(math.max(0, now - tonumber(s[5] or now))), s[6]}
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  table.insert(out, entry[2][2])
end
return out
"#;

/// The node's writer's queue: every room's entries, each with its lane.
type Queue = mpsc::Sender<(Arc<Lane>, Entry)>;

/// The keys of room `room`'s state and log.
fn keys(room: &str) -> (String, String) {
    (
        format!("{PREFIX}room:{room}:state"),
        format!("{PREFIX}room:{room}:log"),
    )
}

/// What a node's failover needs: its Redis connection (apart from the
/// directory's, so that snapshots never delay a heartbeat), its scripts
/// and settings.
pub struct Failover {
    redis: ConnectionManager,
    claim: redis::Script,
    /// To the node's writer, started with the first journal.
    writer: parking_lot::Mutex<Option<Queue>>,
    /// The writer's settings, until it starts.
    scripts: [redis::Script; 3],
    /// Lanes handed out.
    lanes: std::sync::atomic::AtomicU64,
    /// This node's id.
    node: String,
    /// A snapshot every this many ticks; `None`: every second's worth.
    every: Option<u32>,
    /// How long the state lives after its newest write.
    ttl: Duration,
    /// The longest wait for a tick's confirmation.
    wait: Duration,
}

impl std::fmt::Debug for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failover")
            .field("every", &self.every)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A room's state, claimed: what continues it.
#[derive(Debug)]
pub struct Saved {
    /// The snapshot's tick.
    pub tick: u64,
    /// The match's bytes.
    pub snapshot: Vec<u8>,
    /// The seats at the snapshot.
    pub seats: SavedSeats,
    /// Since the dead node's newest write.
    pub dead_for: Duration,
    /// The node that wrote it.
    pub node: String,
    /// The log's lines, a tick each, in order.
    pub lines: Vec<String>,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claimed {
    /// No state: the room opens afresh.
    Nothing,
    /// A newer epoch has the room: this node's placement is stale.
    Newer(u64),
    /// The state, now this epoch's.
    Saved(Box<Saved>),
}

/// A match continued from a claimed state: restored and replayed.
#[derive(Debug)]
pub struct Continued {
    /// The match, at the log's last tick.
    pub sim: Box<dyn Simulation>,
    /// The room's match id.
    pub match_id: u64,
    /// The seats after the replay (those who joined since the snapshot
    /// too, those who left not).
    pub players: Vec<SavedPlayer>,
    /// Ticks replayed.
    pub replayed: u64,
    /// Since the dead node's newest write.
    pub dead_for: Duration,
    /// The replicated rows of the last ticks replayed (at most the
    /// history's depth), oldest first: what the players' clients may
    /// hold, so that their resumes get a delta.
    pub recent: Vec<(u64, Vec<ReplicatedEntity>)>,
}

/// Why a claimed state could not continue the room.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The snapshot did not restore.
    #[error("the snapshot does not restore: {0:#}")]
    Snapshot(anyhow::Error),
    /// The seats are not what a snapshot keeps.
    #[error("the seats do not decode: {0}")]
    Seats(serde_json::Error),
    /// A log line is not a tick's calls.
    #[error("log line {line} does not decode: {error}")]
    Line {
        /// 1-based.
        line: usize,
        /// What serde_json said.
        error: serde_json::Error,
    },
    /// The log skips a tick.
    #[error("the log has tick {got} where tick {expected} was due")]
    Gap {
        /// The tick due.
        expected: u64,
        /// The tick found.
        got: u64,
    },
    /// The replay's state differs from the dead node's.
    #[error(
        "the replay diverged at tick {tick}: hash {got:#018x}, the dead node had {expected:#018x}"
    )]
    Diverged {
        /// The tick.
        tick: u64,
        /// The dead node's hash.
        expected: u64,
        /// The replay's.
        got: u64,
    },
}

impl Failover {
    /// Failover in the Redis at `url`, for node `node`: a snapshot every
    /// `every` ticks (`None`: the tick rate), the state living `ttl`,
    /// waits of at most `wait`.
    pub fn new(
        url: &str,
        node: String,
        every: Option<u32>,
        ttl: Duration,
        wait: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            redis: connect(url)?,
            claim: redis::Script::new(CLAIM),
            writer: parking_lot::Mutex::new(None),
            scripts: [
                redis::Script::new(APPEND),
                redis::Script::new(SNAPSHOT),
                redis::Script::new(END),
            ],
            lanes: std::sync::atomic::AtomicU64::new(0),
            node,
            every,
            ttl,
            wait,
        })
    }

    /// A journal for room `room` under `epoch` at `tick_rate`, through
    /// the node's writer (started with the first journal).
    pub fn journal(&self, room: &str, epoch: u64, tick_rate: u32) -> Journal {
        let (confirm, confirmed) = watch::channel(Confirmed::default());
        let lane = Arc::new(Lane {
            id: self
                .lanes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            keys: keys(room),
            room: room.to_owned(),
            epoch,
            confirm,
        });
        let sender = self
            .writer
            .lock()
            .get_or_insert_with(|| {
                let (sender, queue) = mpsc::channel(JOURNAL_QUEUE);
                let [append, snapshot, end] = self.scripts.clone();
                let writer = Writer {
                    redis: self.redis.clone(),
                    append,
                    snapshot,
                    end,
                    node: self.node.clone(),
                    ttl_ms: millis(self.ttl),
                };
                tokio::spawn(writer.run(queue));
                sender
            })
            .clone();
        let entries = Box::new(move |entry| sender.try_send((Arc::clone(&lane), entry)).is_ok());
        let every = self.every.unwrap_or(tick_rate).max(1);
        Journal::new(entries, confirmed, every, self.wait)
    }

    /// Claims room `room`'s state for `epoch` (see [`CLAIM`]).
    pub async fn claim(&self, room: &str, epoch: u64) -> Result<Claimed, DirectoryError> {
        let (state, log) = keys(room);
        let mut call = self.claim.prepare_invoke();
        call.key(&state)
            .key(&log)
            .arg(epoch)
            .arg(&self.node)
            .arg(millis(self.ttl));
        let answer: Vec<Vec<u8>> = invoke(&self.redis, &call, CALL_TIMEOUT).await?;
        let mut answer = answer.into_iter();
        let text = |v: Option<Vec<u8>>| String::from_utf8(v.unwrap_or_default()).ok();
        match text(answer.next()).as_deref() {
            Some("none") => Ok(Claimed::Nothing),
            Some("newer") => Ok(Claimed::Newer(
                text(answer.next())
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(u64::MAX),
            )),
            Some("saved") => {
                let tick = text(answer.next()).and_then(|t| t.parse().ok()).ok_or(
                    DirectoryError::Answer("a snapshot tick that is not a number"),
                )?;
                let snapshot = answer.next().unwrap_or_default();
                let seats = text(answer.next()).unwrap_or_default();
                let seats = serde_json::from_str(&seats)
                    .map_err(|_| DirectoryError::Answer("seats that do not decode"))?;
                let dead_ms: u64 = text(answer.next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let node = text(answer.next()).unwrap_or_default();
                let lines = answer
                    .map(|line| String::from_utf8_lossy(&line).into_owned())
                    .collect();
                Ok(Claimed::Saved(Box::new(Saved {
                    tick,
                    snapshot,
                    seats,
                    dead_for: Duration::from_millis(dead_ms),
                    node,
                    lines,
                })))
            }
            _ => Err(DirectoryError::Answer("not a claim")),
        }
    }
}

/// Continues `saved` through `restore` (the game factory's): restores the
/// snapshot, then replays the log, checking every tick's hash.
pub fn replay(
    saved: Saved,
    restore: impl FnOnce(&[u8]) -> anyhow::Result<Box<dyn Simulation>>,
) -> Result<Continued, RestoreError> {
    let mut sim = restore(&saved.snapshot).map_err(RestoreError::Snapshot)?;
    let mut players = saved.seats.players;
    let mut events: Vec<GameEvent> = Vec::new();
    let mut replayed = 0;
    let mut recent = std::collections::VecDeque::with_capacity(HISTORY_TICKS + 1);
    let mut remember = |sim: &dyn Simulation| {
        let mut rows = Vec::new();
        sim.replicated(&mut rows);
        recent.push_back((sim.tick(), rows));
        if recent.len() > HISTORY_TICKS {
            recent.pop_front();
        }
    };
    remember(sim.as_ref());
    for (i, line) in saved.lines.iter().enumerate() {
        let tick: TickCalls = serde_json::from_str(line)
            .map_err(|error| RestoreError::Line { line: i + 1, error })?;
        let expected = sim.tick() + 1;
        if tick.tick != expected {
            return Err(RestoreError::Gap {
                expected,
                got: tick.tick,
            });
        }
        for call in tick.calls {
            match call {
                Call::Join { name } => {
                    if let Ok(joined) = sim.join(&name) {
                        players.push(SavedPlayer {
                            id: joined.player.0,
                            name,
                            avatar: joined.avatar.0,
                            generation: 1,
                        });
                    }
                }
                Call::Leave { player } => {
                    sim.leave(player);
                    players.retain(|p| p.player() != player);
                }
                call => call.apply(sim.as_mut()),
            }
        }
        sim.step();
        events.clear();
        sim.drain_events(&mut events);
        if let Some(expected) = tick.hash {
            let got = sim.state_hash();
            if got != expected {
                return Err(RestoreError::Diverged {
                    tick: tick.tick,
                    expected,
                    got,
                });
            }
        }
        replayed += 1;
        remember(sim.as_ref());
    }
    Ok(Continued {
        recent: recent.into(),
        sim,
        match_id: saved.seats.match_id,
        players,
        replayed,
        dead_for: saved.dead_for,
    })
}

/// A room's lane in the node's writer: where its entries go in Redis.
#[derive(Debug)]
struct Lane {
    /// Unique on the node.
    id: u64,
    keys: (String, String),
    room: String,
    epoch: u64,
    confirm: watch::Sender<Confirmed>,
}

impl Lane {
    /// A write went through up to `tick`.
    fn confirmed(&self, tick: u64) {
        self.confirm.send_modify(|c| {
            c.tick = c.tick.max(tick);
            c.failing = false;
        });
    }

    /// A write did not: nothing is confirmed until a snapshot goes through.
    fn failed(&self, why: &dyn std::fmt::Display) {
        if !self.confirm.borrow().failing {
            tracing::warn!(room = %self.room, %why, "room journal write failed; failover waits for the next snapshot");
        }
        self.confirm.send_modify(|c| c.failing = true);
    }
}

/// One script call of a batch, for one lane.
enum Op {
    /// Ticks, in order.
    Append(Vec<(u64, String)>),
    Snapshot {
        tick: u64,
        snapshot: Vec<u8>,
        seats: String,
    },
    End,
}

impl Op {
    /// Bytes it writes (the journal's share, not the protocol's).
    fn bytes(&self) -> usize {
        match self {
            Self::Append(ticks) => ticks.iter().map(|(_, line)| line.len()).sum(),
            Self::Snapshot {
                snapshot, seats, ..
            } => snapshot.len() + seats.len(),
            Self::End => 0,
        }
    }
}

/// The node's writer: one task puts every room's journal in Redis, each
/// wakeup's entries of all rooms in one pipeline (one round trip), each
/// room's in order. The scripts keep every room's log whole: an append
/// that does not follow the room's last tick is refused, so a failed
/// write leaves a gap no later write papers over (the next snapshot
/// starts the log over).
struct Writer {
    redis: ConnectionManager,
    append: redis::Script,
    snapshot: redis::Script,
    end: redis::Script,
    node: String,
    ttl_ms: u64,
}

impl Writer {
    /// Writes until every journal is gone.
    async fn run(self, mut queue: mpsc::Receiver<(Arc<Lane>, Entry)>) {
        // Each lane's entries stay in order: one pipeline at a time.
        let mut batch = Vec::with_capacity(BATCH);
        // Lanes whose room's epoch was taken over: nothing more is written.
        let mut fenced: HashSet<u64> = HashSet::new();
        while queue.recv_many(&mut batch, BATCH).await > 0 {
            let mut ops: Vec<(Arc<Lane>, Op)> = Vec::new();
            // Each lane's newest op in `ops`, to add its next tick to.
            let mut newest: HashMap<u64, usize> = HashMap::new();
            for (lane, entry) in batch.drain(..) {
                if fenced.contains(&lane.id) {
                    if matches!(entry, Entry::End) {
                        fenced.remove(&lane.id);
                    }
                    continue;
                }
                let op = match entry {
                    Entry::Tick { tick, line } => {
                        if let Some(&at) = newest.get(&lane.id)
                            && let (_, Op::Append(ticks)) = &mut ops[at]
                        {
                            ticks.push((tick, line));
                            continue;
                        }
                        Op::Append(vec![(tick, line)])
                    }
                    Entry::Snapshot {
                        tick,
                        snapshot,
                        seats,
                    } => Op::Snapshot {
                        tick,
                        snapshot,
                        seats,
                    },
                    Entry::End => Op::End,
                };
                newest.insert(lane.id, ops.len());
                ops.push((lane, op));
            }
            match self.write(&ops).await {
                Ok(answers) => {
                    for ((lane, op), answer) in ops.iter().zip(answers) {
                        self.answered(lane, op, answer, &mut fenced);
                    }
                }
                Err(error) => {
                    for (lane, _) in &ops {
                        lane.failed(&error);
                    }
                }
            }
        }
    }

    /// Runs `ops` in one pipeline; loads the scripts and tries again when
    /// Redis does not have them (a restart, a first use).
    async fn write(&self, ops: &[(Arc<Lane>, Op)]) -> Result<Vec<i64>, DirectoryError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let invocations: Vec<redis::ScriptInvocation<'_>> = ops
            .iter()
            .map(|(lane, op)| self.invocation(lane, op))
            .collect();
        let mut pipe = redis::pipe();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        match self.query(&pipe).await {
            Err(DirectoryError::Redis(error))
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let mut load = redis::pipe();
                load.load_script(&self.append)
                    .load_script(&self.snapshot)
                    .load_script(&self.end);
                self.query::<Vec<String>>(&load).await?;
                self.query(&pipe).await
            }
            answer => answer,
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, DirectoryError> {
        let mut redis = self.redis.clone();
        match tokio::time::timeout(CALL_TIMEOUT, pipe.query_async(&mut redis)).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(DirectoryError::Timeout(CALL_TIMEOUT)),
        }
    }

    /// The script call of `op`.
    fn invocation<'a>(&'a self, lane: &'a Lane, op: &'a Op) -> redis::ScriptInvocation<'a> {
        let (state, log) = &lane.keys;
        match op {
            Op::Append(ticks) => {
                let mut call = self.append.prepare_invoke();
                call.key(state)
                    .key(log)
                    .arg(lane.epoch)
                    .arg(self.ttl_ms)
                    .arg(ticks.len());
                for (tick, line) in ticks {
                    call.arg(*tick).arg(line);
                }
                call
            }
            Op::Snapshot {
                tick,
                snapshot,
                seats,
            } => {
                let mut call = self.snapshot.prepare_invoke();
                call.key(state)
                    .key(log)
                    .arg(lane.epoch)
                    .arg(self.ttl_ms)
                    .arg(*tick)
                    .arg(snapshot)
                    .arg(seats)
                    .arg(&self.node);
                call
            }
            Op::End => {
                let mut call = self.end.prepare_invoke();
                call.key(state).key(log).arg(lane.epoch);
                call
            }
        }
    }

    /// What Redis answered to `op` of `lane`: 1 done, 0 fenced (a newer
    /// epoch has the room), 2 a gap in the log (an append that does not
    /// follow the last tick).
    fn answered(&self, lane: &Lane, op: &Op, answer: i64, fenced: &mut HashSet<u64>) {
        match (answer, op) {
            (_, Op::End) => {}
            (1, _) => {
                metrics::counter!(stats::JOURNAL_BYTES).increment(op.bytes() as u64);
                let tick = match op {
                    Op::Append(ticks) => ticks.last().map_or(0, |(tick, _)| *tick),
                    Op::Snapshot { tick, .. } => *tick,
                    Op::End => 0,
                };
                lane.confirmed(tick);
            }
            (0, _) => {
                tracing::warn!(room = %lane.room, epoch = lane.epoch, "a newer epoch has this room's state: its journal stops here");
                fenced.insert(lane.id);
                lane.confirm.send_modify(|c| c.failing = true);
            }
            _ => lane.failed(&"the log has a gap"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::room::journal::SavedSeats;
    use tickwire_sim::PlayerInput;

    /// A match of the arena played for `ticks` ticks from a snapshot
    /// taken after `from`: the snapshot, the log lines after it, and the
    /// final state hash.
    fn played(from: u64, ticks: u64) -> (Saved, u64) {
        let game = crate::bundled::bundled("arena", Default::default()).unwrap();
        let mut sim = game.new_match("r", 1).unwrap();
        let ann = sim.join("ann").unwrap();
        let mut snapshot = None;
        let mut lines = Vec::new();
        let mut events = Vec::new();
        for tick in 1..=from + ticks {
            let mut calls = Vec::new();
            if tick == from + 2 {
                calls.push(Call::Join { name: "bob".into() });
            }
            let input = PlayerInput::new(u32::try_from(tick).unwrap(), &[1, 0]);
            calls.push(Call::Input {
                player: ann.player,
                input,
            });
            for call in &calls {
                call.apply(sim.as_mut());
            }
            sim.step();
            sim.drain_events(&mut events);
            if tick == from {
                snapshot = Some(sim.save().unwrap().unwrap());
            } else if tick > from {
                let line = TickCalls {
                    tick,
                    calls,
                    hash: Some(sim.state_hash()),
                };
                lines.push(serde_json::to_string(&line).unwrap());
            }
        }
        let seats = SavedSeats {
            match_id: 7,
            players: vec![SavedPlayer {
                id: ann.player.0,
                name: "ann".into(),
                avatar: ann.avatar.0,
                generation: 2,
            }],
        };
        let saved = Saved {
            tick: from,
            snapshot: snapshot.unwrap(),
            seats,
            dead_for: Duration::from_millis(300),
            node: "a".into(),
            lines,
        };
        (saved, sim.state_hash())
    }

    fn restore(bytes: &[u8]) -> anyhow::Result<Box<dyn Simulation>> {
        crate::bundled::bundled("arena", Default::default())?.restore_match("r", bytes)
    }

    #[test]
    fn a_replay_reaches_the_dead_nodes_state_and_seats() {
        let (saved, hash) = played(30, 20);
        let continued = replay(saved, restore).unwrap();
        assert_eq!(continued.replayed, 20);
        assert_eq!(continued.sim.tick(), 50);
        assert_eq!(continued.sim.state_hash(), hash);
        assert_eq!(continued.match_id, 7);
        let names: Vec<(&str, u32)> = continued
            .players
            .iter()
            .map(|p| (p.name.as_str(), p.generation))
            .collect();
        assert_eq!(
            names,
            [("ann", 2), ("bob", 1)],
            "bob joined after the snapshot"
        );
    }

    #[test]
    fn a_diverging_hash_or_a_gap_in_the_log_stops_the_replay() {
        let (mut saved, _) = played(30, 5);
        let mut tick: TickCalls = serde_json::from_str(&saved.lines[3]).unwrap();
        tick.hash = tick.hash.map(|h| h ^ 1);
        saved.lines[3] = serde_json::to_string(&tick).unwrap();
        assert!(matches!(
            replay(saved, restore),
            Err(RestoreError::Diverged { tick: 34, .. })
        ));
        let (mut saved, _) = played(30, 5);
        saved.lines.remove(1);
        assert!(matches!(
            replay(saved, restore),
            Err(RestoreError::Gap {
                expected: 32,
                got: 33
            })
        ));
        let (mut saved, _) = played(30, 5);
        saved.snapshot.truncate(10);
        assert!(matches!(
            replay(saved, restore),
            Err(RestoreError::Snapshot(_))
        ));
    }
}
