//! The entity store: a game's entities, each with a wire identity.
//!
//! Entities live in slots, so a handle ([`EntityKey`]) is a cheap copyable
//! index that goes stale, safely, when its entity is despawned: each slot
//! has a version, odd while occupied, bumped by every despawn, and a key
//! names a slot and the version it was handed out with. Freed slots are
//! reused last freed first. This is `slotmap`'s `SlotMap`, slot for slot
//! and version for version, kept here so that a snapshot
//! ([`crate::snapshot`]) can hold and restore the order of the free slots:
//! which slot the next spawn takes decides the storage order and the keys
//! of everything spawned after a restore.
//!
//! Each entity also gets a [`NetId`] from a per-world counter when it spawns;
//! ids are never reused, so a client never mistakes a new entity in a reused
//! slot for the old one. The store keeps a list of live entities sorted by
//! `NetId`, which is the order of snapshots and of the state hash.
//!
//! Iteration ([`Entities::iter`], [`Entities::iter_mut`]) walks storage slots:
//! not `NetId` order, but a pure function of the spawn and despawn history,
//! so it is the same in every run of the same match.

use serde::{Deserialize, Serialize};
use slotmap::{Key, KeyData};

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
        h.u64(self.data().as_ffi());
    }
}

/// The key of slot `idx` at `version` (odd).
#[inline]
fn key_of(idx: usize, version: u32) -> EntityKey {
    EntityKey::from(KeyData::from_ffi(
        (u64::from(version) << 32) | (idx as u64 & 0xffff_ffff),
    ))
}

/// The slot index and version a key names.
#[inline]
fn parts(key: EntityKey) -> (usize, u32) {
    let ffi = key.data().as_ffi();
    ((ffi & 0xffff_ffff) as usize, (ffi >> 32) as u32)
}

/// A live entity: the game's state plus its wire identity.
#[derive(Clone, Debug)]
struct Live<E> {
    id: NetId,
    state: E,
}

/// One storage slot.
#[derive(Clone, Debug)]
struct Slot<E> {
    /// Odd while occupied; every despawn adds one.
    version: u32,
    /// While free: the slot freed before it (the next to reuse after it),
    /// or the slot count when none.
    next_free: u32,
    /// The entity, while occupied.
    value: Option<Live<E>>,
}

