//! The swarm's verdict: the scenario's figures as a table and as JSON, and
//! whether they hold the thresholds.
//!
//! The JSON keys are a stable interface (scripts and the capacity runner
//! read them); `docs/load-testing.md` documents each.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Args;

/// Everything a run measured. Latencies are in milliseconds, rates per
/// second of the measured window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Bots started.
    pub bots: usize,
    /// Rooms they filled.
    pub rooms: usize,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Mean over bots of the snapshots each received per second.
    pub snapshots_per_s_mean: f64,
    /// The slowest bot's snapshots per second.
    pub snapshots_per_s_min: f64,
    /// Median gap between consecutive snapshots.
    pub gap_ms_p50: f64,
    /// 99th percentile gap between consecutive snapshots.
    pub gap_ms_p99: f64,
    /// Largest gap between consecutive snapshots.
    pub gap_ms_max: f64,
    /// Median round trip from an input to the first snapshot acknowledging it.
    pub rtt_ms_p50: f64,
    /// 99th percentile of that round trip.
    pub rtt_ms_p99: f64,
    /// WebSocket payload bytes each bot received per second, mean.
    pub bytes_per_bot_per_s: f64,
    /// The same including WebSocket frame headers.
    pub wire_bytes_per_bot_per_s: f64,
    /// The behaviour the bots played (`random`, `scenario`).
    pub behaviour: String,
    /// Inputs the bots sent in the window, all bots together.
    pub inputs_sent: u64,
    /// Per declared button, named `field.button` (`buttons.fire`): inputs
    /// of `inputs_sent` sent with it held.
    pub inputs_by_button: BTreeMap<String, u64>,
    /// Bots replaced per minute by churn, as asked (0: no churn).
    pub churn_per_minute: f64,
    /// Bots that joined by churn and got their welcome.
    pub joins: u64,
    /// Bots that left by churn.
    pub leaves: u64,
    /// Bots started over the run, churn's included.
    pub bots_started: usize,
    /// Sockets dropped without a close that the bots tried to resume.
    pub drops: u64,
    /// Of those, held seats taken back (a resume refused, or a drop
    /// without a token, is an error instead).
    pub resumes: u64,
    /// Of those, seats taken back through the entry (`--url`) because the
    /// node the bot was on could not be reached (a cluster node died).
    pub failovers: u64,
    /// The longest time from a drop to the welcome that took the seat
    /// back, ms (0 without resumes).
    pub resume_ms_max: f64,
    /// Errors: refused or dropped connections, decode failures, closes.
    pub errors: u64,
    /// Bots an operator closed, by kind (`kicked`, `room closed`): not
    /// errors, and their snapshot rate is not judged.
    pub closed_by_operator: BTreeMap<String, u64>,
    /// The first reason the server gave for each kind of
    /// `closed_by_operator` (`kicked by operator: REASON`).
    pub operator_reasons: BTreeMap<String, String>,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The swarm's own CPU seconds per wall second over the window.
    pub swarm_cpu: f64,
    /// Whether every threshold held.
    pub holds: bool,
    /// Thresholds that were missed, in words.
    pub missed: Vec<String>,
}

/// The limits a run is judged against.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Least snapshots per second for every bot.
    pub min_snapshot_rate: f64,
    /// Most p99 gap, ms.
    pub max_gap_p99_ms: f64,
    /// Most errors.
    pub max_errors: u64,
    /// Most p99 round trip, ms, if judged.
    pub max_rtt_p99_ms: Option<f64>,
    /// Most payload bytes per bot per second, if judged.
    pub max_bytes_per_bot: Option<f64>,
}

impl From<&Args> for Thresholds {
    fn from(a: &Args) -> Self {
        Self {
            min_snapshot_rate: a.min_snapshot_rate,
            max_gap_p99_ms: a.max_gap_p99_ms,
            max_errors: a.max_errors,
            max_rtt_p99_ms: a.max_rtt_p99_ms,
            max_bytes_per_bot: a.max_bytes_per_bot,
        }
    }
}

impl Thresholds {
    /// The thresholds `report` misses, in words; empty when it holds.
    pub fn missed(&self, r: &Report) -> Vec<String> {
        let mut missed = Vec::new();
        if r.snapshots_per_s_min < self.min_snapshot_rate {
            missed.push(format!(
                "slowest bot got {:.1} snapshots/s, below {}",
                r.snapshots_per_s_min, self.min_snapshot_rate
            ));
        }
        if r.gap_ms_p99 > self.max_gap_p99_ms {
            missed.push(format!(
                "p99 gap {:.1} ms, above {} ms",
                r.gap_ms_p99, self.max_gap_p99_ms
            ));
        }
        if r.errors > self.max_errors {
            missed.push(format!(
                "{} errors, more than {}",
                r.errors, self.max_errors
            ));
        }
        if let Some(max) = self.max_rtt_p99_ms.filter(|&m| r.rtt_ms_p99 > m) {
            missed.push(format!(
                "p99 round trip {:.1} ms, above {max} ms",
                r.rtt_ms_p99
            ));
        }
        if let Some(max) = self
            .max_bytes_per_bot
            .filter(|&m| r.bytes_per_bot_per_s > m)
        {
            missed.push(format!(
                "{:.0} bytes/s per bot, above {max}",
                r.bytes_per_bot_per_s
            ));
        }
        missed
    }

