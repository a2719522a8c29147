//! Who may connect: the hook a game or an operator gives the server to
//! approve each WebSocket upgrade, and the built-in one that checks signed
//! tickets (`--ticket-secret`, [`crate::ticket`]).
//!
//! At `/ws`, after the room name and the `Origin` are checked and before a
//! connection slot is taken, every [`Admission`] the server has is asked in
//! turn, the ticket check first: each may let the player in, turn the
//! request away with HTTP 401 or 403 and a one-line reason, or vouch for who
//! the player is. The last identity vouched for is the player's: it is kept
//! on the player's link, logged with the session, and shown in
//! `/api/rooms?players=1`.
//!
//! ```
//! use tickwire::admission::{Admission, AdmissionRequest, Refusal, Verdict};
//!
//! /// Lets in only the players the ticket check identified, but not "mallory".
//! #[derive(Debug)]
//! struct Bans;
//!
//! impl Admission for Bans {
//!     fn admit(&self, request: &AdmissionRequest<'_>) -> Verdict {
//!         match request.identity {
//!             Some("mallory") => Verdict::Refuse(Refusal::forbidden("banned")),
//!             Some(_) => Verdict::Accept,
//!             None => Verdict::Refuse(Refusal::unauthorized("log in first")),
//!         }
//!     }
//! }
//! # let _ = Bans;
//! ```
//!
//! Give it to the server with `Server::builder(config, game).admission(...)`.

use std::net::SocketAddr;

use hyper::HeaderMap;

use crate::config::Secret;
use crate::ticket;

/// Approves or refuses WebSocket upgrades. Called on the runtime for every
/// request to `/ws`, so it must answer quickly and must not block: look up
/// in memory, not over the network.
pub trait Admission: Send + Sync + std::fmt::Debug + 'static {
    /// Decides about one upgrade request.
    fn admit(&self, request: &AdmissionRequest<'_>) -> Verdict;
}

/// What an [`Admission`] sees of an upgrade request.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    /// The path (`/ws`).
    pub path: &'a str,
    /// The query string as sent, undecoded (`room=r1&name=ann&ticket=...`);
    /// [`AdmissionRequest::query`] decodes one value.
    pub raw_query: &'a str,
    /// The request's headers (`Origin`, `Cookie`, `Authorization`...).
    pub headers: &'a HeaderMap,
    /// The peer's address, as the socket has it (behind a proxy: the proxy's).
    pub peer: SocketAddr,
    /// The room asked for; `None`: the server picks one.
    pub room: Option<&'a str>,
    /// The player's name, as cleaned for the room.
    pub name: &'a str,
    /// The identity an earlier check vouched for (the ticket's subject).
    pub identity: Option<&'a str>,
}

impl AdmissionRequest<'_> {
    /// The first value of query parameter `key`, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// What an [`Admission`] decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the player in (keeping any identity vouched for before).
    Accept,
    /// Let the player in as this verified identity (a user id, say).
    Identified(String),
    /// Turn the request away.
    Refuse(Refusal),
}

/// A refused upgrade: an HTTP status, a one-line reason for the client, and
/// a label for `tickwire_upgrades_refused_total`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `true`: 401 (who the player is was not shown); `false`: 403 (it was,
    /// and the answer is no).
    pub unauthorized: bool,
    /// Why, in one line, sent as the response body.
    pub reason: String,
    /// The metric's `reason` label; `admission` unless set.
    pub label: &'static str,
}

impl Refusal {
    /// A 401: the request did not show who the player is, or not validly.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self {
            unauthorized: true,
            reason: reason.into(),
            label: "admission",
        }
    }

    /// A 403: the player is known and may not connect.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self {
            unauthorized: false,
            reason: reason.into(),
            label: "admission",
        }
    }

    /// The same refusal, counted under `label` (keep the set of labels small).
    #[must_use]
    pub fn labelled(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }
}

/// The built-in [`Admission`]: every upgrade needs `?ticket=...` signed with
/// the server's secret, unexpired, and for the room asked for if it names
/// one. The ticket's subject becomes the player's identity.
#[derive(Debug)]
pub struct TicketAdmission {
    secret: Secret,
}

impl TicketAdmission {
    /// Checks tickets signed with `secret`.
    pub fn new(secret: Secret) -> Self {
        Self { secret }
    }

    /// The check `--ticket-secret` or `--ticket-secret-file` asks for, if
    /// either does. A secret shorter than [`MIN_SECRET`] bytes is an error.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        Ok(ticket_secret(config)?.map(Self::new))
    }
}

/// The ticket secret `--ticket-secret` gives, or `--ticket-secret-file`
/// holds (one trailing newline ignored), if either does. A secret shorter
/// than [`MIN_SECRET`] bytes is an error.
pub(crate) fn ticket_secret(config: &crate::Config) -> anyhow::Result<Option<Secret>> {
    use anyhow::Context as _;
    let secret = match (&config.ticket_secret, &config.ticket_secret_file) {
        (Some(secret), _) => secret.clone(),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the ticket secret from {}", path.display())
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Secret::new(text.strip_suffix('\r').unwrap_or(text))
        }
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(
        secret.expose().len() >= MIN_SECRET,
        "the ticket secret is {} bytes; it needs {MIN_SECRET} at least",
        secret.expose().len()
    );
    Ok(Some(secret))
}

/// Fewest bytes in a ticket secret.
pub const MIN_SECRET: usize = 16;

impl Admission for TicketAdmission {
    fn admit(&self, request: &AdmissionRequest<'_>) -> Verdict {
        let Some(ticket) = request.query("ticket") else {
            return Verdict::Refuse(
                Refusal::unauthorized("this server needs a ticket: connect to /ws?ticket=...")
                    .labelled("ticket_missing"),
            );
        };
        let claims =
            match ticket::verify(self.secret.expose().as_bytes(), &ticket, ticket::now_unix()) {
                Ok(claims) => claims,
                Err(error) => {
                    return Verdict::Refuse(
                        Refusal::unauthorized(error.to_string()).labelled(error.label()),
                    );
                }
            };
        if let Some(room) = &claims.room
            && request.room != Some(room.as_str())
        {
            return Verdict::Refuse(
                Refusal::forbidden(format!(
                    "this ticket is for room {room}: connect with ?room={room}"
                ))
                .labelled("ticket_room"),
            );
        }
        Verdict::Identified(claims.sub)
    }
}

/// Asks each of `checks` in turn; the first refusal wins, else the last
/// identity vouched for.
pub(crate) fn decide(
    checks: &[std::sync::Arc<dyn Admission>],
    request: AdmissionRequest<'_>,
) -> Result<Option<String>, Refusal> {
    let mut identity: Option<String> = request.identity.map(str::to_owned);
    for check in checks {
        let verdict = check.admit(&AdmissionRequest {
            identity: identity.as_deref(),
            ..request
        });
        match verdict {
            Verdict::Accept => {}
            Verdict::Identified(who) => identity = Some(who),
            Verdict::Refuse(refusal) => return Err(refusal),
        }
    }
    Ok(identity)
}
