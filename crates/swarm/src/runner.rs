//! A whole run: ramp the bots up, warm up, measure, stop, and turn what the
//! bots counted into a [`Report`].

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::behaviour::{self, Behaviour};
use crate::bot::{self, Outlets, Target};
use crate::config::Args;
use crate::cpu::process_cpu_seconds;
use crate::inputlog::InputLog;
use crate::report::{Report, Thresholds};
use crate::stats::{BotTotals, InputCounts, Phase, Shared};

/// How long bots get to close their sockets once the run is over.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the swarm described by `args` and judges it, every bot playing the
/// behaviour `--behaviour` names. Returns an error for bad arguments and
/// for a behaviour that cannot drive the game; everything that goes wrong
/// with the server is counted in the report.
pub async fn run(args: &Args) -> Result<Report, String> {
    let name = args.behaviour.clone();
    behaviour::by_name(&name).map_err(|e| e.to_string())?;
    run_with(args, move || {
        behaviour::by_name(&name).unwrap_or_else(|_| Box::new(behaviour::Random::default()))
    })
    .await
}

/// A bot the runner started: its task, how to tell it to leave, and when
/// it started and was told to.
struct Slot {
    handle: tokio::task::JoinHandle<BotTotals>,
    stop: watch::Sender<bool>,
    /// Snapshots it decoded so far, for the reports over time.
    live: Arc<AtomicU64>,
    /// Its input log, with `--input-log`.
    log: Option<Arc<parking_lot::Mutex<InputLog>>>,
    spawned: Instant,
    /// When churn told it to leave; `None` for a bot that stayed.
    left: Option<Instant>,
}

/// The bots of a run: every one started (churned ones too), in order.
struct Bots<'a, F> {
    args: &'a Args,
    target: Arc<Target>,
    shared: Arc<Shared>,
    make: F,
    slots: Vec<Slot>,
    /// Positions in `slots` of the bots still in, oldest first.
    present: VecDeque<usize>,
}

impl<F> Bots<'_, F>
where
    F: Fn() -> Box<dyn Behaviour>,
{
    /// Starts the next bot (its index is the number started before it).
    fn spawn(&mut self) {
        let index = self.slots.len();
        let (stop, stop_rx) = watch::channel(false);
        let room = self.args.room_of(index);
        let outlets = Outlets {
            live: Arc::new(AtomicU64::new(0)),
            log: self.args.input_log.as_ref().map(|_| {
                Arc::new(parking_lot::Mutex::new(InputLog::new(
                    &room,
                    self.args.input_log_limit,
                )))
            }),
        };
        let live = Arc::clone(&outlets.live);
        let log = outlets.log.clone();
        let handle = tokio::spawn(bot::run(
            index,
            room,
            Arc::clone(&self.target),
            Arc::clone(&self.shared),
            (self.make)(),
            stop_rx,
            outlets,
        ));
        self.present.push_back(index);
        self.slots.push(Slot {
            handle,
            stop,
            live,
            log,
            spawned: Instant::now(),
            left: None,
        });
    }

    /// One churn wave: the `n` oldest bots leave, and `n` new ones join
    /// (the next indices: new rooms, once the old ones have emptied).
    fn churn(&mut self, n: usize) {
        for _ in 0..n {
            if let Some(i) = self.present.pop_front() {
                let slot = &mut self.slots[i];
                slot.left = Some(Instant::now());
                let _ = slot.stop.send(true);
            }
        }
        for _ in 0..n {
            self.spawn();
        }
    }

    /// Tells every bot still in to leave.
    fn stop_all(&mut self) {
        for i in self.present.drain(..) {
            let _ = self.slots[i].stop.send(true);
        }
    }
}

/// The state of the reports over time: where each went, and the last one's
/// counts.
struct Intervals {
    out: Option<Box<dyn Write + Send>>,
    started: Instant,
    last: Instant,
    /// Per slot, its snapshot count at the last report.
    counts: Vec<u64>,
}

