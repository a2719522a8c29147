//! The cluster's HTTP answers: `POST /api/matchmake`, and `/api/rooms`
//! for the whole cluster.
//!
//! `POST /api/matchmake` takes `{"room": "lobby-1", "name": "ann"}` (both
//! optional; no room: any) and answers `200 {"url", "room", "node",
//! "ticket"}`: connect to `url`'s `/ws?room=ROOM&name=NAME&seat=TICKET`
//! within the ticket's life. A full room is `409`; no seat for now (a
//! draining node, no node up, Redis unreachable) is `503` with
//! `Retry-After: 1`; a body that is not such JSON, over
//! [`MAX_BODY`] bytes or not sent within `--handshake-timeout`, is `400`.
//! Every error is `{"error": "..."}`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Cluster;
use super::directory::Listing;
use crate::Shared;
use crate::http::{Body, ROOMS_CACHE, valid_room_name};

/// Largest matchmaking request body, in bytes.
pub const MAX_BODY: usize = 4096;

/// What a matchmaking request asks for.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    /// The room; none: any.
    #[serde(default)]
    room: Option<String>,
    /// The player's name.
    #[serde(default)]
    name: Option<String>,
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, reason: &str) -> Response<Body> {
    let mut response = json_response(status, &json!({ "error": reason }));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `POST /api/matchmake`; 404 when the server is not in cluster mode.
pub(crate) async fn matchmake(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let Some(cluster) = &shared.cluster else {
        return error(
            StatusCode::NOT_FOUND,
            "this server is not part of a cluster: connect to /ws directly",
        );
    };
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    let bytes = match tokio::time::timeout(shared.config.handshake_timeout, body).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body is at most {MAX_BODY} bytes"),
            );
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "the body did not arrive in time"),
    };
    let ask: Ask = if bytes.iter().all(u8::is_ascii_whitespace) {
        Ask::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(ask) => ask,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    r#"the body is {"room"?: "NAME", "name"?: "PLAYER"}"#,
                );
            }
        }
    };
    let room = ask.room.filter(|r| !r.is_empty());
    if room.as_deref().is_some_and(|r| !valid_room_name(r)) {
        return error(
            StatusCode::BAD_REQUEST,
            "room names are 1 to 32 of A-Z a-z 0-9 - _ .",
        );
    }
    let name = crate::name::clean(ask.name.as_deref().unwrap_or(""));
    match cluster.matchmake(room.as_deref(), &name).await {
        Ok(offer) => json_response(
            StatusCode::OK,
            &json!({
                "url": offer.placed.url,
                "room": offer.placed.room,
                "node": offer.placed.node,
                "ticket": offer.ticket,
            }),
        ),
        Err(no_seat) if no_seat.full => error(StatusCode::CONFLICT, &no_seat.reason),
        Err(no_seat) => error(StatusCode::SERVICE_UNAVAILABLE, &no_seat.reason),
    }
}

/// `/api/rooms` of a cluster node: every room of the cluster (this node's
/// with their tick times, and players if asked for), and every node;
/// rendered at most every [`ROOMS_CACHE`]. With Redis unreachable, this
/// node's rooms only, and `"partial": true`.
pub(crate) async fn rooms(
    shared: &Shared,
    cluster: &Arc<Cluster>,
    with_players: bool,
) -> Response<Body> {
    let mut cache = cluster.listing.lock().await;
    let slot = &mut cache[usize::from(with_players)];
    if let Some((at, body)) = slot
        && at.elapsed() < ROOMS_CACHE
    {
        return rooms_response(body.clone());
    }
    let listing = cluster.directory.list().await;
    let value = render(shared, cluster, listing.as_ref().ok(), with_players);
    let body = Bytes::from(serde_json::to_vec_pretty(&value).unwrap_or_default());
    *slot = Some((std::time::Instant::now(), body.clone()));
    rooms_response(body)
}

fn rooms_response(body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The cluster's rooms as JSON: the directory's, with this node's own
/// summaries in place of its rooms' entries.
fn render(
    shared: &Shared,
    cluster: &Cluster,
    listing: Option<&Listing>,
    with_players: bool,
) -> Value {
    let node = cluster.node();
    let url = cluster.url();
    let mut rooms = Vec::new();
    let mut local = std::collections::BTreeSet::new();
    for summary in shared.lobby.summaries(with_players) {
        local.insert(summary.room.clone());
        let mut room = serde_json::to_value(&summary).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut room {
            fields.insert("node".into(), json!(node));
            fields.insert("url".into(), json!(url));
            if let Some(listed) =
                listing.and_then(|l| l.rooms.iter().find(|r| r.room == summary.room))
            {
                fields.insert("reserved".into(), json!(listed.reserved));
            }
        }
        rooms.push(room);
    }
    for listed in listing.map(|l| l.rooms.as_slice()).unwrap_or_default() {
        if listed.node == node && local.contains(&listed.room) {
            continue;
        }
        rooms.push(json!({
            "room": listed.room,
            "game": shared.game_name,
            "players": listed.players,
            "max_players": listed.max_players,
            "reserved": listed.reserved,
            "status": listed.status,
            "node": listed.node,
            "url": listed.url,
        }));
    }
    let mut answer = json!({
        "game": shared.game_name,
        "node": node,
        "rooms": rooms,
    });
    if let Value::Object(fields) = &mut answer {
        match listing {
            Some(listing) => {
                fields.insert("nodes".into(), json!(listing.nodes));
            }
            None => {
                fields.insert("partial".into(), json!(true));
            }
        }
    }
    answer
}
