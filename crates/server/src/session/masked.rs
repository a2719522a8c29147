//! The check that every client frame is masked (RFC 6455 section 5.1: a
//! server must close the connection on an unmasked client frame).
//!
//! The WebSocket library unmasks a masked frame and takes an unmasked one
//! as it is, and keeps whether a frame was masked to itself. So the read
//! half is wrapped in [`MaskCheck`], which follows the frame headers in the
//! bytes read: at a header without the mask bit it hands over the bytes
//! before it, then fails the read with [`Unmasked`], which the reader
//! closes with 1002. Following the headers costs a few comparisons per
//! frame, never a copy.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

/// The error a read fails with at an unmasked frame.
#[derive(Debug, thiserror::Error)]
#[error("an unmasked client frame")]
pub(super) struct Unmasked;

/// Whether a read error is [`Unmasked`].
pub(super) fn is_unmasked(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<Unmasked>())
}

/// Where the bytes read are, in the frames they make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// In a header: its bytes so far (at most 14), and how many.
    Header([u8; 14], usize),
    /// In a payload, this many bytes from its end.
    Payload(u64),
    /// Past an unmasked frame's header: reads fail.
    Unmasked,
}

/// A reader of client frames that fails at the first unmasked one, and
/// measures how long it waited on the peer ([`PeerSilence`]).
#[derive(Debug)]
pub(super) struct MaskCheck<R> {
    inner: R,
    at: At,
    /// Since when the socket had nothing to read, while it has had nothing.
    waiting: Option<Instant>,
    silence: Arc<PeerSilence>,
}

impl<R> MaskCheck<R> {
    pub(super) fn new(inner: R, silence: Arc<PeerSilence>) -> Self {
        Self {
            inner,
            at: At::Header([0; 14], 0),
            waiting: None,
            silence,
        }
    }
}

/// How long, in all, the reader found the peer's socket empty and waited
/// for it: the peer's own pauses. A reader kept from a socket that had data
/// waiting (a busy machine) adds nothing, so the flood check tells a
/// flooder that paused from a reader that stalled (`super::rate`).
#[derive(Debug, Default)]
pub(super) struct PeerSilence(AtomicU64);

impl PeerSilence {
    /// The peer's pauses so far.
    pub(super) fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn add(&self, pause: Duration) {
        let nanos = u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Follows `bytes` from `at`; returns where they end, or, at an unmasked
/// frame, how many of them come before its header.
fn follow(mut at: At, bytes: &[u8]) -> Result<At, usize> {
    let mut i = 0;
    while i < bytes.len() {
        match &mut at {
            At::Unmasked => return Err(0),
            At::Payload(left) => {
                let take = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - i);
                i += take;
                *left -= take as u64;
                if *left == 0 {
                    at = At::Header([0; 14], 0);
                }
            }
            At::Header(head, have) => {
                head[*have] = bytes[i];
                *have += 1;
                i += 1;
                if *have < 2 {
                    continue;
                }
                if head[1] & 0x80 == 0 {
                    // The header began `have` bytes back (maybe in an
                    // earlier read, already handed over).
                    return Err(i.saturating_sub(*have));
                }
                let extra = match head[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                if *have < 2 + extra + 4 {
                    continue;
                }
                let len = match extra {
                    0 => u64::from(head[1] & 0x7f),
                    2 => u64::from(u16::from_be_bytes([head[2], head[3]])),
                    _ => u64::from_be_bytes([
                        head[2], head[3], head[4], head[5], head[6], head[7], head[8], head[9],
                    ]),
                };
                at = if len == 0 {
                    At::Header([0; 14], 0)
                } else {
                    At::Payload(len)
                };
            }
        }
    }
    Ok(at)
}

impl<R: AsyncRead + Unpin> AsyncRead for MaskCheck<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at == At::Unmasked {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, Unmasked)));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => {
                self.waiting.get_or_insert_with(Instant::now);
                return Poll::Pending;
            }
            Poll::Ready(result) => {
                if let Some(since) = self.waiting.take() {
                    self.silence.add(since.elapsed());
                }
                result?;
            }
        }
        let read = &buf.filled()[before..];
        match follow(self.at, read) {
            Ok(at) => self.at = at,
            Err(good) => {
                self.at = At::Unmasked;
                if good == 0 {
                    buf.set_filled(before);
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, Unmasked)));
                }
                buf.set_filled(before + good);
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: fin, `opcode`, masked with a zero key if `masked`.
    fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mask = if masked { 0x80 } else { 0 };
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..=125 => out.push(mask | n as u8),
            n @ 126..=65535 => {
                out.push(mask | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[0; 4]);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn masked_frames_of_every_length_pass_byte_by_byte_or_whole() {
        let mut bytes = frame(2, b"hi", true);
        bytes.extend(frame(2, &[7; 300], true));
        bytes.extend(frame(2, &[], true));
        bytes.extend(frame(9, b"ping", true));
        bytes.extend(frame(2, &[1; 70_000], true));
        assert_eq!(
            follow(At::Header([0; 14], 0), &bytes),
            Ok(At::Header([0; 14], 0))
        );
        let mut at = At::Header([0; 14], 0);
        for b in &bytes {
            at = follow(at, std::slice::from_ref(b)).unwrap_or(At::Unmasked);
        }
        assert_eq!(at, At::Header([0; 14], 0));
    }

    #[test]
    fn an_unmasked_frame_is_found_and_the_frames_before_it_kept() {
        let mut bytes = frame(2, b"hi", true);
        let good = bytes.len();
        bytes.extend(frame(2, b"unmasked", false));
        assert_eq!(follow(At::Header([0; 14], 0), &bytes), Err(good));
        assert_eq!(
            follow(At::Header([0; 14], 0), &frame(9, b"", false)),
            Err(0)
        );
    }

    #[tokio::test]
    async fn a_read_fails_at_an_unmasked_frame() {
        use tokio::io::AsyncReadExt;
        let mut bytes = frame(2, b"ok", true);
        let good = bytes.len();
        bytes.extend(frame(2, b"bad", false));
        let mut reader = MaskCheck::new(std::io::Cursor::new(bytes), Arc::default());
        let mut out = vec![0; 64];
        let n = reader.read(&mut out).await.unwrap_or(0);
        assert_eq!(n, good, "the masked frame is handed over");
        let failed = reader.read(&mut out).await;
        assert!(failed.is_err_and(|e| is_unmasked(&e)));
    }
}
