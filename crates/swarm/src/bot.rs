//! One bot: a real WebSocket client that joins, sends the inputs its
//! [`Behaviour`] picks from the declared input, and decodes every snapshot
//! with the protocol crate's client state keeper.
//!
//! A bot enters its room first ([`enter`]): matchmaking with `--matchmake`,
//! the connection, the join, up to the welcome; a cluster's redirect (the
//! room is on another node) is followed once.
//!
//! Each bot is two tasks over one socket split in halves, because
//! fastwebsockets' `read_frame` is not cancel-safe and so cannot share a
//! `select!` with a timer: the reader decodes and measures; the writer sends
//! an input every 100 ms and forwards the control frames (pongs, close
//! echoes) the reader is obliged to answer.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, WebSocketWrite, handshake};
use http_body_util::Empty;
use hyper::Request;
use hyper::header::{CONNECTION, UPGRADE};
use parking_lot::Mutex;
use rand_pcg::Pcg32;
use tokio::io::WriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use tickwire_types::{PlayerInput, Schema};

use crate::behaviour::{Behaviour, Tick, bot_rng};
use crate::lab::{BotLab, DelayLine, LabSettings};
use crate::stats::{BotTotals, InputCounts, InputTally, Phase, Samples, Shared};
use crate::wire::{self, Incoming};

/// Inputs per second a bot sends (the scenario: one every 100 ms).
const INPUT_INTERVAL: Duration = Duration::from_millis(100);
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
    /// Time to enter the room: matchmaking, TCP, the WebSocket handshake
    /// and the welcome.
    pub connect_timeout: Duration,
    /// Place each bot through the cluster's matchmaking first.
    pub matchmake: bool,
    /// Seed of the bots' random generators (each bot mixes in its index).
    pub seed: u64,
    /// The network lab every bot's link goes through, if any.
    pub lab: Option<LabSettings>,
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
            matchmake: false,
            lab: None,
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
    connect_to(&target.addr, &target.uri_for(room, name)).await
}

/// Opens a connection to `addr` (`host:port`): TCP (no delay) and the
/// WebSocket handshake for `uri`.
async fn connect_to(addr: &str, uri: &str) -> Result<fastwebsockets::WebSocket<Upgraded>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("connect: {e}"))?;
    let req = Request::builder()
        .method("GET")
        .uri(uri)
        .header("Host", addr)
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

