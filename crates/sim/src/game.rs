//! The game API: the one trait a game developer implements.
//!
//! A game is a plain struct (its rules and constants) plus an entity type
//! (its state). The [`crate::World`] owns the entities, the players, the RNG
//! and the clock, and calls the game at fixed points:
//!
//! - [`Game::join`] and [`Game::leave`] when a player comes and goes, at the
//!   moment the server calls them, in call order; [`Game::dropped`] when a
//!   player's connection drops and the server holds its seat for a resume;
//! - [`Game::input`] at the start of each tick, for each player's oldest
//!   buffered input (more only to catch up a backlog), ordered by player,
//!   then by sequence number;
//! - [`Game::tick`] once per tick, with a [`Ctx`] that holds everything a
//!   rule may touch;
//! - [`Game::replicate`] after a tick, once per entity, to turn its state
//!   into the quantized row that goes on the wire.
//!
//! The game never sees a clock, a socket or a thread: same seed and same
//! calls give the same state, bit for bit. See `docs/extending.md` for a
//! walk through a whole game.

use glam::Vec2;

use crate::entities::{Entities, EntityKey};
use crate::grid::{Grid, GridSpec};
use crate::hash::{StateHash, StateHasher};
use crate::replicate::{GameEvent, PlayerId, Rect, ReplicatedEntity, Schema};
use crate::rewind::Rewind;
use crate::simulation::JoinError;
use crate::typed::{Event, Input, Replicate};

/// The simulation's random number generator: PCG, seeded from the match
/// seed, owned by the world. Use it through [`rand::Rng`].
pub type SimRng = rand_pcg::Pcg64Mcg;

/// A game's rules. See the module docs for when each method is called.
pub trait Game: Send + 'static {
    /// The state of one entity. Usually an enum with one variant per kind
    /// (`Avatar`, `Projectile`); every field it has is part of the state
    /// hash through its [`StateHash`] impl.
    type Entity: StateHash + Send;

    /// What goes on the wire for an entity: usually an enum with one
    /// variant per kind, `#[derive(Replicate)]`. Its declaration is the
    /// schema's kinds.
    type Row: Replicate;

    /// What a player sends each tick, `#[derive(Input)]`: its declaration
    /// is the schema's input, and clients and bots encode from it.
    type Input: Input;

    /// What players hear once (a kill feed), `#[derive(Event)]`, or
    /// [`crate::NoEvents`]. Emitted with [`Ctx::emit`].
    type Event: Event;

    /// The game's name, as the schema and records carry it.
    const NAME: &'static str;

    /// Everything the game puts on the wire, from its [`Game::Row`],
    /// [`Game::Input`] and [`Game::Event`] types. Called once when the world
    /// is built.
    fn schema(&self) -> Schema {
        Schema::new(
            Self::NAME,
            Self::Row::kinds(),
            Self::Input::fields(),
            Self::Event::events(),
        )
    }

    /// Most players a match of this game accepts. The world refuses further
    /// joins with [`JoinError::Full`].
    fn max_players(&self) -> usize;

    /// A player arrives: spawn its avatar and return its key. The avatar
    /// belongs to the player for the whole session; the world despawns it
    /// after [`Game::leave`].
    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Self::Entity>,
        player: PlayerId,
        name: &str,
    ) -> Result<EntityKey, JoinError>;

    /// A player leaves. The world despawns `avatar` right after this returns;
    /// override to clean up anything else the player owned.
    fn leave(&mut self, ctx: &mut Ctx<'_, Self::Entity>, player: PlayerId, avatar: EntityKey) {
        let _ = (ctx, player, avatar);
    }

    /// `player`'s connection dropped without a leave, and the server holds
    /// its seat and avatar for its resume (`--reconnect-grace`): the player
    /// stays in the match, sends nothing until it resumes, and leaves
    /// ([`Game::leave`]) if it does not in time. Its inputs not yet applied
    /// are dropped before this is called. The default keeps the avatar
    /// idle: it gives [`Game::input`] the neutral input, every field zero
    /// (what an idle client sends). Override to do otherwise (take the
    /// avatar out of play, hand it to a bot).
    fn dropped(&mut self, ctx: &mut Ctx<'_, Self::Entity>, player: PlayerId, avatar: EntityKey) {
        let neutral = Self::Input::from_values(&[0; crate::replicate::MAX_INPUT_FIELDS]);
        self.input(ctx, player, avatar, &neutral);
    }

    /// One input of `player`, whose avatar is `avatar`. Called at the start
    /// of a tick with the player's oldest buffered input: one per player per
    /// tick, so each input is acted on for one tick, as the client predicted
    /// it. Only a backlog over [`crate::world::MAX_INPUT_BACKLOG`] brings
    /// several in one tick, ordered by sequence number; inputs older than
    /// one already applied never arrive. Typically stores the input on the
    /// avatar for [`Game::tick`] to act on, so the newest input wins.
    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Self::Entity>,
        player: PlayerId,
        avatar: EntityKey,
        input: &Self::Input,
    );

    /// Advances the game by one tick of [`Ctx::dt`] seconds.
    fn tick(&mut self, ctx: &mut Ctx<'_, Self::Entity>);

    /// The replicated row of an entity; `None` keeps the entity off the
    /// wire.
    fn replicate(&self, entity: &Self::Entity) -> Option<Self::Row>;

    /// Where the entity is, for the [`Grid`]; `None` leaves it out of the
    /// grid (and so out of every area query, interest included).
    fn position(&self, entity: &Self::Entity) -> Option<Vec2> {
        let _ = entity;
        None
    }

    /// The area and cell size of the grid. Default: [`GridSpec::default`].
    fn grid(&self) -> GridSpec {
        GridSpec::default()
    }

    /// What `player` may see, given its avatar: `None` (the default) means
    /// everything.
    fn view(&self, player: PlayerId, avatar: &Self::Entity) -> Option<Rect> {
        let _ = (player, avatar);
        None
    }

    /// Under a bandwidth budget (`--bandwidth-budget`), how urgent a
    /// change to the replicated `row` is for a player seeing `view`:
    /// changes with a higher weight go first, and every weight is clamped
    /// to `1/8..=1` so that nothing waits for ever. Only players with a
    /// view are budgeted. The default ranks every row alike; a game with
    /// positions usually returns [`crate::nearness`] of the row's position.
    fn priority(&self, view: Rect, row: &ReplicatedEntity) -> f32 {
        let _ = (view, row);
        1.0
    }

    /// Feeds any state the game keeps outside its entities into the state
    /// hash. The default feeds nothing, which is right for a game whose
    /// struct holds only constants and scratch buffers.
    fn hash_state(&self, h: &mut StateHasher) {
        let _ = h;
    }

    /// Named constants a client needs to predict and draw the game, sent to
    /// every player in the welcome: the browser client reads `arena_size`
    /// and `player_speed`. The default sends none.
    fn client_constants(&self) -> Vec<(String, f32)> {
        Vec::new()
    }
}

