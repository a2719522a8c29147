//! The limits a connection meets between `accept` and its WebSocket
//! upgrade, and how the accept loop rides out failing accepts.
//!
//! - **Pending connections** (`--max-pending-connections`): a connection
//!   holds a [`PendingPermit`] from its accept until it upgrades (its
//!   `--max-connections` permit then counts it) or ends. Over the cap a new
//!   connection is answered 503 and closed at once.
//! - **Connections per address** (`--max-connections-per-address`): a
//!   connection holds an [`AddressHold`] from its accept until it ends,
//!   upgraded or not (the hold rides into the session in the request's
//!   extensions). IPv6 peers count by their /64. Loopback is exempt unless
//!   `--limit-loopback`.
//! - **Failing accepts** (out of file descriptors, mostly) back off
//!   exponentially ([`Backoff`]) and are logged once per period, not once
//!   per failure.
//!
//! The request head's own limits (`--max-header-bytes`, answered 431, and
//! `--handshake-timeout`) are hyper's, set where the connection is served;
//! [`count_http_error`] counts them.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::stats;

/// The accept-time limits of one listener.
#[derive(Debug)]
pub(crate) struct Limits {
    pending: Arc<Semaphore>,
    addresses: Arc<AddressCounts>,
    limit_loopback: bool,
}

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `--max-pending-connections`.
    Pending,
    /// `--max-connections-per-address`.
    Address,
}

impl Refused {
    /// The metric label.
    fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Address => "address",
        }
    }

    /// The whole HTTP answer: short enough for one non-blocking write.
    fn response(self) -> &'static [u8] {
        match self {
            Self::Pending => {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 43\r\nconnection: close\r\n\r\nserver is at its pending-connection limit.\n"
            }
            Self::Address => {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 40\r\nconnection: close\r\n\r\ntoo many connections from your address.\n"
            }
        }
    }

    /// Counts the refusal, answers 503 if the socket takes it at once, and
    /// closes the connection.
    pub(crate) fn answer(self, stream: TcpStream) {
        metrics::counter!(stats::ACCEPTS_REFUSED, "limit" => self.label()).increment(1);
        // A fresh socket's send buffer is empty: one non-blocking write
        // goes out whole or not at all, and never waits.
        if let Ok(mut stream) = stream.into_std() {
            let _ = stream.write(self.response());
        }
    }
}

/// What an admitted connection holds.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// Released when the connection upgrades or ends.
    pub(crate) pending: PendingPermit,
    /// Released when the connection ends, upgraded or not; `None` for an
    /// exempt peer or with no per-address cap.
    pub(crate) address: Option<Arc<AddressHold>>,
}

impl Limits {
    /// The limits `config` sets.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            pending: Arc::new(Semaphore::new(config.max_pending_connections)),
            addresses: Arc::new(AddressCounts {
                limit: config.max_connections_per_address,
                counts: Mutex::new(HashMap::new()),
            }),
            limit_loopback: config.limit_loopback,
        }
    }

    /// Admits a connection from `peer`, or says which limit refuses it.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Admitted, Refused> {
        let address = if self.addresses.limit == 0 || (peer.is_loopback() && !self.limit_loopback) {
            None
        } else {
            Some(Arc::new(
                AddressCounts::hold(&self.addresses, peer).ok_or(Refused::Address)?,
            ))
        };
        let permit = Arc::clone(&self.pending)
            .try_acquire_owned()
            .map_err(|_| Refused::Pending)?;
        metrics::gauge!(stats::PENDING_CONNECTIONS).increment(1.0);
        Ok(Admitted {
            pending: PendingPermit(permit),
            address,
        })
    }
}

/// A place among the pending connections; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct PendingPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Drop for PendingPermit {
    fn drop(&mut self) {
        metrics::gauge!(stats::PENDING_CONNECTIONS).decrement(1.0);
    }
}

/// Connections per address, counted under one lock. An address is in the
/// map only while it holds a connection, so the map is no bigger than the
/// number of open connections.
#[derive(Debug)]
struct AddressCounts {
    /// Most connections per address (never 0 here: 0 is no cap).
    limit: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressCounts {
    /// A hold on one of `peer`'s places, or `None` if it has none left.
    fn hold(this: &Arc<Self>, peer: IpAddr) -> Option<AddressHold> {
        let key = address_key(peer);
        let mut counts = this.counts.lock();
        let count = counts.entry(key).or_insert(0);
        if *count >= this.limit {
            return None;
        }
        *count += 1;
        Some(AddressHold {
            counts: Arc::clone(this),
            key,
        })
    }
}

/// One connection's place in its address's count; dropping it gives the
/// place back.
#[derive(Debug)]
pub(crate) struct AddressHold {
    counts: Arc<AddressCounts>,
    key: IpAddr,
}

impl Drop for AddressHold {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// What an address counts as: IPv4 as itself (an IPv4-mapped IPv6 address
/// too), IPv6 by its /64, the smallest block one subscriber gets.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Counts a connection that hyper ended for a request-head limit.
pub(crate) fn count_http_error(error: &hyper::Error) {
    let reason = if error.is_parse_too_large() {
        "headers_too_large"
    } else if error.is_timeout() {
        "header_timeout"
    } else {
        return;
    };
    metrics::counter!(stats::HTTP_HEAD_REFUSED, "reason" => reason).increment(1);
}

/// The first wait after a failed accept.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest wait between failed accepts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one log line per this period while accepts keep failing.
const LOG_PERIOD: Duration = Duration::from_secs(5);

/// How long the accept loop waits after a failed accept, and when it logs.
/// Each failure in a row doubles the wait, from [`BACKOFF_MIN`] to
/// [`BACKOFF_MAX`]; a success starts over.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// The next wait; zero after a success.
    delay: Duration,
    /// Failures since the last log line.
    unlogged: u64,
    /// When the last log line was written in this run of failures.
    logged_at: Option<Instant>,
}

impl Backoff {
    /// Records a failed accept: counts it, logs it if the period allows,
    /// and returns how long to wait before the next accept.
    pub(crate) fn failed(&mut self, error: &std::io::Error) -> Duration {
        metrics::counter!(stats::ACCEPT_ERRORS).increment(1);
        if let Some(failures) = self.record_failure(Instant::now()) {
            tracing::warn!(
                %error,
                failures,
                backoff_ms = self.delay.as_millis(),
                "accept failed; backing off"
            );
        }
        self.delay
    }