/// Enters `room` as `name`: matchmaking first with [`Target::matchmake`],
/// then the connection up to the welcome, and the join; returns the
/// welcome undecoded with the socket. A cluster's redirect is followed once; a
/// second one is an error, as is any close before the welcome. With the
/// bot's network lab, the welcome is taken when its down line delivers
/// it, and the join leaves when its up line does.
pub async fn enter(
    target: &Target,
    room: &str,
    name: &str,
    mut lab: Option<&mut BotLab>,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>), String> {
    let (mut addr, mut uri) = if target.matchmake {
        let offer = crate::cluster::matchmake(&target.addr, room, name).await?;
        crate::cluster::endpoint(&offer.url, &offer.room, name, &offer.ticket)?
    } else {
        (target.addr.clone(), target.uri_for(room, name))
    };
    let mut redirected = false;
    loop {
        let mut ws = connect_to(&addr, &uri).await?;
        ws.set_max_message_size(target.max_message_size);
        // The server answers the connection itself (a welcome, a redirect,
        // a refusal); the join goes out after the welcome, so that nothing
        // is written to a socket being refused (its unread bytes would
        // reset the connection, and the close with them).
        let mut reason = None;
        let to = loop {
            let frame = ws.read_frame().await.map_err(|e| match e {
                WebSocketError::UnexpectedEOF => "dropped".to_string(),
                other => format!("read: {other}"),
            })?;
            match frame.opcode {
                OpCode::Binary => match wire::before_welcome(&frame.payload)? {
                    wire::BeforeWelcome::Welcome => {
                        let welcome = frame.payload.to_vec();
                        if let Some(lab) = lab.as_deref_mut() {
                            tokio::time::sleep_until(lab.down.delivery_time(Instant::now())).await;
                            tokio::time::sleep_until(lab.up.delivery_time(Instant::now())).await;
                        }
                        ws.write_frame(Frame::binary(Payload::Owned(wire::join())))
                            .await
                            .map_err(|e| format!("write: {e}"))?;
                        return Ok((ws, welcome));
                    }
                    wire::BeforeWelcome::Redirect(to) => break to,
                    wire::BeforeWelcome::Error(why) => reason = Some(why),
                },
                OpCode::Close => {
                    let code = close_code(&frame.payload);
                    if let Some(reason) = reason {
                        tracing::debug!(code, %reason, "refused before the welcome");
                    }
                    return Err(format!("closed {code}"));
                }
                OpCode::Text => return Err("text frame".to_string()),
                _ => {}
            }
        };
        if redirected {
            return Err("redirected twice".to_string());
        }
        redirected = true;
        (addr, uri) = crate::cluster::endpoint(&to.url, &to.room, name, &to.ticket)?;
    }
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

/// Runs bot `index` until it is told to stop (`stop` turns true: it
/// leaves, at the end of the run or earlier when the swarm churns), playing
/// `behaviour`; returns what it counted in the measured window. Errors are
/// counted in `shared`, never returned; a close after `stop` is the bot's
/// own leave, not an error. `live` counts every snapshot the bot decodes,
/// for the swarm's reports over time.
pub async fn run(
    index: usize,
    room: String,
    target: Arc<Target>,
    shared: Arc<Shared>,
    behaviour: Box<dyn Behaviour>,
    done: watch::Receiver<bool>,
    live: Arc<AtomicU64>,
) -> BotTotals {
    let stop = done.clone();
    let stopping = move || *stop.borrow();
    let name = format!("bot{index}");
    // The network lab: one delay line a direction, from the connect on.
    let mut lab = target
        .lab
        .map(|settings| BotLab::new(settings, Instant::now(), target.seed, index));
    let entry = enter(&target, &room, &name, lab.as_mut());
    let (ws, welcome) = match tokio::time::timeout(target.connect_timeout, entry).await {
        Ok(Ok(entered)) => entered,
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
    let (mut reader, writer) = ws.split(tokio::io::split);
    reader.set_max_message_size(target.max_message_size);
    let mut decoder = wire::Decoder::default();
    if let Err(e) = decoder.on_message(&welcome) {
        shared.error(format!("decode: {e}"));
        return BotTotals::default();
    }

    let pending = Arc::new(Mutex::new(PendingInputs::default()));
    let (ctrl_tx, ctrl_rx) = mpsc::channel::<(OpCode, Vec<u8>)>(8);
    let (schema_tx, schema_rx) = oneshot::channel::<Schema>();
    let (up, down) = match lab {
        Some(BotLab { up, down }) => (Some(up), Some(down)),
        None => (None, None),
    };

    // Writer: once the schema is handed over, an input every 100 ms;
    // control frames in between.
    let writer = tokio::spawn(write(
        Writer {
            socket: writer,
            ctrl: ctrl_rx,
            done,
            up: up.map(|line| Outbox {
                line,
                queue: VecDeque::new(),
            }),
        },
        Arc::clone(&pending),
        Arc::clone(&shared),
        behaviour,
        bot_rng(target.seed, index),
        schema_rx,
    ));

    // Reader: decode everything, measure in the window. The welcome came
    // with the entry. With the network lab, each frame is handled when the
    // lab's down line delivers it.
    let totals = BotTotals {
        welcomed: Some(Instant::now()),
        ..BotTotals::default()
    };
    if let Some(schema) = decoder.schema() {
        // The writer is gone only if its socket failed.
        let _ = schema_tx.send(schema.clone());
    }
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut inbox = Inbox {
        index,
        shared: Arc::clone(&shared),
        pending: Arc::clone(&pending),
        live,
        samples: Samples::default(),
        decoder,
        last_snapshot: None,
        server_reason: None,
        stopping: Box::new(stopping),
        totals,
    };
    match down {
        None => loop {
            let mut obliged = |frame: Frame<'_>| {
                let msg = (frame.opcode, frame.payload.to_vec());
                let tx = ctrl_tx.clone();
                async move { tx.send(msg).await.map_err(|_| "writer gone") }
            };
            let flow = match reader.read_frame(&mut obliged).await {
                Ok(frame) => inbox.on_frame(frame.opcode, &frame.payload, Instant::now()),
                Err(e) => inbox.on_read_error(&e),
            };
            if let Flow::Stop = flow {
                break;
            }
        },
        Some(mut line) => {
            // Frames are read as they come (control frames answered at
            // once) and queued with their delivery time; this loop hands
            // each over when it is due, in order.
            let (tx, mut rx) =
                mpsc::unbounded_channel::<(Instant, Result<(OpCode, Vec<u8>), WebSocketError>)>();
            let obliged_tx = ctrl_tx.clone();
            let read = tokio::spawn(async move {
                loop {
                    let mut obliged = |frame: Frame<'_>| {
                        let msg = (frame.opcode, frame.payload.to_vec());
                        let tx = obliged_tx.clone();
                        async move { tx.send(msg).await.map_err(|_| "writer gone") }
                    };
                    let read = reader
                        .read_frame(&mut obliged)
                        .await
                        .map(|frame| (frame.opcode, frame.payload.to_vec()));
                    let failed = read.is_err();
                    if tx.send((line.delivery_time(Instant::now()), read)).is_err() || failed {
                        break;
                    }
                }
            });
            while let Some((at, read)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                let flow = match read {
                    Ok((opcode, payload)) => inbox.on_frame(opcode, &payload, Instant::now()),
                    Err(e) => inbox.on_read_error(&e),
                };
                if let Flow::Stop = flow {
                    break;
                }
            }
            read.abort();
        }
    }
    let Inbox {
        mut totals,
        mut samples,
        ..
    } = inbox;
    shared.flush(index, &mut samples);
    shared.connected.fetch_sub(1, Ordering::Relaxed);
    drop(ctrl_tx);
    let writer_result = tokio::time::timeout(Duration::from_secs(2), writer).await;
    totals.inputs = match writer_result {
        Ok(Ok(n)) => n,
        _ => InputCounts::default(),
    };
    totals
}

