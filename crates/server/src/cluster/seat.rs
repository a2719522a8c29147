//! Seat tickets: a node's word, to the node that owns a room, that the
//! cluster placed a player there.
//!
//! Matchmaking on any node reserves a seat in the directory (one atomic
//! step in Redis, see `directory`) and signs a ticket naming the room, its
//! node, the room's epoch, the player's name and the reservation's id, in
//! the format of [`crate::ticket`] (JSON claims and their HMAC-SHA256, URL-safe
//! base64) with the cluster's secret (`--cluster-secret`). The player
//! connects straight to the room's node with it (`/ws?seat=...`), and that
//! node checks it without asking anyone: the signature, the expiry
//! (`--seat-ticket-ttl`), the node, and that it was not used before
//! ([`Used`]: a ticket is good for one connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_protocol::{close_code, error_code};

use crate::ticket::{self, TicketError};

/// Most tickets [`Used`] remembers at once; past it (after forgetting the
/// expired ones) a ticket is refused as if used before (the client
/// matchmakes again).
pub const MAX_USED: usize = 65_536;

/// What a seat ticket says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeatClaims {
    /// The room.
    pub room: String,
    /// The node that owns it (or is to open it).
    pub node: String,
    /// The room's epoch in the directory when the seat was reserved: which
    /// incarnation of the room the seat is in.
    pub epoch: u64,
    /// The player's name, as asked for at matchmaking.
    pub name: String,
    /// When the ticket expires, in Unix seconds.
    pub exp: u64,
    /// The reservation's id, unique in the cluster.
    pub jti: String,
}

/// Why a seat ticket was refused: each with its own close code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeatRefusal {
    /// Not a seat ticket.
    #[error("malformed seat ticket: {0}")]
    Malformed(&'static str),
    /// Not signed with the cluster's secret, or altered.
    #[error("seat ticket signature does not match")]
    Forged,
    /// Past its expiry.
    #[error("seat ticket expired at {exp} (now {now}, Unix seconds): matchmake again")]
    Expired {
        /// The ticket's expiry.
        exp: u64,
        /// This node's clock.
        now: u64,
    },
    /// Used before, on this node.
    #[error("seat ticket used before: matchmake again")]
    Replayed,
}

impl SeatRefusal {
    /// The label in `tickwire_seat_tickets_refused_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Forged => "forged",
            Self::Expired { .. } => "expired",
            Self::Replayed => "replayed",
        }
    }

    /// The WebSocket close code (`tickwire_protocol::close_code`).
    pub fn close_code(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Forged => close_code::SEAT_TICKET_INVALID,
            Self::Expired { .. } => close_code::SEAT_TICKET_EXPIRED,
            Self::Replayed => close_code::SEAT_TICKET_REPLAYED,
        }
    }

    /// The protocol error code of the message before the close.
    pub fn error_code(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Forged => error_code::SEAT_TICKET_INVALID,
            Self::Expired { .. } => error_code::SEAT_TICKET_EXPIRED,
            Self::Replayed => error_code::SEAT_TICKET_REPLAYED,
        }
    }
}

/// Signs `claims` with the cluster's `secret`.
pub fn issue(secret: &[u8], claims: &SeatClaims) -> String {
    ticket::sign(secret, claims)
}

/// The claims of `ticket` if it is signed with `secret`, well formed and
/// not expired at `now` (Unix seconds). Whether it is for this node, and
/// used for the first time, is the caller's to check.
pub fn check(secret: &[u8], ticket: &str, now: u64) -> Result<SeatClaims, SeatRefusal> {
    let claims: SeatClaims = ticket::open(secret, ticket).map_err(|e| match e {
        TicketError::Forged => SeatRefusal::Forged,
        TicketError::Malformed(why) => SeatRefusal::Malformed(why),
        TicketError::Expired { exp, now } => SeatRefusal::Expired { exp, now },
    })?;
    if !crate::http::valid_room_name(&claims.room)
        || claims.node.is_empty()
        || claims.node.len() > 64
        || claims.jti.is_empty()
        || claims.jti.len() > 64
        || claims.name.len() > 4 * tickwire_protocol::MAX_NAME_BYTES
    {
        return Err(SeatRefusal::Malformed(
            "room, node, name or id out of bounds",
        ));
    }
    if now >= claims.exp {
        return Err(SeatRefusal::Expired {
            exp: claims.exp,
            now,
        });
    }
    Ok(claims)
}

/// The seat tickets this node let in, until they expire: a ticket is good
/// for one connection. At most [`MAX_USED`].
#[derive(Debug, Default)]
pub struct Used {
    /// Reservation id to the ticket's expiry.
    seen: HashMap<String, u64>,
}

/// What [`Used::first_use`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstUse {
    /// Never used: now it is.
    Yes,
    /// Used before.
    Replayed,
    /// [`MAX_USED`] unexpired tickets are remembered: try again later.
    Full,
}