    /// Fills in `holds` and `missed`.
    pub fn judge(&self, r: &mut Report) {
        r.missed = self.missed(r);
        r.holds = r.missed.is_empty();
    }
}

impl Report {
    /// The human-readable table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let bots = if self.bots_started > self.bots {
            format!(
                "{} at a time, {} started, in {} room(s)",
                self.bots, self.bots_started, self.rooms
            )
        } else {
            format!("{} in {} room(s)", self.bots, self.rooms)
        };
        let rows: [(&str, String); 16] = [
            ("bots", bots),
            (
                "churn",
                if self.churn_per_minute > 0.0 {
                    format!(
                        "{:.1} bots/min: {} left, {} joined",
                        self.churn_per_minute, self.leaves, self.joins
                    )
                } else {
                    "none".to_string()
                },
            ),
            ("measured", format!("{:.1} s", self.duration_s)),
            (
                "snapshots/s per bot",
                format!(
                    "mean {:.2}, min {:.2}",
                    self.snapshots_per_s_mean, self.snapshots_per_s_min
                ),
            ),
            ("gap p50", format!("{:.1} ms", self.gap_ms_p50)),
            ("gap p99", format!("{:.1} ms", self.gap_ms_p99)),
            ("gap max", format!("{:.1} ms", self.gap_ms_max)),
            ("round trip p50", format!("{:.1} ms", self.rtt_ms_p50)),
            ("round trip p99", format!("{:.1} ms", self.rtt_ms_p99)),
            (
                "bytes/s per bot",
                format!(
                    "{:.0} payload, {:.0} with frame headers",
                    self.bytes_per_bot_per_s, self.wire_bytes_per_bot_per_s
                ),
            ),
            ("inputs sent", self.input_summary()),
            ("dropped sockets", self.drops_summary()),
            ("errors", self.error_summary()),
            ("closed by operator", self.operator_summary()),
            ("swarm cpu", format!("{:.2} cores", self.swarm_cpu)),
            ("verdict", self.verdict()),
        ];
        for (k, v) in rows {
            let _ = writeln!(t, "  {k:<20} {v}");
        }
        t
    }

    /// `N (behaviour B); held: buttons.fire N, ...`, or `no buttons`.
    fn input_summary(&self) -> String {
        let held = if self.inputs_by_button.is_empty() {
            "no buttons declared".to_string()
        } else {
            let each: Vec<String> = self
                .inputs_by_button
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            format!("held: {}", each.join(", "))
        };
        format!(
            "{} (behaviour {}); {held}",
            self.inputs_sent, self.behaviour
        )
    }

    /// `2, 2 resumed`, with `(1 through the entry; longest 3200 ms)` when
    /// a resume went through the entry.
    fn drops_summary(&self) -> String {
        let mut line = format!("{}, {} resumed", self.drops, self.resumes);
        if self.failovers > 0 {
            let _ = write!(
                line,
                " ({} through the entry; longest {:.0} ms)",
                self.failovers, self.resume_ms_max
            );
        }
        line
    }

    /// `kicked 1, room closed 10`, or `none`.
    fn operator_summary(&self) -> String {
        if self.closed_by_operator.is_empty() {
            return "none".to_string();
        }
        let each: Vec<String> = self
            .closed_by_operator
            .iter()
            .map(|(k, n)| match self.operator_reasons.get(k) {
                Some(reason) if !reason.is_empty() => format!("{k} {n} ({reason})"),
                _ => format!("{k} {n}"),
            })
            .collect();
        each.join(", ")
    }

    fn error_summary(&self) -> String {
        if self.errors_by_kind.is_empty() {
            return self.errors.to_string();
        }
        let kinds: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        format!("{} ({})", self.errors, kinds.join(", "))
    }

    /// `HOLDS`, or `MISSED: ...` with each missed threshold.
    pub fn verdict(&self) -> String {
        if self.holds {
            "HOLDS".to_string()
        } else {
            format!("MISSED: {}", self.missed.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Report {
        Report {
            bots: 10,
            rooms: 1,
            duration_s: 30.0,
            snapshots_per_s_mean: 30.0,
            snapshots_per_s_min: 29.8,
            gap_ms_p50: 33.3,
            gap_ms_p99: 36.0,
            gap_ms_max: 40.0,
            rtt_ms_p50: 20.0,
            rtt_ms_p99: 40.0,
            bytes_per_bot_per_s: 5000.0,
            wire_bytes_per_bot_per_s: 5120.0,
            behaviour: "random".to_string(),
            inputs_sent: 3000,
            inputs_by_button: BTreeMap::from([("buttons.fire".to_string(), 1000)]),
            churn_per_minute: 0.0,
            joins: 0,
            leaves: 0,
            bots_started: 10,
            drops: 2,
            resumes: 2,
            failovers: 0,
            resume_ms_max: 120.0,
            errors: 0,
            errors_by_kind: BTreeMap::new(),
            closed_by_operator: BTreeMap::new(),
            operator_reasons: BTreeMap::new(),
            swarm_cpu: 0.1,
            holds: false,
            missed: vec![],
        }
    }

    fn defaults() -> Thresholds {
        Thresholds {
            min_snapshot_rate: 29.0,
            max_gap_p99_ms: 50.0,
            max_errors: 0,
            max_rtt_p99_ms: None,
            max_bytes_per_bot: None,
        }
    }

    #[test]
    fn a_good_run_holds() {
        let mut r = good();
        defaults().judge(&mut r);
        assert!(r.holds, "{:?}", r.missed);
        assert_eq!(r.verdict(), "HOLDS");
    }

    #[test]
    fn each_threshold_can_be_missed() {
        type Spoil = fn(&mut Report);
        let cases: [(Spoil, &str); 5] = [
            (|r| r.snapshots_per_s_min = 28.0, "snapshots/s"),
            (|r| r.gap_ms_p99 = 51.0, "p99 gap"),
            (|r| r.errors = 1, "errors"),
            (|r| r.rtt_ms_p99 = 200.0, "round trip"),
            (|r| r.bytes_per_bot_per_s = 20_000.0, "bytes/s"),
        ];
        let mut t = defaults();
        t.max_rtt_p99_ms = Some(100.0);
        t.max_bytes_per_bot = Some(10_000.0);
        for (spoil, word) in cases {
            let mut r = good();
            spoil(&mut r);
            t.judge(&mut r);
            assert!(!r.holds, "should miss on {word}");
            assert!(r.verdict().contains(word), "{} lacks {word}", r.verdict());
        }
    }

    #[test]
    fn the_table_counts_inputs_per_button() {
        let table = good().table();
        let line = table
            .lines()
            .find(|l| l.contains("inputs sent"))
            .unwrap_or_default();
        assert!(line.contains("3000"), "{line}");
        assert!(line.contains("behaviour random"), "{line}");
        assert!(line.contains("buttons.fire 1000"), "{line}");
        let line = table
            .lines()
            .find(|l| l.contains("dropped sockets"))
            .unwrap_or_default();
        assert!(line.ends_with("2, 2 resumed"), "{line}");
        let mut r = good();
        r.failovers = 1;
        r.resume_ms_max = 3210.4;
        let table = r.table();
        let line = table
            .lines()
            .find(|l| l.contains("dropped sockets"))
            .unwrap_or_default();
        assert!(
            line.ends_with("2, 2 resumed (1 through the entry; longest 3210 ms)"),
            "{line}"
        );
    }

    #[test]
    fn bots_an_operator_closed_are_reported_and_are_no_error() {
        let mut r = good();
        r.closed_by_operator.insert("kicked".into(), 1);
        r.closed_by_operator.insert("room closed".into(), 10);
        r.operator_reasons
            .insert("kicked".into(), "kicked by operator: afk".into());
        defaults().judge(&mut r);
        assert!(r.holds, "{}", r.verdict());
        let table = r.table();
        let line = table
            .lines()
            .find(|l| l.contains("closed by operator"))
            .unwrap_or_default();
        assert!(
            line.contains("kicked 1 (kicked by operator: afk), room closed 10"),
            "{line}"
        );
        assert!(good().table().contains("closed by operator   none"));
    }

    #[test]
    fn json_keys_are_the_documented_ones() {
        let v = serde_json::to_value(good()).unwrap_or_default();
        for key in [
            "bots",
            "rooms",
            "duration_s",
            "snapshots_per_s_mean",
            "snapshots_per_s_min",
            "gap_ms_p50",
            "gap_ms_p99",
            "gap_ms_max",
            "rtt_ms_p50",
            "rtt_ms_p99",
            "bytes_per_bot_per_s",
            "behaviour",
            "inputs_sent",
            "inputs_by_button",
            "churn_per_minute",
            "joins",
            "leaves",
            "bots_started",
            "drops",
            "resumes",
            "failovers",
            "resume_ms_max",
            "errors",
            "closed_by_operator",
            "operator_reasons",
            "holds",
            "swarm_cpu",
        ] {
            assert!(v.get(key).is_some(), "missing key {key}");
        }
    }
}
