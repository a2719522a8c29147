//! The writer task: everything the session writes after the welcome.
//!
//! The write half belongs to the player's [`Outbox`]:
//! the room writes snapshots to it directly while the socket keeps up. The
//! writer writes everything else through the outbox. It serves, in order
//! of priority: shutdown (the protocol error 4006, then close 1001), the bounded control queue (pongs,
//! events, and the closes the reader asks for), whatever the room left it
//! (a snapshot the socket could not take at once, or the rest of one it
//! took in part), and its ping timer, which also closes a connection that
//! has been silent past the idle timeout. It stops after writing any close
//! frame, and the outbox writes nothing after one, so a close is never
//! written twice and never followed. A frame write that does not complete
//! within the outbox lag means the socket is unwritable: the connection is
//! dropped. How it stopped goes to [`super::close::finish`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fastwebsockets::OpCode;
use tokio::sync::watch;
use tokio::time::Instant;

use super::close::{self, End, close_reason};
use super::millis_since;
use crate::outbox::Outbox;
use crate::room::{Control, PlayerLink};
use crate::{Shared, frame, stats, wire};

/// What the writer serves next.
enum Next {
    Control(Control),
    Snapshot,
    Ping,
    Shutdown,
}

/// A frame composed into the writer's buffer: whether it is a close, and
/// how the session ends once a close is written (`None`: the reader knows
/// why).
type Composed = (bool, Option<End>);

/// The writer task. Returns how the connection ended, or `None` when the
/// reader knows (it asked for the close, or the socket failed under us).
pub(super) async fn write_loop(
    link: &PlayerLink,
    shutdown: &mut watch::Receiver<bool>,
    shared: &Shared,
    last_heard: &AtomicU64,
    epoch: Instant,
) -> Option<End> {
    let outbox = &link.outbox;
    let lag = shared.config.outbox_lag;
    let idle = shared.config.idle_timeout;
    let mut ping = tokio::time::interval_at(Instant::now() + idle / 3, idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.changed() => Next::Shutdown,
            item = link.control.pop() => Next::Control(item),
            () = outbox.ready() => Next::Snapshot,
            _ = ping.tick() => Next::Ping,
        };
        // The frame to write (into `out`).
        out.clear();
        let (closing, end): Composed = match next {
            Next::Shutdown => {
                // The protocol's error first, as before every close with a
                // reason; both frames in one write.
                let reason = "server shutting down";
                let error = wire::encode_error(wire::error_code::SHUTDOWN, reason);
                frame::push(&mut out, OpCode::Binary, &error);
                frame::push_close(&mut out, close::GOING_AWAY, reason.as_bytes());
                (true, Some(End::Shutdown))
            }
            // `None`: stop without writing.
            Next::Control(control) => compose_control(control, &mut out)?,
            Next::Snapshot => match write_snapshot(outbox, lag).await {
                Ok(()) => continue,
                Err(end) => return end,
            },
            Next::Ping => {
                let silent = millis_since(epoch).saturating_sub(last_heard.load(Ordering::Relaxed));
                compose_ping(Duration::from_millis(silent) >= idle, epoch, &mut out)
            }
        };
        let len = out.len();
        match tokio::time::timeout(lag, outbox.write(&out, closing)).await {
            Ok(Ok(())) => {}
            // Not done within the outbox lag: the socket is unwritable. A
            // cancelled write leaves it mid-frame; the outbox is closed
            // with the session.
            Err(_) => return Some(End::WriteTimeout),
            // The peer is gone; the reader sees how.
            Ok(Err(_)) => return None,
        }
        count_out(len);
        if closing {
            return end;
        }
    }
}

/// Composes a control item's frame into `out`; `None` for
/// [`Control::Stop`], which writes nothing.
fn compose_control(control: Control, out: &mut Vec<u8>) -> Option<Composed> {
    Some(match control {
        Control::Message(bytes) => {
            frame::push(out, OpCode::Binary, &bytes);
            (false, None)
        }
        Control::WsPong(bytes) => {
            frame::push(out, OpCode::Pong, &bytes);
            (false, None)
        }
        Control::CloseEcho(bytes) => {
            frame::push(out, OpCode::Close, &bytes);
            (true, Some(End::peer_closed(&bytes)))
        }
        Control::Close(code, reason) => {
            frame::push_close(out, code, close_reason(&reason));
            (true, None)
        }
        Control::Operator(kind, reason) => {
            let (code, error, end) = close::operator_close(kind);
            frame::push(out, OpCode::Binary, &wire::encode_error(error, &reason));
            frame::push_close(out, code, close_reason(&reason));
            (true, Some(end))
        }
        Control::Stop => return None,
    })
}

/// A ping, or the idle close if the peer has been silent too long.
fn compose_ping(idle: bool, epoch: Instant, out: &mut Vec<u8>) -> Composed {
    if idle {
        frame::push_close(
            out,
            close::POLICY_VIOLATION,
            b"idle timeout: nothing received",
        );
        (true, Some(End::Idle))
    } else {
        frame::push(out, OpCode::Ping, &super::ping_payload(epoch));
        (false, None)
    }
}

/// Writes what the room left in the outbox. `Err` ends the writer with
/// its result.
async fn write_snapshot(outbox: &Outbox, lag: Duration) -> Result<(), Option<End>> {
    match tokio::time::timeout(lag, outbox.write_pending()).await {
        Ok(Ok(written)) => {
            if written.frames > 0 {
                metrics::counter!(stats::FRAMES_OUT).increment(written.frames);
                metrics::counter!(stats::BYTES_OUT).increment(written.bytes);
            }
            Ok(())
        }
        Ok(Err(_)) => Err(None),
        Err(_) => Err(Some(End::WriteTimeout)),
    }
}

/// Counts one frame of `bytes` written.
pub(super) fn count_out(bytes: usize) {
    metrics::counter!(stats::FRAMES_OUT).increment(1);
    metrics::counter!(stats::BYTES_OUT).increment(bytes as u64);
}
