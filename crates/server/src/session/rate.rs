//! The rate limit on what a player sends: inputs and chat lines share one
//! token bucket per connection.
//!
//! The reader asks [`InputRate::admit`] for every input and chat message:
//! within the rate it goes on to the room, over it it is dropped (and
//! counted), and drops in too many consecutive seconds are flooding, which
//! ends the connection with close 1008 (see [`super::close`]).

use std::time::Duration;

use tokio::time::Instant;

/// Outcome of a rate check.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    Yes,
    Dropped,
    Flooding,
}

/// A token bucket of inputs per second (a burst of one second's worth),
/// plus the count of consecutive one-second windows in which inputs were
/// dropped: that many in a row is flooding.
#[derive(Debug)]
pub(super) struct InputRate {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
    window_start: Option<Instant>,
    dropped_in_window: u32,
    flooded_windows: u32,
    flood_windows_limit: u32,
}

impl InputRate {
    pub(super) fn new(per_second: u32, flood_seconds: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        Self {
            rate,
            tokens: rate,
            last: None,
            window_start: None,
            dropped_in_window: 0,
            flooded_windows: 0,
            flood_windows_limit: flood_seconds.max(1),
        }
    }

    pub(super) fn admit(&mut self, now: Instant) -> Admit {
        if let Some(last) = self.last {
            self.tokens = (self.tokens + (now - last).as_secs_f64() * self.rate).min(self.rate);
        }
        self.last = Some(now);
        let window_start = *self.window_start.get_or_insert(now);
        let in_window = now - window_start;
        if in_window >= Duration::from_secs(1) {
            let contiguous = in_window < Duration::from_secs(2);
            self.flooded_windows = if self.dropped_in_window > 0 && contiguous {
                self.flooded_windows + 1
            } else {
                0
            };
            self.window_start = Some(now);
            self.dropped_in_window = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Yes;
        }
        self.dropped_in_window += 1;
        // This window has drops too: with the full windows before it, that
        // makes `flooded_windows + 1` seconds of flooding.
        if self.flooded_windows + 1 >= self.flood_windows_limit {
            Admit::Flooding
        } else {
            Admit::Dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_a_burst_then_drops() {
        let mut rate = InputRate::new(10, 3);
        let t = Instant::now();
        let admitted = (0..15).filter(|_| rate.admit(t) == Admit::Yes).count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn sustained_flooding_is_detected_but_a_burst_is_not() {
        let mut rate = InputRate::new(10, 3);
        let t0 = Instant::now();
        let mut outcome = Admit::Yes;
        // 100 inputs per second, for five seconds.
        for i in 0..500u64 {
            outcome = rate.admit(t0 + Duration::from_millis(i * 10));
            if outcome == Admit::Flooding {
                break;
            }
        }
        assert_eq!(outcome, Admit::Flooding);

        let mut calm = InputRate::new(10, 3);
        for i in 0..30 {
            assert_ne!(calm.admit(t0), Admit::Flooding, "burst {i}");
        }
        for i in 1..100u64 {
            assert_ne!(
                calm.admit(t0 + Duration::from_millis(i * 100)),
                Admit::Flooding
            );
        }
    }
}
