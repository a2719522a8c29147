//! The replay viewer: a recorded match in the browser, drawn by the game's
//! own page (`replay FILE --serve`).
//!
//! Nothing of a game's page changes to be viewable: the viewer serves the
//! game's page and the SDK as the game server does, and its `/ws` speaks
//! the game's protocol. Behind that socket there is no room but the
//! record: a [`Timeline`] replays the match once at start (every tick's
//! state hash checked against the recorded one, a copy of the match kept
//! as a keyframe every few seconds, and the replication core run for every
//! player, so that what each player was sent at each tick is known), and
//! one playback task ([`playback`]) moves a [`Cursor`] through the match:
//! playing at a chosen speed, pausing, stepping, seeking from the nearest
//! keyframe. Each game page gets the shown ticks as a live client would
//! ([`stream`]): a welcome, snapshots of the followed player's view (or of
//! everything), the game's events; every jump starts it over with a new
//! welcome and a full snapshot. The viewer's own page (`/viewer/`, from
//! `client-web/viewer/`) holds the game's page in a frame, and steers the
//! playback over a JSON socket (`/viewer/ws`): the timeline with the
//! keyframes and the divergent ticks, the controls, and the followed
//! player's figures. `docs/operations.md` has the routes, the URL scheme
//! and the JSON; `docs/client-sdk.md` what a page needs (nothing, but to
//! connect without a click).
//!
//! ```no_run
//! # async fn example(record: tickwire_sim::record::MatchRecord) -> anyhow::Result<()> {
//! use tickwire::replay::{TimelineOptions, Viewer, ViewerOptions};
//! let games = tickwire::bundled::games();
//! let timeline = games.timeline("room-1", record, TimelineOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let viewer = Viewer::start(timeline, games.served_page(), listener, ViewerOptions::default())?;
//! println!("open {}", viewer.url());
//! viewer.shutdown().await;
//! # Ok(()) }
//! ```

pub mod playback;
pub mod recorded;
pub mod stream;
pub mod timeline;
pub mod view;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

pub use self::playback::Action;
pub use self::recorded::{Replayable, Seat};
pub use self::timeline::{Cursor, Divergence, Figures, Timeline, TimelineOptions, Track};
pub use self::web::{MAX_ACTIONS_PER_SECOND, MAX_PAGE_MESSAGE, MAX_VIEWER_MESSAGE};
use crate::Page;

/// Time a connection has to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Commands waiting for the playback task.
const COMMAND_QUEUE: usize = 256;

/// How the viewer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewerOptions {
    /// Sockets open at once, game pages and viewer pages together; an
    /// upgrade over it gets HTTP 503.
    pub max_connections: usize,
}

impl Default for ViewerOptions {
    /// 16 sockets.
    fn default() -> Self {
        Self {
            max_connections: 16,
        }
    }
}

/// A running viewer: see the module docs.
#[derive(Debug)]
pub struct Viewer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Viewer {
    /// Serves `timeline` on `listener`, with `page` (the game's page) at
    /// `/`. Must be called inside a tokio runtime.
    pub fn start(
        timeline: Timeline,
        page: Page,
        listener: TcpListener,
        options: ViewerOptions,
    ) -> anyhow::Result<Self> {
        page.check()?;
        let addr = listener.local_addr()?;
        let timeline = Arc::new(timeline);
        let (stop, stopped) = watch::channel(false);
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let shown = Arc::new(playback::ShownTick::default());
        let shared = Arc::new(web::Shared {
            timeline: Arc::clone(&timeline),
            page,
            commands,
            shown: Arc::clone(&shown),
            connections: Arc::new(Semaphore::new(options.max_connections.max(1))),
            stop: stopped.clone(),
        });
        let playback = tokio::spawn(playback::run(timeline, receiver, shown, stopped.clone()));
        let accept = tokio::spawn(accept_loop(listener, shared, stopped));
        Ok(Self {
            addr,
            stop,
            tasks: vec![playback, accept],
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The viewer's page: `http://ADDR/viewer/`.
    pub fn url(&self) -> String {
        format!("http://{}/viewer/", self.addr)
    }

    /// Stops accepting, closes every socket with 1001, and returns when the
    /// playback has stopped.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Accepts connections until `stop`, one task per connection.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<web::Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "viewer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| web::route(req, Arc::clone(&shared)));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Some(HEADER_TIMEOUT))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "viewer connection ended with an error");
            }
        });
    }
}
