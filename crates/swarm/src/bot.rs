//! One bot: a real WebSocket client that joins, sends the scenario's inputs
//! and decodes every snapshot with the protocol crate's client state keeper.
//!
//! Each bot is two tasks over one socket split in halves, because
//! fastwebsockets' `read_frame` is not cancel-safe and so cannot share a
//! `select!` with a timer: the reader decodes and measures; the writer sends
//! an input every 100 ms and forwards the control frames (pongs, close
//! echoes) the reader is obliged to answer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, handshake};
use http_body_util::Empty;
use hyper::Request;
use hyper::header::{CONNECTION, UPGRADE};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::stats::{BotTotals, Phase, Samples, Shared};
use crate::wire::{self, Incoming};

/// Inputs per second a bot sends (the scenario: one every 100 ms).
const INPUT_INTERVAL: Duration = Duration::from_millis(100);
/// A bot picks a new random direction once per second.
const INPUTS_PER_DIRECTION: u32 = 10;
/// Inputs remembered for round-trip matching; older ones are forgotten.
const PENDING_INPUTS: usize = 64;

/// Where and how a bot connects; shared by every bot of a run.
#[derive(Debug)]
pub struct Target {
    /// `host:port`: where the TCP connection goes, and the Host header.
    pub addr: String,
    /// Path of the game endpoint, with any query the user gave.
    pub path_and_query: String,
    /// Largest message accepted from the server.
    pub max_message_size: usize,
    /// TCP plus WebSocket handshake timeout.
    pub connect_timeout: Duration,
    /// Seed of the bots' directions (each bot mixes in its index).
    pub seed: u64,
}

impl Target {
    /// Parses a `ws://host:port/path` URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("bad --url `{url}`: {e}"))?;
        if parsed.scheme() != "ws" {
            return Err(format!(
                "bad --url `{url}`: only ws:// is supported (put a TLS proxy's plain side here)"
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("bad --url `{url}`: no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let mut path_and_query = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        Ok(Self {
            addr: format!("{host}:{port}"),
            path_and_query,
            max_message_size: 1 << 20,
            connect_timeout: Duration::from_secs(10),
            seed: 1,
        })
    }

    fn uri_for(&self, room: &str, name: &str) -> String {
        let sep = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "http://{}{}{sep}room={}&name={}",
            self.addr, self.path_and_query, room, name
        )
    }
}

/// Spawns hyper's connection driver for the client handshake on tokio.
struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::spawn(fut);
    }
}

type Upgraded = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// Opens a bot's connection: TCP (no delay) and the WebSocket handshake to
/// `target`, joining `room` as `name`.
pub async fn connect(
    target: &Target,
    room: &str,
    name: &str,
) -> Result<fastwebsockets::WebSocket<Upgraded>, String> {
    let stream = TcpStream::connect(&target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("connect: {e}"))?;
    let req = Request::builder()
        .method("GET")
        .uri(target.uri_for(room, name))
        .header("Host", &target.addr)
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "Upgrade")
        .header("Sec-WebSocket-Key", handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("handshake: {e}"))?;
    let (ws, _) = handshake::client(&SpawnExecutor, req, stream)
        .await
        .map_err(|e| match e {
            WebSocketError::InvalidStatusCode(code) => format!("refused: HTTP {code}"),
            other => format!("handshake: {other}"),
        })?;
    Ok(ws)
}

/// Send times of recent inputs, for matching acknowledgements.
#[derive(Debug, Default)]
struct PendingInputs {
    sent: std::collections::VecDeque<(u32, Instant)>,
}

impl PendingInputs {
    fn sent(&mut self, seq: u32, at: Instant) {
        if self.sent.len() == PENDING_INPUTS {
            self.sent.pop_front();
        }
        self.sent.push_back((seq, at));
    }

    /// Round trips of every input up to `acked` not yet acknowledged.
    fn acknowledge(&mut self, acked: u32, now: Instant, out: &mut Vec<u32>) {
        while let Some(&(seq, at)) = self.sent.front() {
            if seq > acked {
                break;
            }
            self.sent.pop_front();
            out.push(
                now.saturating_duration_since(at)
                    .as_micros()
                    .min(u128::from(u32::MAX)) as u32,
            );
        }
    }
}

