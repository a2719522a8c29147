//! The type-erased face of a running match, as the server drives it.
//!
//! A game developer implements [`crate::Game`]; the world wraps it into
//! something that implements [`Simulation`], so the server can hold any game
//! as a `Box<dyn Simulation>` and never learn its types. One call to
//! [`Simulation::step`] is one tick.

use crate::replicate::{
    GameEvent, Interest, NetId, PlayerId, PlayerInput, Rect, ReplicatedEntity, Schema,
};

/// What a successful join gives the server to tell the player.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The player's id in this match.
    pub player: PlayerId,
    /// The entity the player controls.
    pub avatar: NetId,
}

/// Why a join was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoinError {
    /// The match already holds its player limit.
    #[error("room is full ({0} players)")]
    Full(usize),
    /// The game refused for its own reason.
    #[error("join refused: {0}")]
    Refused(String),
}

/// How a match's inputs met its ticks, counted since it began. A client
/// that predicts its own entity applies each of its inputs in a tick of its
/// own; the server does too while inputs arrive one a tick. When they do
/// not (a stall on the way, then a burst), the prediction misses by a tick
/// of movement, and these say how often (see [`crate::world`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputTiming {
    /// Inputs applied in the same tick as an earlier input of the same
    /// player: a backlog caught up after a stall.
    pub bunched: u64,
    /// Ticks that found a player who sends inputs with none waiting, so its
    /// game ran on with the one before.
    pub starved: u64,
}

/// A running match, driven one tick at a time.
///
/// Calls between two `step`s are recorded in call order, so a replay that
/// makes the same calls reaches the same state. Inputs are buffered and
/// applied at the next `step` ordered by player, then sequence number.
pub trait Simulation: Send + std::fmt::Debug {
    /// The replicated-entity schema of this game.
    fn schema(&self) -> &Schema;
    /// Ticks per second.
    fn tick_rate(&self) -> u32;
    /// Number of the last completed tick (0 before the first step).
    fn tick(&self) -> u64;
    /// Most players this match accepts.
    fn max_players(&self) -> usize;
    /// Players now in the match.
    fn player_count(&self) -> usize;
    /// Adds a player, spawning its avatar.
    fn join(&mut self, name: &str) -> Result<Joined, JoinError>;
    /// Removes a player and its avatar. Unknown players are ignored.
    fn leave(&mut self, player: PlayerId);
    /// The player's connection dropped and the server holds its seat: its
    /// buffered inputs are dropped and the game is told
    /// ([`crate::Game::dropped`]; by default the avatar idles). Unknown
    /// players are ignored. The default does nothing, for a simulation
    /// that holds no seats; a wrapper forwards it.
    fn dropped(&mut self, player: PlayerId) {
        let _ = player;
    }
    /// Buffers an input. A step applies one input per player (the oldest
    /// buffered), so every input gets a tick of its own; see
    /// [`crate::world`]. Unknown players are ignored.
    fn input(&mut self, player: PlayerId, input: PlayerInput);
    /// Runs one tick.
    fn step(&mut self);
    /// Appends the replicated state after the last tick, sorted by id.
    fn replicated(&self, out: &mut Vec<ReplicatedEntity>);
    /// Moves the events of the last tick into `out`.
    fn drain_events(&mut self, out: &mut Vec<GameEvent>);
    /// Sequence number of the newest input of `player` applied so far.
    fn last_applied_input(&self, player: PlayerId) -> Option<u32>;
    /// How the players' inputs met the ticks since the match began: the
    /// ticks a client's prediction of its own entity could not foresee.
    /// The default counts nothing, for a simulation that does not know.
    fn input_timing(&self) -> InputTiming {
        InputTiming::default()
    }
    /// What `player` may see, or `None` to see everything.
    fn view(&self, player: PlayerId) -> Option<Rect>;
    /// A hash of the full simulation state after the last tick.
    fn state_hash(&self) -> u64;
    /// Appends the ids of the entities inside `rect` after the last tick,
    /// in no particular order: the spatial query behind interest
    /// management. The default appends nothing, for a simulation without a
    /// spatial index; [`crate::World`] answers from its grid.
    fn entities_in(&self, rect: Rect, out: &mut Vec<NetId>) {
        let _ = (rect, out);
    }
    /// Under a bandwidth budget, how urgent a change to `row` is for a
    /// player seeing `view` (higher first); [`crate::Game::priority`]
    /// declares it. The default ranks every row alike.
    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        let _ = (view, row);
        1.0
    }
    /// The match's full state as a snapshot ([`crate::snapshot`]), to
    /// continue it elsewhere with `World::restore`; `None` for a game that
    /// does not opt in to snapshots (or a simulation that is not a world).
    fn save(&self) -> Option<Result<Vec<u8>, crate::snapshot::SnapshotError>> {
        None
    }

    /// Named constants a client needs to predict and draw the game (the
    /// arena's size, the avatars' speed), sent in the welcome. The default
    /// has none.
    fn client_constants(&self) -> Vec<(String, f32)> {
        Vec::new()
    }
}

/// The replication core (in the protocol crate) asks a running match about
/// its players through [`Interest`]; every simulation answers it.
impl Interest for dyn Simulation + '_ {
    fn view(&self, player: PlayerId) -> Option<Rect> {
        Simulation::view(self, player)
    }

    fn entities_in(&self, view: Rect, out: &mut Vec<NetId>) {
        Simulation::entities_in(self, view, out);
    }

    fn last_applied_input(&self, player: PlayerId) -> Option<u32> {
        Simulation::last_applied_input(self, player)
    }

    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        Simulation::priority(self, view, row)
    }
}
