//! A player's way out: the write half of its socket, shared by the room and
//! the player's writer task, with a latest-wins snapshot slot in front.
//!
//! As the room's tick encodes each player's snapshot, it offers the frame
//! here ([`Outbox::offer`]). When nothing is waiting for the socket, the
//! room writes the frame itself, without blocking: a socket that keeps up
//! takes the whole frame at once, so the common case costs one `send` and
//! wakes no task. What the socket does not take is left to the player's
//! writer task, which waits for the socket to drain:
//!
//! - the rest of a frame the socket took only part of, which must be
//!   finished before anything else is written;
//! - a snapshot the socket took none of, in the **slot**. The slot holds at
//!   most one snapshot: offering a new one while an older one waits replaces
//!   it and counts a skip. So a slow socket costs the server one frame of
//!   memory, never a queue, and the client simply sees a lower snapshot
//!   rate.
//!
//! The writer task writes everything else after the welcome (events,
//! pongs, pings, closes) through the same outbox ([`Outbox::write`]), after
//! whatever frame is begun, so frames never interleave; the session writes
//! the welcome before it [attaches](Outbox::attach) the socket. A close
//! frame ends the outbox: the room writes nothing after it.
//!
//! Each offer says what became of the snapshot ([`Offered`]), and
//! [`Outbox::written_tick`] is the last snapshot *begun on the socket*: the
//! room reports both to the replication core, which moves the player's
//! baseline. Why skipping is then safe is told with the tick, in
//! `docs/architecture.md`.
//!
//! The room polls the socket with a no-op waker: a socket that would block
//! is the writer task's to wait for, and the room is told nothing. The room
//! task must run outside tokio's cooperative budget
//! (`tokio::task::coop::unconstrained`), or after a hundred-odd writes in one
//! tick every socket would look full.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

/// `written_tick` before any snapshot was written.
const NONE: u64 = u64::MAX;

/// The write half of a player's socket.
pub type SocketWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// One encoded snapshot waiting for the socket.
#[derive(Debug)]
pub struct PendingSnapshot {
    /// The tick it describes; becomes the baseline once begun.
    pub tick: u64,
    /// The whole WebSocket frame: header, snapshot message header, body.
    pub frame: Bytes,
}

/// Snapshot frames the writer task began, and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Frames.
    pub frames: u64,
    /// Bytes, frame headers included.
    pub bytes: u64,
}

/// What became of a snapshot the room offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// The room began it on the socket (and, almost always, finished it):
    /// it is the player's new baseline.
    Written,
    /// It waits in the slot for the writer task.
    Queued,
    /// It waits in the slot, replacing an older one that will never be sent.
    Replaced,
    /// The outbox is closed (a close frame was written, the socket failed,
    /// or the session ended): the snapshot was dropped.
    Closed,
}

struct State {
    /// The socket, once the session has attached it.
    socket: Option<SocketWrite>,
    /// The newest snapshot nothing of which is written yet.
    slot: Option<PendingSnapshot>,
    /// The unwritten rest of a frame begun on the socket.
    rest: Option<Bytes>,
    /// No new frame may begin: a close frame was begun or the session ended.
    closed: bool,
    /// A write failed: the socket is unusable.
    failed: bool,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("socket", &self.socket.is_some())
            .field("slot", &self.slot)
            .field("rest", &self.rest.as_ref().map(Bytes::len))
            .field("closed", &self.closed)
            .field("failed", &self.failed)
            .finish()
    }
}

