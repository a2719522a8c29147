//! Signed join tickets: how a game backend vouches for a player.
//!
//! The backend and the server share a secret (`--ticket-secret`). The
//! backend, having logged the player in its own way, issues a ticket
//! ([`issue`]) and hands it to the client, which connects to
//! `/ws?ticket=...`; the server verifies it at the upgrade ([`verify`]) and
//! the ticket's subject becomes the player's identity.
//!
//! A ticket is `PAYLOAD.SIGNATURE`: the payload is the claims as JSON
//! (`{"sub":"alice","exp":1767225600,"room":"lobby-1"}`), the signature
//! HMAC-SHA256 over the payload's text with the secret, both in URL-safe
//! base64 without padding, so a ticket goes in a query string as it is. It
//! is the shape of a JSON Web Token without the header, and any language
//! with an HMAC can mint one:
//!
//! ```
//! use tickwire::ticket::{self, Claims};
//!
//! let secret = b"a secret of 16 bytes or more";
//! let claims = Claims::new("alice", ticket::now_unix() + 60).for_room("lobby-1");
//! let ticket = ticket::issue(secret, &claims);
//! let verified = ticket::verify(secret, &ticket, ticket::now_unix());
//! assert_eq!(verified, Ok(claims));
//! ```
//!
//! Keep tickets short-lived (a minute is plenty: they are used once, right
//! away): a query string can end up in a proxy's log.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Longest ticket read, in bytes; a longer one is malformed.
pub const MAX_TICKET: usize = 2048;

/// Longest subject, in bytes.
pub const MAX_SUBJECT: usize = 128;

/// What a ticket says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Who the player is (the backend's user id, say): becomes the
    /// player's identity. 1 to [`MAX_SUBJECT`] bytes, no control characters.
    pub sub: String,
    /// When the ticket expires, in Unix seconds.
    pub exp: u64,
    /// The only room the ticket lets the player into; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl Claims {
    /// Claims for `subject`, valid until `expires` (Unix seconds), any room.
    pub fn new(subject: impl Into<String>, expires: u64) -> Self {
        Self {
            sub: subject.into(),
            exp: expires,
            room: None,
        }
    }

    /// The same claims, for room `room` only.
    #[must_use]
    pub fn for_room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }
}

/// Why a ticket was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not of the ticket's shape: too long, not two base64 parts, not the
    /// claims as JSON, or a subject that is empty, too long or has control
    /// characters.
    #[error("malformed ticket: {0}")]
    Malformed(&'static str),
    /// The signature does not match: signed with another secret, or altered.
    #[error("ticket signature does not match")]
    Forged,
    /// Past its expiry.
    #[error("ticket expired at {exp} (now {now}, Unix seconds)")]
    Expired {
        /// The ticket's expiry.
        exp: u64,
        /// The server's clock.
        now: u64,
    },
}

impl TicketError {
    /// The label of the refusal in `tickwire_upgrades_refused_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "ticket_malformed",
            Self::Forged => "ticket_forged",
            Self::Expired { .. } => "ticket_expired",
        }
    }
}

/// The wall clock in Unix seconds (0 before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: this cannot fail.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Signs `claims` with `secret`: a ticket for `/ws?ticket=...`.
pub fn issue(secret: &[u8], claims: &Claims) -> String {
    sign(secret, claims)
}

/// Signs any claims with `secret`, in the ticket format: the claims as
/// JSON, then the HMAC-SHA256 of that payload, both URL-safe base64. What
/// [`issue`] does for a join ticket, and cluster mode for its seat tickets.
pub fn sign<T: serde::Serialize>(secret: &[u8], claims: &T) -> String {
    // Claims are plain structs of strings and integers: this cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mut mac = mac(secret);
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// The claims of a ticket in the format of [`sign`], if it is at most
/// [`MAX_TICKET`] bytes and signed with `secret`. The signature is compared
/// in constant time, and checked before the payload is decoded. Whatever
/// the claims say (an expiry) is the caller's to check.
pub fn open<T: serde::de::DeserializeOwned>(secret: &[u8], ticket: &str) -> Result<T, TicketError> {
    if ticket.len() > MAX_TICKET {
        return Err(TicketError::Malformed("too long"));
    }
    let Some((payload, signature)) = ticket.split_once('.') else {
        return Err(TicketError::Malformed("not PAYLOAD.SIGNATURE"));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TicketError::Malformed("signature is not URL-safe base64"))?;
    let mut mac = mac(secret);
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TicketError::Forged)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TicketError::Malformed("payload is not URL-safe base64"))?;
    serde_json::from_slice(&json)
        .map_err(|_| TicketError::Malformed("payload is not the claims as JSON"))
}

