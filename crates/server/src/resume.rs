//! Resume tokens: how a player whose connection dropped takes its held
//! seat back.
//!
//! When a player's connection drops without a leave (see
//! `session::close::End::holds_seat`), its room holds the seat and the
//! avatar for `--reconnect-grace`. Every welcome carries the player's
//! resume token; the client reconnects with `/ws?resume=TOKEN&since=TICK`
//! and, if the token is good, gets its seat back: the same player, the
//! same avatar, a fresh token, and a delta against the tick it holds.
//!
//! A token has the shape of a join ticket ([`crate::ticket`]):
//! `PAYLOAD.SIGNATURE`, the payload its [`ResumeClaims`] as JSON, the
//! signature HMAC-SHA256 over the payload's text, both in URL-safe base64
//! without padding. The key is derived from `--ticket-secret` when the
//! server has one, else from `--cluster-secret` in cluster mode
//! (HMAC-SHA256 of the secret over `tickwire resume token`, so that a
//! ticket never passes for a token nor a token for a ticket, and every
//! node of a cluster checks every node's tokens: a room continued after
//! its node died takes them), otherwise it is 32 random bytes drawn when
//! the process starts: tokens are only ever checked by the server that
//! issued them.
//!
//! The claims name the room and its match (a number drawn when the room
//! opened, so a token outlives neither its match nor its process), the
//! player, the seat's **generation** and an expiry. The generation is what
//! makes a token good for one live connection: it counts the connections
//! the seat has had, and a resume takes the seat only with the token of
//! the current one, then issues the next. So a token is refused ([`Refused`],
//! close code 4008) when it is malformed or forged, expired, used while
//! its connection is still attached (used twice at once), older than the
//! seat's current generation (superseded), for a seat already given up
//! (released: the grace ran out, or the match is over), or used with
//! `?room=` naming another room.

use std::time::Duration;

use hmac::Mac as _;
use serde::{Deserialize, Serialize};

use crate::ticket::{self, TicketError};

/// What a resume token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeClaims {
    /// The room's name.
    pub room: String,
    /// The room's match: drawn when the room opened, never reused.
    #[serde(rename = "match")]
    pub match_id: u64,
    /// The player's id in the match.
    pub player: u32,
    /// The seat's generation this token is good for: its connections so
    /// far, the one the token was issued on included.
    #[serde(rename = "gen")]
    pub generation: u32,
    /// When the token expires, in Unix seconds.
    pub exp: u64,
}

/// Why a resume was refused: the reason of the error message (code 4008)
/// and the close (code 4008) the connection gets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not of a token's shape, or not its claims.
    #[error("resume refused: malformed token ({0})")]
    Malformed(&'static str),
    /// The signature does not match: not issued by this server, or altered.
    #[error("resume refused: forged token (its signature does not match)")]
    Forged,
    /// Past its expiry.
    #[error("resume refused: token expired at {exp} (now {now}, Unix seconds)")]
    Expired {
        /// The token's expiry.
        exp: u64,
        /// The server's clock.
        now: u64,
    },
    /// The connection the token was issued on is still attached: a token
    /// used twice at once.
    #[error("resume refused: token in use (its seat's connection is still attached)")]
    InUse,
    /// The seat was resumed with this token already, and has a newer one.
    #[error("resume refused: token superseded (the seat was resumed with it already)")]
    Superseded,
    /// The seat is given up: the grace ran out, the player left, or the
    /// match is over.
    #[error("resume refused: seat released (the reconnect grace ran out, or the match is over)")]
    Released,
    /// The connection named another room than the token's.
    #[error("resume refused: wrong room (the token is for room {token}, not {asked})")]
    WrongRoom {
        /// The token's room.
        token: String,
        /// The room the connection asked for.
        asked: String,
    },
}

impl Refused {
    /// The label of the refusal in `tickwire_resumes_refused_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Forged => "forged",
            Self::Expired { .. } => "expired",
            Self::InUse => "in_use",
            Self::Superseded => "superseded",
            Self::Released => "released",
            Self::WrongRoom { .. } => "wrong_room",
        }
    }
}

