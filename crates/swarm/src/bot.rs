//! One bot: a real WebSocket client that joins, sends the inputs its
//! [`Behaviour`] picks from the declared input, and decodes every snapshot
//! with the protocol crate's client state keeper.
//!
//! A bot enters its room first ([`enter`]): matchmaking with `--matchmake`,
//! the connection, the join, up to the welcome; a cluster's redirect (the
//! room is on another node) is followed once. A socket that drops is
//! resumed on the same node, with the welcome's resume token; when that
//! node cannot be reached (it died: the connect fails, or the cluster
//! answers 1013 while its lease runs out), through the entry (`--url`)
//! instead, which places the room on a live node, until
//! `--resume-timeout`.
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
use rand::Rng as _;
use rand_pcg::Pcg32;
use tokio::io::WriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use tickwire_types::{PlayerInput, Schema};

use crate::behaviour::{Behaviour, Tick, bot_rng};
use crate::inputlog::InputLog;
use crate::lab::{DelayLine, LabSettings};
use crate::stats::{BotTotals, InputTally, Phase, Samples, Shared};
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
    /// How long after a drop a bot keeps trying to resume its seat (on its
    /// node, then through this target, the entry) before it gives up.
    pub resume_timeout: Duration,
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
            resume_timeout: Duration::from_secs(30),
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

/// Where a bot is let in: the address and the request it entered with
/// (after matchmaking and a redirect, a cluster node's). A resume goes
/// there again, for the node holds the seat.
#[derive(Clone, Debug)]
pub struct Entered {
    /// `host:port` of the server (or node).
    pub addr: String,
    /// The request's URI (`http://host:port/path?query`).
    pub uri: String,
}

impl Entered {
    /// The request that resumes this entry's seat with `token`, holding
    /// `since`: the same URI without a seat ticket, with `resume=` and
    /// `since=`.
    pub fn resume_uri(&self, token: &str, since: Option<u32>) -> String {
        with_resume(&self.uri, &["seat"], token, since)
    }
}

/// `uri` without the query parameters `drop`, with `resume=token` (and
/// `since=` the tick, if any) in place of any it had.
fn with_resume(uri: &str, drop: &[&str], token: &str, since: Option<u32>) -> String {
    let Ok(mut url) = url::Url::parse(uri) else {
        return uri.to_owned();
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "resume" | "since") && !drop.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        query.append_pair("resume", token);
        if let Some(tick) = since {
            query.append_pair("since", &tick.to_string());
        }
    }
    url.to_string()
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
/// second one is an error, as is any close before the welcome.
pub async fn enter(
    target: &Target,
    room: &str,
    name: &str,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>), String> {
    enter_at(target, room, name, None)
        .await
        .map(|(ws, welcome, _)| (ws, welcome))
}

/// [`enter`], saying where the bot was let in, through the bot's network
/// lab if it has one (see [`open_to`]).
async fn enter_at(
    target: &Target,
    room: &str,
    name: &str,
    lab: Option<Lab<'_>>,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>, Entered), String> {
    let (addr, uri) = if target.matchmake {
        let offer = crate::cluster::matchmake(&target.addr, room, name).await?;
        crate::cluster::endpoint(&offer.url, &offer.room, name, &offer.ticket)?
    } else {
        (target.addr.clone(), target.uri_for(room, name))
    };
    open_to(target, name, addr, uri, None, lab).await
}

/// Resumes the seat of `entry` with `token`, holding `since`: up to the
/// welcome, as [`enter`]; a refusal is `closed 4008: REASON`. A redirect
/// (the room moved on) is followed once, the resume with it.
async fn resume_at(
    target: &Target,
    entry: &Entered,
    name: &str,
    token: &str,
    since: Option<u32>,
    lab: Option<Lab<'_>>,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>, Entered), String> {
    let uri = entry.resume_uri(token, since);
    let resume = Some((token, since));
    open_to(target, name, entry.addr.clone(), uri, resume, lab).await
}