/// Checks `ticket` against `secret` and the clock `now` (Unix seconds): its
/// claims if it is well formed, signed with `secret` and not expired. The
/// signature is compared in constant time, and checked before the payload
/// is decoded.
pub fn verify(secret: &[u8], ticket: &str, now: u64) -> Result<Claims, TicketError> {
    let claims: Claims = open(secret, ticket)?;
    if claims.sub.is_empty()
        || claims.sub.len() > MAX_SUBJECT
        || claims.sub.chars().any(char::is_control)
    {
        return Err(TicketError::Malformed(
            "subject must be 1 to 128 bytes without control characters",
        ));
    }
    if now >= claims.exp {
        return Err(TicketError::Expired {
            exp: claims.exp,
            now,
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn ticket() -> (Claims, String) {
        let claims = Claims::new("alice", NOW + 60).for_room("r1");
        let ticket = issue(SECRET, &claims);
        (claims, ticket)
    }

    #[test]
    fn a_ticket_round_trips() {
        let (claims, ticket) = ticket();
        assert_eq!(verify(SECRET, &ticket, NOW), Ok(claims));
        assert!(
            ticket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
            "{ticket}"
        );
        let any_room = Claims::new("bob", NOW + 1);
        assert_eq!(verify(SECRET, &issue(SECRET, &any_room), NOW), Ok(any_room));
    }

    #[test]
    fn changing_any_byte_of_a_ticket_fails_it() {
        let (_, ticket) = ticket();
        let bytes = ticket.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'x', b'.', b'-'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut altered = bytes.to_vec();
                altered[i] = replacement;
                let altered = String::from_utf8(altered).unwrap_or_default();
                // Base64 without padding has slack bits in its last
                // character; the decoder refuses them unless zero, so no
                // two texts are the same ticket.
                assert!(
                    verify(SECRET, &altered, NOW).is_err(),
                    "byte {i} changed to {} and still accepted",
                    char::from(replacement)
                );
            }
        }
        let truncated = &ticket[..ticket.len() - 1];
        assert!(verify(SECRET, truncated, NOW).is_err());
    }

    #[test]
    fn another_secret_is_a_forgery() {
        let (_, ticket) = ticket();
        assert_eq!(
            verify(b"another secret, 16+ bytes", &ticket, NOW),
            Err(TicketError::Forged)
        );
        // A payload re-signed by nobody: claims changed, signature kept.
        let (_, signature) = ticket.split_once('.').unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":9999999999}"#);
        assert_eq!(
            verify(SECRET, &format!("{payload}.{signature}"), NOW),
            Err(TicketError::Forged)
        );
    }

    #[test]
    fn a_ticket_expires_at_its_expiry() {
        let (_, ticket) = ticket();
        assert!(verify(SECRET, &ticket, NOW + 59).is_ok());
        assert_eq!(
            verify(SECRET, &ticket, NOW + 60),
            Err(TicketError::Expired {
                exp: NOW + 60,
                now: NOW + 60
            })
        );
    }

    #[test]
    fn malformed_tickets_are_told_apart() {
        for bad in ["", "abc", "a.b.c", "!!.!!", &"a".repeat(MAX_TICKET + 1)] {
            assert!(
                matches!(verify(SECRET, bad, NOW), Err(TicketError::Malformed(_))),
                "{bad:?}: {:?}",
                verify(SECRET, bad, NOW)
            );
        }
        // Signed, but not claims: still malformed, not forged.
        let mut mac = mac(SECRET);
        let payload = URL_SAFE_NO_PAD.encode(b"[1,2,3]");
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert!(matches!(
            verify(SECRET, &format!("{payload}.{signature}"), NOW),
            Err(TicketError::Malformed(_))
        ));
        let empty_subject = issue(SECRET, &Claims::new("", NOW + 60));
        assert!(matches!(
            verify(SECRET, &empty_subject, NOW),
            Err(TicketError::Malformed(_))
        ));
    }
}
