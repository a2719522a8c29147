//! Match recording and replay.
//!
//! A match is a pure function of its setup (game, seed, config, tick rate)
//! and of the ordered calls made between ticks. A recording is exactly that:
//! a header line with the [`MatchSetup`], then one JSON line per tick with
//! the calls made before it (and, optionally, the state hash after it).
//! Replaying the calls on a fresh simulation built from the setup yields the
//! same per-tick hashes; with recorded hashes, the first tick that differs
//! is reported.
//!
//! Recording is streaming: [`Recording`] wraps any [`Simulation`], forwards
//! every call, and appends one line per tick to any [`Write`], so the server
//! records a live match with a `BufWriter<File>` and never holds the match
//! in memory. An input costs about 30 bytes of JSON.
//!
//! ```text
//! {"game":"arena","seed":7,"tick_rate":30,"config":{...},"max_rewind":6}
//! {"t":1,"c":[{"j":"ada"},{"j":"bob"}]}
//! {"t":2,"c":[{"i":[0,1,[127,0,0,1],0]}],"h":1234567}
//! {"t":3,"c":[{"d":1}]}
//! ```
//!
//! The calls: `j` a join (the name), `l` a leave (the player), `i` an input
//! (player, sequence number, values), `d` a dropped connection whose seat
//! is held (the player).

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::replicate::{
    GameEvent, NetId, PlayerId, PlayerInput, Rect, ReplicatedEntity, Schema, sent_values,
};
use crate::simulation::{JoinError, Joined, Simulation};

/// Everything needed to build the same match again: a recording's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchSetup {
    /// Game name (`"arena"`, `"bench"`, or a game of your own).
    pub game: String,
    /// The RNG seed.
    pub seed: u64,
    /// Ticks per second.
    pub tick_rate: u32,
    /// The game's resolved configuration, as JSON (`null` for none).
    pub config: serde_json::Value,
    /// How far back players' views were believed, in ticks
    /// ([`crate::World::with_max_rewind`]); 0 in records made before inputs
    /// carried a view, which never rewound.
    #[serde(default)]
    pub max_rewind: u32,
}

/// One call made on a simulation between two ticks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "CallRepr", from = "CallRepr")]
pub enum Call {
    /// [`Simulation::join`] with this name.
    Join {
        /// The name given.
        name: String,
    },
    /// [`Simulation::leave`].
    Leave {
        /// Who left.
        player: PlayerId,
    },
    /// [`Simulation::input`].
    Input {
        /// Whose input.
        player: PlayerId,
        /// The input.
        input: PlayerInput,
    },
    /// [`Simulation::dropped`].
    Dropped {
        /// Whose connection dropped.
        player: PlayerId,
    },
}

/// The compact on-disk form of a [`Call`].
#[derive(Clone, Serialize, Deserialize)]
enum CallRepr {
    #[serde(rename = "j")]
    Join(String),
    #[serde(rename = "l")]
    Leave(u32),
    #[serde(rename = "i")]
    /// Player, sequence number, the input's values up to the last non-zero
    /// one, and the tick the player was showing (absent from records made
    /// before inputs carried it: 0).
    Input(u32, u32, Vec<i32>, #[serde(default)] u32),
    #[serde(rename = "d")]
    Dropped(u32),
}

impl From<Call> for CallRepr {
    fn from(c: Call) -> Self {
        match c {
            Call::Join { name } => Self::Join(name),
            Call::Leave { player } => Self::Leave(player.0),
            Call::Input { player, input: i } => {
                Self::Input(player.0, i.seq, sent_values(&i.values).to_vec(), i.view)
            }
            Call::Dropped { player } => Self::Dropped(player.0),
        }
    }
}

impl From<CallRepr> for Call {
    fn from(c: CallRepr) -> Self {
        match c {
            CallRepr::Join(name) => Self::Join { name },
            CallRepr::Leave(p) => Self::Leave {
                player: PlayerId(p),
            },
            CallRepr::Input(p, seq, values, view) => Self::Input {
                player: PlayerId(p),
                // Values past the input's largest size are not an input any
                // game declares; they are dropped, as the server would
                // have refused them.
                input: PlayerInput::new(seq, &values).viewing(view),
            },
            CallRepr::Dropped(p) => Self::Dropped {
                player: PlayerId(p),
            },
        }
    }
}

impl Call {
    /// Makes this call on `sim`.
    pub fn apply(&self, sim: &mut dyn Simulation) {
        match self {
            Self::Join { name } => {
                // A refused join changes nothing, in the match and the replay.
                let _ = sim.join(name);
            }
            Self::Leave { player } => sim.leave(*player),
            Self::Input { player, input } => sim.input(*player, *input),
            Self::Dropped { player } => sim.dropped(*player),
        }
    }
}

/// One tick of a recording: the calls made before it, in call order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickCalls {
    /// The tick these calls preceded (the first tick is 1).
    #[serde(rename = "t")]
    pub tick: u64,
    /// The calls, in the order they were made.
    #[serde(rename = "c")]
    pub calls: Vec<Call>,
    /// The state hash after the tick, if the recorder kept hashes.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<u64>,
}

