//! What the outside world may read about a room while it runs
//! (`/api/rooms`): its settings, its counters, its tick times and its
//! players' links. The room task writes it; HTTP handlers read it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tickwire_sim::PlayerId;

use super::PlayerLink;
use crate::stats::{self, PhasePercentiles, TickTimes};

/// What the outside world may read about a room while it runs.
#[derive(Debug)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// The game it runs.
    pub game: String,
    /// Its player limit.
    pub max_players: usize,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Hash of the game's schema (for checking a client's join).
    pub schema_hash: u64,
    /// The room's match: drawn when the room opened, never reused; resume
    /// tokens name it, so none outlives its match.
    pub match_id: u64,
    /// Players in the simulation now, held seats included.
    pub players: AtomicUsize,
    /// Seats held now for players whose connection dropped.
    pub held: AtomicUsize,
    /// The last completed tick.
    pub tick: AtomicU64,
    /// Tick time per phase.
    pub times: Mutex<TickTimes>,
    /// The players' links, for inspection (`/api/rooms?players=1`).
    pub links: Mutex<BTreeMap<PlayerId, Arc<PlayerLink>>>,
    /// Spectators watching now.
    pub spectators: AtomicUsize,
    /// Its spectator limit (`--max-spectators`).
    pub max_spectators: usize,
    /// The file its match is recorded into (`--record`), if it is.
    pub record: Option<std::path::PathBuf>,
}

/// One player as `/api/rooms?players=1` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlayerSummary {
    /// Player id in the match.
    pub player: u32,
    /// Its name.
    pub name: String,
    /// Who admission vouched it is (a ticket's subject), if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Snapshots skipped because its socket was slow.
    pub snapshots_skipped: u64,
    /// Snapshots waiting in its outbox now (0 or 1).
    pub outbox_pending: usize,
    /// Most snapshots ever waiting in its outbox at once (at most 1).
    pub outbox_high_water: u64,
    /// Tick of the last snapshot written to its socket.
    pub baseline_tick: Option<u64>,
    /// Its connection dropped and its seat is held for its resume.
    pub held: bool,
}

/// One room as `/api/rooms` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoomSummary {
    /// The room's name.
    pub room: String,
    /// The game.
    pub game: String,
    /// Players now, held seats included.
    pub players: usize,
    /// Of those, seats held for players whose connection dropped.
    pub held: usize,
    /// Player limit.
    pub max_players: usize,
    /// Last completed tick.
    pub tick: u64,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Tick time of the last 10 to 20 seconds, per phase.
    pub tick_time: BTreeMap<&'static str, PhasePercentiles>,
    /// Per player, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_details: Option<Vec<PlayerSummary>>,
    /// Spectators now (they hold no seat: not in `players`).
    pub spectators: usize,
    /// Spectator limit.
    pub max_spectators: usize,
}

impl RoomInfo {
    /// A summary for `/api/rooms`.
    pub fn summary(&self, with_players: bool) -> RoomSummary {
        let percentiles = self.times.lock().percentiles();
        let tick_time = stats::Phase::ALL
            .iter()
            .zip(percentiles)
            .map(|(p, v)| (p.name(), v))
            .collect();
        let player_details = with_players.then(|| {
            self.links
                .lock()
                .iter()
                .map(|(id, link)| PlayerSummary {
                    player: id.0,
                    name: link.name().to_owned(),
                    identity: link.identity.clone(),
                    snapshots_skipped: link.outbox.skipped(),
                    outbox_pending: link.outbox.pending(),
                    outbox_high_water: link.outbox.high_water(),
                    baseline_tick: link.outbox.written_tick(),
                    held: link.is_held(),
                })
                .collect()
        });
        RoomSummary {
            room: self.name.clone(),
            game: self.game.clone(),
            players: self.players.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            max_players: self.max_players,
            tick: self.tick.load(Ordering::Relaxed),
            tick_rate: self.tick_rate,
            tick_time,
            player_details,
            spectators: self.spectators.load(Ordering::Relaxed),
            max_spectators: self.max_spectators,
        }
    }
}