impl State {
    /// Writes the rest of the frame begun, if any.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some(rest) = self.rest.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if self.failed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            let Some(socket) = self.socket.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            match ready!(Pin::new(socket).poll_write(cx, rest)) {
                Ok(0) => {
                    self.failed = true;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => {
                    rest.advance(n);
                    if rest.is_empty() {
                        self.rest = None;
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }
}

/// The outbox of one player. See the module docs.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer task when the room left it something.
    ready: Notify,
    /// Tick of the last snapshot begun on the socket: the baseline for the
    /// next delta ([`NONE`] until the first).
    written_tick: AtomicU64,
    /// Snapshots replaced before they were written.
    skipped: AtomicU64,
    /// Most snapshots ever held at once; 1 by construction, kept so tests and
    /// operators can see it.
    high_water: AtomicU64,
    /// Frame bytes begun on the socket: snapshots, and the writer's own
    /// frames (the welcome is written before the outbox has the socket).
    bytes: AtomicU64,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// An empty outbox with no socket and no baseline. Until a socket is
    /// attached, snapshots wait in the slot.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                socket: None,
                slot: None,
                rest: None,
                closed: false,
                failed: false,
            }),
            ready: Notify::new(),
            written_tick: AtomicU64::new(NONE),
            skipped: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Attaches the socket's write half. The session attaches it once the
    /// welcome is written, so no snapshot can go before the welcome.
    pub fn attach(&self, socket: SocketWrite) {
        self.state.lock().socket = Some(socket);
        self.ready.notify_one();
    }

    /// Ends the outbox and drops the socket's write half: nothing more is
    /// written, and the socket closes once its read half is dropped too.
    pub fn detach(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.socket = None;
        state.slot = None;
        state.rest = None;
    }

    /// The room's side: the snapshot of `tick`, as one whole WebSocket
    /// frame. Written at once if nothing waits and the socket takes it;
    /// otherwise (copied) into the slot for the writer task.
    pub fn offer(&self, tick: u64, frame: &[u8]) -> Offered {
        let mut state = self.state.lock();
        if state.closed || state.failed {
            return Offered::Closed;
        }
        if state.slot.is_none()
            && state.rest.is_none()
            && let Some(socket) = state.socket.as_mut()
        {
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(socket).poll_write(&mut cx, frame) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let whole = n == frame.len();
                    if !whole {
                        state.rest = Some(Bytes::copy_from_slice(&frame[n..]));
                    }
                    drop(state);
                    self.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
                    self.mark_written(tick);
                    if !whole {
                        self.ready.notify_one();
                    }
                    return Offered::Written;
                }
                // An error, or a socket that takes nothing: the writer
                // task finds out on its next write and ends the session.
                Poll::Ready(_) => {
                    state.failed = true;
                    drop(state);
                    self.ready.notify_one();
                    return Offered::Closed;
                }
                Poll::Pending => {}
            }
        }
        let replaced = state
            .slot
            .replace(PendingSnapshot {
                tick,
                frame: Bytes::copy_from_slice(frame),
            })
            .is_some();
        drop(state);
        if replaced {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        self.high_water.fetch_max(1, Ordering::Relaxed);
        self.ready.notify_one();
        if replaced {
            Offered::Replaced
        } else {
            Offered::Queued
        }
    }

    /// Waits until the room may have left the writer task something.
    /// Cancel-safe: a notification that arrives while nobody waits is kept
    /// for the next call.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The writer task's side: finishes the frame begun and writes the
    /// waiting snapshot, until nothing is left. Counts the snapshots it
    /// began (the room counted the frames it began itself).
    pub async fn write_pending(&self) -> io::Result<Sent> {
        let mut sent = Sent::default();
        poll_fn(|cx| {
            let mut state = self.state.lock();
            if state.failed {
                // The room's write failed: the session ends.
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            loop {
                ready!(state.poll_rest(cx))?;
                let Some(snapshot) = state.slot.take() else {
                    return Poll::Ready(Ok(sent));
                };
                sent.frames += 1;
                sent.bytes += snapshot.frame.len() as u64;
                self.bytes
                    .fetch_add(snapshot.frame.len() as u64, Ordering::Relaxed);
                state.rest = Some(snapshot.frame);
                self.mark_written(snapshot.tick);
            }
        })
        .await
    }

    /// The writer task's side: writes one whole frame of its own after the
    /// frame begun. After a `last` frame (a close) nothing more is written.
    pub async fn write(&self, frame: &[u8], last: bool) -> io::Result<()> {
        let mut begun = false;
        poll_fn(|cx| {
            let mut state = self.state.lock();
            ready!(state.poll_rest(cx))?;
            if begun {
                return Poll::Ready(Ok(()));
            }
            if state.closed || state.failed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            begun = true;
            self.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
            if last {
                state.closed = true;
                state.slot = None;
            }
            // Straight from the caller's buffer; only what the socket does
            // not take now is copied.
            let Some(socket) = state.socket.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let taken = match Pin::new(socket).poll_write(cx, frame) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    state.failed = true;
                    return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Pending => 0,
            };
            if taken == frame.len() {
                return Poll::Ready(Ok(()));
            }
            state.rest = Some(Bytes::copy_from_slice(&frame[taken..]));
            state.poll_rest(cx)
        })
        .await
    }

    /// Whether a close was written or the socket failed.
    pub fn is_closed(&self) -> bool {
        let state = self.state.lock();
        state.closed || state.failed
    }

    fn mark_written(&self, tick: u64) {
        self.written_tick.store(tick, Ordering::Release);
    }

    /// Tick of the last snapshot begun on the socket: the baseline.
    pub fn written_tick(&self) -> Option<u64> {
        match self.written_tick.load(Ordering::Acquire) {
            NONE => None,
            t => Some(t),
        }
    }

    /// Frame bytes begun on the socket so far (snapshots and the writer's
    /// frames; not the welcome).
    pub fn bytes_written(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Snapshots skipped because the socket was slower than the tick.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Snapshots now waiting (0 or 1).
    pub fn pending(&self) -> usize {
        usize::from(self.state.lock().slot.is_some())
    }

    /// Most snapshots ever waiting at once (at most 1).
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` more bytes, then would block
    /// until `room` is raised; it wakes the last writer that waited.
    #[derive(Clone, Default)]
    struct Pipe(std::sync::Arc<Mutex<PipeState>>);

    #[derive(Default)]
    struct PipeState {
        taken: Vec<u8>,
        room: usize,
        fail: bool,
        waiter: Option<Waker>,
    }

    impl Pipe {
        fn with_room(room: usize) -> Self {
            let pipe = Self::default();
            pipe.0.lock().room = room;
            pipe
        }

        fn grow(&self, more: usize) {
            let mut p = self.0.lock();
            p.room += more;
            if let Some(w) = p.waiter.take() {
                w.wake();
            }
        }

        fn taken(&self) -> Vec<u8> {
            self.0.lock().taken.clone()
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut p = self.0.lock();
            if p.fail {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let n = buf.len().min(p.room);
            if n == 0 {
                p.waiter = Some(cx.waker().clone());
                return Poll::Pending;
            }
            p.room -= n;
            p.taken.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn attached(pipe: &Pipe) -> Outbox {
        let outbox = Outbox::new();
        outbox.attach(Box::new(pipe.clone()));
        outbox
    }

    #[test]
    fn a_socket_that_keeps_up_is_written_by_the_room() {
        let pipe = Pipe::with_room(1 << 20);
        let outbox = attached(&pipe);
        assert_eq!(outbox.offer(1, b"one"), Offered::Written);
        assert_eq!(outbox.offer(2, b"two"), Offered::Written);
        assert_eq!(pipe.taken(), b"onetwo");
        assert_eq!(outbox.written_tick(), Some(2));
        assert_eq!((outbox.pending(), outbox.skipped()), (0, 0));
    }

    #[test]
    fn slow_reader_skips_stale_snapshots() {
        let pipe = Pipe::with_room(0);
        let outbox = attached(&pipe);
        assert_eq!(outbox.offer(1, b"1"), Offered::Queued);
        assert_eq!(outbox.offer(2, b"2"), Offered::Replaced);
        assert_eq!(outbox.offer(3, b"3"), Offered::Replaced);
        assert_eq!(outbox.pending(), 1);
        assert_eq!(outbox.skipped(), 2);
        assert_eq!(outbox.high_water(), 1);
        assert_eq!(outbox.written_tick(), None, "nothing was begun");
    }

    #[tokio::test]
    async fn the_writer_finishes_a_frame_begun_before_anything_else() {
        let pipe = Pipe::with_room(2);
        let outbox = attached(&pipe);
        // The room begins tick 1; the socket takes two bytes of it.
        assert_eq!(outbox.offer(1, b"abcdef"), Offered::Written);
        assert_eq!(outbox.written_tick(), Some(1), "begun is the baseline");
        // Tick 2 may not start inside tick 1's frame: it waits.
        assert_eq!(outbox.offer(2, b"XY"), Offered::Queued);
        let writer = outbox.write_pending();
        tokio::pin!(writer);
        assert!(futures_poll(writer.as_mut()).is_pending());
        pipe.grow(100);
        let sent = Sent {
            frames: 1,
            bytes: 2,
        };
        assert!(matches!(futures_poll(writer.as_mut()), Poll::Ready(Ok(s)) if s == sent));
        assert_eq!(pipe.taken(), b"abcdefXY");
        assert_eq!(outbox.written_tick(), Some(2));
    }

    #[tokio::test]
    async fn the_writers_own_frames_follow_the_frame_begun_and_a_close_ends_it() {
        let pipe = Pipe::with_room(3);
        let outbox = attached(&pipe);
        assert_eq!(outbox.offer(1, b"snapshot"), Offered::Written);
        pipe.grow(100);
        let result = outbox.write(b"+welcome", false).await;
        assert!(result.is_ok());
        let result = outbox.write(b"+close", true).await;
        assert!(result.is_ok());
        assert_eq!(pipe.taken(), b"snapshot+welcome+close");
        assert_eq!(outbox.offer(2, b"late"), Offered::Closed);
        assert!(outbox.write(b"x", false).await.is_err());
        assert_eq!(pipe.taken(), b"snapshot+welcome+close");
    }

    #[tokio::test]
    async fn a_writers_frame_the_socket_takes_in_part_is_finished_first() {
        let pipe = Pipe::with_room(2);
        let outbox = attached(&pipe);
        let write = outbox.write(b"welcome", false);
        tokio::pin!(write);
        assert!(futures_poll(write.as_mut()).is_pending());
        // The room may not begin a snapshot inside it.
        assert_eq!(outbox.offer(1, b"S"), Offered::Queued);
        pipe.grow(100);
        assert!(matches!(futures_poll(write.as_mut()), Poll::Ready(Ok(()))));
        assert!(outbox.write_pending().await.is_ok());
        assert_eq!(pipe.taken(), b"welcomeS");
    }

    #[tokio::test]
    async fn a_failed_socket_closes_the_outbox() {
        let pipe = Pipe::with_room(100);
        let outbox = attached(&pipe);
        pipe.0.lock().fail = true;
        assert_eq!(outbox.offer(1, b"x"), Offered::Closed);
        assert!(outbox.is_closed());
        assert!(
            outbox.write_pending().await.is_err(),
            "the writer task learns of it"
        );
        assert!(outbox.write(b"y", false).await.is_err());
        assert_eq!(outbox.offer(2, b"z"), Offered::Closed);
        assert!(pipe.taken().is_empty());
    }

    #[test]
    fn before_a_socket_is_attached_snapshots_wait() {
        let outbox = Outbox::new();
        assert_eq!(outbox.offer(5, b"5"), Offered::Queued);
        assert_eq!(outbox.written_tick(), None);
    }

    #[test]
    fn detaching_drops_everything() {
        let pipe = Pipe::with_room(0);
        let outbox = attached(&pipe);
        outbox.offer(1, b"1");
        outbox.detach();
        assert_eq!(outbox.pending(), 0);
        assert_eq!(outbox.offer(2, b"2"), Offered::Closed);
    }

    /// Polls a future once with a no-op waker.
    fn futures_poll<F: std::future::Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }
}
