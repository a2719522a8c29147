//! The rate limits on what a player sends: token buckets per connection.
//!
//! The reader keeps three [`Budget`]s. Every frame read from the socket
//! (data, continuation, ping, pong, close; every message type, joins
//! included) spends one of the **frame** budget before anything else is
//! done with it; within it an **input** goes on to the input budget and a
//! **chat** line to the chat budget, which is small (a few lines of burst):
//! each line is broadcast to the whole room. Within its budgets a message
//! is acted on; over one it is dropped (and counted).
//!
//! Drops sustained for the flood time are flooding: drops with no pause of
//! the peer's of a second or more between them, for `--flood-seconds` since
//! the first. A pause is the peer's silence (the reader found its socket
//! empty and waited: `super::masked::PeerSilence`), not time on the clock:
//! a reader kept from its socket by a busy machine finds a backlog, not a
//! pause, so a flooder is closed at the flood time however loaded the
//! server is.
//! Flooding frames or inputs ends the connection with close 1008 (see
//! [`super::close`]); chat over its budget is only dropped. The times are
//! the reader's, when it reads a frame: a reader kept from its socket for
//! seconds would see a well-behaved player's backlog as a burst, which is
//! why the reader yields (see [`super::reader`]) and the rooms tick on a
//! runtime of their own.

use std::time::Duration;

use tokio::time::Instant;

/// Outcome of a rate check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Yes,
    Dropped,
    Flooding,
}

/// Drops with less of the peer's silence than this between them are one
/// run of flooding.
const FLOOD_GAP: Duration = Duration::from_secs(1);

/// A token bucket (`rate` per second, at most `burst` at once), and the
/// run of drops the flood check measures.
#[derive(Debug)]
pub(crate) struct Budget {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    /// When the current run of drops began, and the peer's silence in all
    /// at its latest drop.
    run: Option<(Instant, Duration)>,
    /// How long a run of drops lasts before it is flooding; `None`: never.
    flood_after: Option<Duration>,
}

impl Budget {
    /// `per_second` with a burst of `burst`; a run of drops lasting
    /// `flood_seconds` is flooding (`None`: over-budget is only dropped).
    pub(crate) fn new(per_second: u32, burst: u32, flood_seconds: Option<u32>) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(per_second.max(1)),
            burst,
            tokens: burst,
            last: None,
            run: None,
            flood_after: flood_seconds.map(|s| Duration::from_secs(u64::from(s.max(1)))),
        }
    }

    /// Spends one token at `now`, or says why not; `silence` is the peer's
    /// pauses so far, in all.
    pub(crate) fn admit(&mut self, now: Instant, silence: Duration) -> Admit {
        if let Some(last) = self.last {
            let earned = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Yes;
        }
        let began = match self.run {
            Some((began, quiet)) if silence.saturating_sub(quiet) < FLOOD_GAP => began,
            _ => now,
        };
        self.run = Some((began, silence));
        match self.flood_after {
            Some(after) if now.saturating_duration_since(began) >= after => Admit::Flooding,
            _ => Admit::Dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_rest_dropped() {
        let mut rate = Budget::new(10, 10, Some(3));
        let t = Instant::now();
        let admitted = (0..15)
            .filter(|_| rate.admit(t, Duration::ZERO) == Admit::Yes)
            .count();
        assert_eq!(admitted, 10);

        let mut chat = Budget::new(2, 5, None);
        let admitted = (0..120)
            .filter(|_| chat.admit(t, Duration::ZERO) == Admit::Yes)
            .count();
        assert_eq!(admitted, 5, "the burst, not a second's worth");
    }

    #[test]
    fn flooding_comes_after_the_flood_time_not_before() {
        let mut rate = Budget::new(10, 10, Some(3));
        let t0 = Instant::now();
        let mut first_drop = None;
        let mut flooding_at = None;
        // 100 per second, for five seconds.
        for i in 0..500u64 {
            let now = t0 + Duration::from_millis(i * 10);
            match rate.admit(now, Duration::ZERO) {
                Admit::Yes => {}
                Admit::Dropped => {
                    first_drop.get_or_insert(now);
                }
                Admit::Flooding => {
                    flooding_at = Some(now);
                    break;
                }
            }
        }
        let (Some(first_drop), Some(flooding_at)) = (first_drop, flooding_at) else {
            panic!("no flooding: first drop {first_drop:?}, flooding {flooding_at:?}");
        };
        let after = flooding_at - first_drop;
        assert!(
            after >= Duration::from_secs(3) && after < Duration::from_millis(3100),
            "flooding {after:?} after the first drop"
        );
    }

    #[test]
    fn a_burst_or_a_paused_flood_is_not_flooding() {
        let t0 = Instant::now();
        let mut calm = Budget::new(10, 10, Some(3));
        for i in 0..30 {
            assert_ne!(calm.admit(t0, Duration::ZERO), Admit::Flooding, "burst {i}");
        }
        for i in 1..100u64 {
            assert_ne!(
                calm.admit(
                    t0 + Duration::from_millis(i * 100),
                    Duration::from_millis(i * 100)
                ),
                Admit::Flooding
            );
        }

        // Bursts of 30 every 1.5 s, the peer silent between them: each run
        // of drops ends with a pause.
        let mut bursty = Budget::new(10, 10, Some(3));
        for burst in 0..10u64 {
            let at = t0 + Duration::from_millis(burst * 1500);
            let silence = Duration::from_millis(burst * 1500);
            for _ in 0..30 {
                assert_ne!(bursty.admit(at, silence), Admit::Flooding, "burst {burst}");
            }
        }
    }

    #[test]
    fn a_stalled_reader_is_no_pause_of_the_peer() {
        // 100 a second for a second, then the reader is kept from the
        // socket for 3 s (the peer never stopped: no silence), then it reads
        // the backlog: still one run of flooding, flooding at once.
        let t0 = Instant::now();
        let flood = |rate: &mut Budget, from: Duration, silence: Duration| {
            (0..100u64)
                .map(|i| rate.admit(t0 + from + Duration::from_millis(i * 10), silence))
                .collect::<Vec<_>>()
        };
        let mut stalled = Budget::new(10, 10, Some(3));
        assert!(!flood(&mut stalled, Duration::ZERO, Duration::ZERO).contains(&Admit::Flooding));
        let after = flood(&mut stalled, Duration::from_secs(4), Duration::ZERO);
        assert!(after.contains(&Admit::Flooding), "{after:?}");

        // The same times with the peer silent for those 3 s: a new run.
        let mut paused = Budget::new(10, 10, Some(3));
        assert!(!flood(&mut paused, Duration::ZERO, Duration::ZERO).contains(&Admit::Flooding));
        let after = flood(&mut paused, Duration::from_secs(4), Duration::from_secs(3));
        assert!(!after.contains(&Admit::Flooding), "{after:?}");
    }

    #[test]
    fn a_budget_without_a_flood_time_only_drops() {
        let mut chat = Budget::new(2, 5, None);
        let t0 = Instant::now();
        for i in 0..1000u64 {
            assert_ne!(
                chat.admit(t0 + Duration::from_millis(i * 10), Duration::ZERO),
                Admit::Flooding
            );
        }
    }
}