/// One report over time: a line of `--interval-json`.
#[derive(Debug, Serialize)]
pub struct IntervalReport {
    /// End of the interval, seconds since the measured window began.
    pub t_s: f64,
    /// Length of the interval, seconds.
    pub interval_s: f64,
    /// Bots connected (welcomed, not yet gone) at its end.
    pub connected: u64,
    /// Bots that joined by churn so far (welcomed replacements).
    pub joins: u64,
    /// Bots that left by churn so far.
    pub leaves: u64,
    /// Mean snapshots per second of the bots in for the whole interval.
    pub snapshots_per_s_mean: f64,
    /// The slowest of those bots.
    pub snapshots_per_s_min: f64,
    /// p99 gap between snapshots over the interval.
    pub gap_ms_p99: f64,
    /// Errors so far.
    pub errors: u64,
    /// Whether this interval holds the run's thresholds (errors counted
    /// since the start).
    pub holds: bool,
}

impl Intervals {
    fn open(args: &Args) -> Result<Self, String> {
        let out: Option<Box<dyn Write + Send>> = match args.interval_json.as_deref() {
            None => None,
            Some("-") => Some(Box::new(std::io::stderr())),
            Some(path) => {
                Some(Box::new(std::fs::File::create(path).map_err(|e| {
                    format!("cannot write --interval-json {path}: {e}")
                })?))
            }
        };
        let now = Instant::now();
        Ok(Self {
            out,
            started: now,
            last: now,
            counts: Vec::new(),
        })
    }

    /// Starts the first interval now, at the start of the measured window.
    fn begin<F>(&mut self, bots: &Bots<'_, F>, shared: &Shared) {
        let now = Instant::now();
        self.started = now;
        self.last = now;
        self.counts = bots
            .slots
            .iter()
            .map(|s| s.live.load(Ordering::Relaxed))
            .collect();
        let _ = shared.take_interval_gaps();
    }

    /// Writes the report of the interval that ends now.
    fn report<F>(&mut self, bots: &Bots<'_, F>, shared: &Shared, totals: &Totals) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let now = Instant::now();
        let len = now.duration_since(self.last).as_secs_f64().max(1e-3);
        let mut rates = Vec::new();
        for (i, slot) in bots.slots.iter().enumerate() {
            let count = slot.live.load(Ordering::Relaxed);
            let before = self.counts.get(i).copied();
            // Only the bots in for the whole interval: in before it began,
            // not told to leave before it ended.
            let whole = before.is_some() && slot.spawned <= self.last && slot.left.is_none();
            if whole {
                rates.push((count - before.unwrap_or(count)) as f64 / len);
            }
        }
        self.counts = bots
            .slots
            .iter()
            .map(|s| s.live.load(Ordering::Relaxed))
            .collect();
        let gaps = shared.take_interval_gaps();
        let gap_ms_p99 = if gaps.is_empty() {
            0.0
        } else {
            gaps.value_at_quantile(0.99) as f64 / 1000.0
        };
        let mean = if rates.is_empty() {
            0.0
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        };
        let min = rates.iter().copied().reduce(f64::min).unwrap_or(0.0);
        let errors = shared.errors.load(Ordering::Relaxed);
        let thresholds = Thresholds::from(bots.args);
        let holds = min >= thresholds.min_snapshot_rate
            && gap_ms_p99 <= thresholds.max_gap_p99_ms
            && errors <= thresholds.max_errors;
        let line = IntervalReport {
            t_s: now.duration_since(self.started).as_secs_f64(),
            interval_s: len,
            connected: shared.connected.load(Ordering::Relaxed),
            joins: totals.joins(bots),
            leaves: totals.leaves(bots),
            snapshots_per_s_mean: mean,
            snapshots_per_s_min: min,
            gap_ms_p99,
            errors,
            holds,
        };
        self.last = now;
        if let Ok(json) = serde_json::to_string(&line) {
            let _ = writeln!(out, "{json}");
            let _ = out.flush();
        }
    }
}

/// Counts of churn over the run.
struct Totals {
    /// Bots started by the ramp-up; those after them are churn's.
    initial: usize,
}