/// A whole recorded match, read back into memory.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchRecord {
    /// How to build the match.
    pub setup: MatchSetup,
    /// Every tick, in order.
    pub ticks: Vec<TickCalls>,
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Reading failed.
    #[error("reading the recording: {0}")]
    Io(#[from] io::Error),
    /// The recording has no header line.
    #[error("the recording is empty")]
    Empty,
    /// A line is not valid JSON of the expected shape.
    #[error("line {line}: {source}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// Ticks must follow each other: 1, 2, 3...
    #[error("line {line}: tick {got}, expected tick {expected}")]
    TickOrder {
        /// 1-based line number.
        line: usize,
        /// The tick the line should be.
        expected: u64,
        /// The tick it is.
        got: u64,
    },
}

/// The outcome of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The state hash after every replayed tick; `hashes[0]` is tick 1.
    pub hashes: Vec<u64>,
    /// The first tick whose hash differs from the recorded one, if any.
    pub first_divergence: Option<u64>,
}

impl MatchRecord {
    /// Reads a recording (header line, then one line per tick).
    pub fn read(reader: impl BufRead) -> Result<Self, RecordError> {
        let mut lines = reader.lines().enumerate();
        let (_, header) = lines.next().ok_or(RecordError::Empty)?;
        let setup: MatchSetup = serde_json::from_str(&header?)
            .map_err(|source| RecordError::Json { line: 1, source })?;
        let mut ticks = Vec::new();
        for (i, line) in lines {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let tick: TickCalls =
                serde_json::from_str(&line).map_err(|source| RecordError::Json {
                    line: i + 1,
                    source,
                })?;
            let expected = ticks.len() as u64 + 1;
            if tick.tick != expected {
                return Err(RecordError::TickOrder {
                    line: i + 1,
                    expected,
                    got: tick.tick,
                });
            }
            ticks.push(tick);
        }
        Ok(Self { setup, ticks })
    }

    /// Writes the recording in the format [`MatchRecord::read`] reads.
    pub fn write(&self, mut out: impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut out, &self.setup)?;
        out.write_all(b"\n")?;
        for tick in &self.ticks {
            serde_json::to_writer(&mut out, tick)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Replays every tick on `sim`, which must be freshly built from
    /// [`MatchRecord::setup`], and returns the hash after each tick.
    pub fn replay_on(&self, sim: &mut dyn Simulation) -> Replay {
        let mut hashes = Vec::with_capacity(self.ticks.len());
        let mut first_divergence = None;
        for tick in &self.ticks {
            for call in &tick.calls {
                call.apply(sim);
            }
            sim.step();
            let hash = sim.state_hash();
            hashes.push(hash);
            if first_divergence.is_none() && tick.hash.is_some_and(|h| h != hash) {
                first_divergence = Some(tick.tick);
            }
        }
        Replay {
            hashes,
            first_divergence,
        }
    }
}

/// Streams a match to a writer, one line per tick. See the module docs.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    /// Where lines go.
    out: W,
    /// Calls since the last tick.
    calls: Vec<Call>,
    /// Ticks written so far.
    ticks: u64,
    /// Reused line buffer, so a tick costs one `write_all`.
    line: Vec<u8>,
}

impl<W: Write> Recorder<W> {
    /// Starts a recording: writes the header line.
    pub fn new(mut out: W, setup: &MatchSetup) -> io::Result<Self> {
        let mut line = serde_json::to_vec(setup)?;
        line.push(b'\n');
        out.write_all(&line)?;
        Ok(Self {
            out,
            calls: Vec::new(),
            ticks: 0,
            line,
        })
    }

    /// Notes a call made before the next tick.
    pub fn call(&mut self, call: Call) {
        self.calls.push(call);
    }

