//! Snapshots: a world's full state as bytes, to continue the match from
//! elsewhere (another process, another node), bit for bit.
//!
//! [`World::save`] writes everything a later tick depends on: the game
//! struct, the entities (every storage slot's version and the order the
//! free slots are reused in, so that later spawns get the same slots and
//! keys), the RNG's state, the tick, tick rate and seed, the players (ids,
//! names, avatars, buffered inputs, last applied input, viewed tick,
//! whether they send inputs) and the next player id, the grids lag
//! compensation rewinds to and the max rewind, and the events of the last
//! tick not yet drained. [`World::restore`] builds the world back: the same
//! further calls give it the same [`Simulation::state_hash`] and the same
//! replicated rows tick after tick as the original.
//!
//! Not in it: the counters of [`Simulation::input_timing`] (statistics,
//! which start over at zero) and scratch buffers (a game marks its own
//! `#[serde(skip)]`).
//!
//! A game opts in with serde: its game struct and its entity type implement
//! `Serialize` and `Deserialize`. A game that does not still builds and
//! runs; it has no `save`, and [`Simulation::save`] answers `None`.
//!
//! The bytes: the mark `TWSS`, then a header (format version, game name,
//! schema hash) and the body, both in bincode's standard configuration.
//! Restoring reads the header first and refuses a snapshot of another
//! format, game or schema before decoding the body. A decode never reads
//! past [`MAX_SNAPSHOT_BYTES`], never panics, and checks what it read
//! (versions against occupancy, the free list, player order, the grid
//! history's depth) before building anything from it.

use bincode::config::{Config, standard};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{MAX_NAME_CHARS, MAX_PENDING_INPUTS, MAX_TICK_RATE, World};
use crate::entities::{Entities, EntitiesSnapshot, EntityKey};
use crate::game::{Game, PlayerSlot, Players, SimRng};
use crate::replicate::{GameEvent, MAX_FIELDS, MAX_INPUT_FIELDS, PlayerId, PlayerInput, Schema};
use crate::rewind::{GridHistory, HistorySnapshot, MAX_REWIND_MS, rewind_ticks};
use crate::simulation::InputTiming;
#[cfg(doc)]
use crate::simulation::Simulation;

/// The first bytes of every snapshot.
pub const SNAPSHOT_MARK: [u8; 4] = *b"TWSS";

/// The snapshot format this build writes and reads. A change to what a
/// snapshot holds, or to how, bumps it.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The most bytes a snapshot may have, and a decode may claim: 64 MiB.
pub const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with [`SNAPSHOT_MARK`].
    #[error("not a snapshot: the bytes do not start with the snapshot mark")]
    NotASnapshot,
    /// The snapshot is of a format this build does not read.
    #[error("snapshot format {found}, this build reads format {expected}")]
    Format {
        /// The snapshot's format.
        found: u32,
        /// [`SNAPSHOT_FORMAT`].
        expected: u32,
    },
    /// The snapshot is of another game.
    #[error("snapshot of the game `{found}`, expected `{expected}`")]
    Game {
        /// The snapshot's game.
        found: String,
        /// The game asked for.
        expected: String,
    },
    /// The snapshot is of another schema of the same game (another
    /// version, or a config that changes what is replicated).
    #[error(
        "snapshot of another schema of `{game}`: hash {found:#018x}, expected {expected:#018x}"
    )]
    Schema {
        /// The game.
        game: String,
        /// The snapshot's schema hash.
        found: u64,
        /// The hash of the schema asked for.
        expected: u64,
    },
    /// The snapshot is longer than [`MAX_SNAPSHOT_BYTES`].
    #[error("snapshot of {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_SNAPSHOT_BYTES`].
        max: usize,
    },
    /// The state could not be encoded (a game's `Serialize` failed, or it
    /// came to more than [`MAX_SNAPSHOT_BYTES`]).
    #[error("cannot encode the snapshot: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are truncated or malformed.
    #[error("cannot decode the snapshot: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Bytes follow the snapshot's end.
    #[error("{0} bytes after the end of the snapshot")]
    Trailing(usize),
    /// The bytes decode, but describe no world this build could have
    /// saved.
    #[error("inconsistent snapshot: {0}")]
    Invalid(&'static str),
}

/// How a snapshot is encoded: bincode's standard configuration, and no
/// decode claims more than [`MAX_SNAPSHOT_BYTES`].
fn config() -> impl Config {
    standard().with_limit::<MAX_SNAPSHOT_BYTES>()
}