/// A player as the world tracks it.
#[derive(Clone, Debug)]
pub(crate) struct PlayerSlot {
    /// The name given at join.
    pub(crate) name: String,
    /// The avatar spawned at join.
    pub(crate) avatar: EntityKey,
    /// Inputs received and not yet applied, at most
    /// [`crate::world::MAX_PENDING_INPUTS`].
    pub(crate) pending: Vec<crate::replicate::PlayerInput>,
    /// Sequence number of the newest input applied.
    pub(crate) last_applied: Option<u32>,
    /// The tick the newest input applied says its player was showing (0:
    /// none), for [`Rewind::ticks`].
    pub(crate) view: u32,
    /// Whether the player sends inputs: set by an input, cleared when its
    /// connection drops. A tick that finds such a player with none waiting
    /// counts as [`crate::InputTiming::starved`].
    pub(crate) fed: bool,
}

/// The players of a match, in id order: the ids in a sorted array (a few
/// dozen kilobytes for ten thousand players), the slots beside them. Ids
/// only grow, so a join appends; a leave shifts. Ids are distinct integers
/// in ascending order, so the player `id` sits at most `id - ids[0]` places
/// in: while nobody has left, that place is exactly it (one probe), and
/// otherwise it bounds a bisection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Players {
    /// The ids, ascending.
    ids: Vec<PlayerId>,
    /// `slots[i]` is the player `ids[i]`.
    slots: Vec<PlayerSlot>,
}

impl Players {
    /// How many players.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Where the player `id` is, if present.
    #[inline]
    fn index(&self, id: &PlayerId) -> Option<usize> {
        let first = self.ids.first()?.0;
        let most = usize::try_from(id.0.checked_sub(first)?).ok()?;
        let end = most.min(self.ids.len() - 1);
        if self.ids.get(end) == Some(id) {
            return Some(end);
        }
        self.ids.get(..end)?.binary_search(id).ok()
    }

    /// The player `id`.
    pub(crate) fn get(&self, id: &PlayerId) -> Option<&PlayerSlot> {
        self.slots.get(self.index(id)?)
    }

    /// The player `id`, to change.
    pub(crate) fn get_mut(&mut self, id: &PlayerId) -> Option<&mut PlayerSlot> {
        let i = self.index(id)?;
        self.slots.get_mut(i)
    }