/// Resumes a seat in `room` through the target itself, the entry (the
/// node the seat was on is gone): `/ws?room=ROOM&resume=TOKEN&since=TICK`
/// there, which lets the bot in where the room now is, or redirects it
/// there (followed once, the resume with it). No matchmaking: the room is
/// named.
async fn resume_through_entry(
    target: &Target,
    room: &str,
    name: &str,
    token: &str,
    since: Option<u32>,
    lab: Option<Lab<'_>>,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>, Entered), String> {
    let uri = with_resume(&target.uri_for(room, name), &[], token, since);
    let resume = Some((token, since));
    open_to(target, name, target.addr.clone(), uri, resume, lab).await
}

/// A bot's two delay lines of the network lab, while it enters: what it
/// receives, and what it sends.
type Lab<'a> = (&'a mut DelayLine, &'a mut DelayLine);

/// Connects to `addr` with `uri`, up to the welcome; follows a redirect
/// once, with the seat ticket it gives (and `resume`'s token and tick when
/// this is a resume). Returns where it was let in. With the bot's network
/// lab, the welcome is taken when its down line delivers it, and the join
/// leaves when its up line does.
async fn open_to(
    target: &Target,
    name: &str,
    mut addr: String,
    mut uri: String,
    resume: Option<(&str, Option<u32>)>,
    mut lab: Option<Lab<'_>>,
) -> Result<(fastwebsockets::WebSocket<Upgraded>, Vec<u8>, Entered), String> {
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
                        if let Some((down, up)) = lab.as_mut() {
                            tokio::time::sleep_until(down.delivery_time(Instant::now())).await;
                            tokio::time::sleep_until(up.delivery_time(Instant::now())).await;
                        }
                        ws.write_frame(Frame::binary(Payload::Owned(wire::join())))
                            .await
                            .map_err(|e| format!("write: {e}"))?;
                        return Ok((ws, welcome, Entered { addr, uri }));
                    }
                    wire::BeforeWelcome::Redirect(to) => break to,
                    wire::BeforeWelcome::Error(why) => reason = Some(why),
                },
                OpCode::Close => {
                    let code = close_code(&frame.payload);
                    // The error kind is what comes before the colon.
                    return Err(match reason {
                        Some(reason) => {
                            tracing::debug!(code, %reason, "refused before the welcome");
                            format!("closed {code}: {reason}")
                        }
                        None => format!("closed {code}"),
                    });
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
        if let Some((token, since)) = resume {
            uri = with_resume(&uri, &[], token, since);
        }
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

/// A bot's resume: the token of its newest welcome and the newest tick it
/// holds.
#[derive(Clone, Debug)]
struct Resume {
    token: String,
    since: Option<u32>,
    /// Refusals as "in use" so far (the server has not seen the drop yet).
    in_use: u32,
    /// When the socket dropped: the resume gives up `--resume-timeout`
    /// later.
    dropped: Instant,
    /// The node the bot was on could not be reached: the resume goes
    /// through the entry (`--url`).
    through_entry: bool,
    /// Attempts that could not reach a node so far (for the backoff).
    unreachable: u32,
}

impl Resume {
    /// The resume of a socket that dropped now.
    fn new(token: &str, since: Option<u32>) -> Self {
        Self {
            token: token.to_owned(),
            since,
            in_use: 0,
            dropped: Instant::now(),
            through_entry: false,
            unreachable: 0,
        }
    }

    /// The pause before the next attempt: short after a drop or an "in
    /// use", then a backoff from [`BACKOFF_START`] doubling up to
    /// [`BACKOFF_MAX`] while no node answers, each with ±20 % jitter
    /// (`unit`, uniform in 0..1) so that a room's bots spread out.
    fn pause(&self, unit: f64) -> Duration {
        if self.unreachable == 0 {
            return RESUME_PAUSE;
        }
        let doublings = (self.unreachable - 1).min(16);
        let base = BACKOFF_START
            .saturating_mul(1 << doublings)
            .min(BACKOFF_MAX);
        base.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
    }
}

/// Resumes refused as "in use" tried again before the bot gives up.
const MAX_IN_USE_RETRIES: u32 = 20;
/// Pause before a resume, and between two tried again.
const RESUME_PAUSE: Duration = Duration::from_millis(50);
/// First pause after a resume that reached no node; it doubles.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest pause between two resumes that reached no node.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Shortest time an attempt to resume is given, however close the
/// deadline.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// How one connection of a bot ended.
enum Ended {
    /// The bot was told to stop, or the run is over.
    Stopped,
    /// The socket dropped without a close: the bot may resume.
    Dropped,
    /// The server closed it (code, and the reason of its error message).
    Closed(u16, Option<String>),
    /// A resume reached no node that would take it: the connect failed,
    /// or the cluster answered 1013 (the room's node is not answering).
    /// Tried again, through the entry, until the resume's deadline.
    Unreachable(String),
    /// Counted already (a decode error, a text frame, a failed connect).
    Failed,
}

/// What a bot's inputs carry from one connection to the next: the
/// behaviour and its random generator, the last sequence number sent (a
/// resume carries on from it), and the tally of the measured window
/// (`None` until the first welcome).
struct Inputs {
    behaviour: Box<dyn Behaviour>,
    rng: Pcg32,
    seq: u32,
    tally: Option<InputTally>,
    /// The network lab's up line: when what the bot sends leaves.
    up: Option<DelayLine>,
    /// The input log, with `--input-log`.
    log: Option<Arc<Mutex<InputLog>>>,
}

/// What one bot keeps across its connections.
struct Bot {
    index: usize,
    room: String,
    name: String,
    target: Arc<Target>,
    shared: Arc<Shared>,
    done: watch::Receiver<bool>,
    live: Arc<AtomicU64>,
    totals: BotTotals,
    samples: Samples,
    decoder: wire::Decoder,
    last_snapshot: Option<Instant>,
    pending: Arc<Mutex<PendingInputs>>,
    /// Where the bot was last let in: where its resumes go.
    entry: Option<Entered>,
    /// The network lab's down line: when what the server sends is handled.
    down: Option<DelayLine>,
    /// The input log, with `--input-log`.
    log: Option<Arc<Mutex<InputLog>>>,
}

/// What a bot reports to the runner while it runs.
#[derive(Clone, Debug, Default)]
pub struct Outlets {
    /// Every snapshot the bot decodes, for the reports over time.
    pub live: Arc<AtomicU64>,
    /// What it sent and had acknowledged, with `--input-log`.
    pub log: Option<Arc<Mutex<InputLog>>>,
}

/// Runs bot `index` until it is told to stop (`stop` turns true: it
/// leaves, at the end of the run or earlier when the swarm churns), playing
/// `behaviour`; returns what it counted in the measured window. Errors are
/// counted in `shared`, never returned; a close after `stop` is the bot's
/// own leave, not an error. `outlets` counts every snapshot the bot
/// decodes, for the swarm's reports over time, and keeps its input log.
///
/// A socket that drops without a close (the network, or its node died) is
/// resumed: the bot reconnects with its welcome's resume token and the
/// newest tick it holds, and carries on as the same player, its input
/// sequence and its state where they were (counted in the report's
/// `drops` and `resumes`). When the node it was on cannot be reached (the
/// connect fails, or a cluster answers 1013: the room's node is not
/// answering), it resumes through the entry, the target itself, with the
/// room named, and keeps trying with a backoff (counted in `failovers`
/// once it is back). Without a token, when the resume is refused, or when
/// `--resume-timeout` has passed since the drop, the drop is an error.
pub async fn run(
    index: usize,
    room: String,
    target: Arc<Target>,
    shared: Arc<Shared>,
    behaviour: Box<dyn Behaviour>,
    done: watch::Receiver<bool>,
    outlets: Outlets,
) -> BotTotals {
    // The network lab: one delay line a direction, from the connect on.
    let connected = Instant::now();
    let line = |direction| {
        target
            .lab
            .map(|lab| DelayLine::for_bot(lab, connected, target.seed, index, direction))
    };
    let (up, down) = (line(0), line(1));
    let mut inputs = Inputs {
        behaviour,
        rng: bot_rng(target.seed, index),
        seq: 0,
        tally: None,
        up,
        log: outlets.log.clone(),
    };
    // The backoff's jitter draws from a generator of its own: the inputs'
    // stays the seed's.
    let mut jitter = bot_rng(target.seed ^ JITTER_SALT, index);
    let mut bot = Bot {
        index,
        room,
        name: format!("bot{index}"),
        target,
        shared,
        done,
        live: outlets.live,
        totals: BotTotals::default(),
        samples: Samples::default(),
        decoder: wire::Decoder::default(),
        last_snapshot: None,
        pending: Arc::new(Mutex::new(PendingInputs::default())),
        entry: None,
        down,
        log: outlets.log,
    };
    let mut resume: Option<Resume> = None;
    let mut tally = None;
    loop {
        let (ended, back) = bot.connection(resume.as_ref(), inputs).await;
        // Without its inputs back (a writer that hung), the bot ends.
        let Some(back) = back else {
            break;
        };
        tally = back.tally.as_ref().map(InputTally::counts);
        inputs = back;
        if bot.stopping() {
            break;
        }
        resume = match (ended, resume) {
            (Ended::Dropped, _) => match bot.decoder.resume_token() {
                Some(token) => {
                    bot.shared.drops.fetch_add(1, Ordering::Relaxed);
                    Some(Resume::new(token, bot.decoder.latest_tick()))
                }
                None => {
                    bot.shared.error("dropped");
                    None
                }
            },
            (Ended::Unreachable(why), Some(mut tried)) => {
                if tried.dropped.elapsed() >= bot.target.resume_timeout {
                    tracing::debug!(bot = index, %why, "resume gave up");
                    bot.shared.error("resume timed out");
                    None
                } else {
                    tracing::debug!(bot = index, %why, "resuming through the entry");
                    tried.through_entry = true;
                    tried.unreachable += 1;
                    Some(tried)
                }
            }
            (Ended::Unreachable(why), None) => {
                bot.shared.error(why);
                None
            }
            (Ended::Closed(code, reason), Some(mut tried)) if code == RESUME_REFUSED => {
                let reason = reason.unwrap_or_default();
                if reason.contains("in use") && tried.in_use < MAX_IN_USE_RETRIES {
                    tried.in_use += 1;
                    Some(tried)
                } else {
                    tracing::debug!(bot = index, %reason, "resume refused");
                    bot.shared.error("resume refused");
                    None
                }
            }
            (Ended::Closed(code, reason), _) if operator_close(code).is_some() => {
                // The error message's reason, without its code in front.
                let reason = reason.unwrap_or_default();
                let reason = reason
                    .strip_prefix(&format!("{code} "))
                    .unwrap_or(&reason)
                    .to_owned();
                if let Some(kind) = operator_close(code) {
                    bot.shared.operator_closed(kind, &reason);
                }
                bot.totals.closed_by_operator = true;
                tracing::debug!(bot = index, code, %reason, "closed by an operator");
                None
            }
            (Ended::Closed(code, reason), _) => {
                bot.shared.error(format!("closed {code}"));
                if let Some(reason) = reason {
                    tracing::debug!(bot = index, code, %reason, "server closed the socket");
                }
                None
            }
            (Ended::Stopped | Ended::Failed, _) => None,
        };
        let Some(next) = &resume else {
            break;
        };
        let pause = next.pause(jitter.random::<f64>());
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stopped(&mut bot.done) => break,
        }
    }
    let Bot {
        shared,
        mut samples,
        mut totals,
        ..
    } = bot;
    shared.flush(index, &mut samples);
    totals.inputs = tally.unwrap_or_default();
    totals
}

