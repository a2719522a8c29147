//! The operator console (`/admin`) and its JSON API (`/admin/api/`), on
//! with `--admin-token` (or `--admin-token-file`): without a token, every
//! path under `/admin` answers 404, as if it did not exist. With
//! `--admin-bind`, they are served on that address only (404 on the public
//! one).
//!
//! The console's page (`client-web/console/`, embedded like the SDK) is a
//! static shell holding no data: it is served without the token, asks the
//! operator for it once (kept in the tab's `sessionStorage`) and sends it
//! with every API call. Every API call needs `Authorization: Bearer TOKEN`:
//! a missing or wrong token is answered 401 and counted in
//! `tickwire_admin_requests_refused_total`; the token is compared in
//! constant time (`http::same_secret`).
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /admin/api/rooms?since=TICK` | this node's rooms: players (ping, bytes per second, snapshots skipped, inputs dropped), tick, tick times, the per-second history of tick times (after `since`), the record |
//! | `GET /admin/api/cluster` | every node (this one alone without `--redis`), each with its rooms as above (another node's fetched from its own API) |
//! | `POST /admin/api/kick` | `{"room", "player", "reason"?, "node"?}`: closes the player with 4014 |
//! | `POST /admin/api/close` | `{"room", "reason"?, "node"?}`: closes the room, its players and spectators with 4015 |
//! | `POST /admin/api/drain` | `{"node"?}`: admits no one any more, and closes the rooms left after `--drain-timeout` |
//! | `GET /admin/api/record?room=NAME&node=ID` | the room's match record (`--record`), as it is written so far |
//!
//! An action naming another node of the cluster (`node`) is forwarded to
//! that node's own API, at its public URL, with the same token: the nodes
//! of a cluster share it. Errors are `{"error": "..."}`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HOST, HeaderMap, HeaderValue,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tickwire_sim::PlayerId;

use crate::config::Secret;
use crate::http::{Body, file_response, same_secret, text};
use crate::room::{OperatorClose, RoomInfo};
use crate::stats::{self, PhasePercentiles, TickSample};
use crate::{Shared, page, wire};

/// Largest request body of the API, in bytes.
pub const MAX_BODY: usize = 4096;

/// Longest operator's reason kept, in bytes: with `kicked by operator: `
/// it fits a close frame's 123.
pub const MAX_REASON: usize = 100;

/// How long a call forwarded to another node may take.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Largest answer taken from another node (its room list).
const MAX_FORWARDED: usize = 8 << 20;

/// Whether `path` is the console's (`/admin` and below).
pub(crate) fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Answers a request under `/admin` (see the module's doc).
pub(crate) async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    let Some(token) = shared.config.admin_token.clone() else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let path = req.uri().path().to_owned();
    let Some(call) = path.strip_prefix("/admin/api/") else {
        return match *req.method() {
            Method::GET | Method::HEAD => console_file(&path),
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        };
    };
    if !authorized(req.headers(), &token) {
        metrics::counter!(stats::ADMIN_REFUSED).increment(1);
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "the admin API needs Authorization: Bearer <the admin token> (--admin-token)",
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let query = query_pairs(&req);
    match (req.method().clone(), call) {
        (Method::GET, "rooms") => {
            let since = query
                .iter()
                .find(|(k, _)| k == "since")
                .and_then(|(_, v)| v.parse().ok());
            json_response(StatusCode::OK, &node_view(&shared, since))
        }
        (Method::GET, "cluster") => cluster(&shared, &token).await,
        (Method::GET, "record") => {
            let node = query.iter().find(|(k, _)| k == "node").map(|(_, v)| v);
            if let Some(node) = node.filter(|n| !is_here(&shared, n)) {
                let path = format!("/admin/api/record?{}", req.uri().query().unwrap_or(""));
                return forward(&shared, &token, node, Method::GET, &path, Bytes::new()).await;
            }
            let room = query.iter().find(|(k, _)| k == "room").map(|(_, v)| v);
            record(&shared, room.map(String::as_str)).await
        }
        (Method::POST, action @ ("kick" | "close" | "drain")) => {
            let body = match read_body(req, &shared).await {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            let ask: Action = if body.is_empty() && action == "drain" {
                Action::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(ask) => ask,
                    Err(e) => {
                        return error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}"));
                    }
                }
            };
            if let Some(node) = ask.node.as_deref().filter(|n| !is_here(&shared, n)) {
                let path = format!("/admin/api/{action}");
                return forward(&shared, &token, node, Method::POST, &path, body).await;
            }
            match action {
                "kick" => kick(&shared, ask).await,
                "close" => close(&shared, ask),
                _ => drain(&shared),
            }
        }
        (Method::GET | Method::POST, _) => error(StatusCode::NOT_FOUND, "no such admin API call"),
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

/// Whether `headers` carry `Authorization: Bearer` with the admin token.
fn authorized(headers: &HeaderMap, token: &Secret) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|offered| same_secret(offered, token.expose()))
}

/// A file of the console's page: `/admin` and `/admin/` are its
/// `index.html`.
fn console_file(path: &str) -> Response<Body> {
    let rest = path.strip_prefix("/admin").unwrap_or("/");
    let rest = if rest.is_empty() { "/" } else { rest };
    let Some(file) = page::file_path(rest) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(data) = page::console_file(&file) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    file_response(&file, data)
}

/// One player as the console shows it.
#[derive(Debug, serde::Serialize)]
pub struct AdminPlayer {
    /// Player id in the match.
    pub player: u32,
    /// Its name in the room.
    pub name: String,
    /// Who admission vouched it is (a ticket's subject), if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Its connection dropped and its seat is held for its resume.
    pub held: bool,
    /// Round trip of its last WebSocket ping (one every third of
    /// `--idle-timeout`), milliseconds; `None` until one is answered.
    pub rtt_ms: Option<f64>,
    /// Frame bytes sent to it over the last second.
    pub bytes_per_second: u64,
    /// Snapshots skipped because its socket was slow.
    pub snapshots_skipped: u64,
    /// Its inputs dropped (over its rate, or its queue full).
    pub inputs_dropped: u64,
}

/// One room as the console shows it.
#[derive(Debug, serde::Serialize)]
pub struct AdminRoom {
    /// The room's name.
    pub room: String,
    /// The game.
    pub game: String,
    /// Players now, held seats included.
    pub players: usize,
    /// Of those, seats held.
    pub held: usize,
    /// Player limit.
    pub max_players: usize,
    /// Spectators now.
    pub spectators: usize,
    /// Last completed tick.
    pub tick: u64,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Tick time of the last 10 to 20 seconds, per phase.
    pub tick_time: std::collections::BTreeMap<&'static str, PhasePercentiles>,
    /// One sample a second, oldest first, at most [`stats::TICK_HISTORY`]:
    /// the mean and longest time of each phase (`simulate`, `encode`,
    /// `send`), in microseconds.
    pub history: Vec<TickSample>,
    /// The file name of the match's record (`--record`), if it is
    /// recorded: `GET /admin/api/record?room=ROOM` serves it.
    pub record: Option<String>,
    /// The players, by id.
    pub player_list: Vec<AdminPlayer>,
}

/// `info` as the console shows it, with its history after tick `since`.
pub fn admin_room(info: &RoomInfo, since: Option<u64>) -> AdminRoom {
    let summary = info.summary(false);
    let player_list = info
        .links
        .lock()
        .iter()
        .map(|(id, link)| AdminPlayer {
            player: id.0,
            name: link.name().to_owned(),
            identity: link.identity.clone(),
            held: link.is_held(),
            rtt_ms: link.rtt().map(|d| d.as_secs_f64() * 1000.0),
            bytes_per_second: link.bytes_per_second(),
            snapshots_skipped: link.outbox.skipped(),
            inputs_dropped: link.inputs_dropped(),
        })
        .collect();
    AdminRoom {
        room: summary.room,
        game: summary.game,
        players: summary.players,
        held: summary.held,
        max_players: summary.max_players,
        spectators: summary.spectators,
        tick: summary.tick,
        tick_rate: summary.tick_rate,
        tick_time: summary.tick_time,
        history: info.times.lock().history(since),
        record: info
            .record
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        player_list,
    }
}

/// This node and its rooms: the answer of `/admin/api/rooms`.
fn node_view(shared: &Shared, since: Option<u64>) -> Value {
    let rooms: Vec<AdminRoom> = shared
        .lobby
        .infos()
        .iter()
        .map(|info| admin_room(info, since))
        .collect();
    let (node, url) = match &shared.cluster {
        Some(cluster) => (Some(cluster.node()), Some(cluster.url())),
        None => (None, None),
    };
    json!({
        "node": node,
        "url": url,
        "status": if shared.lobby.is_draining() { "draining" } else { "up" },
        "game": shared.game_name,
        "rooms": rooms,
    })
}

/// `/admin/api/cluster`: every node with its rooms.
async fn cluster(shared: &Arc<Shared>, token: &Secret) -> Response<Body> {
    let Some(cluster) = &shared.cluster else {
        return json_response(
            StatusCode::OK,
            &json!({ "cluster": false, "nodes": [node_view(shared, None)] }),
        );
    };
    let nodes = match cluster.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => {
            // Redis away: this node is all the console can see.
            return json_response(
                StatusCode::OK,
                &json!({
                    "cluster": true,
                    "partial": true,
                    "error": format!("the cluster's directory did not answer: {e}"),
                    "nodes": [node_view(shared, None)],
                }),
            );
        }
    };
    let mut asked = Vec::new();
    let mut views = Vec::new();
    let mut here = false;
    for node in nodes {
        if node.node == cluster.node() {
            here = true;
            views.push(Some(node_view(shared, None)));
            continue;
        }
        let token = token.clone();
        let index = views.len();
        views.push(None);
        asked.push((
            index,
            node.clone(),
            tokio::spawn(async move {
                call_node(
                    &node.url,
                    &token,
                    Method::GET,
                    "/admin/api/rooms",
                    Bytes::new(),
                )
                .await
            }),
        ));
    }
    if !here {
        views.insert(0, Some(node_view(shared, None)));
        for (index, _, _) in &mut asked {
            *index += 1;
        }
    }
    for (index, node, task) in asked {
        let view = match task.await {
            Ok(Ok((status, body))) if status.is_success() => serde_json::from_slice(&body)
                .unwrap_or_else(|e| {
                    json!({ "node": node.node, "url": node.url, "status": node.status,
                            "error": format!("its answer is not JSON: {e}") })
                }),
            Ok(Ok((status, _))) => json!({
                "node": node.node, "url": node.url, "status": node.status,
                "error": format!("its admin API answered {status}"),
            }),
            Ok(Err(e)) => json!({
                "node": node.node, "url": node.url, "status": node.status, "error": e,
            }),
            Err(e) => json!({
                "node": node.node, "url": node.url, "status": node.status,
                "error": format!("{e}"),
            }),
        };
        if let Some(slot) = views.get_mut(index) {
            *slot = Some(view);
        }
    }
    let nodes: Vec<Value> = views.into_iter().flatten().collect();
    json_response(StatusCode::OK, &json!({ "cluster": true, "nodes": nodes }))
}

/// What an action asks for.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Action {
    /// The node it is for (cluster mode); none: this one.
    #[serde(default)]
    node: Option<String>,
    /// The room.
    #[serde(default)]
    room: Option<String>,
    /// The player (a kick).
    #[serde(default)]
    player: Option<u32>,
    /// The operator's reason.
    #[serde(default)]
    reason: Option<String>,
}

/// The operator's reason, cleaned: no control characters, at most
/// [`MAX_REASON`] bytes, `no reason given` when empty.
fn clean_reason(reason: Option<&str>) -> String {
    let cleaned: String = reason
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cut = wire::truncate_utf8(cleaned.trim(), MAX_REASON).trim();
    if cut.is_empty() {
        "no reason given".to_owned()
    } else {
        cut.to_owned()
    }
}

/// `POST /admin/api/kick`.
async fn kick(shared: &Shared, ask: Action) -> Response<Body> {
    let (Some(room), Some(player)) = (ask.room, ask.player) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a kick needs \"room\" and \"player\"",
        );
    };
    let reason = clean_reason(ask.reason.as_deref());
    match shared.lobby.kick(&room, PlayerId(player), &reason).await {
        None => error(StatusCode::NOT_FOUND, &format!("no room `{room}` here")),
        Some(false) => error(
            StatusCode::NOT_FOUND,
            &format!("no player {player} in room `{room}`"),
        ),
        Some(true) => json_response(
            StatusCode::OK,
            &json!({
                "kicked": player,
                "room": room,
                "close_code": wire::close_code::KICKED,
                "reason": format!("kicked by operator: {reason}"),
            }),
        ),
    }
}

/// `POST /admin/api/close`.
fn close(shared: &Shared, ask: Action) -> Response<Body> {
    let Some(room) = ask.room else {
        return error(StatusCode::BAD_REQUEST, "closing a room needs \"room\"");
    };
    let reason = format!(
        "room closed by operator: {}",
        clean_reason(ask.reason.as_deref())
    );
    if !shared
        .lobby
        .close_room(&room, OperatorClose::RoomClosed, reason.clone())
    {
        return error(StatusCode::NOT_FOUND, &format!("no room `{room}` here"));
    }
    json_response(
        StatusCode::OK,
        &json!({
            "closed": room,
            "close_code": wire::close_code::ROOM_CLOSED,
            "reason": reason,
        }),
    )
}

/// Why the rooms left at the end of a drain are closed.
const DRAINED_REASON: &str = "server drained by operator: reconnect elsewhere";

/// `POST /admin/api/drain`: starts the drain once (see [`drain_task`]).
fn drain(shared: &Arc<Shared>) -> Response<Body> {
    let timeout = shared.config.drain_timeout;
    if !shared.lobby.is_draining() {
        tracing::info!(?timeout, "an operator drains the server");
        shared.lobby.drain();
        tokio::spawn(drain_task(Arc::clone(shared)));
    }
    json_response(
        StatusCode::ACCEPTED,
        &json!({ "draining": true, "timeout_s": timeout.as_secs_f64() }),
    )
}

/// An operator's drain: no one is admitted any more (in cluster mode, no
/// one is placed here either: the cluster's drain); once every room has
/// emptied or `--drain-timeout` has passed, the rooms left are closed
/// (1001, error 4006).
async fn drain_task(shared: Arc<Shared>) {
    match &shared.cluster {
        Some(cluster) => cluster.drain().await,
        None => {
            crate::rooms_emptied(&shared.lobby, shared.config.drain_timeout).await;
        }
    }
    let left = shared.lobby.infos();
    if left.is_empty() {
        tracing::info!("drained: every room has emptied");
    }
    for info in left {
        tracing::info!(room = %info.name, "drain over: closing the room");
        shared.lobby.close_room(
            &info.name,
            OperatorClose::Drained,
            DRAINED_REASON.to_owned(),
        );
    }
}

/// `GET /admin/api/record?room=NAME`.
async fn record(shared: &Shared, room: Option<&str>) -> Response<Body> {
    let Some(room) = room else {
        return error(StatusCode::BAD_REQUEST, "a record needs ?room=NAME");
    };
    let Some(info) = shared.lobby.infos().into_iter().find(|i| i.name == room) else {
        return error(StatusCode::NOT_FOUND, &format!("no room `{room}` here"));
    };
    let Some(path) = info.record.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("room `{room}` is not recorded (see --record)"),
        );
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    let data = match read.map_err(std::io::Error::other).and_then(|r| r) {
        Ok(data) => data,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read the record: {e}"),
            );
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(data)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// Whether `node` is this node (or the server runs alone).
fn is_here(shared: &Shared, node: &str) -> bool {
    shared.cluster.as_ref().is_none_or(|c| c.node() == node)
}

/// Forwards a call to node `node`'s own admin API, and its answer back.
async fn forward(
    shared: &Shared,
    token: &Secret,
    node: &str,
    method: Method,
    path: &str,
    body: Bytes,
) -> Response<Body> {
    let Some(cluster) = &shared.cluster else {
        return error(
            StatusCode::NOT_FOUND,
            "this server is not part of a cluster",
        );
    };
    let url = match cluster.nodes().await {
        Ok(nodes) => nodes.into_iter().find(|n| n.node == node).map(|n| n.url),
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the cluster's directory did not answer: {e}"),
            );
        }
    };
    let Some(url) = url else {
        return error(StatusCode::NOT_FOUND, &format!("no node `{node}` is up"));
    };
    match call_node(&url, token, method, path, body).await {
        Ok((status, body)) => {
            let mut response = Response::new(Full::new(body));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &e),
    }
}

/// One call to another node's admin API at its public URL `base`
/// (`http://` only), within [`FORWARD_TIMEOUT`]: its status and body.
async fn call_node(
    base: &str,
    token: &Secret,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), String> {
    let call = async {
        let url = url::Url::parse(base).map_err(|e| format!("bad node URL {base}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "the node's URL {base} is not http://: forwarding needs plain HTTP"
            ));
        }
        let host = url
            .host_str()
            .ok_or("the node's URL has no host")?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("cannot talk to {base}: {e}"))?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, format!("{host}:{port}"))
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("cannot make the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{base} did not answer: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_FORWARDED)
            .collect()
            .await
            .map_err(|e| format!("{base}'s answer could not be read: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(FORWARD_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(format!("{base} did not answer within {FORWARD_TIMEOUT:?}")))
}

/// The request's body, at most [`MAX_BODY`] bytes, within
/// `--handshake-timeout`; `Err`: the answer that refuses it.
async fn read_body(req: Request<Incoming>, shared: &Shared) -> Result<Bytes, Response<Body>> {
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    match tokio::time::timeout(shared.config.handshake_timeout, body).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is at most {MAX_BODY} bytes"),
        )),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "the body did not arrive in time",
        )),
    }
}

fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, reason: &str) -> Response<Body> {
    json_response(status, &json!({ "error": reason }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cleaned_and_cut() {
        assert_eq!(clean_reason(None), "no reason given");
        assert_eq!(clean_reason(Some("  ")), "no reason given");
        assert_eq!(clean_reason(Some("spam\nin chat")), "spam in chat");
        let long = "é".repeat(200);
        let cut = clean_reason(Some(&long));
        assert!(cut.len() <= MAX_REASON && cut.chars().all(|c| c == 'é'));
        assert!(format!("kicked by operator: {cut}").len() <= 123);
    }

    #[test]
    fn only_admin_paths_are_the_consoles() {
        assert!(is_admin_path("/admin"));
        assert!(is_admin_path("/admin/"));
        assert!(is_admin_path("/admin/api/rooms"));
        assert!(!is_admin_path("/administrator"));
        assert!(!is_admin_path("/api/rooms"));
    }
}
