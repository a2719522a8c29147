//! The playback: one task that owns the cursor and tells every page what
//! it shows.
//!
//! The viewer shows one playback: every viewer page open on it steers it
//! and sees the same tick (a second tab is a second window on the same
//! playback, not a second playback). The task takes commands from the
//! sockets ([`Command`]): a game page to stream to, a viewer page to
//! report to, or an action of a viewer page ([`Action`]). While playing it
//! steps the match at the playback's snapshot rate; after every step,
//! seek or change it sends each game page its messages
//! ([`PageStream`]) and each viewer page a frame ([`FrameView`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tickwire_sim::PlayerId;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::recorded::Seat;
use super::stream::{Out, PageStream, Showing};
use super::timeline::{Cursor, Timeline};
use super::view::{FrameView, MatchView, Playing};

/// Most snapshots per second the playback sends a game page.
pub const MAX_RATE: u32 = 240;

/// Messages waiting for one viewer page's socket; frames beyond are
/// dropped for that page (the next one says everything again).
pub const VIEWER_QUEUE: usize = 64;

/// What a viewer page asks of the playback: one JSON text message, tagged
/// by `op`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// Show this tick (clamped to the match), paused.
    Seek {
        /// The tick; 0 is before the first.
        tick: u64,
    },
    /// Run on from the shown tick (from the start, at the end).
    Play,
    /// Stop at the shown tick.
    Pause,
    /// Play at this many times the recorded speed (the snapshot rate is
    /// rounded to whole snapshots per second, 1 to [`MAX_RATE`]).
    Speed {
        /// The factor, above 0.
        speed: f64,
    },
    /// Pause and move by this many ticks (negative: back).
    Step {
        /// Ticks to move.
        by: i64,
    },
    /// Show this player's point of view, or everyone's (`null`).
    Follow {
        /// The player's id, or `null`.
        player: Option<u32>,
    },
}

/// What the sockets tell the playback.
#[derive(Debug)]
pub enum Command {
    /// A game page to stream to.
    Page(Box<PageStream>),
    /// A viewer page to report to: its queue.
    Viewer(mpsc::Sender<Out>),
    /// An action, of a viewer page (a refusal goes back to its queue) or
    /// of a game page (a spectator's `Watch`; a refusal is dropped).
    Act(Action, Option<mpsc::Sender<Out>>),
}

/// The shown tick, for pongs: read by the game pages' readers.
#[derive(Debug, Default)]
pub struct ShownTick(AtomicU64);

impl ShownTick {
    /// The shown tick.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The playback task's state: see the module docs.
struct Playback {
    timeline: Arc<Timeline>,
    cursor: Cursor,
    /// The players at the cursor.
    seats: Vec<Seat>,
    playing: bool,
    /// Snapshots per second while playing.
    rate: u32,
    follow: Option<PlayerId>,
    pages: Vec<PageStream>,
    viewers: Vec<mpsc::Sender<Out>>,
    shown: Arc<ShownTick>,
}

/// Runs the playback until `stop` turns true or every command sender is
/// gone. It starts paused before the first tick.
pub async fn run(
    timeline: Arc<Timeline>,
    mut commands: mpsc::Receiver<Command>,
    shown: Arc<ShownTick>,
    mut stop: watch::Receiver<bool>,
) {
    let cursor = timeline.cursor(0);
    let mut playback = Playback {
        seats: timeline.seats(&cursor),
        rate: timeline.tick_rate().clamp(1, MAX_RATE),
        timeline,
        cursor,
        playing: false,
        follow: None,
        pages: Vec::new(),
        viewers: Vec::new(),
        shown,
    };
    let mut next = Instant::now();
    loop {
        let playing = playback.playing;
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => {
                    let was_playing = playback.playing;
                    playback.command(command);
                    if playback.playing && !was_playing {
                        next = Instant::now() + playback.period();
                    }
                }
                None => return,
            },
            () = tokio::time::sleep_until(next), if playing => {
                playback.advance();
                next += playback.period();
                // After a stall, carry on from now rather than rush.
                let now = Instant::now();
                if next + playback.period() * 4 < now {
                    next = now + playback.period();
                }
            }
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            playback.close();
            return;
        }
    }
}

impl Playback {
    /// Time between two snapshots while playing.
    fn period(&self) -> Duration {
        Duration::from_secs(1) / self.rate.max(1)
    }