/// Runs bot `index` until the run is done; returns what it counted in the
/// measured window. Errors are counted in `shared`, never returned.
pub async fn run(
    index: usize,
    room: String,
    target: Arc<Target>,
    shared: Arc<Shared>,
    mut done: watch::Receiver<bool>,
) -> BotTotals {
    let name = format!("bot{index}");
    let ws =
        match tokio::time::timeout(target.connect_timeout, connect(&target, &room, &name)).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                let kind = e.split(':').next().unwrap_or("connect").to_string();
                shared.error(kind);
                return BotTotals::default();
            }
            Err(_) => {
                shared.error("connect timeout");
                return BotTotals::default();
            }
        };
    let (mut reader, mut writer) = ws.split(tokio::io::split);
    reader.set_max_message_size(target.max_message_size);

    let pending = Arc::new(Mutex::new(PendingInputs::default()));
    let (ctrl_tx, mut ctrl_rx) = mpsc::channel::<(OpCode, Vec<u8>)>(8);

    // Writer: the join, then an input every 100 ms; control frames in between.
    let writer_pending = Arc::clone(&pending);
    let writer_shared = Arc::clone(&shared);
    let seed = target.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let writer = tokio::spawn(async move {
        let mut rng = Pcg32::seed_from_u64(seed);
        let mut inputs_sent = 0u64;
        if writer
            .write_frame(Frame::binary(Payload::Owned(wire::join())))
            .await
            .is_err()
        {
            return inputs_sent;
        }
        let mut ticker = tokio::time::interval(INPUT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0u32;
        let mut direction = 0.0f32;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if seq % INPUTS_PER_DIRECTION == 0 {
                        direction = rng.random_range(0.0..std::f32::consts::TAU);
                    }
                    seq += 1;
                    let msg = wire::input(seq, direction);
                    let now = Instant::now();
                    writer_pending.lock().sent(seq, now);
                    if writer.write_frame(Frame::binary(Payload::Owned(msg))).await.is_err() {
                        break;
                    }
                    if writer_shared.phase() == Phase::Measuring {
                        inputs_sent += 1;
                    }
                }
                ctrl = ctrl_rx.recv() => {
                    let Some((opcode, payload)) = ctrl else { break };
                    let close = opcode == OpCode::Close;
                    let frame = Frame::new(true, opcode, None, Payload::Owned(payload));
                    if writer.write_frame(frame).await.is_err() || close {
                        break;
                    }
                }
                _ = done.changed() => {
                    if !writer.is_closed() {
                        let _ = writer.write_frame(Frame::close(1000, b"run over")).await;
                    }
                    break;
                }
            }
        }
        inputs_sent
    });

    // Reader: decode everything, measure in the window.
    let mut totals = BotTotals::default();
    let mut samples = Samples::default();
    let mut decoder = wire::Decoder::default();
    let mut last_snapshot: Option<Instant> = None;
    let mut welcomed = false;
    let mut server_reason: Option<String> = None;
    let shard = index;
    loop {
        let mut obliged = |frame: Frame<'_>| {
            let msg = (frame.opcode, frame.payload.to_vec());
            let tx = ctrl_tx.clone();
            async move { tx.send(msg).await.map_err(|_| "writer gone") }
        };
        let frame = match reader.read_frame(&mut obliged).await {
            Ok(frame) => frame,
            Err(e) => {
                if shared.phase() != Phase::Done {
                    shared.error(match e {
                        WebSocketError::UnexpectedEOF => "dropped".to_string(),
                        WebSocketError::FrameTooLarge => "frame too large".to_string(),
                        other => format!("read: {other}"),
                    });
                }
                break;
            }
        };
        match frame.opcode {
            OpCode::Binary => {
                let now = Instant::now();
                let len = frame.payload.len();
                match decoder.on_message(&frame.payload) {
                    Ok(Incoming::Welcome) => {
                        welcomed = true;
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Incoming::Snapshot { last_input }) => {
                        shared.snapshots_total.fetch_add(1, Ordering::Relaxed);
                        if shared.phase() == Phase::Measuring {
                            totals.snapshots += 1;
                            totals.payload_bytes += len as u64;
                            totals.wire_bytes +=
                                (len + tickwire_protocol::server_frame_header_bytes(len)) as u64;
                            if let Some(prev) = last_snapshot {
                                let gap = now.saturating_duration_since(prev).as_micros();
                                samples.gaps_us.push(gap.min(u128::from(u32::MAX)) as u32);
                            }
                            if let Some(acked) = last_input {
                                pending.lock().acknowledge(acked, now, &mut samples.rtts_us);
                            }
                            if samples.full() {
                                shared.flush(shard, &mut samples);
                            }
                        } else if let Some(acked) = last_input {
                            let mut discard = Vec::new();
                            pending.lock().acknowledge(acked, now, &mut discard);
                        }
                        last_snapshot = Some(now);
                    }
                    Ok(Incoming::Other) => {}
                    // The close that follows is the error; keep its reason.
                    Ok(Incoming::ServerError(reason)) => server_reason = Some(reason),
                    Err(e) => {
                        shared.error(format!("decode: {e}"));
                        break;
                    }
                }
            }
            OpCode::Close => {
                if shared.phase() != Phase::Done {
                    let code = close_code(&frame.payload);
                    shared.error(format!("closed {code}"));
                    if let Some(reason) = server_reason.take() {
                        tracing::debug!(bot = index, code, %reason, "server closed the socket");
                    }
                }
                break;
            }
            OpCode::Text => {
                shared.error("text frame");
                break;
            }
            _ => {}
        }
    }
    shared.flush(shard, &mut samples);
    if welcomed {
        shared.connected.fetch_sub(1, Ordering::Relaxed);
    }
    drop(ctrl_tx);
    let writer_result = tokio::time::timeout(Duration::from_secs(2), writer).await;
    totals.inputs = match writer_result {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    totals
}

fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1005,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledging_pops_every_input_up_to_the_ack() {
        let t0 = Instant::now();
        let mut p = PendingInputs::default();
        for seq in 1..=5 {
            p.sent(seq, t0);
        }
        let mut out = Vec::new();
        p.acknowledge(3, t0 + Duration::from_millis(40), &mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|&us| us == 40_000));
        p.acknowledge(3, t0, &mut out);
        assert_eq!(out.len(), 3, "an ack is matched once");
    }

    #[test]
    fn url_gives_address_and_path() {
        let t =
            Target::from_url("ws://127.0.0.1:9000/ws?token=x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.addr, "127.0.0.1:9000");
        assert_eq!(
            t.uri_for("r", "n"),
            "http://127.0.0.1:9000/ws?token=x&room=r&name=n"
        );
        assert!(Target::from_url("wss://x/ws").is_err());
        assert!(Target::from_url("nonsense").is_err());
    }
}