/// The close code of a refused resume (the protocol's error 4008).
const RESUME_REFUSED: u16 = 4008;

/// Mixed into the seed for the generator of a bot's backoff jitter.
const JITTER_SALT: u64 = 0x6a09_e667_f3bc_c908;

/// Whether a resume that failed with `e` (an error of [`open_to`]) found
/// no node that would take it, so that trying again, through the entry,
/// may: the connect or the handshake failed, the socket dropped before
/// the welcome, a proxy in front found no node (HTTP 502, 503, 504), or a
/// cluster answered 1013 (the room's node is not answering while its lease
/// runs out).
fn unreachable(e: &str) -> bool {
    ["connect:", "handshake:", "read:", "dropped", "closed 1013"]
        .iter()
        .any(|kind| e.starts_with(kind))
        || ["502", "503", "504"]
            .iter()
            .any(|status| e == format!("refused: HTTP {status}"))
}

/// How the report names an operator's close (`docs/operations.md`), or
/// `None` for any other close code.
fn operator_close(code: u16) -> Option<&'static str> {
    match code {
        tickwire_protocol::close_code::KICKED => Some("kicked"),
        tickwire_protocol::close_code::ROOM_CLOSED => Some("room closed"),
        _ => None,
    }
}

impl Bot {
    /// Whether the bot was told to stop or the run is over.
    fn stopping(&self) -> bool {
        *self.done.borrow() || self.shared.phase() == Phase::Done
    }