impl Totals {
    /// Churn's bots that have received a snapshot.
    fn joins<F>(&self, bots: &Bots<'_, F>) -> u64 {
        bots.slots[self.initial.min(bots.slots.len())..]
            .iter()
            .filter(|s| s.live.load(Ordering::Relaxed) > 0)
            .count() as u64
    }

    /// Bots churn told to leave.
    fn leaves<F>(&self, bots: &Bots<'_, F>) -> u64 {
        bots.slots.iter().filter(|s| s.left.is_some()).count() as u64
    }
}

/// [`run`], every bot playing a behaviour `make` returns (one call per
/// bot); `args.behaviour` is only the name the report gives.
pub async fn run_with<F>(args: &Args, make: F) -> Result<Report, String>
where
    F: Fn() -> Box<dyn Behaviour>,
{
    let mut target = Target::from_url(&args.url)?;
    target.max_message_size = args.max_message_size;
    target.connect_timeout = args.connect_timeout;
    target.seed = args.seed;
    target.matchmake = args.matchmake;
    target.lab = args.lab()?;
    target.resume_timeout = args.resume_timeout;
    if args.bots == 0 {
        return Err("--bots must be at least 1".into());
    }
    if args.ramp_up.is_nan() || args.ramp_up <= 0.0 {
        return Err("--ramp-up must be above 0 bots per second".into());
    }
    if args.interval.is_zero() {
        return Err("--interval must be above 0".into());
    }
    let churn_batch = args.churn_batch.clamp(1, args.bots);
    let churn_period = args.churn_period();
    let shared = Arc::new(Shared::new());
    let mut fatal = shared.fatal();
    let mut intervals = Intervals::open(args)?;
    let mut input_log = match &args.input_log {
        Some(path) => Some((
            path,
            std::fs::File::create(path)
                .map(std::io::BufWriter::new)
                .map_err(|e| format!("cannot write --input-log {path}: {e}"))?,
        )),
        None => None,
    };
    let counts = Totals { initial: args.bots };

    let bar = progress_bar(args);
    let progress = tokio::spawn(show_progress(bar.clone(), Arc::clone(&shared), args.bots));

    let mut bots = Bots {
        args,
        target: Arc::new(target),
        shared: Arc::clone(&shared),
        make,
        slots: Vec::with_capacity(args.bots),
        present: VecDeque::with_capacity(args.bots),
    };
    // Ramp up at the requested rate.
    let start = Instant::now();
    let spacing = Duration::from_secs_f64(1.0 / args.ramp_up);
    let measured = async {
        for index in 0..args.bots {
            sleep_until(start + spacing.mul_f64(index as f64), &mut fatal).await?;
            bots.spawn();
        }
        // Give the last connections time to finish their handshakes.
        let settle = Instant::now() + args.connect_timeout.min(Duration::from_secs(5));
        while shared.connected.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed)
            < args.bots as u64
            && Instant::now() < settle
        {
            sleep_until(Instant::now() + Duration::from_millis(20), &mut fatal).await?;
        }
        // Churn runs from here to the end of the window; the warm-up and
        // the window are timed around it.
        let mut churn = churn_period.map(|p| (Instant::now() + p, p));
        let warm_until = Instant::now() + args.warmup;
        loop {
            let (at, churns) = next_event(&mut churn, warm_until);
            sleep_until(at, &mut fatal).await?;
            if !churns {
                break;
            }
            bots.churn(churn_batch);
        }

        let cpu_start = process_cpu_seconds();
        let window_start = Instant::now();
        shared.set_phase(Phase::Measuring);
        intervals.begin(&bots, &shared);
        let end = window_start + args.duration;
        let mut next_report = window_start + args.interval;
        loop {
            let (at, churns) = next_event(&mut churn, end.min(next_report));
            sleep_until(at, &mut fatal).await?;
            if churns {
                bots.churn(churn_batch);
            } else if at >= end {
                break;
            } else {
                intervals.report(&bots, &shared, &counts);
                next_report += args.interval;
            }
        }
        Ok::<_, String>((cpu_start, window_start))
    }
    .await;
    shared.set_phase(Phase::Done);
    let (cpu_start, window_start) = match measured {
        Ok(started) => started,
        Err(reason) => {
            bots.stop_all();
            for slot in bots.slots {
                slot.handle.abort();
            }
            progress.abort();
            bar.finish_and_clear();
            return Err(reason);
        }
    };
    let window_end = Instant::now();
    let window = window_end.duration_since(window_start).as_secs_f64();
    let swarm_cpu = match (cpu_start, process_cpu_seconds()) {
        (Some(a), Some(b)) if window > 0.0 => (b - a) / window,
        _ => 0.0,
    };
    intervals.report(&bots, &shared, &counts);
    let leaves = counts.leaves(&bots);
    let mut joins = 0;
    bots.stop_all();

    let bots_started = bots.slots.len();
    let mut totals = Vec::with_capacity(bots_started);
    let deadline = Instant::now() + STOP_GRACE;
    let mut logs = Vec::new();
    for (i, slot) in bots.slots.into_iter().enumerate() {
        if let Some(log) = slot.log {
            logs.push((i, log));
        }
        let abort = slot.handle.abort_handle();
        let t = match tokio::time::timeout_at(deadline, slot.handle).await {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => BotTotals::default(),
            Err(_) => {
                abort.abort();
                BotTotals::default()
            }
        };
        // The bot's time in the window: from its welcome (or, if it never
        // got one, from its start) to its leave, or the window's ends.
        let from = t.welcomed.unwrap_or(slot.spawned).max(window_start);
        let to = slot.left.unwrap_or(window_end).min(window_end);
        let exposure = to.saturating_duration_since(from).as_secs_f64();
        if i >= args.bots && t.welcomed.is_some() {
            joins += 1;
        }
        if exposure > 0.0 || slot.left.is_none() {
            totals.push((t, exposure));
        }
    }
    progress.abort();
    bar.finish_and_clear();
    if let Some((path, out)) = input_log.as_mut() {
        // Every bot has stopped (or was aborted): the logs are whole.
        let written = logs
            .iter()
            .try_for_each(|(i, log)| writeln!(out, "{}", log.lock().line(*i)))
            .and_then(|()| out.flush());
        written.map_err(|e| format!("cannot write --input-log {path}: {e}"))?;
    }

    let churn = Churned {
        per_minute: args.churn_bots_per_minute(),
        joins,
        leaves,
        bots_started,
    };
    let mut report = summarize(args, &shared, &totals, window, swarm_cpu, churn);
    Thresholds::from(args).judge(&mut report);
    Ok(report)
}