    fn showing(&self) -> Showing {
        Showing {
            follow: self.follow,
            rate: self.rate,
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Page(page) => {
                let mut page = *page;
                let showing = self.showing();
                let timeline = Arc::clone(&self.timeline);
                if page
                    .start_over(&timeline, &self.cursor, &self.seats, showing, false)
                    .is_ok()
                {
                    self.pages.push(page);
                }
            }
            Command::Viewer(viewer) => {
                let first = serde_json::to_string(&MatchView::new(&self.timeline));
                let frame = self.frame_json();
                if let (Ok(first), Some(frame)) = (first, frame)
                    && viewer.try_send(Out::Text(first)).is_ok()
                    && viewer.try_send(Out::Text(frame)).is_ok()
                {
                    self.viewers.push(viewer);
                }
            }
            Command::Act(action, reply) => {
                if let Err(refused) = self.act(action) {
                    let message = serde_json::json!({"type": "error", "message": refused});
                    if let Some(reply) = reply {
                        let _ = reply.try_send(Out::Text(message.to_string()));
                    }
                }
            }
        }
    }

    /// Carries out one action, then starts every page over at the shown
    /// tick and reports it.
    fn act(&mut self, action: Action) -> Result<(), String> {
        let mut events = false;
        match action {
            Action::Seek { tick } => {
                self.playing = false;
                self.timeline.seek(&mut self.cursor, tick);
            }
            Action::Play => {
                if self.cursor.tick() >= self.timeline.ticks() {
                    self.timeline.seek(&mut self.cursor, 0);
                }
                self.playing = true;
            }
            Action::Pause => self.playing = false,
            Action::Speed { speed } => {
                if !(speed.is_finite() && speed > 0.0) {
                    return Err(format!("a speed is a number above 0, not {speed}"));
                }
                let rate = (f64::from(self.timeline.tick_rate()) * speed).round();
                // In range after the clamp; the cast cannot truncate.
                self.rate = rate.clamp(1.0, f64::from(MAX_RATE)) as u32;
            }
            Action::Step { by } => {
                self.playing = false;
                if by == 1 {
                    events = self.timeline.step(&mut self.cursor);
                } else {
                    let tick = self.cursor.tick().saturating_add_signed(by);
                    self.timeline.seek(&mut self.cursor, tick);
                }
            }
            Action::Follow { player } => {
                let player = player.map(PlayerId);
                if let Some(p) = player
                    && !self.timeline.players().contains_key(&p)
                {
                    return Err(format!("no player {} in this match", p.0));
                }
                self.follow = player;
            }
        }
        self.shown();
        let showing = self.showing();
        let timeline = Arc::clone(&self.timeline);
        let (cursor, seats) = (&self.cursor, &self.seats);
        self.pages.retain_mut(|page| {
            page.start_over(&timeline, cursor, seats, showing, events)
                .is_ok()
        });
        self.report();
        Ok(())
    }

    /// One tick of play: the next tick to every page, or the end.
    fn advance(&mut self) {
        if !self.timeline.step(&mut self.cursor) {
            self.playing = false;
            self.shown();
            let showing = self.showing();
            let timeline = Arc::clone(&self.timeline);
            let (cursor, seats) = (&self.cursor, &self.seats);
            self.pages.retain_mut(|page| {
                page.start_over(&timeline, cursor, seats, showing, false)
                    .is_ok()
            });
            self.report();
            return;
        }
        self.shown();
        let showing = self.showing();
        let timeline = Arc::clone(&self.timeline);
        let (cursor, seats) = (&self.cursor, &self.seats);
        self.pages
            .retain_mut(|page| page.next(&timeline, cursor, seats, showing).is_ok());
        self.report();
    }

    /// Takes in the cursor's new tick: its players, the shown tick.
    fn shown(&mut self) {
        self.cursor.sim().seats(&mut self.seats);
        self.shown.0.store(self.cursor.tick(), Ordering::Relaxed);
    }

    /// The frame of the shown tick, as JSON.
    fn frame_json(&self) -> Option<String> {
        let playing = Playing {
            playing: self.playing,
            rate: self.rate,
            follow: self.follow,
        };
        let frame = FrameView::new(&self.timeline, &self.cursor, &self.seats, playing);
        serde_json::to_string(&frame).ok()
    }

    /// Closes every socket: the viewer is shutting down.
    fn close(&mut self) {
        for page in self.pages.drain(..) {
            page.close();
        }
        for viewer in self.viewers.drain(..) {
            let _ = viewer.try_send(Out::Close(1001, "the viewer is shutting down".into()));
        }
    }

    /// Sends every viewer page the shown tick's frame; drops the pages
    /// whose socket is gone.
    fn report(&mut self) {
        self.viewers.retain(|v| !v.is_closed());
        if self.viewers.is_empty() {
            return;
        }
        let Some(frame) = self.frame_json() else {
            return;
        };
        self.viewers.retain(|viewer| {
            !matches!(
                viewer.try_send(Out::Text(frame.clone())),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }
}