/// Whether the reader goes on.
enum Flow {
    Go,
    Stop,
}

/// What a bot's reader keeps: it decodes every frame it is handed and
/// measures in the window.
struct Inbox {
    index: usize,
    shared: Arc<Shared>,
    pending: Arc<Mutex<PendingInputs>>,
    /// Snapshots decoded, for the reports over time.
    live: Arc<AtomicU64>,
    totals: BotTotals,
    samples: Samples,
    decoder: wire::Decoder,
    last_snapshot: Option<Instant>,
    /// The server's error message (or redirect), if it explained a close.
    server_reason: Option<String>,
    /// Whether the bot was told to leave.
    stopping: Box<dyn Fn() -> bool + Send>,
}

impl Inbox {
    /// A read failed: counted as an error unless the run or the bot is over.
    fn on_read_error(&mut self, e: &WebSocketError) -> Flow {
        if self.shared.phase() != Phase::Done && !(self.stopping)() {
            self.shared.error(match e {
                WebSocketError::UnexpectedEOF => "dropped".to_string(),
                WebSocketError::FrameTooLarge => "frame too large".to_string(),
                other => format!("read: {other}"),
            });
        }
        Flow::Stop
    }

    /// One frame from the server, handled at `now`.
    fn on_frame(&mut self, opcode: OpCode, payload: &[u8], now: Instant) -> Flow {
        let shared = &self.shared;
        match opcode {
            OpCode::Binary => {
                let len = payload.len();
                match self.decoder.on_message(payload) {
                    Ok(Incoming::Welcome) => {
                        shared.error("a second welcome");
                        return Flow::Stop;
                    }
                    Ok(Incoming::Snapshot { last_input }) => {
                        shared.snapshots_total.fetch_add(1, Ordering::Relaxed);
                        self.live.fetch_add(1, Ordering::Relaxed);
                        if shared.phase() == Phase::Measuring && !(self.stopping)() {
                            let totals = &mut self.totals;
                            totals.snapshots += 1;
                            totals.payload_bytes += len as u64;
                            totals.wire_bytes +=
                                (len + tickwire_protocol::server_frame_header_bytes(len)) as u64;
                            if let Some(prev) = self.last_snapshot {
                                let gap = now.saturating_duration_since(prev).as_micros();
                                self.samples
                                    .gaps_us
                                    .push(gap.min(u128::from(u32::MAX)) as u32);
                            }
                            if let Some(acked) = last_input {
                                self.pending.lock().acknowledge(
                                    acked,
                                    now,
                                    &mut self.samples.rtts_us,
                                );
                            }
                            if self.samples.full() {
                                shared.flush(self.index, &mut self.samples);
                            }
                        } else if let Some(acked) = last_input {
                            let mut discard = Vec::new();
                            self.pending.lock().acknowledge(acked, now, &mut discard);
                        }
                        self.last_snapshot = Some(now);
                    }
                    Ok(Incoming::Other) => {}
                    // A room the cluster moved: the close that follows is
                    // the error (a bot follows redirects only on entry).
                    Ok(Incoming::Redirect(to)) => {
                        self.server_reason =
                            Some(format!("redirected to {} ({})", to.url, to.room));
                    }
                    // The close that follows is the error; keep its reason.
                    Ok(Incoming::ServerError(reason)) => self.server_reason = Some(reason),
                    Err(e) => {
                        shared.error(format!("decode: {e}"));
                        return Flow::Stop;
                    }
                }
            }
            OpCode::Close => {
                if shared.phase() != Phase::Done && !(self.stopping)() {
                    let code = close_code(payload);
                    shared.error(format!("closed {code}"));
                    if let Some(reason) = self.server_reason.take() {
                        tracing::debug!(bot = self.index, code, %reason, "server closed the socket");
                    }
                }
                return Flow::Stop;
            }
            OpCode::Text => {
                shared.error("text frame");
                return Flow::Stop;
            }
            _ => {}
        }
        Flow::Go
    }
}

