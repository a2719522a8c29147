//! The viewer's HTTP side: its routes, its two kinds of WebSocket, its
//! files.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /viewer/` | the viewer's page (`client-web/viewer/`), and its files below |
//! | `GET /viewer/ws` | a viewer page's socket: JSON actions in, the match and frames out |
//! | `GET /viewer/api/match` | the match, as JSON |
//! | `GET /viewer/api/players/ID` | one player's figures over the match, as JSON |
//! | `GET /ws` | a game page's socket: the game's protocol, the recorded match in it |
//! | `GET /sdk/<file>`, `GET /`, `GET /<file>` | the SDK and the game's own page, as the game server serves them |
//! | `GET /healthz` | `ok` |
//!
//! Both sockets are the viewer's pages' only: a browser's upgrade from a
//! page of another origin gets HTTP 403. They are bounded: at most
//! `max_connections` at once (HTTP 503
//! beyond), messages of at most [`MAX_PAGE_MESSAGE`] and
//! [`MAX_VIEWER_MESSAGE`] bytes (close 1009), no fragmented messages
//! (close 1003), a viewer page's actions at most
//! [`MAX_ACTIONS_PER_SECOND`] (the rest dropped), and a queue per socket
//! (`PAGE_QUEUE`, `VIEWER_QUEUE`) that a slow socket never grows.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rust_embed::RustEmbed;
use tickwire_protocol::WatchTarget;
use tokio::sync::{Semaphore, mpsc, watch};

use super::playback::{Action, Command, ShownTick, VIEWER_QUEUE};
use super::stream::{Acks, Out, PAGE_QUEUE, PageStream};
use super::timeline::Timeline;
use super::view::{MatchView, TrackView};
use crate::http::{Body, check_origin, static_file, text};
use crate::page::{self, Page};
use crate::session::rate::{Admit, Budget};
use crate::wire::{self, ClientMessage};

/// Largest message a game page may send: its protocol's messages are a
/// few bytes.
pub const MAX_PAGE_MESSAGE: usize = 4096;

/// Largest message a viewer page may send: one JSON action.
pub const MAX_VIEWER_MESSAGE: usize = 1024;

/// Actions a viewer page may send per second, and at once: a timeline
/// dragged sends one per drawn frame. Beyond, an action is dropped and
/// answered with an error.
pub const MAX_ACTIONS_PER_SECOND: u32 = 120;

/// The viewer's page (`client-web/viewer/`), served at `/viewer/`.
/// Release builds embed it; debug builds read it from the source tree.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../client-web/viewer"]
#[exclude = ".*"]
#[exclude = "*/.*"]
struct ViewerFiles;

/// What every request of the viewer shares.
pub struct Shared {
    /// The replayed match.
    pub timeline: Arc<Timeline>,
    /// The game's page.
    pub page: Page,
    /// The playback's commands.
    pub commands: mpsc::Sender<Command>,
    /// The shown tick, for pongs.
    pub shown: Arc<ShownTick>,
    /// Sockets open, pages and viewers together.
    pub connections: Arc<Semaphore>,
    /// Turns true when the viewer shuts down.
    pub stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("timeline", &self.timeline)
            .finish_non_exhaustive()
    }
}

type Stream = TokioIo<Upgraded>;

/// Routes one request.
pub async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let response = match (req.method(), path.as_str()) {
        (&Method::GET, "/ws") => upgrade(req, &shared, Socket::Page),
        (&Method::GET, "/viewer/ws") => upgrade(req, &shared, Socket::Viewer),
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/viewer/api/match") => json(&MatchView::new(&shared.timeline)),
        (&Method::GET, "/viewer") => redirect("/viewer/"),
        (&Method::GET | &Method::HEAD, p) => match p.strip_prefix("/viewer/api/players/") {
            Some(id) => player(&shared.timeline, id),
            None => match p.strip_prefix("/viewer") {
                Some(rest) if rest.starts_with('/') => viewer_file(rest),
                _ => static_file(&shared.page, p).await,
            },
        },
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    Ok(response)
}

/// A JSON answer.
fn json(value: &impl serde::Serialize) -> Response<Body> {
    let Ok(body) = serde_json::to_vec(value) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "could not encode JSON\n");
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut response = text(
        StatusCode::PERMANENT_REDIRECT,
        "the viewer is at /viewer/\n",
    );
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    response
}

/// `/viewer/api/players/ID`.
fn player(timeline: &Timeline, id: &str) -> Response<Body> {
    let track = id
        .parse::<u32>()
        .ok()
        .and_then(|id| Some((id, timeline.players().get(&tickwire_sim::PlayerId(id))?)));
    match track {
        Some((id, track)) => json(&TrackView::new(id, track)),
        None => text(StatusCode::NOT_FOUND, "no such player in this match\n"),
    }
}