    /// Records an accept that worked: the next failure starts a new run.
    pub(crate) fn succeeded(&mut self) {
        if self.delay.is_zero() {
            return;
        }
        if self.unlogged > 0 {
            tracing::warn!(
                failures = self.unlogged,
                "accept failed (not logged before)"
            );
        }
        tracing::info!("accepting again");
        *self = Self::default();
    }

    /// Doubles the wait; returns the failures to log now, if any.
    fn record_failure(&mut self, now: Instant) -> Option<u64> {
        self.delay = (self.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        self.unlogged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_PERIOD);
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pending: usize, per_address: usize, limit_loopback: bool) -> Config {
        Config {
            max_pending_connections: pending,
            max_connections_per_address: per_address,
            limit_loopback,
            ..Config::default()
        }
    }

    #[test]
    fn the_pending_cap_refuses_until_a_permit_is_given_back() {
        let limits = Limits::new(&config(2, 0, false));
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let a = limits.admit(ip);
        let b = limits.admit(ip);
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(limits.admit(ip).err(), Some(Refused::Pending));
        drop(a);
        assert!(limits.admit(ip).is_ok());
    }

    #[test]
    fn the_address_cap_counts_each_address_and_gives_places_back() {
        let limits = Limits::new(&config(100, 2, false));
        let one = IpAddr::from([192, 0, 2, 1]);
        let two = IpAddr::from([192, 0, 2, 2]);
        let held: Vec<_> = (0..2).map(|_| limits.admit(one)).collect();
        assert!(held.iter().all(Result::is_ok));
        assert_eq!(limits.admit(one).err(), Some(Refused::Address));
        assert!(
            limits.admit(two).is_ok(),
            "another address has its own count"
        );
        // An upgraded connection keeps its address hold after its pending
        // permit is gone.
        let mut held = held.into_iter().flatten();
        let upgraded = held.next().map(|a| a.address);
        assert_eq!(limits.admit(one).err(), Some(Refused::Address));
        drop(upgraded);
        assert!(limits.admit(one).is_ok());
        assert!(limits.addresses.counts.lock().len() <= 2);
    }

    #[test]
    fn loopback_is_exempt_unless_asked_and_zero_is_no_cap() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let exempt = Limits::new(&config(100, 1, false));
        let kept: Vec<_> = (0..5).map(|_| exempt.admit(loopback)).collect();
        assert!(kept.iter().all(Result::is_ok));
        let limited = Limits::new(&config(100, 1, true));
        let _first = limited.admit(loopback);
        assert_eq!(limited.admit(loopback).err(), Some(Refused::Address));
        let uncapped = Limits::new(&config(100, 0, true));
        let kept: Vec<_> = (0..5).map(|_| uncapped.admit(loopback)).collect();
        assert!(kept.iter().all(Result::is_ok));
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::2"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(address_key(mapped), IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn failing_accepts_back_off_and_log_once_per_period() {
        let mut backoff = Backoff::default();
        let start = Instant::now();
        assert_eq!(
            backoff.record_failure(start),
            Some(1),
            "the first is logged"
        );
        assert_eq!(backoff.delay, BACKOFF_MIN);
        let mut logged = 0;
        for i in 1..1000u32 {
            let now = start + Duration::from_millis(u64::from(i));
            if let Some(n) = backoff.record_failure(now) {
                logged += n;
            }
        }
        assert_eq!(logged, 0, "999 more failures within a second: no line");
        assert_eq!(backoff.delay, BACKOFF_MAX, "the wait doubled up to its cap");
        assert_eq!(
            backoff.record_failure(start + LOG_PERIOD),
            Some(1000),
            "the next line counts every failure since the last"
        );
        backoff.succeeded();
        assert_eq!(backoff.record_failure(start + LOG_PERIOD), Some(1));
        assert_eq!(backoff.delay, BACKOFF_MIN, "a success starts over");
    }

    #[test]
    fn the_refusals_are_whole_http_responses() {
        for refused in [Refused::Pending, Refused::Address] {
            let text = String::from_utf8_lossy(refused.response()).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                panic!("no head: {text}");
            };
            assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
            assert!(
                head.contains(&format!("content-length: {}\r\n", body.len())),
                "{head}"
            );
        }
    }
}