    /// Adds (or replaces) the player `id`.
    pub(crate) fn insert(&mut self, id: PlayerId, slot: PlayerSlot) {
        match self.ids.binary_search(&id) {
            Ok(i) => {
                if let Some(old) = self.slots.get_mut(i) {
                    *old = slot;
                }
            }
            Err(i) => {
                self.ids.insert(i, id);
                self.slots.insert(i, slot);
            }
        }
    }

    /// Removes the player `id`.
    pub(crate) fn remove(&mut self, id: &PlayerId) -> Option<PlayerSlot> {
        let i = self.index(id)?;
        self.ids.remove(i);
        Some(self.slots.remove(i))
    }

    /// The players in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PlayerId, &PlayerSlot)> + '_ {
        self.ids.iter().zip(&self.slots)
    }

    /// The players in id order, to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&PlayerId, &mut PlayerSlot)> + '_ {
        self.ids.iter().zip(&mut self.slots)
    }
}

/// Everything a game may touch during a call: the world, lent for the call.
///
/// The fields are public so that a rule can borrow them separately: walk
/// `ctx.entities` mutably while querying `ctx.grid`, or draw from `ctx.rng`
/// inside a loop over entities.
#[derive(Debug)]
pub struct Ctx<'w, E> {
    /// The entities: spawn, despawn, get, iterate.
    pub entities: &'w mut Entities<E>,
    /// The match's only source of randomness.
    pub rng: &'w mut SimRng,
    /// Where every positioned entity stood when this tick began.
    pub grid: &'w Grid,
    /// Where they stood in the last ticks, and how far back each player saw
    /// them: lag compensation (see [`crate::rewind`]).
    pub rewind: Rewind<'w>,
    /// Events of this tick, as they go on the wire; add with
    /// [`Ctx::emit`].
    pub events: &'w mut Vec<GameEvent>,
    /// Seconds per tick: `1 / tick_rate`.
    pub dt: f32,
    /// Ticks per second.
    pub tick_rate: u32,
    /// In [`Game::tick`], the number of the tick being computed (the first
    /// is 1); elsewhere, the last completed tick.
    pub tick: u64,
    /// The players in the match.
    pub(crate) players: &'w Players,
    /// The game's event type, to check what [`Ctx::emit`] is given.
    pub(crate) event_type: core::any::TypeId,
}

impl<'w, E> Ctx<'w, E> {
    /// The avatar of `player`, if the player is in the match.
    pub fn avatar(&self, player: PlayerId) -> Option<EntityKey> {
        self.players.get(&player).map(|p| p.avatar)
    }

    /// Every player in the match with its avatar, in player order.
    pub fn players(&self) -> impl Iterator<Item = (PlayerId, EntityKey)> + '_ {
        self.players.iter().map(|(&id, p)| (id, p.avatar))
    }

    /// The world as `player` saw it when it sent the input applied last:
    /// where every positioned entity stood at the tick it was showing,
    /// within the max rewind; `None` when that is the present (it claimed
    /// no tick, or this one). See [`Rewind`] for the parts.
    pub fn rewound(&self, player: PlayerId) -> Option<&'w Grid> {
        self.rewind.seen_by(player)
    }

    /// Records an event of this tick: one of the game's [`Game::Event`].
    pub fn emit<V: Event>(&mut self, event: V) {
        debug_assert_eq!(
            core::any::TypeId::of::<V>(),
            self.event_type,
            "emitted an event that is not the game's `Game::Event`"
        );
        self.events.push(event.to_wire());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slot(name: u32) -> PlayerSlot {
        PlayerSlot {
            name: name.to_string(),
            avatar: EntityKey::default(),
            pending: Vec::new(),
            last_applied: None,
            view: 0,
            fed: false,
        }
    }

    proptest! {
        /// Joins append growing ids, leaves remove any: every lookup agrees
        /// with a plain search of what is present.
        #[test]
        fn lookups_find_exactly_the_players_present(
            ops in proptest::collection::vec((any::<bool>(), 0u32..64, 1u32..4), 1..200),
        ) {
            let mut players = Players::default();
            let mut present: Vec<u32> = Vec::new();
            let mut next = 0u32;
            for (join, pick, step) in ops {
                if join || present.is_empty() {
                    next += step;
                    players.insert(PlayerId(next), slot(next));
                    present.push(next);
                } else {
                    let id = present.remove(pick as usize % present.len());
                    prop_assert!(players.remove(&PlayerId(id)).is_some());
                }
                for probe in 0..=next + 1 {
                    let found = players.get(&PlayerId(probe)).map(|s| s.name.clone());
                    let expected = present.contains(&probe).then(|| probe.to_string());
                    prop_assert_eq!(found, expected, "id {}", probe);
                }
                prop_assert_eq!(players.len(), present.len());
            }
        }
    }
}