impl From<TicketError> for Refused {
    fn from(error: TicketError) -> Self {
        match error {
            TicketError::Malformed(why) => Self::Malformed(why),
            TicketError::Forged => Self::Forged,
            TicketError::Expired { exp, now } => Self::Expired { exp, now },
        }
    }
}

/// What the domain separation of the resume key signs.
const KEY_LABEL: &[u8] = b"tickwire resume token";

/// The server's resume tokens: the key they are signed with, how long a
/// dropped player's seat is held, and how long a token is good for.
pub struct Resumes {
    key: [u8; 32],
    grace: Duration,
    lifetime: Duration,
}

impl std::fmt::Debug for Resumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumes")
            .field("grace", &self.grace)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Resumes {
    /// Tokens signed with a key derived from `secret`, or with a random key
    /// when there is none; seats held for `grace` (zero: never held, and
    /// no token issued); tokens good for `lifetime` after they are issued.
    pub fn new(
        secret: Option<&[u8]>,
        grace: Duration,
        lifetime: Duration,
    ) -> std::io::Result<Self> {
        let key = match secret {
            Some(secret) => {
                let mut mac = ticket::mac(secret);
                mac.update(KEY_LABEL);
                mac.finalize().into_bytes().into()
            }
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                key
            }
        };
        Ok(Self {
            key,
            grace,
            lifetime,
        })
    }

    /// The tokens `config` asks for: `--reconnect-grace`,
    /// `--resume-token-lifetime`, the ticket secret if it has one, else the
    /// cluster secret if it has one (so that every node of a cluster
    /// checks every node's tokens: a room continued on another node after
    /// its node died takes its players' tokens).
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        let secret = match crate::admission::ticket_secret(config)? {
            Some(secret) => Some(secret),
            None => match (&config.cluster_secret, &config.cluster_secret_file) {
                (Some(secret), _) => Some(secret.clone()),
                (None, Some(path)) => {
                    Some(crate::config::read_secret_file(path, "cluster secret")?)
                }
                (None, None) => None,
            },
        };
        Ok(Self::new(
            secret.as_ref().map(|s| s.expose().as_bytes()),
            config.reconnect_grace,
            config.resume_token_lifetime,
        )?)
    }

    /// How long a dropped player's seat is held.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Whether seats are held at all (a grace above zero).
    pub fn holds_seats(&self) -> bool {
        !self.grace.is_zero()
    }

    /// The claims of a token issued now for `generation` of `player`'s
    /// seat in the match `match_id` of `room`.
    pub fn claims(&self, room: &str, match_id: u64, player: u32, generation: u32) -> ResumeClaims {
        ResumeClaims {
            room: room.to_owned(),
            match_id,
            player,
            generation,
            exp: ticket::now_unix().saturating_add(self.lifetime.as_secs()),
        }
    }

    /// Signs `claims`: a token for `/ws?resume=...`.
    pub fn issue(&self, claims: &ResumeClaims) -> String {
        ticket::sign(&self.key, claims)
    }

    /// Checks `token` against the key and the clock `now` (Unix seconds):
    /// its claims if it is well formed, signed with this server's key and
    /// not expired. Whether its seat takes it is the room's to say.
    pub fn verify(&self, token: &str, now: u64) -> Result<ResumeClaims, Refused> {
        let claims: ResumeClaims = ticket::open(&self.key, token)?;
        if now >= claims.exp {
            return Err(Refused::Expired {
                exp: claims.exp,
                now,
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn resumes() -> Resumes {
        Resumes::new(
            Some(SECRET),
            Duration::from_secs(20),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims() -> ResumeClaims {
        ResumeClaims {
            room: "lobby".into(),
            match_id: 0xfeed_beef,
            player: 7,
            generation: 2,
            exp: NOW + 60,
        }
    }

    #[test]
    fn a_token_round_trips_and_fits_a_query_string_and_the_welcome() {
        let r = resumes();
        let token = r.issue(&claims());
        assert_eq!(r.verify(&token, NOW), Ok(claims()));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
            "{token}"
        );
        let long = ResumeClaims {
            room: "r".repeat(crate::lobby::MAX_ROOM_NAME),
            match_id: u64::MAX,
            player: u32::MAX,
            generation: u32::MAX,
            exp: u64::MAX,
        };
        let token = r.issue(&long);
        assert!(token.len() <= tickwire_protocol::MAX_RESUME_TOKEN_BYTES);
        assert_eq!(r.verify(&token, NOW), Ok(long));
        let issued = r.claims("lobby", 3, 4, 1);
        assert!(issued.exp >= ticket::now_unix() + 59, "{issued:?}");
    }

    #[test]
    fn a_changed_byte_or_another_key_is_refused_as_forged_or_malformed() {
        let r = resumes();
        let token = r.issue(&claims());
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            let mut altered = bytes.to_vec();
            altered[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap_or_default();
            assert!(
                matches!(
                    r.verify(&altered, NOW),
                    Err(Refused::Forged | Refused::Malformed(_))
                ),
                "byte {i} changed and still accepted"
            );
        }
        let other = Resumes::new(
            Some(b"another secret, 16+ bytes"),
            Duration::ZERO,
            Duration::ZERO,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.verify(&token, NOW), Err(Refused::Forged));
        // Claims changed, signature kept.
        let (_, signature) = token.split_once('.').unwrap_or_default();
        let mut player_8 = claims();
        player_8.player = 8;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&player_8).unwrap_or_default());
        assert_eq!(
            r.verify(&format!("{payload}.{signature}"), NOW),
            Err(Refused::Forged)
        );
    }

    #[test]
    fn random_keys_differ_and_the_ticket_secret_key_is_not_the_secret() {
        let a =
            Resumes::new(None, Duration::ZERO, Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        let b =
            Resumes::new(None, Duration::ZERO, Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.verify(&a.issue(&claims()), NOW), Err(Refused::Forged));
        // A join ticket signed with the same secret is no token, and a
        // token is no ticket.
        let ticket = ticket::issue(SECRET, &ticket::Claims::new("alice", NOW + 60));
        assert_eq!(resumes().verify(&ticket, NOW), Err(Refused::Forged));
        let token = resumes().issue(&claims());
        assert_eq!(
            ticket::verify(SECRET, &token, NOW),
            Err(TicketError::Forged)
        );
    }

    #[test]
    fn a_token_expires_at_its_expiry() {
        let r = resumes();
        let token = r.issue(&claims());
        assert!(r.verify(&token, NOW + 59).is_ok());
        assert_eq!(
            r.verify(&token, NOW + 60),
            Err(Refused::Expired {
                exp: NOW + 60,
                now: NOW + 60
            })
        );
    }

    #[test]
    fn malformed_tokens_are_told_apart_from_forged_ones() {
        let r = resumes();
        for bad in [
            "",
            "abc",
            "a.b.c",
            "!!.!!",
            &"a".repeat(ticket::MAX_TICKET + 1),
        ] {
            assert!(
                matches!(r.verify(bad, NOW), Err(Refused::Malformed(_))),
                "{bad:?}: {:?}",
                r.verify(bad, NOW)
            );
        }
        // Signed with the key, but not claims.
        let signed = ticket::sign(&r.key, &[1, 2, 3]);
        assert!(matches!(r.verify(&signed, NOW), Err(Refused::Malformed(_))));
    }

    #[test]
    fn every_refusal_has_its_label_and_says_resume_refused() {
        let all = [
            Refused::Malformed("x"),
            Refused::Forged,
            Refused::Expired { exp: 1, now: 2 },
            Refused::InUse,
            Refused::Superseded,
            Refused::Released,
            Refused::WrongRoom {
                token: "a".into(),
                asked: "b".into(),
            },
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(Refused::label).collect();
        assert_eq!(labels.len(), all.len());
        for refused in &all {
            let reason = refused.to_string();
            assert!(reason.starts_with("resume refused: "), "{reason}");
            assert!(reason.len() <= tickwire_protocol::MAX_REASON_BYTES);
        }
    }
}