    /// Opens one connection (a join, or with `resume` the held seat back)
    /// and plays it to its end; gives `inputs` back for the next.
    async fn connection(
        &mut self,
        resume: Option<&Resume>,
        mut inputs: Inputs,
    ) -> (Ended, Option<Inputs>) {
        let (target, room, name, entry) = (&self.target, &self.room, &self.name, &self.entry);
        let lab = match (self.down.as_mut(), inputs.up.as_mut()) {
            (Some(down), Some(up)) => Some((down, up)),
            _ => None,
        };
        let entering = async {
            match (resume, entry) {
                (Some(r), Some(entry)) if !r.through_entry => {
                    resume_at(target, entry, name, &r.token, r.since, lab).await
                }
                (Some(r), _) => {
                    resume_through_entry(target, room, name, &r.token, r.since, lab).await
                }
                (None, _) => enter_at(target, room, name, lab).await,
            }
        };
        // A resume's attempt ends by its deadline (give or take a little).
        let limit = match resume {
            Some(r) => {
                let left =
                    (r.dropped + target.resume_timeout).saturating_duration_since(Instant::now());
                target.connect_timeout.min(left.max(MIN_ATTEMPT))
            }
            None => target.connect_timeout,
        };
        let (ws, welcome, entry) = match tokio::time::timeout(limit, entering).await {
            Ok(Ok(entered)) => entered,
            // A refused resume: the caller decides (an "in use" is
            // tried again).
            Ok(Err(e)) if resume.is_some() && e.starts_with("closed 4008") => {
                return (Ended::Closed(RESUME_REFUSED, Some(e)), Some(inputs));
            }
            // No node took it: tried again through the entry.
            Ok(Err(e)) if resume.is_some() && unreachable(&e) => {
                return (Ended::Unreachable(e), Some(inputs));
            }
            Err(_) if resume.is_some() => {
                return (Ended::Unreachable("connect timeout".into()), Some(inputs));
            }
            Ok(Err(e)) => {
                let kind = e.split(':').next().unwrap_or("connect").to_string();
                self.shared.error(kind);
                return (Ended::Failed, Some(inputs));
            }
            Err(_) => {
                self.shared.error("connect timeout");
                return (Ended::Failed, Some(inputs));
            }
        };
        if let Err(e) = self.decoder.on_message(&welcome) {
            self.shared.error(format!("decode: {e}"));
            return (Ended::Failed, Some(inputs));
        }
        self.entry = Some(entry);
        self.totals.welcomed.get_or_insert(Instant::now());
        self.shared.connected.fetch_add(1, Ordering::Relaxed);
        if let Some(r) = resume {
            self.shared.resumed(r.dropped.elapsed(), r.through_entry);
        }
        if let (Some(log), Some((player, room))) = (&self.log, self.decoder.welcomed()) {
            log.lock().welcomed(room, player);
        }
        let (reader, writer) = ws.split(tokio::io::split);
        let (ctrl_tx, ctrl_rx) = mpsc::channel::<(OpCode, Vec<u8>)>(8);
        let (schema_tx, schema_rx) = oneshot::channel::<Schema>();
        if let Some(schema) = self.decoder.schema() {
            // The writer is gone only if its socket failed.
            let _ = schema_tx.send(schema.clone());
        }
        // Writer: an input every 100 ms; control frames in between.
        let writer = tokio::spawn(write(
            Writer {
                socket: writer,
                ctrl: ctrl_rx,
                done: self.done.clone(),
            },
            Arc::clone(&self.pending),
            Arc::clone(&self.shared),
            inputs,
            schema_rx,
        ));
        let ended = self.read(reader, ctrl_tx).await;
        self.shared.connected.fetch_sub(1, Ordering::Relaxed);
        // The writer stops once its socket is closed or its control channel
        // (dropped by the reader) ends.
        let inputs = tokio::time::timeout(Duration::from_secs(2), writer)
            .await
            .ok()
            .and_then(Result::ok);
        (ended, inputs)
    }

