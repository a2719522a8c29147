//! The world: one running match of a [`Game`], driven tick by tick.
//!
//! The world owns everything that makes a match reproducible: the entities,
//! the players (kept in id order, so every walk is in player order), the one
//! seeded RNG, the tick counter and the fixed `dt`. It buffers each
//! player's inputs and applies them at [`Simulation::step`], one per player
//! per tick in sequence order, players in id order; joins and leaves happen
//! when they are called. It implements [`Simulation`], so the server holds
//! any game as a `Box<dyn Simulation>`.
//!
//! One input per tick is what makes client-side prediction exact: a client
//! sends one input per tick and moves its avatar one tick per input, so the
//! server must give every input a tick of its own. Two inputs that arrive
//! between the same two ticks (network or timer jitter) are applied on
//! consecutive ticks, not together; applied together, the first one's tick
//! of movement would be lost and the client, which predicted it, would see
//! its avatar pulled back. A backlog longer than [`MAX_INPUT_BACKLOG`] (a
//! burst after a stall) is caught up at once, so waiting never adds more
//! than that many ticks of delay.
//!
//! One step:
//! 1. clear last tick's events;
//! 2. apply each player's oldest buffered input, and more while more than
//!    [`MAX_INPUT_BACKLOG`] would still wait (player order, then sequence
//!    order);
//! 3. run [`Game::tick`] as tick `n + 1`;
//! 4. rebuild the spatial grid from the new positions, in the slot of the
//!    oldest grid of the history that lag compensation rewinds to
//!    ([`crate::rewind`]; [`World::with_max_rewind`] sets how deep).

pub mod snapshot;

use rand::{RngCore, SeedableRng};

use crate::entities::{Entities, EntityKey};
use crate::game::{Ctx, Game, PlayerSlot, Players, SimRng};
use crate::grid::{Grid, GridItem};
use crate::hash::StateHasher;
use crate::replicate::{
    GameEvent, NetId, PlayerId, PlayerInput, Rect, ReplicatedEntity, Schema, SchemaError,
};
use crate::rewind::{DEFAULT_MAX_REWIND_MS, GridHistory, MAX_REWIND_MS, Rewind, rewind_ticks};
use crate::simulation::{InputTiming, JoinError, Joined, Simulation};
use crate::typed::{Input, Replicate};
use snapshot::SnapshotError;

/// Ticks per second unless a game or the server says otherwise.
pub const DEFAULT_TICK_RATE: u32 = 30;

/// Highest tick rate a world accepts.
pub const MAX_TICK_RATE: u32 = 1000;

/// Inputs buffered per player. When a player sends more, the oldest
/// buffered one is dropped: the newest input is what counts.
pub const MAX_PENDING_INPUTS: usize = 16;

/// Inputs of a player that may wait for a later tick after a step. A step
/// applies a player's oldest input; when more than this many would still
/// wait, it applies the oldest of those too, so a burst of inputs (after a
/// network stall) delays a player by at most this many ticks. Three ticks
/// (100 ms at 30 Hz) absorb arrivals 40 ms early or late (80 ms of
/// spread, bunched up behind late ones since TCP keeps the order) without
/// two inputs ever sharing a tick; two did not.
pub const MAX_INPUT_BACKLOG: usize = 3;

/// Longest player name kept, in characters; longer names are cut.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a world could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    /// The game's schema is malformed.
    #[error("bad schema: {0}")]
    Schema(#[from] SchemaError),
    /// The tick rate is zero or above [`MAX_TICK_RATE`].
    #[error("tick rate must be within 1..={MAX_TICK_RATE}, got {0}")]
    TickRate(u32),
}