/// What a snapshot says it is, read before the body.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// [`SNAPSHOT_FORMAT`] when written.
    format: u32,
    /// The game's name ([`Schema::game`]).
    game: String,
    /// [`Schema::hash`].
    schema_hash: u64,
}

/// A buffered input: sequence number, values, viewed tick.
type InputSnapshot = (u32, [i32; MAX_INPUT_FIELDS], u32);

/// One player.
#[derive(Debug, Serialize, Deserialize)]
struct PlayerSnapshot {
    /// Its id.
    id: PlayerId,
    /// Its name.
    name: String,
    /// Its avatar.
    avatar: EntityKey,
    /// Its inputs not yet applied, in arrival order.
    pending: Vec<InputSnapshot>,
    /// The sequence number of its newest input applied.
    last_applied: Option<u32>,
    /// The tick its newest applied input showed.
    view: u32,
    /// Whether it sends inputs.
    fed: bool,
}

/// An event not yet drained: its kind and values.
type EventSnapshot = (u8, [i32; MAX_FIELDS]);

/// A world's state. `G` and `E` are the game and its entity (restoring) or
/// references to them (saving).
#[derive(Debug, Serialize, Deserialize)]
struct Body<'a, G, E> {
    /// The game struct.
    game: G,
    /// The seed the RNG started from.
    seed: u64,
    /// The RNG, as it stands.
    rng: SimRng,
    /// The entities.
    entities: EntitiesSnapshot<E>,
    /// The players, in id order.
    players: Vec<PlayerSnapshot>,
    /// The next player id.
    next_player: u32,
    /// The grids lag compensation rewinds to.
    history: HistorySnapshot<'a>,
    /// How far back a view is believed, in ticks.
    max_rewind: u32,
    /// Whether the newest grid may name despawned entities.
    grid_stale: bool,
    /// The last tick's events not yet drained.
    events: Vec<EventSnapshot>,
    /// The last completed tick.
    tick: u64,
    /// Ticks per second.
    tick_rate: u32,
}

