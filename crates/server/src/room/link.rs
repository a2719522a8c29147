//! What a room and one player's session share: the player's outbox (its
//! way out for snapshots), its bounded input queue (its way in, drained by
//! the tick), and its bounded queue of control messages for its writer
//! task. Every queue here has a bound, and says what happens when full.

use std::collections::VecDeque;

use bytes::Bytes;
use parking_lot::Mutex;
use tickwire_sim::PlayerInput;

use crate::outbox::Outbox;

/// Inputs a player may have queued between two ticks; older ones are
/// dropped first (the newest input is the one that matters) and counted.
pub const INPUT_QUEUE: usize = 16;

/// Control messages (pongs, events) a player may have queued for its
/// writer. Past it, events and pongs are dropped (and counted); the final
/// messages of a connection (its error, close or stop) always go in.
pub const CONTROL_QUEUE: usize = 64;

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
    /// Stop without writing anything (the peer is gone).
    Stop,
}

/// A player's queue of [`Control`] messages for its writer task: bounded
/// by [`CONTROL_QUEUE`] and empty most of the time, so it holds no memory
/// until used (a channel would keep a block of slots per player) and gives
/// back what a burst took.
#[derive(Debug, Default)]
pub struct ControlQueue {
    items: Mutex<VecDeque<Control>>,
    ready: tokio::sync::Notify,
}

impl ControlQueue {
    /// Queues `item` unless [`CONTROL_QUEUE`] items wait; returns whether
    /// it was queued.
    pub fn try_push(&self, item: Control) -> bool {
        let mut items = self.items.lock();
        if items.len() >= CONTROL_QUEUE {
            return false;
        }
        items.push_back(item);
        drop(items);
        self.ready.notify_one();
        true
    }

    /// Queues one of a connection's last messages (its error, close or
    /// stop), over the bound if need be: each connection has only a few.
    pub fn push_final(&self, item: Control) {
        self.items.lock().push_back(item);
        self.ready.notify_one();
    }

    /// The next item, waiting for one. Cancel-safe: an item stays queued
    /// until it is returned.
    pub async fn pop(&self) -> Control {
        loop {
            {
                let mut items = self.items.lock();
                if let Some(item) = items.pop_front() {
                    if items.is_empty() && items.capacity() > 8 {
                        // A burst is over: give its memory back.
                        items.shrink_to(8);
                    }
                    return item;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the room and a player's session share.
#[derive(Debug)]
pub struct PlayerLink {
    /// Name the player gave (sanitised).
    pub name: String,
    /// Who admission vouched the player is (a ticket's subject), if anyone.
    pub identity: Option<String>,
    /// The newest unsent snapshot and the player's baseline.
    pub outbox: Outbox,
    /// Inputs received since the last tick, at most [`INPUT_QUEUE`].
    inputs: Mutex<VecDeque<PlayerInput>>,
    /// To the player's writer task.
    pub control: ControlQueue,
}

impl PlayerLink {
    /// A link for a new session.
    pub fn new(name: String) -> Self {
        Self {
            name,
            identity: None,
            outbox: Outbox::new(),
            inputs: Mutex::new(VecDeque::with_capacity(INPUT_QUEUE)),
            control: ControlQueue::default(),
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
            q.items.lock().capacity() <= 8,
            "the burst's memory is given back"
        );
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
