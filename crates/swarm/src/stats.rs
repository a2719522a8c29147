//! What the bots measure, shared across all of them.
//!
//! Counters are atomics; latency samples go into a few sharded histograms
//! (a bot batches its samples locally and flushes them), so per-bot memory
//! stays a few hundred bytes and bots rarely contend on a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tickwire_types::{InputDecl, InputKind, MAX_BUTTONS, MAX_INPUT_FIELDS};
use tokio::sync::watch;

/// Where the run is: bots record figures only while `Measuring`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Bots connect and settle; nothing is recorded but errors.
    Warmup = 0,
    /// The measured window.
    Measuring = 1,
    /// Bots close their sockets and return.
    Done = 2,
}

/// Number of histogram shards: bots pick one by index.
const SHARDS: usize = 16;
/// Latencies are recorded in microseconds, up to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Figures shared by every bot of a run.
#[derive(Debug)]
pub struct Shared {
    phase: AtomicU8,
    /// Bots whose socket is open and who got their welcome.
    pub connected: AtomicU64,
    /// Snapshots decoded since the start (for the progress bar).
    pub snapshots_total: AtomicU64,
    /// Errors of any kind since the start.
    pub errors: AtomicU64,
    /// Sockets that dropped without a close while the bot had a resume
    /// token (so it tried to resume).
    pub drops: AtomicU64,
    /// Held seats the bots took back after a drop.
    pub resumes: AtomicU64,
    /// Of those, seats taken back through the entry (`--url`), the node
    /// the bot was on being gone.
    pub failovers: AtomicU64,
    /// The longest time from a drop to the welcome that took the seat
    /// back, in microseconds.
    pub resume_us_max: AtomicU64,
    errors_by_kind: Mutex<BTreeMap<String, u64>>,
    /// Bots an operator closed (not errors): `kicked` (close 4014), `room
    /// closed` (4015), with the first reason the server gave for each.
    operator_closes: Mutex<BTreeMap<String, (u64, String)>>,
    /// The first error that stops the whole run (a behaviour that cannot
    /// drive the game).
    fatal: watch::Sender<Option<String>>,
    gaps: Vec<Mutex<Histogram<u64>>>,
    rtts: Vec<Mutex<Histogram<u64>>>,
    /// Gaps since the last report over time ([`Shared::take_interval_gaps`]).
    interval_gaps: Mutex<Histogram<u64>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    /// Fresh figures, in the warm-up phase.
    pub fn new() -> Self {
        let hist = || {
            // Bounds are constants that hdrhistogram accepts.
            #[allow(clippy::expect_used)]
            let h = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds");
            Mutex::new(h)
        };
        Self {
            phase: AtomicU8::new(Phase::Warmup as u8),
            connected: AtomicU64::new(0),
            snapshots_total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            resume_us_max: AtomicU64::new(0),
            errors_by_kind: Mutex::new(BTreeMap::new()),
            operator_closes: Mutex::new(BTreeMap::new()),
            fatal: watch::Sender::new(None),
            gaps: (0..SHARDS).map(|_| hist()).collect(),
            rtts: (0..SHARDS).map(|_| hist()).collect(),
            interval_gaps: hist(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Warmup,
            1 => Phase::Measuring,
            _ => Phase::Done,
        }
    }

    /// Moves the run to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Counts one error of `kind` (`connect`, `closed 1013`, `decode`...).
    pub fn error(&self, kind: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.errors_by_kind.lock().entry(kind.into()).or_default() += 1;
    }

    /// Counts a held seat taken back `after` its drop, through the entry
    /// when `through_entry`.
    pub fn resumed(&self, after: std::time::Duration, through_entry: bool) {
        self.resumes.fetch_add(1, Ordering::Relaxed);
        if through_entry {
            self.failovers.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(after.as_micros()).unwrap_or(u64::MAX);
        self.resume_us_max.fetch_max(us, Ordering::Relaxed);
    }

    /// Stops the run with `reason`: an error no bot can get past (the
    /// first one reported is kept).
    pub fn fail(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.fatal.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(reason);
            true
        });
    }

    /// Watches for the error that stops the run ([`Shared::fail`]).
    pub fn fatal(&self) -> watch::Receiver<Option<String>> {
        self.fatal.subscribe()
    }

    /// Counts one bot closed by an operator, as `kind` (`kicked`, `room
    /// closed`): the server's admin did it, the bot did nothing wrong, and
    /// it is no error.
    /// `reason` is the server's (its error message before the close).
    pub fn operator_closed(&self, kind: impl Into<String>, reason: &str) {
        let mut closes = self.operator_closes.lock();
        let (count, first) = closes
            .entry(kind.into())
            .or_insert_with(|| (0, reason.to_owned()));
        *count += 1;
        if first.is_empty() {
            reason.clone_into(first);
        }
    }

    /// Bots closed by an operator so far, by kind.
    pub fn operator_closes(&self) -> BTreeMap<String, u64> {
        let closes = self.operator_closes.lock();
        closes.iter().map(|(k, (n, _))| (k.clone(), *n)).collect()
    }

