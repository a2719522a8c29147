//! The HTTP side: routes, static files, the WebSocket upgrade.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /sdk/<file>` | the browser SDK (`client-web/sdk/`), for every game |
//! | `GET /`, `GET /<file>` | the game's page (see `page`) |
//! | `GET /ws?room=NAME&name=PLAYER` | the game over WebSocket (`&ticket=...` with `--ticket-secret`; `&spectate=1`, and `&follow=ID`, to watch without playing; `&since=TICK`: the newest tick the client holds) |
//! | `GET /ws?resume=TOKEN&since=TICK` | a dropped player's held seat back, without admission (in cluster mode: on this node if its room is here, else on to the room's node, where a room whose node died is continued) |
//! | `GET /api/rooms` | rooms as JSON, cached for [`ROOMS_CACHE`] (`?players=1` adds every player's outbox, for operators only); in cluster mode, the whole cluster's |
//! | `POST /api/matchmake` | cluster mode: a seat, placed in Redis, as `{url, room, node, ticket}` (see `cluster`); 404 otherwise |
//! | `GET /metrics` | Prometheus text (on the admin address only, with `--admin-bind`) |
//! | `/admin`, `/admin/api/...` | the operator console and its API, with `--admin-token` (404 without; on the admin address only, with `--admin-bind`): see [`crate::admin`] |
//! | `GET /healthz` | `ok` |
//!
//! With `--admin-bind`, a second listener answers [`admin_route`]:
//! `/metrics`, `/api/rooms`, `/healthz` and the console, nothing else.
//!
//! Everything that can be refused before the upgrade is refused here with
//! an HTTP status and a one-line reason: a request to `/ws` that is not a
//! WebSocket upgrade (426), a bad room name (400), a browser page from an
//! origin not allowed (403), a refusal by admission (401 or 403: a missing
//! or bad ticket, the game's hook; see [`crate::admission`]), the
//! connection limit (503). Refusals after the upgrade are close codes (see
//! `session`).
//!
//! Who may see players: `/api/rooms?players=1` needs `Authorization: Bearer
//! TOKEN` with `--admin-token TOKEN` (wrong or missing: 401); without a
//! token configured, the public address never lists players (403), and the
//! admin address lists them to anyone who reaches it. With `--admin-bind`,
//! the public address lists no players at all (403).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN, UPGRADE,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use sha2::Digest as _;

use crate::admission::{self, Admission, AdmissionRequest};
use crate::config::Config;
use crate::lobby::MAX_ROOM_NAME;
use crate::page::{self, Page};
use crate::{Shared, session, stats};
use tickwire_protocol::WatchTarget;

/// The response body type of every route.
pub type Body = Full<Bytes>;

/// How long `/api/rooms` answers from its last rendering: a few ticks, so
/// that polling it in a loop costs one rendering per period, not one per
/// request.
pub const ROOMS_CACHE: Duration = Duration::from_millis(100);

/// What the HTTP side keeps between requests: who may connect, and the
/// last renderings of `/api/rooms`.
pub struct Front {
    /// Origins allowed besides the server's own, as `--allowed-origin`
    /// normalised them.
    origins: Vec<String>,
    /// Asked in turn at every upgrade: the ticket check, then the game's.
    checks: Vec<Arc<dyn Admission>>,
    /// `/api/rooms` without and with players: when rendered, and the body.
    rooms: Mutex<[Option<(Instant, Bytes)>; 2]>,
    /// The game's page, served at `/`.
    page: Page,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("origins", &self.origins)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl Front {
    /// The checks `config` asks for (the ticket secret, read from its file
    /// if given), then `hook`; `page` at `/`, unless `--client-dir` names
    /// a folder to serve instead (which must exist).
    pub fn new(
        config: &Config,
        hook: Option<Arc<dyn Admission>>,
        page: Page,
    ) -> anyhow::Result<Self> {
        let page = match &config.client_dir {
            Some(dir) => Page::dir(dir),
            None => page,
        };
        page.check()?;
        let mut checks: Vec<Arc<dyn Admission>> = Vec::new();
        if let Some(tickets) = admission::TicketAdmission::from_config(config)? {
            checks.push(Arc::new(tickets));
        }
        checks.extend(hook);
        Ok(Self {
            origins: config.allowed_origins.clone(),
            checks,
            rooms: Mutex::new([None, None]),
            page,
        })
    }
}

/// Routes one request on the public address, from `peer`.
pub async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let admin_elsewhere = shared.config.admin_bind.is_some();
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") => upgrade(req, shared, peer),
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/api/rooms") => rooms(&req, &shared, false).await,
        (&Method::POST, "/api/matchmake") => crate::cluster::matchmake(req, &shared).await,
        (_, path) if crate::admin::is_admin_path(path) => {
            if admin_elsewhere {
                text(StatusCode::NOT_FOUND, "not found\n")
            } else {
                crate::admin::route(req, shared).await
            }
        }
        (&Method::GET, "/metrics") if !admin_elsewhere => metrics(),
        (&Method::GET, "/metrics") => text(StatusCode::NOT_FOUND, "not found\n"),
        (&Method::GET | &Method::HEAD, path) => static_file(&shared.front.page, path).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    Ok(response)
}