/// The next thing to wait for: the next churn wave if it comes before
/// `until` (and then the one after it is scheduled), or `until`. Returns
/// when, and whether it is a churn wave.
fn next_event(churn: &mut Option<(Instant, Duration)>, until: Instant) -> (Instant, bool) {
    match churn {
        Some((next, period)) if *next < until => {
            let at = *next;
            *next += *period;
            (at, true)
        }
        _ => (until, false),
    }
}

/// Sleeps until `deadline`, unless a bot stops the run first
/// ([`Shared::fail`]): then its reason is the error.
async fn sleep_until(
    deadline: Instant,
    fatal: &mut watch::Receiver<Option<String>>,
) -> Result<(), String> {
    let failed = async {
        match fatal.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The sender lives in `Shared`, which outlives the run.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => Ok(()),
        reason = failed => Err(reason),
    }
}

/// What churn did over a run, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Churned {
    /// Bots replaced per minute, as asked.
    pub per_minute: f64,
    /// Replacement bots that got their welcome.
    pub joins: u64,
    /// Bots told to leave.
    pub leaves: u64,
    /// Bots started over the run, replacements included.
    pub bots_started: usize,
}

/// A bot's time in the window shorter than this does not judge the slowest
/// bot's rate (it still counts in the mean, the gaps and the bytes): over
/// `T` seconds a bot of a 30 Hz server gets `30 T` snapshots give or take
/// one, so its rate is only known to within `1 / T`.
pub const MIN_RATED_EXPOSURE_S: f64 = 5.0;