    /// The reader: decodes everything and measures in the window, until the
    /// connection ends. Returns how. With the network lab, frames are read
    /// as they come (control frames answered at once) and each is handled
    /// when the lab's down line delivers it, in order.
    async fn read(
        &mut self,
        mut reader: fastwebsockets::WebSocketRead<tokio::io::ReadHalf<Upgraded>>,
        ctrl_tx: mpsc::Sender<(OpCode, Vec<u8>)>,
    ) -> Ended {
        reader.set_max_message_size(self.target.max_message_size);
        let mut server_reason: Option<String> = None;
        if self.down.is_none() {
            loop {
                let mut obliged = |frame: Frame<'_>| {
                    let msg = (frame.opcode, frame.payload.to_vec());
                    let tx = ctrl_tx.clone();
                    async move { tx.send(msg).await.map_err(|_| "writer gone") }
                };
                let ended = match reader.read_frame(&mut obliged).await {
                    Ok(frame) => self.on_frame(frame.opcode, &frame.payload, &mut server_reason),
                    Err(e) => Some(self.on_read_error(e)),
                };
                if let Some(ended) = ended {
                    return ended;
                }
            }
        }
        type Read = (Instant, Result<(OpCode, Vec<u8>), WebSocketError>);
        let (tx, mut rx) = mpsc::unbounded_channel::<Read>();
        let reading = tokio::spawn(async move {
            loop {
                let mut obliged = |frame: Frame<'_>| {
                    let msg = (frame.opcode, frame.payload.to_vec());
                    let tx = ctrl_tx.clone();
                    async move { tx.send(msg).await.map_err(|_| "writer gone") }
                };
                let read = reader
                    .read_frame(&mut obliged)
                    .await
                    .map(|frame| (frame.opcode, frame.payload.to_vec()));
                let failed = read.is_err();
                if tx.send((Instant::now(), read)).is_err() || failed {
                    break;
                }
            }
        });
        let ended = loop {
            let Some((arrived, read)) = rx.recv().await else {
                break Ended::Dropped;
            };
            if let Some(line) = self.down.as_mut() {
                tokio::time::sleep_until(line.delivery_time(arrived)).await;
            }
            let ended = match read {
                Ok((opcode, payload)) => self.on_frame(opcode, &payload, &mut server_reason),
                Err(e) => Some(self.on_read_error(e)),
            };
            if let Some(ended) = ended {
                break ended;
            }
        };
        reading.abort();
        ended
    }

    /// A read failed: how the connection ended.
    fn on_read_error(&self, e: WebSocketError) -> Ended {
        if self.stopping() {
            return Ended::Stopped;
        }
        match e {
            WebSocketError::UnexpectedEOF
            | WebSocketError::ConnectionClosed
            | WebSocketError::IoError(_) => Ended::Dropped,
            WebSocketError::FrameTooLarge => {
                self.shared.error("frame too large");
                Ended::Failed
            }
            other => {
                self.shared.error(format!("read: {other}"));
                Ended::Failed
            }
        }
    }

    /// One frame from the server, handled now; `Some` when the connection
    /// ended with it. `server_reason` keeps what the server said before a
    /// close.
    fn on_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        server_reason: &mut Option<String>,
    ) -> Option<Ended> {
        match opcode {
            OpCode::Binary => {
                let now = Instant::now();
                let len = payload.len();
                match self.decoder.on_message(payload) {
                    Ok(Incoming::Welcome) => {
                        self.shared.error("a second welcome");
                        return Some(Ended::Failed);
                    }
                    Ok(Incoming::Snapshot { last_input }) => {
                        self.snapshot(now, len, last_input, self.index);
                    }
                    Ok(Incoming::Other) => {}
                    // A room the cluster moved: the close that follows
                    // is the error (a bot follows redirects only on
                    // entry).
                    Ok(Incoming::Redirect(to)) => {
                        *server_reason = Some(format!("redirected to {} ({})", to.url, to.room));
                    }
                    // The close that follows is the error; keep its reason.
                    Ok(Incoming::ServerError(reason)) => *server_reason = Some(reason),
                    Err(e) => {
                        self.shared.error(format!("decode: {e}"));
                        return Some(Ended::Failed);
                    }
                }
            }
            OpCode::Close => {
                if self.stopping() {
                    return Some(Ended::Stopped);
                }
                return Some(Ended::Closed(close_code(payload), server_reason.take()));
            }
            OpCode::Text => {
                self.shared.error("text frame");
                return Some(Ended::Failed);
            }
            _ => {}
        }
        None
    }

    /// Counts a decoded snapshot (in the window), and matches the inputs it
    /// acknowledges.
    fn snapshot(&mut self, now: Instant, len: usize, last_input: Option<u32>, shard: usize) {
        self.shared.snapshots_total.fetch_add(1, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::Relaxed);
        if self.shared.phase() == Phase::Measuring && !*self.done.borrow() {
            let totals = &mut self.totals;
            totals.snapshots += 1;
            totals.payload_bytes += len as u64;
            totals.wire_bytes += (len + tickwire_protocol::server_frame_header_bytes(len)) as u64;
            if let Some(prev) = self.last_snapshot {
                let gap = now.saturating_duration_since(prev).as_micros();
                self.samples
                    .gaps_us
                    .push(gap.min(u128::from(u32::MAX)) as u32);
            }
            if let Some(acked) = last_input {
                self.pending
                    .lock()
                    .acknowledge(acked, now, &mut self.samples.rtts_us);
            }
            if self.samples.full() {
                self.shared.flush(shard, &mut self.samples);
            }
        } else if let Some(acked) = last_input {
            let mut discard = Vec::new();
            self.pending.lock().acknowledge(acked, now, &mut discard);
        }
        if let (Some(acked), Some(log)) = (last_input, &self.log) {
            log.lock().acked(acked);
        }
        self.last_snapshot = Some(now);
    }
}

