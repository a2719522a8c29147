//! Sharing of bodies between players.
//!
//! Players whose baselines are the same recorded state and whose snapshots
//! carry the same rows share one encoded body, and the state they will hold
//! is recorded once: an encoder serves every player of a room, tick by
//! tick. A baseline state that only one player holds cannot start anyone
//! else's delta, so such players skip the lookup: in an open world, where
//! views rarely coincide, sharing costs next to nothing. Games without
//! views keep using the room-wide [`crate::ServerHistory`], which shares
//! one body per baseline.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use tickwire_types::NetId;

use super::mix;
use super::tracker::{Held, SentState};
use crate::history::EncodedBody;

/// What the players of a room share within a tick, and which recorded
/// states more than one of them holds.
#[derive(Debug, Default)]
pub(super) struct Sharing {
    /// The tick the shared bodies below belong to.
    tick: Option<u32>,
    /// Identity of the next recorded state.
    next_state: u64,
    /// This tick's encoded bodies by sharing key (see [`share_key`]); only
    /// looked up, never iterated. Cleared when the tick changes.
    index: HashMap<u64, usize, BuildHasherDefault<KeyHasher>>,
    /// This tick's shareable results, indexed by `index`.
    shared: Vec<Shared>,
    /// Fresh states more than one player holds (a body was shared), with
    /// their ticks: only they can start a delta another player shares.
    shared_states: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
}

/// A body encoded this tick, with what it was encoded from.
#[derive(Debug)]
struct Shared {
    /// Identity of the baseline state, `None` for a full snapshot.
    base: Option<u64>,
    /// The state it leaves the client with, and its identity.
    state: SentState,
    /// The body.
    body: EncodedBody,
}

impl Sharing {
    /// Starts sharing the bodies of `tick`, unless it is the current tick.
    #[inline]
    pub(super) fn begin_tick(&mut self, tick: u32) {
        if self.tick != Some(tick) {
            self.tick = Some(tick);
            self.index.clear();
            self.shared.clear();
        }
    }

    /// Forgets the fresh states of ticks before `oldest`, which can no
    /// longer be a baseline.
    pub(super) fn forget_states_before(&mut self, oldest: u32) {
        self.shared_states.retain(|_, t| *t >= oldest);
    }

    /// Whether the fresh state `id` is held by more than one player.
    ///
    /// Out of line on purpose: inlined into the fresh way, its hash lookup
    /// crowded the registers of the per-entity loops there (the open-world
    /// bench's tick took 2% more instructions).
    #[inline(never)]
    pub(super) fn is_shared(&self, id: u64) -> bool {
        !self.shared_states.is_empty() && self.shared_states.contains_key(&state_key(id))
    }

    /// A new state's identity.
    #[inline]
    pub(super) fn next_state_id(&mut self) -> u64 {
        let id = self.next_state;
        self.next_state += 1;
        id
    }

    /// When `shareable`, the body of `tick` kept under `key` from the
    /// baseline `base` whose state `same_state` confirms, and that state,
    /// now held by one more player.
    #[inline]
    pub(super) fn hit(
        &mut self,
        shareable: bool,
        key: u64,
        base: Option<u64>,
        tick: u32,
        same_state: impl FnOnce(&Held) -> bool,
    ) -> Option<(Arc<[u8]>, SentState)> {
        let &i = shareable.then(|| self.index.get(&key)).flatten()?;
        let hit = self
            .shared
            .get(i)
            .filter(|s| s.base == base && same_state(&s.state.held))?;
        let body = hit.body.bytes.clone();
        let state = hit.state.clone();
        self.shared_states.insert(state_key(state.id), tick);
        Some((body, state))
    }

    /// Keeps `bytes`, the body of `tick` against `baseline` (the state
    /// `base`) that leaves the client with `state`, for the players after
    /// this one; returns the kept body.
    pub(super) fn keep(
        &mut self,
        key: u64,
        base: Option<u64>,
        state: SentState,
        tick: u32,
        baseline: Option<u32>,
        bytes: &[u8],
    ) -> Arc<[u8]> {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        self.index.entry(key).or_insert(self.shared.len());
        self.shared.push(Shared {
            base,
            state,
            body: EncodedBody {
                tick,
                baseline,
                bytes: bytes.clone(),
            },
        });
        bytes
    }
}

/// Where a fingerprint of rows starts.
pub(super) const FINGERPRINT_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// The fingerprint of a state that holds exactly the rows `ids`, all fresh
/// (the rows of a budget's selection also mark which wait).
#[inline]
pub(super) fn fingerprint(ids: impl Iterator<Item = NetId>) -> u64 {
    let mut h = FINGERPRINT_SEED;
    for id in ids {
        h = mix(h, u64::from(id.0) << 1);
    }
    h
}

/// The sharing key of a body: its baseline's identity and its rows'
/// fingerprint.
pub(super) fn share_key(base: Option<u64>, fingerprint: u64) -> u64 {
    mix(mix(fingerprint, base.map_or(u64::MAX, |b| b)), 0x9e37_79b9)
}

/// The key of a state identity in `Sharing::shared_states`: mixed (one
/// to one, so identities never collide) for the pass-through hasher.
fn state_key(id: u64) -> u64 {
    mix(id, 0x9e37_79b9_7f4a_7c15)
}

/// A hasher for keys that are already well mixed: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}