/// One running match of the game `G`. See the module docs.
pub struct World<G: Game> {
    /// The rules.
    game: G,
    /// The schema the game declared, validated once.
    schema: Schema,
    /// The seed the RNG started from (kept for recordings).
    seed: u64,
    /// The match's only randomness.
    rng: SimRng,
    /// The entities.
    entities: Entities<G::Entity>,
    /// The players, in id order.
    players: Players,
    /// The next player id to hand out.
    next_player: u32,
    /// Positions at the end of the last tick (the newest grid) and of the
    /// ticks before it, as deep as the max rewind.
    history: GridHistory,
    /// How far back a player's view is believed, in ticks.
    max_rewind: u32,
    /// Whether an entity may have been despawned since the grid's rebuild
    /// (a join or leave between ticks): then a grid entry may name an
    /// entity that is gone, and queries check each one.
    grid_stale: bool,
    /// Events of the last tick, until drained.
    events: Vec<GameEvent>,
    /// How the inputs met the ticks so far (not part of the state).
    input_timing: InputTiming,
    /// Scratch: this tick's inputs in application order.
    inputs: Vec<(PlayerId, EntityKey, PlayerInput)>,
    /// Last completed tick.
    tick: u64,
    /// Ticks per second.
    tick_rate: u32,
    /// Seconds per tick.
    dt: f32,
    /// What [`Simulation::save`] and [`World::restore_snapshot`] call: a
    /// game that opted in to snapshots ([`World::with_snapshots`]) has
    /// them, else nothing.
    snapshots: Option<SnapshotFns<G>>,
}

/// A world's own [`World::save`] and [`World::restore`], kept as plain
/// functions so that code which knows `G` but not that it implements
/// serde (the server, through [`Simulation::save`] and
/// [`World::restore_snapshot`]) reaches them for the games that have them.
struct SnapshotFns<G: Game> {
    save: fn(&World<G>) -> Result<Vec<u8>, SnapshotError>,
    restore: fn(&[u8], &Schema) -> Result<World<G>, SnapshotError>,
}

impl<G: Game> Clone for SnapshotFns<G> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G: Game> Copy for SnapshotFns<G> {}

impl<G: Game> std::fmt::Debug for World<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("game", &self.schema.game)
            .field("tick", &self.tick)
            .field("tick_rate", &self.tick_rate)
            .field("players", &self.players.len())
            .field("entities", &self.entities.len())
            .finish_non_exhaustive()
    }
}

/// A copy of the match, to run on apart from the original: the same
/// steps give both the same states, bit for bit (the RNG is copied with
/// its state). The replay viewer keeps such copies as keyframes to seek
/// from. Needs the game and its entities to be `Clone`, as the derives
/// usually make them.
impl<G: Game + Clone> Clone for World<G>
where
    G::Entity: Clone,
{
    fn clone(&self) -> Self {
        Self {
            game: self.game.clone(),
            schema: self.schema.clone(),
            seed: self.seed,
            rng: self.rng.clone(),
            entities: self.entities.clone(),
            players: self.players.clone(),
            next_player: self.next_player,
            history: self.history.clone(),
            max_rewind: self.max_rewind,
            grid_stale: self.grid_stale,
            events: self.events.clone(),
            input_timing: self.input_timing,
            inputs: Vec::new(),
            tick: self.tick,
            tick_rate: self.tick_rate,
            dt: self.dt,
            snapshots: self.snapshots,
        }
    }
}

/// Lends the world's parts to a game call as a [`Ctx`], borrowing fields
/// separately so the game itself stays callable.
macro_rules! ctx {
    ($w:expr, $tick:expr) => {
        Ctx {
            entities: &mut $w.entities,
            rng: &mut $w.rng,
            grid: $w.history.current(),
            rewind: Rewind {
                history: &$w.history,
                players: &$w.players,
                tick: $tick,
                max: $w.max_rewind,
            },
            events: &mut $w.events,
            dt: $w.dt,
            tick_rate: $w.tick_rate,
            tick: $tick,
            players: &$w.players,
            event_type: core::any::TypeId::of::<G::Event>(),
        }
    };
}

impl<G: Game> World<G> {
    /// A world for `game` at [`DEFAULT_TICK_RATE`], its RNG seeded from
    /// `seed`.
    pub fn new(game: G, seed: u64) -> Result<Self, WorldError> {
        Self::with_tick_rate(game, seed, DEFAULT_TICK_RATE)
    }

    /// A world for `game` ticking `tick_rate` times per second, believing
    /// players' views up to [`DEFAULT_MAX_REWIND_MS`] back.
    pub fn with_tick_rate(game: G, seed: u64, tick_rate: u32) -> Result<Self, WorldError> {
        if tick_rate == 0 || tick_rate > MAX_TICK_RATE {
            return Err(WorldError::TickRate(tick_rate));
        }
        let schema = game.schema();
        schema.validate()?;
        let max_rewind = rewind_ticks(DEFAULT_MAX_REWIND_MS, tick_rate);
        let history = GridHistory::new(game.grid(), max_rewind as usize);
        Ok(Self {
            game,
            schema,
            seed,
            rng: SimRng::seed_from_u64(seed),
            entities: Entities::default(),
            players: Players::default(),
            next_player: 0,
            history,
            max_rewind,
            grid_stale: false,
            events: Vec::new(),
            input_timing: InputTiming::default(),
            inputs: Vec::new(),
            tick: 0,
            tick_rate,
            dt: 1.0 / tick_rate as f32,
            snapshots: None,
        })
    }