/// A game's entities. `E` is the game's entity type (usually an enum of its
/// kinds).
#[derive(Clone, Debug)]
pub struct Entities<E> {
    /// The slots; slot 0 is never occupied, so no key names it.
    slots: Vec<Slot<E>>,
    /// The slot the next spawn takes: the last one freed, or the slot count
    /// (a new slot) when none is free.
    free_head: u32,
    /// Number of live entities.
    live: usize,
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
            slots: vec![Slot {
                version: 0,
                next_free: 0,
                value: None,
            }],
            free_head: 1,
            live: 0,
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
        let value = Some(Live { id, state });
        let head = self.free_head as usize;
        let key = if let Some(slot) = self.slots.get_mut(head) {
            slot.version |= 1;
            slot.value = value;
            self.free_head = slot.next_free;
            key_of(head, slot.version)
        } else {
            let idx = self.slots.len();
            self.slots.push(Slot {
                version: 1,
                next_free: 0,
                value,
            });
            self.free_head = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            key_of(idx, 1)
        };
        self.live += 1;
        self.order.push((id, key));
        key
    }

    /// Removes an entity, returning its state, or `None` if it was gone.
    pub fn despawn(&mut self, key: EntityKey) -> Option<E> {
        let (idx, version) = parts(key);
        let slot = self.slots.get_mut(idx).filter(|s| s.version == version)?;
        let live = slot.value.take()?;
        slot.version = slot.version.wrapping_add(1);
        slot.next_free = self.free_head;
        self.free_head = idx as u32;
        self.live -= 1;
        self.dead.push(live.id);
        Some(live.state)
    }

    /// The slot behind `key`, if its entity is alive.
    #[inline]
    fn live(&self, key: EntityKey) -> Option<&Live<E>> {
        let (idx, version) = parts(key);
        self.slots
            .get(idx)
            .filter(|s| s.version == version)
            .and_then(|s| s.value.as_ref())
    }

    /// The entity behind `key`, if it is alive.
    #[inline]
    pub fn get(&self, key: EntityKey) -> Option<&E> {
        self.live(key).map(|s| &s.state)
    }

    /// The entity behind `key`, mutably, if it is alive.
    #[inline]
    pub fn get_mut(&mut self, key: EntityKey) -> Option<&mut E> {
        let (idx, version) = parts(key);
        self.slots
            .get_mut(idx)
            .filter(|s| s.version == version)
            .and_then(|s| s.value.as_mut())
            .map(|s| &mut s.state)
    }

    /// The wire id of the entity behind `key`, if it is alive.
    #[inline]
    pub fn net_id(&self, key: EntityKey) -> Option<NetId> {
        self.live(key).map(|s| s.id)
    }

    /// Whether the entity behind `key` is alive.
    #[inline]
    pub fn contains(&self, key: EntityKey) -> bool {
        self.live(key).is_some()
    }

    /// Number of live entities.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are no entities.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Every entity with its key and id, in storage order (deterministic,
    /// not `NetId` order).
    pub fn iter(&self) -> impl Iterator<Item = (EntityKey, NetId, &E)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value
                .as_ref()
                .map(|l| (key_of(i, s.version), l.id, &l.state))
        })
    }

    /// Every entity, mutably, in storage order. To spawn or despawn while
    /// walking, collect keys first (a game keeps a scratch `Vec` for that).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (EntityKey, NetId, &mut E)> + '_ {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let version = s.version;
            s.value
                .as_mut()
                .map(|l| (key_of(i, version), l.id, &mut l.state))
        })
    }

    /// Every live entity in `NetId` order: the order of snapshots and of the
    /// state hash.
    pub fn by_net_id(&self) -> impl Iterator<Item = (EntityKey, NetId, &E)> + '_ {
        self.order
            .iter()
            .filter_map(|&(id, key)| self.get(key).map(|s| (key, id, s)))
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

    /// The store's full state, for a snapshot: every slot's version and
    /// entity, the free slots in reuse order, the next id.
    pub(crate) fn to_snapshot(&self) -> EntitiesSnapshot<&E> {
        let mut free = Vec::new();
        let mut at = self.free_head as usize;
        while let Some(slot) = self.slots.get(at) {
            if slot.value.is_some() || free.len() >= self.slots.len() {
                break;
            }
            free.push(at as u32);
            at = slot.next_free as usize;
        }
        EntitiesSnapshot {
            slots: self
                .slots
                .iter()
                .skip(1)
                .map(|s| (s.version, s.value.as_ref().map(|l| (l.id, &l.state))))
                .collect(),
            free,
            next_id: self.next_id,
        }
    }

    /// The store a snapshot describes, checked: an occupied slot has an odd
    /// version and a free one an even version, the free list names each
    /// free slot once, ids are distinct and not 0.
    pub(crate) fn from_snapshot(snap: EntitiesSnapshot<E>) -> Result<Self, &'static str> {
        let count = snap.slots.len() + 1;
        if u32::try_from(count).is_err() {
            return Err("too many entity slots");
        }
        if snap.next_id == 0 {
            return Err("next entity id is 0");
        }
        let mut slots = Vec::with_capacity(count);
        slots.push(Slot {
            version: 0,
            next_free: 0,
            value: None,
        });
        let mut order = Vec::new();
        for (version, value) in snap.slots {
            if (version % 2 == 1) != value.is_some() {
                return Err("an entity slot's version disagrees with its occupancy");
            }
            let value = value.map(|(id, state)| {
                order.push((id, key_of(slots.len(), version)));
                Live { id, state }
            });
            slots.push(Slot {
                version,
                next_free: 0,
                value,
            });
        }
        order.sort_unstable_by_key(|&(id, _)| id);
        if order.windows(2).any(|w| w[0].0 == w[1].0) || order.first().is_some_and(|f| f.0.0 == 0) {
            return Err("entity ids repeat or are 0");
        }
        let live = order.len();
        if snap.free.len() != count - 1 - live {
            return Err("the free slot list does not name every free slot");
        }
        let mut listed = vec![false; count];
        let mut next = count as u32;
        for &idx in snap.free.iter().rev() {
            let i = idx as usize;
            let fresh = listed.get(i).is_some_and(|seen| !seen);
            let slot = slots.get_mut(i).filter(|s| i > 0 && s.value.is_none());
            let (true, Some(slot)) = (fresh, slot) else {
                return Err("the free slot list names a slot twice or a live one");
            };
            listed[i] = true;
            slot.next_free = next;
            next = idx;
        }
        Ok(Self {
            slots,
            free_head: next,
            live,
            order,
            dead: Vec::new(),
            next_id: snap.next_id,
        })
    }
}