/// The writing half of a bot's socket, with what it must answer to.
struct Writer {
    socket: WebSocketWrite<WriteHalf<Upgraded>>,
    /// Control frames the reader is obliged to answer (pongs, close echoes).
    ctrl: mpsc::Receiver<(OpCode, Vec<u8>)>,
    /// Flips when the run is over.
    done: watch::Receiver<bool>,
    /// With the network lab: the messages on their way up.
    up: Option<Outbox>,
}

/// The network lab's up line of a bot: the messages handed over, each with
/// the time it leaves, in order.
struct Outbox {
    line: DelayLine,
    queue: VecDeque<(Instant, Vec<u8>)>,
}

/// Returns at `at`, or never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the writer does next after a control frame or the end of the run.
enum Next {
    Go,
    Stop,
}

impl Writer {
    /// Sends a binary message: at once, or, with the network lab, when its
    /// up line delivers it. An error means the socket failed.
    async fn send(&mut self, msg: Vec<u8>) -> Result<(), WebSocketError> {
        match &mut self.up {
            None => {
                self.socket
                    .write_frame(Frame::binary(Payload::Owned(msg)))
                    .await
            }
            Some(out) => {
                let at = out.line.delivery_time(Instant::now());
                out.queue.push_back((at, msg));
                Ok(())
            }
        }
    }

    /// When the next message of the lab's up line leaves; `None` without
    /// one.
    fn next_due(&self) -> Option<Instant> {
        self.up.as_ref()?.queue.front().map(|(at, _)| *at)
    }

