//! Times a Tickwire cluster's matchmaking: `POST /api/matchmake` over
//! kept-alive connections spread over the given nodes, `--concurrency`
//! at a time, and prints the latency percentiles as the client saw them
//! (the Redis round trip, the placement script and the node's HTTP).
//!
//! ```text
//! python3 benches/cluster.py latency     # starts redis-server and three nodes, runs this
//! target/release/matchmake-latency --nodes 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
//! ```
//!
//! Every request asks for any room (`{"name": "mm-N"}`), so the cluster
//! fills rooms fullest-first and opens new ones as they fill; nothing
//! connects, so the seats stay reserved until their tickets expire.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Times matchmaking on a cluster's nodes.
#[derive(Debug, Parser)]
struct Args {
    /// The nodes, `host:port`, comma-separated: requests go round them.
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<String>,
    /// Requests in all.
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Requests in flight at once (one kept-alive connection each).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Requests before the timed ones, to warm connections and caches.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

/// One worker: a connection to `node`, `count` requests in a row; their
/// times in microseconds, or the first error.
async fn worker(node: String, first: usize, count: usize) -> Result<Vec<u64>, String> {
    let stream = tokio::net::TcpStream::connect(&node)
        .await
        .map_err(|e| format!("{node}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{node}: {e}"))?;
    tokio::spawn(connection);
    let mut times = Vec::with_capacity(count);
    for i in first..first + count {
        let body = format!(r#"{{"name":"mm-{i}"}}"#);
        let request = Request::post("/api/matchmake")
            .header("host", &node)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{node}: {e}"))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let took = started.elapsed();
        if !status.is_success() {
            return Err(format!(
                "{node}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        times.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }
    Ok(times)
}

/// Runs `requests` over `concurrency` workers; every time, in microseconds.
async fn run(args: &Args, requests: usize, offset: usize) -> Result<(Vec<u64>, Duration), String> {
    let per = requests.div_ceil(args.concurrency.max(1));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|w| {
            let node = args.nodes[w % args.nodes.len()].clone();
            tokio::spawn(worker(node, offset + w * per, per))
        })
        .collect();
    let mut times = Vec::new();
    for w in workers {
        times.extend(w.await.map_err(|e| e.to_string())??);
    }
    Ok((times, started.elapsed()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    run(&args, args.warmup, 0).await?;
    let (times, elapsed) = run(&args, args.requests, args.warmup).await?;
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    for &t in &times {
        histogram.saturating_record(t);
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let (p50, p99, max) = (ms(0.5), ms(0.99), histogram.max() as f64 / 1000.0);
    let rate = times.len() as f64 / elapsed.as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "nodes": args.nodes.len(), "requests": times.len(), "concurrency": args.concurrency,
                "p50_ms": p50, "p99_ms": p99, "max_ms": max, "per_second": rate,
            })
        );
    } else {
        println!(
            "{} matchmakes over {} node(s), {} at a time: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms, {rate:.0}/s",
            times.len(),
            args.nodes.len(),
            args.concurrency
        );
    }
    Ok(())
}