/// A file of the viewer's page, by its path below `/viewer`.
fn viewer_file(path: &str) -> Response<Body> {
    let Some(file) = page::file_path(path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(data) = ViewerFiles::get(&file) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let body = match data.data {
        std::borrow::Cow::Borrowed(data) => Bytes::from_static(data),
        std::borrow::Cow::Owned(data) => Bytes::from(data),
    };
    let mut response = Response::new(Full::new(body));
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

/// Which socket an upgrade opens.
#[derive(Clone, Copy, Debug)]
enum Socket {
    /// A game page's: the game's protocol.
    Page,
    /// A viewer page's: JSON.
    Viewer,
}

fn upgrade(mut req: Request<Incoming>, shared: &Arc<Shared>, socket: Socket) -> Response<Body> {
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        return text(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: connect with a WebSocket client\n",
        );
    }
    // A page of another site in the same browser must not reach the
    // match: only the viewer's own pages (and clients that are not
    // browsers, which send no origin) are let in.
    if let Err(reason) = check_origin(req.headers(), &[]) {
        return text(StatusCode::FORBIDDEN, &reason);
    }
    let Ok(permit) = Arc::clone(&shared.connections).try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the viewer is at its connection limit (--max-connections)\n",
        );
    };
    let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut req) {
        Ok(pair) => pair,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("bad WebSocket upgrade: {error}\n"),
            );
        }
    };
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(ws) => match socket {
                Socket::Page => page_socket(ws, &shared).await,
                Socket::Viewer => viewer_socket(ws, &shared).await,
            },
            Err(error) => tracing::debug!(%error, "viewer upgrade failed"),
        }
        drop(permit);
    });
    response.map(|_| Full::new(Bytes::new()))
}

/// Splits a socket: the writer task drains `rx` into the write half until
/// a close or an error; the read half is returned.
fn split(
    mut ws: WebSocket<Stream>,
    limit: usize,
    mut rx: mpsc::Receiver<Out>,
) -> WebSocketRead<tokio::io::ReadHalf<Stream>> {
    // Over the limit a frame errors before its payload is buffered; the
    // library refuses a payload of exactly the limit, hence the +1.
    ws.set_max_message_size(limit.saturating_add(1));
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let (read, mut write) = ws.split(tokio::io::split);
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let (frame, last) = match out {
                Out::Binary(bytes) => (Frame::binary(Payload::Owned(bytes.to_vec())), false),
                Out::Text(text) => (Frame::text(Payload::Owned(text.into_bytes())), false),
                Out::Pong(payload) => (Frame::pong(Payload::Owned(payload)), false),
                Out::Close(code, reason) => (Frame::close(code, reason.as_bytes()), true),
            };
            if write.write_frame(frame).await.is_err() || last {
                break;
            }
        }
    });
    read
}

/// What the reader does with one whole message; `Err` closes the socket
/// with that code and reason.
type Verdict = Result<(), (u16, String)>;

/// Reads `read` until the peer leaves or a message is refused, handing
/// every whole message to `handle`.
async fn read_messages(
    mut read: WebSocketRead<tokio::io::ReadHalf<Stream>>,
    out: &mpsc::Sender<Out>,
    mut stop: watch::Receiver<bool>,
    mut handle: impl FnMut(OpCode, &[u8]) -> Verdict,
) {
    let mut obligated = |frame: Frame<'_>| {
        let reply = match frame.opcode {
            OpCode::Close => {
                let code = close_code(&frame.payload);
                Some(Out::Close(code, String::new()))
            }
            OpCode::Ping => Some(Out::Pong(frame.payload.to_vec())),
            _ => None,
        };
        if let Some(reply) = reply {
            let _ = out.try_send(reply);
        }
        std::future::ready(Ok::<(), Infallible>(()))
    };
    loop {
        if *stop.borrow() {
            return;
        }
        // `read_frame` is not cancel-safe: it is raced only with the
        // shutdown, after which the socket is dropped.
        let read = tokio::select! {
            read = read.read_frame(&mut obligated) => read,
            _ = stop.changed() => {
                let _ = out.try_send(Out::Close(1001, "the viewer is shutting down".into()));
                return;
            }
        };
        let frame = match read {
            Ok(frame) => frame,
            Err(WebSocketError::FrameTooLarge) => {
                let _ = out.try_send(Out::Close(1009, "message too big".into()));
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "viewer socket ended");
                return;
            }
        };
        let verdict = match frame.opcode {
            OpCode::Close => return,
            OpCode::Ping | OpCode::Pong => Ok(()),
            _ if !frame.fin || frame.opcode == OpCode::Continuation => {
                Err((1003, "fragmented messages are not read here".to_owned()))
            }
            opcode => handle(opcode, &frame.payload),
        };
        if let Err((code, reason)) = verdict {
            let _ = out.try_send(Out::Close(code, reason));
            return;
        }
    }
}