    /// Sends every message of the lab's up line that is due, in order.
    async fn send_due(&mut self) -> Result<(), WebSocketError> {
        let now = Instant::now();
        while let Some(out) = self.up.as_mut() {
            match out.queue.front() {
                Some((at, _)) if *at <= now => {}
                _ => break,
            }
            let Some((_, msg)) = out.queue.pop_front() else {
                break;
            };
            self.socket
                .write_frame(Frame::binary(Payload::Owned(msg)))
                .await?;
        }
        Ok(())
    }

    /// Sends one frame the reader is obliged to answer.
    async fn forward(&mut self, ctrl: Option<(OpCode, Vec<u8>)>) -> Next {
        let Some((opcode, payload)) = ctrl else {
            return Next::Stop;
        };
        let close = opcode == OpCode::Close;
        let frame = Frame::new(true, opcode, None, Payload::Owned(payload));
        if self.socket.write_frame(frame).await.is_err() || close {
            Next::Stop
        } else {
            Next::Go
        }
    }

    /// Closes the socket normally, with `reason`.
    async fn close(&mut self, reason: &str) {
        if !self.socket.is_closed() {
            let _ = self
                .socket
                .write_frame(Frame::close(1000, reason.as_bytes()))
                .await;
        }
    }
}

/// The writer task: once the reader has the welcome's schema, the
/// behaviour's inputs every 100 ms, each checked against the
/// schema. Returns the inputs it sent in the measured window.
async fn write(
    mut w: Writer,
    pending: Arc<Mutex<PendingInputs>>,
    shared: Arc<Shared>,
    mut behaviour: Box<dyn Behaviour>,
    mut rng: Pcg32,
    mut schema_rx: oneshot::Receiver<Schema>,
) -> InputCounts {
    // The join went out on entry. Wait for the welcome's schema: the
    // behaviour needs the declared input.
    let schema = loop {
        tokio::select! {
            schema = &mut schema_rx => match schema {
                Ok(schema) => break schema,
                // The reader stopped before the welcome: it counted why.
                Err(_) => return InputCounts::default(),
            },
            ctrl = w.ctrl.recv() => {
                if let Next::Stop = w.forward(ctrl).await {
                    return InputCounts::default();
                }
            }
            () = stopped(&mut w.done) => {
                w.close("run over").await;
                return InputCounts::default();
            }
        }
    };
    if let Err(e) = behaviour.start(&schema.game, &schema.input) {
        shared.fail(e.to_string());
        w.close("behaviour").await;
        return InputCounts::default();
    }
    let mut tally = InputTally::new(&schema.input);
    let mut ticker = tokio::time::interval(INPUT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u32;
    loop {
        let due = w.next_due();
        tokio::select! {
            () = until(due) => {
                if w.send_due().await.is_err() {
                    break;
                }
            }
            _ = ticker.tick() => {
                let values = behaviour.next(&mut Tick { index: u64::from(seq), rng: &mut rng });
                seq += 1;
                let input = PlayerInput { seq, values };
                if let Err(e) = schema.check_input(&input) {
                    shared.fail(format!(
                        "behaviour `{}` made an input game `{}` refuses: {e}",
                        behaviour.name(),
                        schema.game
                    ));
                    w.close("behaviour").await;
                    break;
                }
                let msg = wire::input(seq, &values);
                pending.lock().sent(seq, Instant::now());
                if w.send(msg).await.is_err() {
                    break;
                }
                if shared.phase() == Phase::Measuring && !*w.done.borrow() {
                    tally.count(&values);
                }
            }
            ctrl = w.ctrl.recv() => {
                if let Next::Stop = w.forward(ctrl).await {
                    break;
                }
            }
            () = stopped(&mut w.done) => {
                w.close("run over").await;
                break;
            }
        }
    }
    tally.counts()
}

/// Returns once the bot is told to stop (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&stop| stop).await;
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
