//! The network lab, per bot: added latency, jitter and stalls in both
//! directions, as the browser SDK's lab adds them (`client-web/sdk/lab.js`).
//!
//! Each bot has a [`DelayLine`] a direction. Every message, each way, is
//! held for `--lag` plus or minus up to `--jitter` (uniformly), and never
//! delivered before the one handed over before it: WebSocket runs on TCP,
//! which never reorders, so jitter here cannot either, and a late message
//! holds back the ones behind it. A stall freezes both directions of the
//! bot's link for `--stall` once every `--stall-every`: nothing is
//! delivered during the freeze, and what it held back goes through at its
//! end, in order, at once.
//!
//! The schedule is pure (time comes in, a delivery time goes out), seeded
//! from the run's `--seed` and the bot's index, so it is tested without a
//! clock or a socket.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use tokio::time::Instant;

/// Time between the starts of two stalls unless `--stall-every` says.
pub const DEFAULT_STALL_EVERY: Duration = Duration::from_secs(10);

/// What the lab adds to every bot's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabSettings {
    /// Added to every message, each way.
    pub lag: Duration,
    /// Each message waits `lag` plus or minus up to this.
    pub jitter: Duration,
    /// Length of each freeze of the link (zero: none).
    pub stall: Duration,
    /// Time between the starts of two freezes.
    pub stall_every: Duration,
}

impl LabSettings {
    /// The settings, checked; `None` when they add nothing.
    pub fn new(
        lag: Duration,
        jitter: Duration,
        stall: Duration,
        stall_every: Duration,
    ) -> Result<Option<Self>, String> {
        if !stall.is_zero() && stall >= stall_every {
            return Err(format!(
                "--stall {stall:?} must be shorter than --stall-every {stall_every:?}"
            ));
        }
        if lag.is_zero() && jitter.is_zero() && stall.is_zero() {
            return Ok(None);
        }
        Ok(Some(Self {
            lag,
            jitter,
            stall,
            stall_every,
        }))
    }
}

/// One direction of one bot's link: when each message handed over is
/// delivered.
#[derive(Debug)]
pub struct DelayLine {
    settings: LabSettings,
    /// When the link came up: stall `k` (from 1) freezes
    /// `[origin + k * every - stall, origin + k * every)`.
    origin: Instant,
    /// When the last message was delivered; none is delivered before it.
    last: Option<Instant>,
    rng: Pcg32,
}

impl DelayLine {
    /// A line that came up at `origin`, drawing its jitter from `rng`.
    pub fn new(settings: LabSettings, origin: Instant, rng: Pcg32) -> Self {
        Self {
            settings,
            origin,
            last: None,
            rng,
        }
    }

    /// The line of direction `direction` (0 up, 1 down) of bot `index`,
    /// seeded from the run's seed: the same seed draws the same delays.
    pub fn for_bot(
        settings: LabSettings,
        origin: Instant,
        seed: u64,
        index: usize,
        direction: u64,
    ) -> Self {
        let stream = (index as u64)
            .wrapping_mul(2)
            .wrapping_add(direction)
            .wrapping_mul(0xd1b5_4a32_d192_ed03);
        let rng = Pcg32::seed_from_u64(seed ^ stream ^ 0x6c61_6221);
        Self::new(settings, origin, rng)
    }

    /// The end of the stall `at` falls in, or `at` when the link is not
    /// frozen then.
    pub fn thaw(&self, at: Instant) -> Instant {
        let LabSettings {
            stall, stall_every, ..
        } = self.settings;
        if stall.is_zero() || stall_every.is_zero() {
            return at;
        }
        let since = at.saturating_duration_since(self.origin).as_nanos();
        let every = stall_every.as_nanos();
        let periods = since.div_ceil(every);
        let end = periods * every;
        if periods == 0 || since < end - stall.as_nanos() {
            return at;
        }
        let end = u64::try_from(end).unwrap_or(u64::MAX);
        self.origin + Duration::from_nanos(end)
    }

    /// Whether the link is frozen at `at`.
    pub fn stalled(&self, at: Instant) -> bool {
        self.thaw(at) != at
    }