impl Used {
    /// Records the use of the ticket `jti`, which expires at `exp`, at
    /// `now` (Unix seconds).
    pub fn first_use(&mut self, jti: &str, exp: u64, now: u64) -> FirstUse {
        if self.seen.contains_key(jti) {
            return FirstUse::Replayed;
        }
        if self.seen.len() >= MAX_USED {
            self.forget_expired(now);
            if self.seen.len() >= MAX_USED {
                return FirstUse::Full;
            }
        }
        self.seen.insert(jti.to_owned(), exp);
        FirstUse::Yes
    }

    /// Forgets the tickets expired at `now`: they are refused as expired.
    pub fn forget_expired(&mut self, now: u64) {
        self.seen.retain(|_, exp| *exp > now);
        if self.seen.capacity() > 4 * self.seen.len().max(64) {
            self.seen.shrink_to_fit();
        }
    }

    /// Tickets remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no ticket is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Unique ids: a random salt per process and a counter, so two nodes, or
/// two runs of one node, never make the same one.
#[derive(Debug)]
pub struct Ids {
    salt: u64,
    next: AtomicU64,
}

impl Ids {
    /// Ids with a fresh salt.
    pub fn new() -> Self {
        Self {
            salt: random_u64(),
            next: AtomicU64::new(1),
        }
    }

    /// The next id: 16 hex digits of salt, `-`, the counter in hex.
    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:x}", self.salt)
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new()
    }
}

/// 64 random bits: the standard library's per-process random hash keys
/// (from the operating system), over the time and the process id.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"the cluster's secret, 16+ bytes";
    const NOW: u64 = 1_700_000_000;

    fn claims() -> SeatClaims {
        SeatClaims {
            room: "room-1".into(),
            node: "node-a".into(),
            epoch: 1_700_000_000_123_456,
            name: "ann".into(),
            exp: NOW + 10,
            jti: "00000000000000ab-1".into(),
        }
    }

    #[test]
    fn a_seat_ticket_round_trips_and_expires() {
        let ticket = issue(SECRET, &claims());
        assert_eq!(check(SECRET, &ticket, NOW), Ok(claims()));
        assert_eq!(
            check(SECRET, &ticket, NOW + 10),
            Err(SeatRefusal::Expired {
                exp: NOW + 10,
                now: NOW + 10
            })
        );
    }

    #[test]
    fn forged_and_malformed_tickets_are_told_apart() {
        let ticket = issue(b"another secret of 16+ bytes", &claims());
        assert_eq!(check(SECRET, &ticket, NOW), Err(SeatRefusal::Forged));
        assert!(matches!(
            check(SECRET, "nonsense", NOW),
            Err(SeatRefusal::Malformed(_))
        ));
        // A join ticket signed with the same secret is not a seat ticket.
        let join = crate::ticket::issue(SECRET, &crate::ticket::Claims::new("ann", NOW + 10));
        assert!(matches!(
            check(SECRET, &join, NOW),
            Err(SeatRefusal::Malformed(_))
        ));
        let bad_room = SeatClaims {
            room: "a room".into(),
            ..claims()
        };
        assert!(matches!(
            check(SECRET, &issue(SECRET, &bad_room), NOW),
            Err(SeatRefusal::Malformed(_))
        ));
    }

    #[test]
    fn each_refusal_has_its_close_code() {
        assert_eq!(SeatRefusal::Forged.close_code(), 4011);
        assert_eq!(SeatRefusal::Malformed("x").close_code(), 4011);
        assert_eq!(SeatRefusal::Expired { exp: 0, now: 1 }.close_code(), 4012);
        assert_eq!(SeatRefusal::Replayed.close_code(), 4013);
        for refusal in [
            SeatRefusal::Forged,
            SeatRefusal::Expired { exp: 0, now: 1 },
            SeatRefusal::Replayed,
        ] {
            assert_eq!(refusal.close_code(), refusal.error_code());
        }
    }

    #[test]
    fn a_ticket_is_used_once_and_forgotten_when_expired() {
        let mut used = Used::default();
        assert_eq!(used.first_use("a", NOW + 5, NOW), FirstUse::Yes);
        assert_eq!(used.first_use("a", NOW + 5, NOW + 1), FirstUse::Replayed);
        assert_eq!(used.first_use("b", NOW + 5, NOW), FirstUse::Yes);
        used.forget_expired(NOW + 5);
        assert_eq!(used.len(), 0);
    }

    #[test]
    fn used_is_bounded() {
        let mut used = Used::default();
        for i in 0..MAX_USED {
            assert_eq!(used.first_use(&i.to_string(), NOW + 5, NOW), FirstUse::Yes);
        }
        assert_eq!(used.first_use("one more", NOW + 5, NOW), FirstUse::Full);
        assert_eq!(
            used.first_use("one more", NOW + 5, NOW + 5),
            FirstUse::Yes,
            "the expired ones were forgotten"
        );
        assert_eq!(used.len(), 1);
    }

    #[test]
    fn ids_are_unique() {
        let (a, b) = (Ids::new(), Ids::new());
        let ids: std::collections::HashSet<_> =
            (0..100).flat_map(|_| [a.next(), b.next()]).collect();
        assert_eq!(ids.len(), 200);
    }
}