/// Turns per-bot totals and the shared histograms into the report's
/// figures. Each bot comes with its time in the measured window (the whole
/// window, unless it joined or left by churn inside it): rates are per
/// second of that time, so a bot that left still counts, for the time it
/// was there.
pub fn summarize(
    args: &Args,
    shared: &Shared,
    totals: &[(BotTotals, f64)],
    window_s: f64,
    swarm_cpu: f64,
    churn: Churned,
) -> Report {
    let exposure: f64 = totals.iter().map(|(_, e)| e).sum();
    let per_bot_s = |v: u64| {
        if exposure > 0.0 {
            v as f64 / exposure
        } else {
            0.0
        }
    };
    // The slowest bot among those in long enough to tell (every bot, if the
    // window itself is shorter than that).
    let rated = MIN_RATED_EXPOSURE_S.min(window_s * 0.999);
    let rates: Vec<f64> = totals
        .iter()
        .filter(|(t, e)| *e >= rated && !t.closed_by_operator)
        .map(|(t, e)| {
            if *e > 0.0 {
                t.snapshots as f64 / e
            } else {
                0.0
            }
        })
        .collect();
    let mut inputs = InputCounts::default();
    for (t, _) in totals {
        inputs.add(&t.inputs);
    }
    let sum = |f: fn(&BotTotals) -> u64| totals.iter().map(|(t, _)| f(t)).sum::<u64>();
    let gaps = shared.gaps();
    let rtts = shared.rtts();
    let ms = |us: u64| us as f64 / 1000.0;
    let quantile = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    Report {
        bots: args.bots,
        rooms: args.rooms_for(churn.bots_started),
        duration_s: window_s,
        snapshots_per_s_mean: per_bot_s(sum(|t| t.snapshots)),
        snapshots_per_s_min: rates.iter().copied().reduce(f64::min).unwrap_or(0.0),
        gap_ms_p50: quantile(&gaps, 0.50),
        gap_ms_p99: quantile(&gaps, 0.99),
        gap_ms_max: if gaps.is_empty() { 0.0 } else { ms(gaps.max()) },
        rtt_ms_p50: quantile(&rtts, 0.50),
        rtt_ms_p99: quantile(&rtts, 0.99),
        bytes_per_bot_per_s: per_bot_s(sum(|t| t.payload_bytes)),
        wire_bytes_per_bot_per_s: per_bot_s(sum(|t| t.wire_bytes)),
        behaviour: args.behaviour.clone(),
        inputs_sent: inputs.sent,
        inputs_by_button: inputs.held,
        churn_per_minute: churn.per_minute,
        joins: churn.joins,
        leaves: churn.leaves,
        bots_started: churn.bots_started,
        drops: shared.drops.load(Ordering::Relaxed),
        resumes: shared.resumes.load(Ordering::Relaxed),
        failovers: shared.failovers.load(Ordering::Relaxed),
        resume_ms_max: shared.resume_us_max.load(Ordering::Relaxed) as f64 / 1000.0,
        errors: shared.errors.load(Ordering::Relaxed),
        errors_by_kind: shared.errors_by_kind(),
        closed_by_operator: shared.operator_closes(),
        operator_reasons: shared.operator_reasons(),
        swarm_cpu,
        holds: false,
        missed: Vec::new(),
    }
}

fn progress_bar(args: &Args) -> ProgressBar {
    if args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

async fn show_progress(bar: ProgressBar, shared: Arc<Shared>, bots: usize) {
    let mut last = (Instant::now(), 0u64);
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    loop {
        interval.tick().await;
        let now = Instant::now();
        let total = shared.snapshots_total.load(Ordering::Relaxed);
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = (total - last.1) as f64 / dt;
        last = (now, total);
        let phase = match shared.phase() {
            Phase::Warmup => "warming up",
            Phase::Measuring => "measuring",
            Phase::Done => "stopping",
        };
        bar.set_message(format!(
            "{phase}: {}/{bots} bots connected, {rate:.0} snapshots/s, {} errors",
            shared.connected.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed),
        ));
        bar.tick();
    }
}