/// The close code a peer's close frame carries, echoed (1000 if none).
fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => match u16::from_be_bytes([*a, *b]) {
            code @ (1000..=1003 | 1007..=1011 | 3000..=4999) => code,
            _ => 1000,
        },
        _ => 1000,
    }
}

/// A game page: the game's protocol, the recorded match streamed to it.
async fn page_socket(ws: WebSocket<Stream>, shared: &Shared) {
    let (tx, rx) = mpsc::channel(PAGE_QUEUE);
    let read = split(ws, MAX_PAGE_MESSAGE, rx);
    let acks = Arc::new(Acks::default());
    let page = PageStream::new(tx.clone(), Arc::clone(&acks));
    if shared
        .commands
        .send(Command::Page(Box::new(page)))
        .await
        .is_err()
    {
        let _ = tx.try_send(Out::Close(1001, "the viewer is shutting down".into()));
        return;
    }
    let schema_hash = shared.timeline.schema().hash();
    let shown = Arc::clone(&shared.shown);
    let commands = shared.commands.clone();
    read_messages(read, &tx, shared.stop.clone(), |opcode, payload| {
        if opcode == OpCode::Text {
            return Err((1003, "only binary protocol messages are accepted".into()));
        }
        match wire::decode_client(payload) {
            Ok(ClientMessage::Input(input)) => acks.saw(input.seq),
            // A spectator page switches whom it watches: the viewer's
            // point of view, for every page. A rectangle is not one.
            Ok(ClientMessage::Watch(target)) => {
                let player = match target {
                    WatchTarget::Player(p) => Some(Some(p.0)),
                    WatchTarget::Anyone => Some(None),
                    WatchTarget::Rect { .. } => None,
                };
                if let Some(player) = player {
                    let _ = commands.try_send(Command::Act(Action::Follow { player }, None));
                }
            }
            Ok(ClientMessage::Ping { client_time }) => {
                let _ = tx.try_send(Out::Binary(wire::encode_pong(client_time, shown.get())));
            }
            Ok(ClientMessage::Join {
                protocol_version,
                schema_hash: theirs,
                ..
            }) => {
                if let Err(refused) = wire::check_join(protocol_version, theirs, schema_hash) {
                    let _ = tx.try_send(Out::Binary(wire::encode_error(
                        refused.code(),
                        &refused.to_string(),
                    )));
                    return Err((1008, refused.to_string()));
                }
            }
            Ok(_) => {}
            Err(error) => {
                let reason = format!("bad message: {error}");
                let _ = tx.try_send(Out::Binary(wire::encode_error(
                    wire::error_code::MALFORMED,
                    &reason,
                )));
                return Err((1002, reason));
            }
        }
        Ok(())
    })
    .await;
}

/// A viewer page: JSON actions in; the match and frames out.
async fn viewer_socket(ws: WebSocket<Stream>, shared: &Shared) {
    let (tx, rx) = mpsc::channel(VIEWER_QUEUE);
    let read = split(ws, MAX_VIEWER_MESSAGE, rx);
    if shared
        .commands
        .send(Command::Viewer(tx.clone()))
        .await
        .is_err()
    {
        let _ = tx.try_send(Out::Close(1001, "the viewer is shutting down".into()));
        return;
    }
    let commands = shared.commands.clone();
    let mut budget = Budget::new(MAX_ACTIONS_PER_SECOND, MAX_ACTIONS_PER_SECOND, None);
    read_messages(read, &tx, shared.stop.clone(), |opcode, payload| {
        if opcode != OpCode::Text {
            return Err((1003, "only JSON text messages are accepted".into()));
        }
        if budget.admit(tokio::time::Instant::now(), Duration::ZERO) != Admit::Yes {
            let message = serde_json::json!({"type": "error", "message": "too many actions: dropped"});
            let _ = tx.try_send(Out::Text(message.to_string()));
            return Ok(());
        }
        match serde_json::from_slice::<Action>(payload) {
            Ok(action) => {
                // The playback answers actions quickly; one that finds its
                // queue full is refused like a bad one.
                if commands
                    .try_send(Command::Act(action, Some(tx.clone())))
                    .is_err()
                {
                    let message = serde_json::json!({"type": "error", "message": "the playback is busy"});
                    let _ = tx.try_send(Out::Text(message.to_string()));
                }
            }
            Err(error) => {
                let message = serde_json::json!({"type": "error", "message": format!("not an action: {error}")});
                let _ = tx.try_send(Out::Text(message.to_string()));
            }
        }
        Ok(())
    })
    .await;
}