    /// Writes the line of the tick just run, with its state hash if given.
    pub fn end_tick(&mut self, hash: Option<u64>) -> io::Result<()> {
        self.ticks += 1;
        let tick = TickCalls {
            tick: self.ticks,
            calls: std::mem::take(&mut self.calls),
            hash,
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &tick)?;
        self.line.push(b'\n');
        // Hand the buffer back to `calls` so the next tick reuses it.
        self.calls = tick.calls;
        self.calls.clear();
        self.out.write_all(&self.line)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A [`Simulation`] that records every call it forwards. See the module
/// docs.
///
/// A write error stops the recording, never the match: the error is kept
/// for [`Recording::error`] and the simulation runs on.
#[derive(Debug)]
pub struct Recording<S, W: Write> {
    /// The simulation being recorded.
    sim: S,
    /// The recorder, until a write fails.
    recorder: Option<Recorder<W>>,
    /// Whether each tick line carries the state hash (costs one hash per
    /// tick, which is a walk over every entity).
    hashes: bool,
    /// The write error that stopped the recording.
    error: Option<io::Error>,
}

impl<S: Simulation, W: Write + Send + std::fmt::Debug> Recording<S, W> {
    /// Wraps `sim`, which must be freshly built from `setup`, writing the
    /// header now. With `hashes`, every tick line carries the state hash, so
    /// a replay can name the first tick that diverges.
    pub fn new(sim: S, setup: &MatchSetup, out: W, hashes: bool) -> io::Result<Self> {
        Ok(Self {
            sim,
            recorder: Some(Recorder::new(out, setup)?),
            hashes,
            error: None,
        })
    }

    /// The simulation.
    pub fn inner(&self) -> &S {
        &self.sim
    }

    /// The write error that stopped the recording, if one did.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Flushes the recording and returns the simulation and the writer.
    pub fn finish(self) -> (S, io::Result<W>) {
        let out = match (self.recorder, self.error) {
            (Some(r), _) => r.finish(),
            (None, Some(e)) => Err(e),
            (None, None) => Err(io::Error::other("recording stopped")),
        };
        (self.sim, out)
    }

    fn note(&mut self, call: Call) {
        if let Some(r) = &mut self.recorder {
            r.call(call);
        }
    }
}

impl<S: Simulation, W: Write + Send + std::fmt::Debug> Simulation for Recording<S, W> {
    fn schema(&self) -> &Schema {
        self.sim.schema()
    }
    fn tick_rate(&self) -> u32 {
        self.sim.tick_rate()
    }
    fn tick(&self) -> u64 {
        self.sim.tick()
    }
    fn max_players(&self) -> usize {
        self.sim.max_players()
    }
    fn player_count(&self) -> usize {
        self.sim.player_count()
    }
    fn join(&mut self, name: &str) -> Result<Joined, JoinError> {
        self.note(Call::Join { name: name.into() });
        self.sim.join(name)
    }
    fn leave(&mut self, player: PlayerId) {
        self.note(Call::Leave { player });
        self.sim.leave(player);
    }
    fn input(&mut self, player: PlayerId, input: PlayerInput) {
        self.note(Call::Input { player, input });
        self.sim.input(player, input);
    }
    fn dropped(&mut self, player: PlayerId) {
        self.note(Call::Dropped { player });
        self.sim.dropped(player);
    }
    fn step(&mut self) {
        self.sim.step();
        if let Some(r) = &mut self.recorder {
            let hash = self.hashes.then(|| self.sim.state_hash());
            if let Err(e) = r.end_tick(hash) {
                self.error = Some(e);
                self.recorder = None;
            }
        }
    }
    fn replicated(&self, out: &mut Vec<ReplicatedEntity>) {
        self.sim.replicated(out);
    }
    fn drain_events(&mut self, out: &mut Vec<GameEvent>) {
        self.sim.drain_events(out);
    }
    fn last_applied_input(&self, player: PlayerId) -> Option<u32> {
        self.sim.last_applied_input(player)
    }
    fn input_timing(&self) -> crate::InputTiming {
        self.sim.input_timing()
    }
    fn view(&self, player: PlayerId) -> Option<Rect> {
        self.sim.view(player)
    }
    fn state_hash(&self) -> u64 {
        self.sim.state_hash()
    }
    fn save(&self) -> Option<Result<Vec<u8>, crate::snapshot::SnapshotError>> {
        self.sim.save()
    }
    fn entities_in(&self, rect: Rect, out: &mut Vec<NetId>) {
        self.sim.entities_in(rect, out);
    }
    fn client_constants(&self) -> Vec<(String, f32)> {
        self.sim.client_constants()
    }
}

impl<S: Simulation + ?Sized> Simulation for Box<S> {
    fn schema(&self) -> &Schema {
        (**self).schema()
    }
    fn tick_rate(&self) -> u32 {
        (**self).tick_rate()
    }
    fn tick(&self) -> u64 {
        (**self).tick()
    }
    fn max_players(&self) -> usize {
        (**self).max_players()
    }
    fn player_count(&self) -> usize {
        (**self).player_count()
    }
    fn join(&mut self, name: &str) -> Result<Joined, JoinError> {
        (**self).join(name)
    }
    fn leave(&mut self, player: PlayerId) {
        (**self).leave(player);
    }
    fn input(&mut self, player: PlayerId, input: PlayerInput) {
        (**self).input(player, input);
    }
    fn dropped(&mut self, player: PlayerId) {
        (**self).dropped(player);
    }
    fn step(&mut self) {
        (**self).step();
    }
    fn replicated(&self, out: &mut Vec<ReplicatedEntity>) {
        (**self).replicated(out);
    }
    fn drain_events(&mut self, out: &mut Vec<GameEvent>) {
        (**self).drain_events(out);
    }
    fn last_applied_input(&self, player: PlayerId) -> Option<u32> {
        (**self).last_applied_input(player)
    }
    fn input_timing(&self) -> crate::InputTiming {
        (**self).input_timing()
    }
    fn view(&self, player: PlayerId) -> Option<Rect> {
        (**self).view(player)
    }
    fn state_hash(&self) -> u64 {
        (**self).state_hash()
    }
    fn save(&self) -> Option<Result<Vec<u8>, crate::snapshot::SnapshotError>> {
        (**self).save()
    }
    fn entities_in(&self, rect: Rect, out: &mut Vec<NetId>) {
        (**self).entities_in(rect, out);
    }
    fn client_constants(&self) -> Vec<(String, f32)> {
        (**self).client_constants()
    }
}