/// Routes one request on the admin address (`--admin-bind`).
pub async fn admin_route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/api/rooms") => rooms(&req, &shared, true).await,
        (&Method::GET, "/metrics") => metrics(),
        (_, path) if crate::admin::is_admin_path(path) => crate::admin::route(req, shared).await,
        (&Method::GET, _) => text(StatusCode::NOT_FOUND, "not found\n"),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    Ok(response)
}

/// A plain-text answer with `status`.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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

/// `/api/rooms`, on the admin address if `admin`.
async fn rooms(req: &Request<Incoming>, shared: &Shared, admin: bool) -> Response<Body> {
    let with_players = query_pairs(req)
        .iter()
        .any(|(k, v)| k == "players" && v != "0");
    if with_players && let Some(refused) = player_list_refusal(req.headers(), &shared.config, admin)
    {
        metrics::counter!(stats::ADMIN_REFUSED).increment(1);
        return refused;
    }
    if let Some(cluster) = &shared.cluster {
        return crate::cluster::rooms(shared, cluster, with_players).await;
    }
    let body = {
        // Rendered under the lock: concurrent requests wait for one
        // rendering instead of each making their own.
        let mut cache = shared.front.rooms.lock();
        let slot = &mut cache[usize::from(with_players)];
        match slot {
            Some((at, body)) if at.elapsed() < ROOMS_CACHE => body.clone(),
            _ => {
                /// The answer of `/api/rooms`, fields in this order.
                #[derive(serde::Serialize)]
                struct Rooms<'a> {
                    game: &'a str,
                    rooms: Vec<crate::RoomSummary>,
                }
                let rendered = serde_json::to_vec_pretty(&Rooms {
                    game: &shared.game_name,
                    rooms: shared.lobby.summaries(with_players),
                });
                let Ok(rendered) = rendered else {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, "could not encode JSON\n");
                };
                let body = Bytes::from(rendered);
                *slot = Some((Instant::now(), body.clone()));
                body
            }
        }
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Why a request may not see the players' names (see the module's doc),
/// as the answer that says so; `None`: it may.
fn player_list_refusal(
    headers: &HeaderMap,
    config: &Config,
    admin: bool,
) -> Option<Response<Body>> {
    if !admin && config.admin_bind.is_some() {
        return Some(text(
            StatusCode::FORBIDDEN,
            "player lists are served on the admin address only\n",
        ));
    }
    let Some(token) = &config.admin_token else {
        return (!admin).then(|| {
            text(
                StatusCode::FORBIDDEN,
                "player lists are off: the server has no --admin-token\n",
            )
        });
    };
    let offered = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if offered.is_some_and(|offered| same_secret(offered, token.expose())) {
        return None;
    }
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "player lists need Authorization: Bearer <the admin token>\n",
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// Compares two secrets in time that depends on neither: their SHA-256
/// digests, every byte.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// Whether a browser's upgrade request may come from its page's origin:
/// no `Origin` (not a browser), the server's own (`http` or `https` and the
/// request's `Host`), or one of `allowed`. `Err`: the reason why not.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes())
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let own = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host.as_str())
        });
    if own || allowed.contains(&origin) {
        return Ok(());
    }
    let shown: String = origin.chars().take(100).collect();
    Err(format!(
        "pages from {shown} may not connect to this server (see --allowed-origin)\n"
    ))
}

fn metrics() -> Response<Body> {
    let Some(handle) = stats::prometheus() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        );
    };
    handle.run_upkeep();
    stats::read_heap();
    let mut response = text(StatusCode::OK, &handle.render());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// A file of the SDK (under `/sdk/`) or of the game's page (anything
