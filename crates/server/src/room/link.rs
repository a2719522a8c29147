//! What a room and one player's session share: the player's outbox (its
//! way out for snapshots), its bounded input queue (its way in, drained by
//! the tick), and its bounded queue of control messages for its writer
//! task. Every queue here has a bound, and says what happens when full.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tickwire_sim::{NetId, PlayerInput};

use crate::outbox::Outbox;

/// The close code of a player disconnected for falling behind on events
/// (RFC 6455's policy violation; the session's close table lists it).
const POLICY_VIOLATION: u16 = 1008;

/// Inputs a player may have queued between two ticks; older ones are
/// dropped first (the newest input is the one that matters) and counted.
pub const INPUT_QUEUE: usize = 16;

/// Control messages that may be dropped (pongs, chat lines) a player may
/// have queued for its writer. Past it they are dropped (chat lines are
/// counted in `tickwire_events_dropped_total`).
pub const CONTROL_QUEUE: usize = 64;

/// Lifecycle events (joins, leaves, game events) a player may have queued
/// for its writer, on top of [`CONTROL_QUEUE`].
///
/// A client must not miss one: a join missed leaves a player nameless, a
/// leave missed leaves a ghost in the roster, a kill missed a wrong score.
/// So they are never dropped while the connection lives. They are not
/// unbounded either: a player whose writer falls this many events behind
/// is disconnected instead (its queue emptied, an error and a close 1008
/// queued; `tickwire_event_queue_closes_total`), and its reconnect's
/// welcome carries the whole roster again: the resync. A roster resync
/// message instead would need a new message in both decoders, and a client
/// this far behind is also behind on its snapshots.
///
/// The writer drains the queue as fast as the socket takes it, and a socket
/// that takes nothing for `--outbox-lag` is dropped anyway, so this is
/// only reached by a client that reads, but slower than its room makes
/// events: 1,024 is more than a room of a thousand players all joining at
/// once makes, and at most about 40 KiB per player (the messages are
/// shared by the whole room; each slot holds a reference).
pub const EVENT_QUEUE: usize = 1024;

/// Something for a player's writer task other than a snapshot.
#[derive(Debug)]
pub enum Control {
    /// A binary protocol message (pong, event, error); the welcome is
    /// written by the session itself, before anything else.
    Message(Bytes),
    /// A pong answering a WebSocket ping, with its payload.
    WsPong(Bytes),
    /// The echo of the peer's close frame; the writer sends it and stops.
    CloseEcho(Bytes),
    /// Close with this code and reason, then stop.
    Close(u16, String),
    /// An operator's close (a kick, a room closed, a drain): the protocol
    /// error and the close that go with it, then stop; the session ends as
    /// the operator said, and the player's seat is not held.
    Operator(OperatorClose, String),
    /// Stop without writing anything (the peer is gone).
    Stop,
}

/// What an operator did to a connection (see `crate::admin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorClose {
    /// Kicked: close and error 4014, `kicked by operator: REASON`.
    Kicked,
    /// Its room closed: close and error 4015, `room closed by operator:
    /// REASON`.
    RoomClosed,
    /// Its node drained and the drain timed out: close 1001, error 4006.
    Drained,
}

/// Which bound an item of the [`ControlQueue`] counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// [`CONTROL_QUEUE`]: dropped when full.
    Droppable,
    /// [`EVENT_QUEUE`]: over it, the connection is closed.
    Event,
    /// A connection's last messages: always queued.
    Final,
}

/// What became of a lifecycle event ([`ControlQueue::push_event`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the writer.
    Queued,
    /// The connection is closing (its last messages are queued): nothing
    /// more is written, so the event is not kept.
    Closing,
    /// The player was [`EVENT_QUEUE`] events behind: its queue was emptied
    /// and replaced by an error and a close.
    Overflowed,
}

#[derive(Debug, Default)]
struct Items {
    queue: VecDeque<(Class, Control)>,
    /// Items of [`Class::Droppable`] in `queue`.
    droppable: usize,
    /// Items of [`Class::Event`] in `queue`.
    events: usize,
    /// A final message is queued: the writer stops at it.
    closing: bool,
}