    /// The game's rules and constants.
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The entities after the last tick.
    pub fn entities(&self) -> &Entities<G::Entity> {
        &self.entities
    }

    /// This world, believing players' views up to `ticks` back (at most
    /// [`MAX_REWIND_MS`] worth: one second): it keeps that many grids.
    /// A record's setup carries it ([`crate::MatchSetup::max_rewind`]), so
    /// that a replay rewinds as the match did. Set it before the first
    /// step: the history starts over from the newest grid.
    #[must_use]
    pub fn with_max_rewind(mut self, ticks: u32) -> Self {
        self.max_rewind = ticks.min(rewind_ticks(MAX_REWIND_MS, self.tick_rate));
        self.history.set_depth(self.max_rewind as usize);
        self
    }

    /// How far back a player's view is believed, in ticks.
    pub fn max_rewind(&self) -> u32 {
        self.max_rewind
    }

    /// The grid as rebuilt after the last tick.
    pub fn grid(&self) -> &Grid {
        self.history.current()
    }

    /// The grids of the last ticks, the newest first: what lag
    /// compensation rewinds to.
    pub fn history(&self) -> &GridHistory {
        &self.history
    }

    /// The seed the RNG started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        self.dt
    }

    /// The avatar of `player`, if the player is in the match.
    pub fn avatar(&self, player: PlayerId) -> Option<EntityKey> {
        self.players.get(&player).map(|p| p.avatar)
    }

    /// The players in the match, in id order, with their names.
    pub fn players(&self) -> impl Iterator<Item = (PlayerId, &str)> + '_ {
        self.players.iter().map(|(&id, p)| (id, p.name.as_str()))
    }
}

impl<G: Game> Simulation for World<G> {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn tick_rate(&self) -> u32 {
        self.tick_rate
    }

    fn tick(&self) -> u64 {
        self.tick
    }

    fn max_players(&self) -> usize {
        self.game.max_players()
    }

    fn player_count(&self) -> usize {
        self.players.len()
    }

    fn join(&mut self, name: &str) -> Result<Joined, JoinError> {
        let max = self.game.max_players();
        if self.players.len() >= max {
            return Err(JoinError::Full(max));
        }
        let player = PlayerId(self.next_player);
        let name: String = name.chars().take(MAX_NAME_CHARS).collect();
        self.grid_stale = true;
        let mut ctx = ctx!(self, self.tick);
        let result = self.game.join(&mut ctx, player, &name);
        self.entities.compact();
        let avatar = result?;
        let Some(avatar_id) = self.entities.net_id(avatar) else {
            return Err(JoinError::Refused("the game spawned no avatar".into()));
        };
        self.next_player += 1;
        self.players.insert(
            player,
            PlayerSlot {
                name,
                avatar,
                pending: Vec::new(),
                last_applied: None,
                view: 0,
                fed: false,
            },
        );
        Ok(Joined {
            player,
            avatar: avatar_id,
        })
    }

    fn leave(&mut self, player: PlayerId) {
        let Some(slot) = self.players.remove(&player) else {
            return;
        };
        self.grid_stale = true;
        let mut ctx = ctx!(self, self.tick);
        self.game.leave(&mut ctx, player, slot.avatar);
        self.entities.despawn(slot.avatar);
        self.entities.compact();
    }

    fn dropped(&mut self, player: PlayerId) {
        let Some(slot) = self.players.get_mut(&player) else {
            return;
        };
        slot.pending.clear();
        slot.fed = false;
        let avatar = slot.avatar;
        let mut ctx = ctx!(self, self.tick);
        self.game.dropped(&mut ctx, player, avatar);
        self.entities.compact();
    }

    fn input(&mut self, player: PlayerId, input: PlayerInput) {
        let Some(slot) = self.players.get_mut(&player) else {
            return;
        };
        if slot.last_applied.is_some_and(|last| input.seq <= last) {
            return;
        }
        if slot.pending.len() >= MAX_PENDING_INPUTS {
            slot.pending.remove(0);
        }
        slot.fed = true;
        slot.pending.push(input);
    }