    /// The first reason the server gave for each kind of operator's close.
    pub fn operator_reasons(&self) -> BTreeMap<String, String> {
        let closes = self.operator_closes.lock();
        closes
            .iter()
            .map(|(k, (_, r))| (k.clone(), r.clone()))
            .collect()
    }

    /// Errors counted so far, by kind.
    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        self.errors_by_kind.lock().clone()
    }

    /// Adds a bot's batch of samples to the shared histograms.
    pub fn flush(&self, shard: usize, batch: &mut Samples) {
        if !batch.gaps_us.is_empty() {
            let mut h = self.gaps[shard % SHARDS].lock();
            for &g in &batch.gaps_us {
                h.saturating_record(u64::from(g).max(1));
            }
            drop(h);
            let mut h = self.interval_gaps.lock();
            for &g in &batch.gaps_us {
                h.saturating_record(u64::from(g).max(1));
            }
            batch.gaps_us.clear();
        }
        if !batch.rtts_us.is_empty() {
            let mut h = self.rtts[shard % SHARDS].lock();
            for &r in &batch.rtts_us {
                h.saturating_record(u64::from(r).max(1));
            }
            batch.rtts_us.clear();
        }
    }

    /// All gap samples, merged.
    pub fn gaps(&self) -> Histogram<u64> {
        merge(&self.gaps)
    }

    /// The gap samples flushed since the last call, and a fresh start.
    pub fn take_interval_gaps(&self) -> Histogram<u64> {
        let mut h = self.interval_gaps.lock();
        let taken = h.clone();
        h.reset();
        taken
    }

    /// All round-trip samples, merged.
    pub fn rtts(&self) -> Histogram<u64> {
        merge(&self.rtts)
    }
}

fn merge(shards: &[Mutex<Histogram<u64>>]) -> Histogram<u64> {
    let mut all = shards[0].lock().clone();
    for shard in &shards[1..] {
        // Same bounds everywhere, so adding cannot fail.
        let _ = all.add(&*shard.lock());
    }
    all
}

/// A bot's local batch of latency samples, in microseconds.
#[derive(Debug, Default)]
pub struct Samples {
    /// Gaps between consecutive snapshots.
    pub gaps_us: Vec<u32>,
    /// Input-to-acknowledging-snapshot round trips.
    pub rtts_us: Vec<u32>,
}

impl Samples {
    /// Samples a bot holds before it flushes them.
    pub const BATCH: usize = 32;

    /// Whether the batch should be flushed.
    pub fn full(&self) -> bool {
        self.gaps_us.len() >= Self::BATCH || self.rtts_us.len() >= Self::BATCH
    }
}

/// The inputs a bot sent inside the measured window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Inputs sent.
    pub sent: u64,
    /// Per button, named `field.button` (`buttons.fire`): inputs sent with
    /// it held. Every declared button is here, pressed or not.
    pub held: BTreeMap<String, u64>,
}

impl InputCounts {
    /// Adds another bot's counts to these.
    pub fn add(&mut self, other: &InputCounts) {
        self.sent += other.sent;
        for (name, n) in &other.held {
            *self.held.entry(name.clone()).or_default() += n;
        }
    }
}

/// Counts a bot's inputs, and per declared button those that hold it.
#[derive(Clone, Debug, Default)]
pub struct InputTally {
    sent: u64,
    /// `(field index, bit, name)` of every declared button.
    buttons: Vec<(usize, u32, String)>,
    held: Vec<u64>,
}

impl InputTally {
    /// A tally for the buttons of this declared input.
    pub fn new(input: &[InputDecl]) -> Self {
        let mut buttons = Vec::new();
        for (i, decl) in input.iter().enumerate().take(MAX_INPUT_FIELDS) {
            if let InputKind::Buttons { names } = &decl.kind {
                for (bit, name) in names.iter().enumerate().take(MAX_BUTTONS) {
                    buttons.push((i, bit as u32, format!("{}.{name}", decl.name)));
                }
            }
        }
        let held = vec![0; buttons.len()];
        Self {
            sent: 0,
            buttons,
            held,
        }
    }

    /// Counts one input sent with these values.
    pub fn count(&mut self, values: &[i32; MAX_INPUT_FIELDS]) {
        self.sent += 1;
        for ((field, bit, _), held) in self.buttons.iter().zip(&mut self.held) {
            if (values[*field] >> bit) & 1 == 1 {
                *held += 1;
            }
        }
    }

    /// What was counted.
    pub fn counts(&self) -> InputCounts {
        InputCounts {
            sent: self.sent,
            held: self
                .buttons
                .iter()
                .zip(&self.held)
                .map(|((_, _, name), &n)| (name.clone(), n))
                .collect(),
        }
    }
}

/// What one bot counted inside the measured window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotTotals {
    /// Snapshots received and decoded.
    pub snapshots: u64,
    /// WebSocket payload bytes received.
    pub payload_bytes: u64,
    /// Bytes received including WebSocket frame headers.
    pub wire_bytes: u64,
    /// Inputs sent, and per button.
    pub inputs: InputCounts,
    /// When the bot got its welcome (none if it never did).
    pub welcomed: Option<tokio::time::Instant>,
    /// An operator closed the bot (a kick, its room closed): its snapshot
    /// rate stopped short, and is not judged.
    pub closed_by_operator: bool,
}