impl Items {
    fn push(&mut self, class: Class, item: Control) {
        match class {
            Class::Droppable => self.droppable += 1,
            Class::Event => self.events += 1,
            Class::Final => self.closing = true,
        }
        self.queue.push_back((class, item));
    }
}

/// A player's queue of [`Control`] messages for its writer task, in the
/// order they were queued (a chat line never overtakes its speaker's
/// join). Droppable messages are bounded by [`CONTROL_QUEUE`], lifecycle
/// events by [`EVENT_QUEUE`] (over which the connection is closed rather
/// than an event dropped), a connection's last messages by their few.
/// Empty most of the time, so it holds no memory until used (a channel
/// would keep a block of slots per player), and gives back what a burst
/// took.
#[derive(Debug, Default)]
pub struct ControlQueue {
    items: Mutex<Items>,
    ready: tokio::sync::Notify,
}

impl ControlQueue {
    /// Queues a droppable `item` (a pong, a chat line) unless
    /// [`CONTROL_QUEUE`] of them wait or the connection is closing;
    /// returns whether it was queued.
    pub fn try_push(&self, item: Control) -> bool {
        let mut items = self.items.lock();
        if items.droppable >= CONTROL_QUEUE || items.closing {
            return false;
        }
        items.push(Class::Droppable, item);
        drop(items);
        self.ready.notify_one();
        true
    }

    /// Queues a lifecycle event (a join, a leave, a game event): never
    /// dropped while the connection lives. A player already
    /// [`EVENT_QUEUE`] events behind is disconnected instead: everything
    /// queued is dropped, and `error` (a protocol error message) and a
    /// close 1008 with `reason` are queued in its place.
    pub fn push_event(&self, item: Control, error: impl FnOnce() -> Bytes, reason: &str) -> Pushed {
        let mut items = self.items.lock();
        if items.closing {
            return Pushed::Closing;
        }
        let pushed = if items.events >= EVENT_QUEUE {
            *items = Items::default();
            items.push(Class::Final, Control::Message(error()));
            items.push(
                Class::Final,
                Control::Close(POLICY_VIOLATION, reason.to_owned()),
            );
            Pushed::Overflowed
        } else {
            items.push(Class::Event, item);
            Pushed::Queued
        };
        drop(items);
        self.ready.notify_one();
        pushed
    }

    /// Queues one of a connection's last messages (its error, close or
    /// stop), over the bounds if need be: each connection has only a few.
    pub fn push_final(&self, item: Control) {
        self.items.lock().push(Class::Final, item);
        self.ready.notify_one();
    }

