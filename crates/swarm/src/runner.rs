//! A whole run: ramp the bots up, warm up, measure, stop, and turn what the
//! bots counted into a [`Report`].

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::behaviour::{self, Behaviour};
use crate::bot::{self, Target};
use crate::config::Args;
use crate::cpu::process_cpu_seconds;
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
    if args.bots == 0 {
        return Err("--bots must be at least 1".into());
    }
    if args.ramp_up.is_nan() || args.ramp_up <= 0.0 {
        return Err("--ramp-up must be above 0 bots per second".into());
    }
    let target = Arc::new(target);
    let shared = Arc::new(Shared::new());
    let mut fatal = shared.fatal();
    let (done_tx, done_rx) = watch::channel(false);

    let bar = progress_bar(args);
    let progress = tokio::spawn(show_progress(bar.clone(), Arc::clone(&shared), args.bots));

    // Ramp up at the requested rate.
    let start = Instant::now();
    let mut bots = Vec::with_capacity(args.bots);
    let spacing = Duration::from_secs_f64(1.0 / args.ramp_up);
    let measured = async {
        for index in 0..args.bots {
            sleep_until(start + spacing.mul_f64(index as f64), &mut fatal).await?;
            bots.push(tokio::spawn(bot::run(
                index,
                args.room_of(index),
                Arc::clone(&target),
                Arc::clone(&shared),
                make(),
                done_rx.clone(),
            )));
        }
        // Give the last connections time to finish their handshakes, then warm up.
        let settle = Instant::now() + args.connect_timeout.min(Duration::from_secs(5));
        while shared.connected.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed)
            < args.bots as u64
            && Instant::now() < settle
        {
            sleep_until(Instant::now() + Duration::from_millis(20), &mut fatal).await?;
        }
        sleep_until(Instant::now() + args.warmup, &mut fatal).await?;

        let cpu_start = process_cpu_seconds();
        let window_start = Instant::now();
        shared.set_phase(Phase::Measuring);
        sleep_until(Instant::now() + args.duration, &mut fatal).await?;
        Ok::<_, String>((cpu_start, window_start))
    }
    .await;
    shared.set_phase(Phase::Done);
    let (cpu_start, window_start) = match measured {
        Ok(started) => started,
        Err(reason) => {
            let _ = done_tx.send(true);
            for handle in bots {
                handle.abort();
            }
            progress.abort();
            bar.finish_and_clear();
            return Err(reason);
        }
    };
    let window = window_start.elapsed().as_secs_f64();
    let swarm_cpu = match (cpu_start, process_cpu_seconds()) {
        (Some(a), Some(b)) if window > 0.0 => (b - a) / window,
        _ => 0.0,
    };
    let _ = done_tx.send(true);

    let mut totals = Vec::with_capacity(bots.len());
    let deadline = Instant::now() + STOP_GRACE;
    for handle in bots {
        let abort = handle.abort_handle();
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(t)) => totals.push(t),
            Ok(Err(_)) => totals.push(BotTotals::default()),
            Err(_) => {
                abort.abort();
                totals.push(BotTotals::default());
            }
        }
    }
    progress.abort();
    bar.finish_and_clear();

    let mut report = summarize(args, &shared, &totals, window, swarm_cpu);
    Thresholds::from(args).judge(&mut report);
    Ok(report)
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

/// Turns per-bot totals and the shared histograms into the report's figures.
pub fn summarize(
    args: &Args,
    shared: &Shared,
    totals: &[BotTotals],
    window_s: f64,
    swarm_cpu: f64,
) -> Report {
    let n = totals.len().max(1) as f64;
    let per_s = |v: u64| {
        if window_s > 0.0 {
            v as f64 / window_s
        } else {
            0.0
        }
    };
    let rates: Vec<f64> = totals.iter().map(|t| per_s(t.snapshots)).collect();
    let mut inputs = InputCounts::default();
    for t in totals {
        inputs.add(&t.inputs);
    }
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
        rooms: args.room_count(),
        duration_s: window_s,
        snapshots_per_s_mean: rates.iter().sum::<f64>() / n,
        snapshots_per_s_min: rates.iter().copied().reduce(f64::min).unwrap_or(0.0),
        gap_ms_p50: quantile(&gaps, 0.50),
        gap_ms_p99: quantile(&gaps, 0.99),
        gap_ms_max: if gaps.is_empty() { 0.0 } else { ms(gaps.max()) },
        rtt_ms_p50: quantile(&rtts, 0.50),
        rtt_ms_p99: quantile(&rtts, 0.99),
        bytes_per_bot_per_s: totals.iter().map(|t| per_s(t.payload_bytes)).sum::<f64>() / n,
        wire_bytes_per_bot_per_s: totals.iter().map(|t| per_s(t.wire_bytes)).sum::<f64>() / n,
        behaviour: args.behaviour.clone(),
        inputs_sent: inputs.sent,
        inputs_by_button: inputs.held,
        errors: shared.errors.load(Ordering::Relaxed),
        errors_by_kind: shared.errors_by_kind(),
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
