//! The entity store: a game's entities, each with a wire identity.
//!
//! Entities live in a [`SlotMap`], so a handle ([`EntityKey`]) is a cheap
//! copyable index that goes stale, safely, when its entity is despawned. Each
//! entity also gets a [`NetId`] from a per-world counter when it spawns; ids
//! are never reused, so a client never mistakes a new entity in a reused slot
//! for the old one. The store keeps a list of live entities sorted by
//! `NetId`, which is the order of snapshots and of the state hash.
//!
//! Iteration ([`Entities::iter`], [`Entities::iter_mut`]) walks storage slots:
//! not `NetId` order, but a pure function of the spawn and despawn history,
//! so it is the same in every run of the same match.

use slotmap::SlotMap;

use crate::hash::{StateHash, StateHasher};
use crate::replicate::NetId;

slotmap::new_key_type! {
    /// A handle to an entity in its world. Copy it freely; after the entity
    /// is despawned, lookups with it return `None`.
    pub struct EntityKey;
}

impl StateHash for EntityKey {
    /// A key is slot and version bits, the same in every run of a match, so
    /// a game may keep keys in its state and hash them.
    fn hash_state(&self, h: &mut StateHasher) {
        h.u64(slotmap::Key::data(self).as_ffi());
    }
}

/// One stored entity: the game's state plus its wire identity.
#[derive(Clone, Debug)]
struct Slot<E> {
    id: NetId,
    state: E,
}

/// A game's entities. `E` is the game's entity type (usually an enum of its
/// kinds).
#[derive(Clone, Debug)]
pub struct Entities<E> {
    /// The entities themselves.
    slots: SlotMap<EntityKey, Slot<E>>,
    /// Live entities sorted by `NetId`. Spawns push (ids only grow), despawns
    /// leave a stale entry that [`Entities::compact`] removes in one pass, so
    /// a tick that despawns a thousand projectiles costs one `retain`.
    order: Vec<(NetId, EntityKey)>,
    /// Ids despawned since the last compaction: the stale entries of
    /// `order`.
    dead: Vec<NetId>,
    /// The next `NetId` to hand out. Starts at 1: 0 is never an entity.
    next_id: u32,
}

impl<E> Default for Entities<E> {
    fn default() -> Self {
        Self {
            slots: SlotMap::with_key(),
            order: Vec::new(),
            dead: Vec::new(),
            next_id: 1,
        }
    }
}

impl<E> Entities<E> {
    /// Adds an entity and gives it the next `NetId`.
    ///
    /// Ids come from a `u32` counter: at a thousand spawns per tick at 30 Hz
    /// it lasts 33 hours of one match before it would wrap.
    pub fn spawn(&mut self, state: E) -> EntityKey {
        let id = NetId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let key = self.slots.insert(Slot { id, state });
        self.order.push((id, key));
        key
    }

    /// Removes an entity, returning its state, or `None` if it was gone.
    pub fn despawn(&mut self, key: EntityKey) -> Option<E> {
        let slot = self.slots.remove(key)?;
        self.dead.push(slot.id);
        Some(slot.state)
    }

    /// The entity behind `key`, if it is alive.
    pub fn get(&self, key: EntityKey) -> Option<&E> {
        self.slots.get(key).map(|s| &s.state)
    }

    /// The entity behind `key`, mutably, if it is alive.
    pub fn get_mut(&mut self, key: EntityKey) -> Option<&mut E> {
        self.slots.get_mut(key).map(|s| &mut s.state)
    }

    /// The wire id of the entity behind `key`, if it is alive.
    pub fn net_id(&self, key: EntityKey) -> Option<NetId> {
        self.slots.get(key).map(|s| s.id)
    }

    /// Whether the entity behind `key` is alive.
    pub fn contains(&self, key: EntityKey) -> bool {
        self.slots.contains_key(key)
    }

    /// Number of live entities.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no entities.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every entity with its key and id, in storage order (deterministic,
    /// not `NetId` order).
    pub fn iter(&self) -> impl Iterator<Item = (EntityKey, NetId, &E)> + '_ {
        self.slots.iter().map(|(k, s)| (k, s.id, &s.state))
    }

    /// Every entity, mutably, in storage order. To spawn or despawn while
    /// walking, collect keys first (a game keeps a scratch `Vec` for that).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (EntityKey, NetId, &mut E)> + '_ {
        self.slots.iter_mut().map(|(k, s)| (k, s.id, &mut s.state))
    }

    /// Every live entity in `NetId` order: the order of snapshots and of the
    /// state hash.
    pub fn by_net_id(&self) -> impl Iterator<Item = (EntityKey, NetId, &E)> + '_ {
        self.order
            .iter()
            .filter_map(|&(id, key)| self.slots.get(key).map(|s| (key, id, &s.state)))
    }

    /// Drops the stale entries that despawns left in the id-ordered list.
    /// The world calls this after every tick, join and leave.
    pub(crate) fn compact(&mut self) {
        if self.dead.is_empty() {
            return;
        }
        // Both lists sorted by id: one merging pass, touching no entity.
        self.dead.sort_unstable();
        let mut dead = self.dead.iter().peekable();
        self.order.retain(|&(id, _)| {
            while dead.next_if(|&&d| d < id).is_some() {}
            dead.next_if_eq(&&id).is_none()
        });
        self.dead.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn by_net_id_lists_the_living_in_id_order_after_despawns_and_slot_reuse() {
        let mut e = Entities::default();
        let mut keys: Vec<EntityKey> = (0..100u32).map(|i| e.spawn(i)).collect();
        for round in 0..5u32 {
            // Despawn every third (in storage order), then refill the slots.
            for k in keys.iter().skip(round as usize).step_by(3) {
                e.despawn(*k);
            }
            e.compact();
            keys.retain(|k| e.contains(*k));
            keys.extend((0..20).map(|i| e.spawn(1000 * (round + 1) + i)));
            e.compact();
            let ids: Vec<NetId> = e.by_net_id().map(|(_, id, _)| id).collect();
            let mut expected: Vec<NetId> = e.iter().map(|(_, id, _)| id).collect();
            expected.sort();
            assert_eq!(ids, expected);
            assert_eq!(e.order.len(), e.len());
        }
    }

    #[test]
    fn net_ids_start_at_one_and_only_grow() {
        let mut e = Entities::default();
        let a = e.spawn(());
        e.despawn(a);
        let b = e.spawn(());
        assert_eq!(e.net_id(b), Some(NetId(2)));
        assert_eq!(e.net_id(a), None);
    }
}