    /// The next item, waiting for one. Cancel-safe: an item stays queued
    /// until it is returned.
    pub async fn pop(&self) -> Control {
        loop {
            {
                let mut items = self.items.lock();
                if let Some((class, item)) = items.queue.pop_front() {
                    match class {
                        Class::Droppable => items.droppable -= 1,
                        Class::Event => items.events -= 1,
                        Class::Final => {}
                    }
                    if items.queue.is_empty() && items.queue.capacity() > 8 {
                        // A burst is over: give its memory back.
                        items.queue.shrink_to(8);
                    }
                    return item;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.items.lock().queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the room and a player's session share.
#[derive(Debug)]
pub struct PlayerLink {
    /// The name the player asked for, cleaned (`crate::name::clean`).
    requested: String,
    /// The name the room gave it at the join: the requested one, or it
    /// with a suffix if another player in the room has it.
    name: OnceLock<String>,
    /// Who admission vouched the player is (a ticket's subject), if anyone.
    pub identity: Option<String>,
    /// The newest unsent snapshot and the player's baseline.
    pub outbox: Outbox,
    /// Inputs received since the last tick, at most [`INPUT_QUEUE`].
    inputs: Mutex<VecDeque<PlayerInput>>,
    /// To the player's writer task.
    pub control: ControlQueue,
    /// The connection dropped and the player's seat is held for its
    /// resume (which comes with a new link).
    held: AtomicBool,
    /// The player's avatar, once the room let it in (spectators follow it).
    avatar: OnceLock<NetId>,
    /// Inputs of this player dropped (over its rate, or its queue full).
    inputs_dropped: AtomicU64,
    /// Round trip of the last WebSocket ping answered, microseconds (0:
    /// none answered yet).
    rtt_us: AtomicU64,
    /// Frame bytes sent over the last second, as the room's sampler
    /// counted them.
    bytes_per_second: AtomicU64,
    /// [`Outbox::bytes_written`] at the sampler's last look.
    bytes_sampled: AtomicU64,
}

impl PlayerLink {
    /// A link for a new session.
    pub fn new(name: String) -> Self {
        Self {
            requested: name,
            name: OnceLock::new(),
            identity: None,
            outbox: Outbox::new(),
            inputs: Mutex::new(VecDeque::with_capacity(INPUT_QUEUE)),
            control: ControlQueue::default(),
            held: AtomicBool::new(false),
            avatar: OnceLock::new(),
            inputs_dropped: AtomicU64::new(0),
            rtt_us: AtomicU64::new(0),
            bytes_per_second: AtomicU64::new(0),
            bytes_sampled: AtomicU64::new(0),
        }
    }

    /// Counts one input of this player dropped.
    pub fn count_input_dropped(&self) {
        self.inputs_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Inputs of this player dropped so far.
    pub fn inputs_dropped(&self) -> u64 {
        self.inputs_dropped.load(Ordering::Relaxed)
    }

    /// Records the round trip of a WebSocket ping.
    pub fn set_rtt(&self, rtt: std::time::Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        self.rtt_us.store(us, Ordering::Relaxed);
    }

    /// Round trip of the last WebSocket ping answered, if any.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(std::time::Duration::from_micros(us)),
        }
    }

    /// The room's sampler, once a second: the bytes written since its last
    /// look become the player's bytes per second.
    pub(crate) fn sample_bytes(&self) {
        let now = self.outbox.bytes_written();
        let before = self.bytes_sampled.swap(now, Ordering::Relaxed);
        self.bytes_per_second
            .store(now.saturating_sub(before), Ordering::Relaxed);
    }

    /// Frame bytes sent over the last second sampled.
    pub fn bytes_per_second(&self) -> u64 {
        self.bytes_per_second.load(Ordering::Relaxed)
    }

    /// A link for the resume of the player of `old`: its name, identity
    /// and avatar, nothing queued.
    pub(super) fn resuming(old: &Self) -> Self {
        let link = Self::new(old.requested.clone()).with_identity(old.identity.clone());
        link.set_name(old.name().to_owned());
        if let Some(avatar) = old.avatar() {
            link.set_avatar(avatar);
        }
        link
    }

    /// Whether the connection dropped and the seat is held.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Marks the connection dropped and the seat held, or not.
    pub(super) fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::Relaxed);
    }

    /// The name the player asked for (cleaned).
    pub fn requested_name(&self) -> &str {
        &self.requested
    }

    /// The player's name in its room: the one the room gave it at the
    /// join, or the requested one before.
    pub fn name(&self) -> &str {
        self.name.get().unwrap_or(&self.requested)
    }

    /// Sets the name the room gave the player; once.
    pub(super) fn set_name(&self, name: String) {
        if self.name.set(name).is_err() {
            tracing::warn!("a player's name was set twice; the first stays");
        }
    }

    /// The player's avatar, once the room let it in; `None` for a
    /// spectator.
    pub fn avatar(&self) -> Option<NetId> {
        self.avatar.get().copied()
    }

    /// Sets the player's avatar at its join; once.
    pub(super) fn set_avatar(&self, avatar: NetId) {
        if self.avatar.set(avatar).is_err() {
            tracing::warn!("a player's avatar was set twice; the first stays");
        }
    }

    /// The same link, for the player admission vouched is `identity`.
    #[must_use]
    pub fn with_identity(mut self, identity: Option<String>) -> Self {
        self.identity = identity;
        self
    }

    /// Queues an input for the next tick. Returns `false` if the queue was
    /// full and the oldest input was dropped to make room.
    pub fn push_input(&self, input: PlayerInput) -> bool {
        let mut q = self.inputs.lock();
        let dropped = if q.len() >= INPUT_QUEUE {
            q.pop_front();
            true
        } else {
            false
        };
        q.push_back(input);
        drop(q);
        if dropped {
            self.count_input_dropped();
        }
        !dropped
    }

    /// Hands every queued input, oldest first, to `apply`: the tick's way.
    pub(crate) fn drain_inputs(&self, mut apply: impl FnMut(PlayerInput)) {
        for input in self.inputs.lock().drain(..) {
            apply(input);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn message(n: u8) -> Control {
        Control::Message(Bytes::from(vec![n]))
    }

    #[tokio::test]
    async fn the_control_queue_is_bounded_but_final_messages_always_go_in() {
        let q = ControlQueue::default();
        for i in 0..CONTROL_QUEUE {
            assert!(q.try_push(message(i as u8)));
        }
        assert!(
            !q.try_push(message(0)),
            "an event over the bound is dropped"
        );
        q.push_final(Control::Stop);
        assert_eq!(q.len(), CONTROL_QUEUE + 1);
        for i in 0..CONTROL_QUEUE {
            match q.pop().await {
                Control::Message(b) => assert_eq!(b[..], [i as u8]),
                other => panic!("expected message {i}, got {other:?}"),
            }
        }
        assert!(matches!(q.pop().await, Control::Stop));
        assert!(q.is_empty());
        assert!(
            q.items.lock().queue.capacity() <= 8,
            "the burst's memory is given back"
        );
    }

    fn error() -> Bytes {
        Bytes::from_static(b"error")
    }

    #[tokio::test]
    async fn events_are_queued_past_a_full_chat_bound_in_order() {
        let q = ControlQueue::default();
        for i in 0..CONTROL_QUEUE {
            assert!(q.try_push(message(i as u8)));
        }
        assert!(!q.try_push(message(0)), "chat over its bound is dropped");
        for i in 0..100u8 {
            assert_eq!(
                q.push_event(message(200), error, "slow"),
                Pushed::Queued,
                "event {i}"
            );
        }
        assert_eq!(q.len(), CONTROL_QUEUE + 100);
        for i in 0..CONTROL_QUEUE {
            assert!(matches!(q.pop().await, Control::Message(b) if b[..] == [i as u8]));
        }
        assert!(q.try_push(message(7)), "chat has room again once popped");
        for _ in 0..100 {
            assert!(matches!(q.pop().await, Control::Message(b) if b[..] == [200]));
        }
        assert!(matches!(q.pop().await, Control::Message(b) if b[..] == [7]));
    }

    #[tokio::test]
    async fn a_player_too_far_behind_on_events_is_closed_not_skipped() {
        let q = ControlQueue::default();
        for _ in 0..EVENT_QUEUE {
            assert_eq!(q.push_event(message(1), error, "slow"), Pushed::Queued);
        }
        assert!(q.try_push(message(2)));
        assert_eq!(q.push_event(message(1), error, "slow"), Pushed::Overflowed);
        assert_eq!(q.len(), 2, "the backlog is dropped, memory given back");
        assert!(matches!(q.pop().await, Control::Message(b) if b[..] == b"error"[..]));
        assert!(matches!(q.pop().await, Control::Close(1008, reason) if reason == "slow"));
        assert_eq!(q.push_event(message(1), error, "slow"), Pushed::Closing);
        assert!(!q.try_push(message(2)), "nothing more once closing");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn popping_waits_for_a_push() {
        let q = Arc::new(ControlQueue::default());
        let waiter = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.push_final(Control::Stop);
        let popped = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(popped, Ok(Ok(Control::Stop))));
    }
}
