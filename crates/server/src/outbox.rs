//! A player's latest-wins snapshot outbox, and the baseline it implies.
//!
//! After each tick the room puts one encoded snapshot into every player's
//! [`Outbox`]; the player's writer task takes it and writes it to the socket.
//! The outbox holds at most one snapshot: putting a new one while an older
//! one is still unsent replaces it and counts a skip. So a slow socket costs
//! the server one frame of memory, never a queue, and the client simply
//! sees a lower snapshot rate.
//!
//! Skipping is safe because the baseline of every delta is the last snapshot
//! *handed to the socket* ([`Outbox::written_tick`]), which TCP delivers in
//! order or not at all, never one that might have been skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// `written_tick` before any snapshot was written.
const NONE: u64 = u64::MAX;

/// One encoded snapshot waiting for the socket.
#[derive(Debug)]
pub struct PendingSnapshot {
    /// The tick it describes; becomes the baseline once written.
    pub tick: u64,
    /// Header and body, ready to be one binary WebSocket message.
    pub frame: Bytes,
}

/// The single-slot snapshot outbox of one player. See the module docs.
#[derive(Debug)]
pub struct Outbox {
    /// The newest unsent snapshot, if any. A lock rather than an atomic swap
    /// because it is touched twice per tick, never contended for long.
    slot: Mutex<Option<PendingSnapshot>>,
    /// Wakes the writer when the slot fills.
    ready: Notify,
    /// Tick of the last snapshot handed to the socket: the baseline for the
    /// next delta ([`NONE`] until the first write).
    written_tick: AtomicU64,
    /// Snapshots replaced before they were written.
    skipped: AtomicU64,
    /// Most snapshots ever held at once; 1 by construction, kept so tests and
    /// operators can see it.
    high_water: AtomicU64,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// An empty outbox with no baseline.
    pub fn new() -> Self {
        Self {
            slot: Mutex::new(None),
            ready: Notify::new(),
            written_tick: AtomicU64::new(NONE),
            skipped: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
        }
    }

    /// Puts the newest snapshot, replacing an unsent one. Returns whether a
    /// snapshot was skipped to make room.
    pub fn put(&self, snapshot: PendingSnapshot) -> bool {
        let replaced = self.slot.lock().replace(snapshot).is_some();
        if replaced {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        self.high_water.fetch_max(1, Ordering::Relaxed);
        self.ready.notify_one();
        replaced
    }

    /// Takes the unsent snapshot, if any.
    pub fn take(&self) -> Option<PendingSnapshot> {
        self.slot.lock().take()
    }

    /// Waits until a snapshot may be waiting. Cancel-safe: a notification
    /// that arrives while nobody waits is kept for the next call.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Records that the snapshot of `tick` was handed to the socket.
    pub fn mark_written(&self, tick: u64) {
        self.written_tick.store(tick, Ordering::Release);
    }

    /// Tick of the last snapshot handed to the socket: the baseline.
    pub fn written_tick(&self) -> Option<u64> {
        match self.written_tick.load(Ordering::Acquire) {
            NONE => None,
            t => Some(t),
        }
    }

    /// Sets the baseline before anything was written: a resuming client
    /// holds `tick` from its previous connection.
    pub fn resume_from(&self, tick: u64) {
        let _ = self
            .written_tick
            .compare_exchange(NONE, tick, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Snapshots skipped because the socket was slower than the tick.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Snapshots now waiting (0 or 1).
    pub fn pending(&self) -> usize {
        usize::from(self.slot.lock().is_some())
    }

    /// Most snapshots ever waiting at once (at most 1).
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(tick: u64) -> PendingSnapshot {
        PendingSnapshot {
            tick,
            frame: Bytes::from(vec![tick as u8]),
        }
    }

    #[test]
    fn slow_reader_skips_stale_snapshots() {
        let outbox = Outbox::new();
        assert!(!outbox.put(snap(1)));
        assert!(outbox.put(snap(2)));
        assert!(outbox.put(snap(3)));
        assert_eq!(outbox.pending(), 1);
        assert_eq!(outbox.skipped(), 2);
        assert_eq!(outbox.take().map(|s| s.tick), Some(3));
        assert!(outbox.take().is_none());
        assert_eq!(outbox.high_water(), 1);
    }

    #[test]
    fn baseline_is_the_last_written_snapshot_not_the_last_put() {
        let outbox = Outbox::new();
        assert_eq!(outbox.written_tick(), None);
        outbox.put(snap(5));
        assert_eq!(outbox.written_tick(), None);
        if let Some(s) = outbox.take() {
            outbox.mark_written(s.tick);
        }
        outbox.put(snap(6));
        assert_eq!(outbox.written_tick(), Some(5));
    }

    #[test]
    fn resume_only_applies_before_the_first_write() {
        let outbox = Outbox::new();
        outbox.resume_from(7);
        assert_eq!(outbox.written_tick(), Some(7));
        outbox.mark_written(9);
        outbox.resume_from(3);
        assert_eq!(outbox.written_tick(), Some(9));
    }
}