impl<G> World<G>
where
    G: Game + Serialize + DeserializeOwned,
    G::Entity: Serialize + DeserializeOwned,
{
    /// The world's full state as bytes (see the module docs), for
    /// [`World::restore`] to continue from. Taken between ticks; events
    /// not yet drained are in it, so take it after
    /// [`Simulation::drain_events`] for a restored world to emit each
    /// event once.
    pub fn save(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut out = SNAPSHOT_MARK.to_vec();
        let header = Header {
            format: SNAPSHOT_FORMAT,
            game: self.schema.game.clone(),
            schema_hash: self.schema.hash(),
        };
        bincode::serde::encode_into_std_write(&header, &mut out, config())?;
        let body = Body {
            game: &self.game,
            seed: self.seed,
            rng: self.rng.clone(),
            entities: self.entities.to_snapshot(),
            players: self
                .players
                .iter()
                .map(|(&id, p)| PlayerSnapshot {
                    id,
                    name: p.name.clone(),
                    avatar: p.avatar,
                    pending: p
                        .pending
                        .iter()
                        .map(|i| (i.seq, i.values, i.view))
                        .collect(),
                    last_applied: p.last_applied,
                    view: p.view,
                    fed: p.fed,
                })
                .collect(),
            next_player: self.next_player,
            history: self.history.to_snapshot(),
            max_rewind: self.max_rewind,
            grid_stale: self.grid_stale,
            events: self.events.iter().map(|e| (e.kind, e.values)).collect(),
            tick: self.tick,
            tick_rate: self.tick_rate,
        };
        bincode::serde::encode_into_std_write(&body, &mut out, config())?;
        if out.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge {
                len: out.len(),
                max: MAX_SNAPSHOT_BYTES,
            });
        }
        Ok(out)
    }

    /// The world `bytes` ([`World::save`]'s) describe, refused unless it
    /// is a snapshot of this build's format of the game and schema
    /// `expected` (the game's own [`Game::schema`], as a fresh world of it
    /// has). The restored world continues the match exactly, and can save
    /// in turn ([`Simulation::save`]).
    pub fn restore(bytes: &[u8], expected: &Schema) -> Result<Self, SnapshotError> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge {
                len: bytes.len(),
                max: MAX_SNAPSHOT_BYTES,
            });
        }
        let rest = bytes
            .strip_prefix(&SNAPSHOT_MARK)
            .ok_or(SnapshotError::NotASnapshot)?;
        let (header, read): (Header, usize) = bincode::serde::decode_from_slice(rest, config())?;
        if header.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                found: header.format,
                expected: SNAPSHOT_FORMAT,
            });
        }
        if header.game != expected.game {
            return Err(SnapshotError::Game {
                found: header.game,
                expected: expected.game.clone(),
            });
        }
        let expected_hash = expected.hash();
        if header.schema_hash != expected_hash {
            return Err(SnapshotError::Schema {
                game: header.game,
                found: header.schema_hash,
                expected: expected_hash,
            });
        }
        let rest = rest.get(read..).unwrap_or_default();
        let (body, read): (Body<'static, G, G::Entity>, usize) =
            bincode::serde::decode_from_slice(rest, config())?;
        if read != rest.len() {
            return Err(SnapshotError::Trailing(rest.len() - read));
        }
        Self::from_body(body, expected_hash)
    }

    /// The world a decoded body describes, checked.
    fn from_body(
        body: Body<'static, G, G::Entity>,
        schema_hash: u64,
    ) -> Result<Self, SnapshotError> {
        use SnapshotError::Invalid;
        let schema = body.game.schema();
        if schema.validate().is_err() || schema.hash() != schema_hash {
            return Err(Invalid("the game's schema is not the header's"));
        }
        let tick_rate = body.tick_rate;
        if tick_rate == 0 || tick_rate > MAX_TICK_RATE {
            return Err(Invalid("tick rate out of range"));
        }
        if body.max_rewind > rewind_ticks(MAX_REWIND_MS, tick_rate) {
            return Err(Invalid("max rewind out of range"));
        }
        if body.history.newest_tick != body.tick {
            return Err(Invalid("the newest grid is not of the last tick"));
        }
        let history =
            GridHistory::from_snapshot(body.game.grid(), body.max_rewind as usize, body.history)
                .map_err(Invalid)?;
        let entities = Entities::from_snapshot(body.entities).map_err(Invalid)?;
        let mut players = Players::default();
        let mut last = None;
        for p in body.players {
            if last.is_some_and(|l: PlayerId| l >= p.id) || p.id.0 >= body.next_player {
                return Err(Invalid("player ids out of order or not yet handed out"));
            }
            if p.name.chars().count() > MAX_NAME_CHARS || p.pending.len() > MAX_PENDING_INPUTS {
                return Err(Invalid("a player's name or input buffer is over its limit"));
            }
            last = Some(p.id);
            let pending = p
                .pending
                .into_iter()
                .map(|(seq, values, view)| PlayerInput { seq, values, view })
                .collect();
            players.insert(
                p.id,
                PlayerSlot {
                    name: p.name,
                    avatar: p.avatar,
                    pending,
                    last_applied: p.last_applied,
                    view: p.view,
                    fed: p.fed,
                },
            );
        }
        if body
            .events
            .iter()
            .any(|e| usize::from(e.0) >= schema.events.len())
        {
            return Err(Invalid("an event of a kind the schema does not declare"));
        }
        Ok(Self {
            game: body.game,
            schema,
            seed: body.seed,
            rng: body.rng,
            entities,
            players,
            next_player: body.next_player,
            history,
            max_rewind: body.max_rewind,
            grid_stale: body.grid_stale,
            events: body
                .events
                .into_iter()
                .map(|(kind, values)| GameEvent { kind, values })
                .collect(),
            input_timing: InputTiming::default(),
            inputs: Vec::new(),
            tick: body.tick,
            tick_rate,
            dt: 1.0 / tick_rate as f32,
            snapshots: Some(Self::snapshot_fns()),
        })
    }

    /// This world, answering [`Simulation::save`] with [`World::save`]:
    /// how a game that opts in to snapshots lets the server (which holds
    /// it as a `dyn Simulation`) take them. A restored world already does.
    #[must_use]
    pub fn with_snapshots(mut self) -> Self {
        self.snapshots = Some(Self::snapshot_fns());
        self
    }

    fn snapshot_fns() -> super::SnapshotFns<G> {
        super::SnapshotFns {
            save: Self::save,
            restore: Self::restore,
        }
    }
}

impl<G: Game> World<G> {
    /// Whether this world's game opted in to snapshots
    /// ([`World::with_snapshots`]).
    pub fn has_snapshots(&self) -> bool {
        self.snapshots.is_some()
    }

    /// A world of the same game restored from `bytes`, as
    /// [`World::restore`] does against this world's schema: the way to
    /// restore for code that holds a world of `G` (a fresh one will do)
    /// without knowing whether `G` implements serde. `None` when the game
    /// did not opt in to snapshots.
    pub fn restore_snapshot(&self, bytes: &[u8]) -> Option<Result<Self, SnapshotError>> {
        self.snapshots.map(|fns| (fns.restore)(bytes, &self.schema))
    }
}