/// The writing half of a bot's socket, with what it must answer to.
struct Writer {
    socket: WebSocketWrite<WriteHalf<Upgraded>>,
    /// Control frames the reader is obliged to answer (pongs, close echoes).
    ctrl: mpsc::Receiver<(OpCode, Vec<u8>)>,
    /// Flips when the run is over.
    done: watch::Receiver<bool>,
}

/// What the writer does next after a control frame or the end of the run.
enum Next {
    Go,
    Stop,
}

impl Writer {
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

/// The writer task: once the reader has handed over the welcome's schema
/// (the join went out on entry), the behaviour's inputs every 100 ms, each
/// checked against the schema, numbered on from `inputs.seq`. Gives
/// `inputs` back, with the inputs it sent in the measured window counted.
async fn write(
    mut w: Writer,
    pending: Arc<Mutex<PendingInputs>>,
    shared: Arc<Shared>,
    mut inputs: Inputs,
    mut schema_rx: oneshot::Receiver<Schema>,
) -> Inputs {
    // Wait for the welcome: the behaviour needs the declared input.
    let schema = loop {
        tokio::select! {
            schema = &mut schema_rx => match schema {
                Ok(schema) => break schema,
                // The reader stopped before the welcome: it counted why.
                Err(_) => return inputs,
            },
            ctrl = w.ctrl.recv() => {
                if let Next::Stop = w.forward(ctrl).await {
                    return inputs;
                }
            }
            () = stopped(&mut w.done) => {
                w.close("run over").await;
                return inputs;
            }
        }
    };
    if inputs.tally.is_none() {
        // The first welcome; a resume's carries on with the same game.
        if let Err(e) = inputs.behaviour.start(&schema.game, &schema.input) {
            shared.fail(e.to_string());
            w.close("behaviour").await;
            return inputs;
        }
        inputs.tally = Some(InputTally::new(&schema.input));
    }
    let mut ticker = tokio::time::interval(INPUT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // With the network lab: the inputs on their way up, each with the time
    // it leaves, in order (lost with the socket, as on a real link).
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    loop {
        let due = queue.front().map(|(at, _)| *at);
        tokio::select! {
            () = until(due) => {
                if send_due(&mut w, &mut queue).await.is_err() {
                    break;
                }
            }
            _ = ticker.tick() => {
                let Inputs { behaviour, rng, seq, tally, up, log } = &mut inputs;
                let values = behaviour.next(&mut Tick { index: u64::from(*seq), rng });
                let input = PlayerInput { seq: *seq + 1, values, view: 0 };
                if let Err(e) = schema.check_input(&input) {
                    shared.fail(format!(
                        "behaviour `{}` made an input game `{}` refuses: {e}",
                        behaviour.name(),
                        schema.game
                    ));
                    w.close("behaviour").await;
                    break;
                }
                *seq += 1;
                let msg = wire::input(*seq, &values);
                let now = Instant::now();
                pending.lock().sent(*seq, now);
                let sent = match up {
                    Some(line) => {
                        queue.push_back((line.delivery_time(now), msg));
                        Ok(())
                    }
                    None => w.socket.write_frame(Frame::binary(Payload::Owned(msg))).await,
                };
                if sent.is_err() {
                    break;
                }
                if let Some(log) = log {
                    log.lock().sent(*seq, &values);
                }
                if shared.phase() == Phase::Measuring && !*w.done.borrow() {
                    if let Some(tally) = tally {
                        tally.count(&values);
                    }
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
    inputs
}

/// Returns at `at`, or never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends every queued message that is due, in order.
async fn send_due(
    w: &mut Writer,
    queue: &mut VecDeque<(Instant, Vec<u8>)>,
) -> Result<(), WebSocketError> {
    let now = Instant::now();
    while queue.front().is_some_and(|(at, _)| *at <= now) {
        let Some((_, msg)) = queue.pop_front() else {
            break;
        };
        w.socket
            .write_frame(Frame::binary(Payload::Owned(msg)))
            .await?;
    }
    Ok(())
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
    fn a_resume_that_reaches_no_node_backs_off_up_to_a_ceiling() {
        let mut r = Resume::new("t", Some(3));
        assert_eq!(r.pause(0.5), RESUME_PAUSE, "after the drop, at once");
        let mut pauses = Vec::new();
        for _ in 0..8 {
            r.unreachable += 1;
            pauses.push(r.pause(0.5).as_millis());
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        r.unreachable = 1;
        assert_eq!(r.pause(0.0), Duration::from_millis(80));
        assert_eq!(r.pause(1.0), Duration::from_millis(120));
        r.unreachable = u32::MAX;
        assert_eq!(r.pause(0.5), BACKOFF_MAX);
    }

    #[test]
    fn a_resume_is_tried_again_when_no_node_answered_only() {
        for e in [
            "connect: Connection refused (os error 111)",
            "handshake: unexpected EOF",
            "dropped",
            "read: connection reset",
            "closed 1013: 4004 room `r`'s node is not answering; try again in a few seconds",
            "refused: HTTP 502",
            "refused: HTTP 503",
        ] {
            assert!(unreachable(e), "{e}");
        }
        for e in [
            "closed 4008: 4008 resume refused: seat released",
            "closed 4011: 4011 seat ticket refused",
            "refused: HTTP 404",
            "redirected twice",
            "decode: bad tag",
        ] {
            assert!(!unreachable(e), "{e}");
        }
    }

    #[test]
    fn a_resume_through_the_entry_names_the_room_and_keeps_a_redirect_s_seat() {
        let t = Target::from_url("ws://127.0.0.1:9000/ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            with_resume(&t.uri_for("r", "bot1"), &[], "a.b", Some(9)),
            "http://127.0.0.1:9000/ws?room=r&name=bot1&resume=a.b&since=9"
        );
        assert_eq!(
            with_resume("http://n:1/ws?room=r&seat=s.1&resume=old", &[], "a.b", None),
            "http://n:1/ws?room=r&seat=s.1&resume=a.b"
        );
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
        let entry = Entered {
            addr: t.addr.clone(),
            uri: "http://127.0.0.1:9000/ws?token=x&room=r&name=n&seat=s.1".into(),
        };
        assert_eq!(
            entry.resume_uri("a.b", Some(7)),
            "http://127.0.0.1:9000/ws?token=x&room=r&name=n&resume=a.b&since=7"
        );
        assert!(Target::from_url("wss://x/ws").is_err());
        assert!(Target::from_url("nonsense").is_err());
    }
}