    fn step(&mut self) {
        self.events.clear();

        // Inputs, by player then sequence: each player's oldest, and more
        // while the backlog is over its bound; a repeated sequence number
        // counts once.
        let mut inputs = std::mem::take(&mut self.inputs);
        inputs.clear();
        for (&player, slot) in self.players.iter_mut() {
            if slot.pending.is_empty() {
                // Its game runs on with the input before: a tick its client
                // did not predict.
                if slot.fed {
                    self.input_timing.starved += 1;
                }
                continue;
            }
            slot.pending.sort_by_key(|i| i.seq);
            slot.pending.dedup_by_key(|i| i.seq);
            let take = slot.pending.len().saturating_sub(MAX_INPUT_BACKLOG).max(1);
            self.input_timing.bunched += take as u64 - 1;
            for input in slot.pending.drain(..take) {
                slot.last_applied = Some(input.seq);
                // What the game's rewinds go by: the newest input's view.
                slot.view = input.view;
                inputs.push((player, slot.avatar, input));
            }
        }
        let next = self.tick + 1;
        for (player, avatar, input) in &inputs {
            let input = G::Input::from_values(&input.values);
            let mut ctx = ctx!(self, next);
            self.game.input(&mut ctx, *player, *avatar, &input);
        }
        self.inputs = inputs;

        let mut ctx = ctx!(self, next);
        self.game.tick(&mut ctx);
        self.tick = next;
        self.entities.compact();

        let game = &self.game;
        self.history.rebuild(
            next,
            self.entities
                .iter()
                .filter_map(|(key, id, e)| game.position(e).map(|pos| GridItem { key, id, pos })),
        );
        self.grid_stale = false;
    }

    fn replicated(&self, out: &mut Vec<ReplicatedEntity>) {
        for (_, id, e) in self.entities.by_net_id() {
            if let Some(row) = self.game.replicate(e) {
                let (kind, values) = row.quantize();
                out.push(ReplicatedEntity { id, kind, values });
            }
        }
    }

    fn drain_events(&mut self, out: &mut Vec<GameEvent>) {
        out.append(&mut self.events);
    }

    fn last_applied_input(&self, player: PlayerId) -> Option<u32> {
        self.players.get(&player).and_then(|p| p.last_applied)
    }

    fn input_timing(&self) -> InputTiming {
        self.input_timing
    }

    fn view(&self, player: PlayerId) -> Option<Rect> {
        let slot = self.players.get(&player)?;
        let avatar = self.entities.get(slot.avatar)?;
        self.game.view(player, avatar)
    }

    fn client_constants(&self) -> Vec<(String, f32)> {
        self.game.client_constants()
    }

    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        self.game.priority(view, row)
    }

    fn entities_in(&self, rect: Rect, out: &mut Vec<NetId>) {
        // Right after a step the grid lists exactly the live entities; only
        // a join or leave since can leave it naming one that is gone.
        let grid = self.history.current();
        if self.grid_stale {
            grid.ids_in_rect_where(rect, out, |key| self.entities.contains(key));
        } else {
            grid.ids_in_rect(rect, out);
        }
    }

    fn save(&self) -> Option<Result<Vec<u8>, SnapshotError>> {
        self.snapshots.map(|fns| (fns.save)(self))
    }

    fn state_hash(&self) -> u64 {
        let mut h = StateHasher::new();
        h.u64(self.tick);
        // A clone's next draw is a pure function of the RNG's state.
        h.u64(self.rng.clone().next_u64());
        h.u32(self.next_player);
        for (&id, slot) in self.players.iter() {
            h.u32(id.0);
            h.bytes(slot.name.as_bytes());
            h.feed(&self.entities.net_id(slot.avatar));
            h.feed(&slot.last_applied);
            h.u32(slot.view);
            h.u32(slot.pending.len() as u32);
            for i in &slot.pending {
                h.u32(i.seq);
                for &v in &i.values {
                    h.i32(v);
                }
                h.u32(i.view);
            }
        }
        h.u32(self.entities.len() as u32);
        for (_, id, e) in self.entities.by_net_id() {
            h.u32(id.0);
            h.feed(e);
        }
        self.game.hash_state(&mut h);
        h.finish()
    }
}
