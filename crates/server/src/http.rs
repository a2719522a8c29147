//! The HTTP side: routes, static files, the WebSocket upgrade.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /`, `GET /<file>` | the browser client, embedded in release builds |
//! | `GET /ws?room=NAME&name=PLAYER` | the game over WebSocket |
//! | `GET /api/rooms` | rooms as JSON (`?players=1` adds every player's outbox) |
//! | `GET /metrics` | Prometheus text |
//! | `GET /healthz` | `ok` |
//!
//! Everything that can be refused before the upgrade is refused here with
//! an HTTP status and a one-line reason: a request to `/ws` that is not a
//! WebSocket upgrade (426), a bad room name (400), the connection limit
//! (503). Refusals after the upgrade are close codes (see `session`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use rust_embed::RustEmbed;

use crate::lobby::MAX_ROOM_NAME;
use crate::{Shared, session, stats};

/// The browser client. Release builds embed it; debug builds read it from
/// the source tree, so edits show up on reload.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../client-web"]
#[exclude = "node_modules/*"]
#[exclude = "test/*"]
#[exclude = "test-results/*"]
#[exclude = "tools/*"]
#[exclude = "README.md"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = ".*"]
struct ClientFiles;

/// The response body type of every route.
pub type Body = Full<Bytes>;

/// Longest player name kept, in characters.
const MAX_PLAYER_NAME: usize = 24;

/// Routes one request.
pub async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") => upgrade(req, shared),
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/api/rooms") => rooms(&req, &shared),
        (&Method::GET, "/metrics") => metrics(),
        (&Method::GET | &Method::HEAD, path) => static_file(path),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "could not encode JSON\n"),
    }
}

fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn rooms(req: &Request<Incoming>, shared: &Shared) -> Response<Body> {
    let with_players = query_pairs(req)
        .iter()
        .any(|(k, v)| k == "players" && v != "0");
    /// The answer of `/api/rooms`, fields in this order.
    #[derive(serde::Serialize)]
    struct Rooms<'a> {
        game: &'a str,
        rooms: Vec<crate::RoomSummary>,
    }
    json(&Rooms {
        game: &shared.game_name,
        rooms: shared.lobby.summaries(with_players),
    })
}

fn metrics() -> Response<Body> {
    let Some(handle) = stats::prometheus() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        );
    };
    handle.run_upkeep();
    let mut response = text(StatusCode::OK, &handle.render());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn static_file(path: &str) -> Response<Body> {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    match ClientFiles::get(&path) {
        Some(file) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            let mut response = Response::new(Full::new(Bytes::from(file.data.into_owned())));
            if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Whether a client-chosen room name is acceptable: 1 to 32 of
/// `A-Z a-z 0-9 - _ .`.
fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A player name with control characters removed, cut to
/// [`MAX_PLAYER_NAME`] characters; `player` if nothing is left.
fn clean_player_name(name: &str) -> String {
    let name: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_PLAYER_NAME)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        "player".to_owned()
    } else {
        name.to_owned()
    }
}

fn upgrade(mut req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            "/ws is the game's WebSocket endpoint: connect with a WebSocket client\n",
        );
        response
            .headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        return response;
    }
    let mut room = None;
    let mut name = None;
    for (key, value) in query_pairs(&req) {
        match key.as_str() {
            "room" if !value.is_empty() => room = Some(value),
            "name" => name = Some(value),
            _ => {}
        }
    }
    if let Some(room) = &room {
        if !valid_room_name(room) {
            return text(
                StatusCode::BAD_REQUEST,
                "room names are 1 to 32 of A-Z a-z 0-9 - _ .\n",
            );
        }
    }
    let name = clean_player_name(name.as_deref().unwrap_or(""));
    let Ok(permit) = Arc::clone(&shared.connections).try_acquire_owned() else {
        metrics::counter!(stats::CONNECTIONS_REFUSED).increment(1);
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "server is at its connection limit ({})\n",
                shared.config.max_connections
            ),
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
    let timeout = shared.config.handshake_timeout;
    // The connection's place in its address's count lasts as long as it.
    let address = req
        .extensions_mut()
        .remove::<Arc<crate::accept::AddressHold>>();
    tokio::spawn(async move {
        match tokio::time::timeout(timeout, upgrade).await {
            Ok(Ok(ws)) => session::run(ws, shared, room, name).await,
            Ok(Err(error)) => tracing::debug!(%error, "upgrade failed"),
            Err(_) => tracing::debug!("upgrade timed out"),
        }
        drop((permit, address));
    });
    response.map(|_| Full::new(Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_checked() {
        assert!(valid_room_name("lobby-1"));
        assert!(!valid_room_name(""));
        assert!(!valid_room_name("a b"));
        assert!(!valid_room_name(&"x".repeat(33)));
    }

    #[test]
    fn player_names_are_cleaned() {
        assert_eq!(clean_player_name(""), "player");
        assert_eq!(clean_player_name("a\u{7}b"), "ab");
        assert_eq!(clean_player_name(&"n".repeat(40)).len(), MAX_PLAYER_NAME);
    }
}