/// else), typed by its extension, revalidated at every use (`no-cache`);
/// 404 for a path [`page::file_path`] refuses or no file.
pub(crate) async fn static_file(page: &Page, path: &str) -> Response<Body> {
    let (sdk, path) = match path.strip_prefix("/sdk") {
        Some(rest) if rest.starts_with('/') => (true, rest),
        _ => (false, path),
    };
    let Some(file) = page::file_path(path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let data = if sdk {
        page::sdk_file(&file)
    } else {
        page.get(&file).await
    };
    let Some(data) = data else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    file_response(&file, data)
}

/// A page's file `data`, typed by the extension of its name `file`,
/// revalidated at every use (`no-cache`).
pub(crate) fn file_response(file: &str, data: std::borrow::Cow<'static, [u8]>) -> Response<Body> {
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    let body = match data {
        std::borrow::Cow::Borrowed(data) => Bytes::from_static(data),
        std::borrow::Cow::Owned(data) => Bytes::from(data),
    };
    let mut response = Response::new(Full::new(body));
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Whether a client-chosen room name is acceptable: 1 to 32 of
/// `A-Z a-z 0-9 - _ .`.
pub(crate) fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What a connection watches, from `/ws`'s `spectate` and `follow`: `None`
/// for a player. `Err`: why the request is refused (400).
fn watch_target(spectate: bool, follow: Option<&str>) -> Result<Option<WatchTarget>, &'static str> {
    match (spectate, follow) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err("follow= is for spectators: add spectate=1\n"),
        (true, None) => Ok(Some(WatchTarget::Anyone)),
        (true, Some(id)) => id
            .parse()
            .map(|id| Some(WatchTarget::Player(tickwire_sim::PlayerId(id))))
            .map_err(|_| "follow= takes a player id (a number)\n"),
    }
}

fn upgrade(mut req: Request<Incoming>, shared: Arc<Shared>, peer: SocketAddr) -> Response<Body> {
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
    let mut spectate = false;
    let mut follow = None;
    let mut seat = None;
    let mut since = None;
    let mut resume = None;
    for (key, value) in query_pairs(&req) {
        match key.as_str() {
            "room" if !value.is_empty() => room = Some(value),
            "name" => name = Some(value),
            "spectate" => spectate = !matches!(value.as_str(), "" | "0" | "false"),
            "follow" => follow = Some(value),
            "seat" if !value.is_empty() => seat = Some(value),
            "resume" if !value.is_empty() => resume = Some(value),
            // A tick the client holds from an earlier connection; anything
            // else is no tick (the client gets a full snapshot).
            "since" => since = value.parse::<u32>().ok(),
            _ => {}
        }
    }
    let watch = match watch_target(spectate, follow.as_deref()) {
        Ok(watch) => watch,
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    if let Some(room) = &room
        && !valid_room_name(room)
    {
        return text(
            StatusCode::BAD_REQUEST,
            "room names are 1 to 32 of A-Z a-z 0-9 - _ .\n",
        );
    }
    let name = crate::name::clean(name.as_deref().unwrap_or(""));
    if let Err(reason) = check_origin(req.headers(), &shared.front.origins) {
        metrics::counter!(stats::UPGRADES_REFUSED, "reason" => "origin").increment(1);
        return text(StatusCode::FORBIDDEN, &reason);
    }
    // A resume is not asked of admission: its token, which the server
    // signed at a join admission let in, is its proof, checked by the
    // session (a refusal is a close code the browser can see).
    let checks: &[Arc<dyn Admission>] = if resume.is_some() {
        &[]
    } else {
        &shared.front.checks
    };
    let admitted = admission::decide(
        checks,
        AdmissionRequest {
            path: req.uri().path(),
            raw_query: req.uri().query().unwrap_or(""),
            headers: req.headers(),
            peer,
            room: room.as_deref(),
            name: &name,
            identity: None,
        },
    );
    let identity = match admitted {
        Ok(identity) => identity,
        Err(refusal) => {
            metrics::counter!(stats::UPGRADES_REFUSED, "reason" => refusal.label).increment(1);
            let status = if refusal.unauthorized {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            let reason: String = refusal
                .reason
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return text(status, &format!("{reason}\n"));
        }
    };
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
            Ok(Ok(ws)) => {
                let request = session::Request {
                    room,
                    name,
                    identity,
                    watch,
                    since,
                    resume,
                };
                match shared.cluster.clone() {
                    // Cluster mode: here, or on to the room's node (a
                    // resume too: its room may have moved with a failover).
                    Some(cluster) => {
                        crate::cluster::serve(ws, shared, cluster, request, seat).await
                    }
                    None => session::run(ws, shared, request).await,
                }
            }
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
    fn spectate_and_follow_say_what_a_connection_watches() {
        assert_eq!(watch_target(false, None), Ok(None));
        assert_eq!(watch_target(true, None), Ok(Some(WatchTarget::Anyone)));
        assert_eq!(
            watch_target(true, Some("3")),
            Ok(Some(WatchTarget::Player(tickwire_sim::PlayerId(3))))
        );
        assert!(watch_target(true, Some("bob")).is_err());
        assert!(watch_target(false, Some("3")).is_err());
    }

    #[test]
    fn room_names_are_checked() {
        assert!(valid_room_name("lobby-1"));
        assert!(!valid_room_name(""));
        assert!(!valid_room_name("a b"));
        assert!(!valid_room_name(&"x".repeat(33)));
    }
}