/// The full state of an [`Entities`], as a snapshot holds it. `T` is the
/// entity (restoring) or a reference to it (saving).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EntitiesSnapshot<T> {
    /// Slots 1 and up: each one's version, and its entity with its id
    /// while occupied.
    slots: Vec<(u32, Option<(NetId, T)>)>,
    /// The free slots, the next to reuse first.
    free: Vec<u32>,
    /// The next `NetId` to hand out.
    next_id: u32,
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

    /// Its own snapshot, as restored (the entities being `Copy`).
    fn round_trip(e: &Entities<u32>) -> Result<Entities<u32>, &'static str> {
        let snap = e.to_snapshot();
        Entities::from_snapshot(EntitiesSnapshot {
            slots: snap
                .slots
                .iter()
                .map(|&(v, l)| (v, l.map(|(id, s)| (id, *s))))
                .collect(),
            free: snap.free,
            next_id: snap.next_id,
        })
    }

    #[test]
    fn a_restored_store_reuses_the_free_slots_in_the_same_order() {
        let mut e = Entities::default();
        let keys: Vec<EntityKey> = (0..40u32).map(|i| e.spawn(i)).collect();
        for &i in &[5usize, 30, 2, 17, 39, 11, 0] {
            e.despawn(keys[i]);
        }
        e.spawn(100);
        e.compact();
        let mut r = round_trip(&e).unwrap();
        for i in 0..10 {
            assert_eq!(e.spawn(200 + i), r.spawn(200 + i));
        }
        let all = |e: &Entities<u32>| e.iter().map(|(k, id, &s)| (k, id, s)).collect::<Vec<_>>();
        assert_eq!(all(&e), all(&r));
        assert!(e.by_net_id().eq(r.by_net_id()));
    }

    #[test]
    fn an_inconsistent_store_is_refused() {
        let mut e = Entities::default();
        let a = e.spawn(1u32);
        e.spawn(2);
        e.despawn(a);
        e.compact();
        let good = |e: &Entities<u32>| {
            let snap = e.to_snapshot();
            EntitiesSnapshot {
                slots: snap
                    .slots
                    .iter()
                    .map(|&(v, l)| (v, l.map(|(id, s)| (id, *s))))
                    .collect(),
                free: snap.free,
                next_id: snap.next_id,
            }
        };
        assert!(Entities::from_snapshot(good(&e)).is_ok());
        let mut bad = good(&e);
        bad.free = vec![2];
        assert!(
            Entities::from_snapshot(bad).is_err(),
            "a live slot listed free"
        );
        let mut bad = good(&e);
        bad.free = vec![];
        assert!(
            Entities::from_snapshot(bad).is_err(),
            "a free slot not listed"
        );
        let mut bad = good(&e);
        bad.slots[0].0 = 3;
        assert!(
            Entities::from_snapshot(bad).is_err(),
            "odd version, no entity"
        );
        let mut bad = good(&e);
        bad.slots.push((1, Some((NetId(2), 9))));
        assert!(Entities::from_snapshot(bad).is_err(), "an id twice");
        let mut bad = good(&e);
        bad.free = vec![0];
        assert!(Entities::from_snapshot(bad).is_err(), "the sentinel slot");
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
