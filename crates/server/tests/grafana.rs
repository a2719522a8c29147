//! The Grafana dashboard (`deploy/grafana/tickwire.json`) queries only
//! metrics the server exports: a node of a cluster (so the cluster's
//! metrics are there too) plays a little, and every metric name in every
//! query of the dashboard must be a series in its `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster_support::{Node, Redis, enter, http, metrics, seat};
use serde_json::Value;

/// The dashboard, as committed.
const DASHBOARD: &str = include_str!("../../../deploy/grafana/tickwire.json");

/// Every query of the dashboard: the panels' `expr` and the template
/// variables' `definition`, wherever they sit.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr" | "definition", Value::String(query)) => out.push(query.clone()),
                    _ => queries(field, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| queries(item, out)),
        _ => {}
    }
}

/// The metric names a PromQL query names: every identifier that starts
/// with `tickwire_` (labels and functions never do), as written
/// (`..._bucket` included).
fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && query[i..].starts_with("tickwire_") {
            let end = query[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(query.len(), |n| i + n);
            names.insert(query[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// What a `/metrics` page holds: the name of every sample line, and the
/// type of every metric its `# TYPE` lines declare.
struct Exported {
    samples: BTreeSet<String>,
    types: std::collections::BTreeMap<String, String>,
}

impl Exported {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeSet::new();
        let mut types = std::collections::BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                samples.insert(line[..end].to_owned());
            }
        }
        Self { samples, types }
    }

    /// Why `name`, as a query names it, is not exported (`None`: it is).
    /// A histogram's series (`X_bucket`, `X_sum`, `X_count`) must be
    /// samples of a metric `X` typed `histogram`; any other name must be a
    /// sample itself (a counter whose own name ends in `_count` is not
    /// taken for a histogram's).
    fn missing(&self, name: &str) -> Option<String> {
        let part = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix));
        if let Some(base) = part
            && self.types.get(base).is_some_and(|t| t == "histogram")
        {
            return (!self.samples.contains(name))
                .then(|| format!("{name}: histogram {base} has no such series"));
        }
        if name.ends_with("_bucket") {
            return Some(format!("{name}: no histogram of that name"));
        }
        (!self.samples.contains(name)).then(|| format!("{name}: not in /metrics"))
    }
}

#[test]
fn the_checker_tells_histograms_counters_and_missing_names_apart() {
    let page = "# TYPE tickwire_x_seconds histogram\n\
                tickwire_x_seconds_bucket{le=\"0.1\"} 1\n\
                tickwire_x_seconds_sum 0.05\n\
                tickwire_x_seconds_count 1\n\
                # TYPE tickwire_y_total counter\n\
                tickwire_y_total{reason=\"a\"} 3\n\
                # TYPE tickwire_z_count gauge\n\
                tickwire_z_count 2\n";
    let exported = Exported::parse(page);
    for present in [
        "tickwire_x_seconds_bucket",
        "tickwire_x_seconds_sum",
        "tickwire_x_seconds_count",
        "tickwire_y_total",
        "tickwire_z_count",
    ] {
        assert_eq!(exported.missing(present), None, "{present}");
    }
    for absent in [
        "tickwire_x_seconds",
        "tickwire_y_total_bucket",
        "tickwire_y",
        "tickwire_w_total",
        "tickwire_z_bucket",
    ] {
        assert!(exported.missing(absent).is_some(), "{absent}");
    }
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(tickwire_x_seconds_bucket{instance=~\"$i\"}[1m]))) / my_tickwire_not",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["tickwire_x_seconds_bucket"]
    );
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    assert!(all.len() >= 20, "{} queries", all.len());
    let names: BTreeSet<String> = all.iter().flat_map(|q| metric_names(q)).collect();
    for must in [
        "tickwire_rooms",
        "tickwire_players",
        "tickwire_tick_phase_seconds_bucket",
        "tickwire_bytes_out_total",
        "tickwire_closes_total",
        "tickwire_upgrades_refused_total",
        "tickwire_matchmakes_total",
    ] {
        assert!(names.contains(must), "the dashboard shows {must}");
    }
    assert!(
        all.iter()
            .any(|q| q.contains("histogram_quantile(0.99") && q.contains("tick_phase")),
        "tick phase p99"
    );

    // A node of a cluster, with a player who plays a little and leaves.
    let redis = Redis::start();
    let node = Node::start(
        &redis,
        "grafana-1",
        &["--admin-token", "grafana test token"],
    );
    let offer = seat(node.addr, Some("lobby"), "ann").await;
    let mut ann = enter(&offer.ws("ann"), "ann").await;
    for seq in 1..=10 {
        ann.input(seq, 1, 0).await;
        ann.next_snapshot().await;
    }
    ann.ws.close(None).await.ok();
    let _ = http(node.addr, "GET", "/admin/api/rooms", "").await;

    // Histograms are folded at scrapes (and every 5 s); ticks run on.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let exported = Exported::parse(&metrics(node.addr).await);
        let missing: Vec<String> = names.iter().filter_map(|n| exported.missing(n)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard queries metrics the server does not export:\n{}",
            missing.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