    /// When a message handed over at `now` is delivered: `lag` plus or
    /// minus up to `jitter` later (never before `now`), never before the
    /// message before it, and not during a stall.
    pub fn delivery_time(&mut self, now: Instant) -> Instant {
        let LabSettings { lag, jitter, .. } = self.settings;
        let lag = lag.as_secs_f64();
        let jitter = jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            self.rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        let delay = Duration::from_secs_f64((lag + offset).max(0.0));
        let mut at = now + delay;
        if let Some(last) = self.last {
            at = at.max(last);
        }
        let at = self.thaw(at);
        self.last = Some(at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn settings(lag: u64, jitter: u64, stall: u64, every: u64) -> LabSettings {
        LabSettings::new(ms(lag), ms(jitter), ms(stall), ms(every))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no lab"))
    }

    #[test]
    fn settings_that_add_nothing_are_no_lab() {
        assert_eq!(LabSettings::new(ms(0), ms(0), ms(0), ms(10_000)), Ok(None));
        assert!(LabSettings::new(ms(0), ms(0), ms(2000), ms(1000)).is_err());
        assert!(matches!(
            LabSettings::new(ms(150), ms(0), ms(0), ms(10_000)),
            Ok(Some(_))
        ));
    }

    #[test]
    fn delays_stay_within_lag_give_or_take_jitter_and_keep_the_order() {
        let t0 = Instant::now();
        let mut line = DelayLine::for_bot(settings(150, 40, 0, 10_000), t0, 1, 3, 1);
        let mut previous = t0;
        let (mut lowest, mut highest) = (Duration::MAX, Duration::ZERO);
        for i in 0..5000u32 {
            let now = t0 + Duration::from_micros(33_333) * i;
            let at = line.delivery_time(now);
            assert!(at >= previous, "message {i} overtook the one before it");
            let delay = at - now;
            assert!(delay >= ms(110), "message {i} after {delay:?}");
            assert!(delay <= ms(190), "message {i} after {delay:?}");
            lowest = lowest.min(delay);
            highest = highest.max(delay);
            previous = at;
        }
        assert!(
            lowest < ms(113) && highest > ms(187),
            "the whole spread is drawn: {lowest:?}..{highest:?}"
        );
    }

    #[test]
    fn a_burst_bunches_behind_a_late_message() {
        // A burst handed over at one instant: each is delivered no earlier
        // than the one before it, however its own delay was drawn.
        let t0 = Instant::now();
        let mut line = DelayLine::for_bot(settings(100, 50, 0, 10_000), t0, 9, 0, 0);
        let times: Vec<Instant> = (0..50).map(|_| line.delivery_time(t0)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let bunched = times.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(bunched > 10, "only {bunched} of 49 waited for a later one");
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let t0 = Instant::now();
        let s = settings(80, 30, 0, 10_000);
        let draw = |seed, index, direction| {
            let mut line = DelayLine::for_bot(s, t0, seed, index, direction);
            (0..20u32)
                .map(|i| line.delivery_time(t0 + ms(100) * i) - t0)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 5, 0), draw(1, 5, 0));
        assert_ne!(draw(1, 5, 0), draw(2, 5, 0), "another seed");
        assert_ne!(draw(1, 5, 0), draw(1, 6, 0), "another bot");
        assert_ne!(draw(1, 5, 0), draw(1, 5, 1), "the other direction");
    }

    #[test]
    fn a_stall_holds_everything_to_its_end() {
        let t0 = Instant::now();
        let mut line = DelayLine::for_bot(settings(50, 0, 1000, 4000), t0, 1, 0, 0);
        assert!(!line.stalled(t0));
        assert!(!line.stalled(t0 + ms(2999)));
        assert!(line.stalled(t0 + ms(3000)));
        assert!(line.stalled(t0 + ms(3999)));
        assert!(!line.stalled(t0 + ms(4000)));
        assert!(line.stalled(t0 + ms(7500)));
        let mut held = 0;
        for i in 0..30u32 {
            let now = t0 + ms(2000) + ms(100) * i;
            let at = line.delivery_time(now);
            assert!(!line.stalled(at), "delivered during a stall");
            if now + ms(50) >= t0 + ms(3000) && now + ms(50) < t0 + ms(4000) {
                assert_eq!(at, t0 + ms(4000), "held to the stall's end");
                held += 1;
            } else {
                assert_eq!(at, now + ms(50));
            }
        }
        assert_eq!(held, 10);
    }
}
