//! The seats of a room's players, as resuming sees them: each seat's
//! avatar and generation, and the seats held for players whose connection
//! dropped, with when each is given up.
//!
//! Generic over what holds a place in the lobby (`S`: the room keeps a
//! [`crate::lobby::Seat`], the tests a number), so the rules are tested
//! without a server. See [`crate::resume`] for what the generation is.

use std::collections::{BTreeMap, VecDeque};

use tickwire_sim::{NetId, PlayerId};
use tokio::time::Instant;

use crate::resume::Refused;

/// One player's seat.
#[derive(Debug)]
struct Seat<S> {
    /// The entity the player controls.
    avatar: NetId,
    /// The connections the seat has had, the current one included.
    generation: u32,
    /// While the connection is dropped: the place in the lobby, and when
    /// the seat is given up.
    held: Option<(S, Instant)>,
    /// Restored from another node's snapshot, and not resumed since: that
    /// node may have issued newer tokens after the snapshot.
    restored: bool,
}

/// A seat taken back by a resume.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Taken<S> {
    /// The place in the lobby, for the resumed session.
    pub(super) seat: S,
    /// The player's avatar.
    pub(super) avatar: NetId,
    /// The generation of the new connection, for its token.
    pub(super) generation: u32,
}

/// The seats of a room's players.
#[derive(Debug)]
pub(super) struct Seats<S> {
    seats: BTreeMap<PlayerId, Seat<S>>,
    /// Every hold's deadline, in the order they fall (the grace is the
    /// same for all); an entry whose seat was resumed or re-held since is
    /// stale and skipped.
    deadlines: VecDeque<(Instant, PlayerId)>,
    /// Seats held now.
    held: usize,
}

impl<S> Default for Seats<S> {
    fn default() -> Self {
        Self {
            seats: BTreeMap::new(),
            deadlines: VecDeque::new(),
            held: 0,
        }
    }
}

impl<S> Seats<S> {
    /// A player joined with `avatar`: its seat's first generation.
    pub(super) fn joined(&mut self, player: PlayerId, avatar: NetId) -> u32 {
        let seat = Seat {
            avatar,
            generation: 1,
            held: None,
            restored: false,
        };
        self.seats.insert(player, seat);
        1
    }

    /// A seat restored from another node's snapshot, at `generation` (to be
    /// held next): its first resume takes a token of that generation or a
    /// newer one, since the node that died may have issued one after its
    /// snapshot.
    pub(super) fn restored(&mut self, player: PlayerId, avatar: NetId, generation: u32) {
        let seat = Seat {
            avatar,
            generation: generation.max(1),
            held: None,
            restored: true,
        };
        self.seats.insert(player, seat);
    }

    /// Every seat: its player, avatar and generation.
    pub(super) fn generations(&self) -> impl Iterator<Item = (PlayerId, NetId, u32)> + '_ {
        self.seats
            .iter()
            .map(|(player, seat)| (*player, seat.avatar, seat.generation))
    }

    /// `player`'s connection dropped: hold its seat, with `place`, until
    /// `until`. `Err` gives `place` back when there is no such seat or it
    /// is held already.
    pub(super) fn hold(&mut self, player: PlayerId, place: S, until: Instant) -> Result<(), S> {
        match self.seats.get_mut(&player) {
            Some(seat) if seat.held.is_none() => {
                seat.held = Some((place, until));
                self.deadlines.push_back((until, player));
                self.held += 1;
                Ok(())
            }
            _ => Err(place),
        }
    }

    /// A resume of `player` with a token of `generation`: the seat is
    /// taken back when it is held and the token is its current one, and
    /// the new connection is the seat's next generation.
    pub(super) fn resume(
        &mut self,
        player: PlayerId,
        generation: u32,
    ) -> Result<Taken<S>, Refused> {
        let seat = self.seats.get_mut(&player).ok_or(Refused::Released)?;
        if generation < seat.generation {
            return Err(Refused::Superseded);
        }
        if generation > seat.generation && !(seat.restored && seat.held.is_some()) {
            // Never issued for this seat: only a key that signs what this
            // room never issued could make it.
            return Err(Refused::Forged);
        }
        let (place, _) = seat.held.take().ok_or(Refused::InUse)?;
        self.held -= 1;
        seat.restored = false;
        seat.generation = generation.saturating_add(1);
        Ok(Taken {
            seat: place,
            avatar: seat.avatar,
            generation: seat.generation,
        })
    }

    /// The player left (or its seat was given up): forgets its seat, and
    /// returns the place in the lobby if the seat was held.
    pub(super) fn left(&mut self, player: PlayerId) -> Option<S> {
        let (place, _) = self.seats.remove(&player)?.held?;
        self.held -= 1;
        Some(place)
    }

    /// The next seat whose hold ran out by `now`, forgotten: its player
    /// and its place in the lobby. Call until `None`.
    pub(super) fn expired(&mut self, now: Instant) -> Option<(PlayerId, S)> {
        while let Some(&(until, player)) = self.deadlines.front() {
            if until > now {
                return None;
            }
            self.deadlines.pop_front();
            let current = self
                .seats
                .get(&player)
                .and_then(|s| s.held.as_ref())
                .is_some_and(|(_, at)| *at == until);
            if current {
                return self.left(player).map(|place| (player, place));
            }
        }
        None
    }

    /// Every held seat, forgotten (the server is shutting down).
    pub(super) fn release_all(&mut self) -> Vec<(PlayerId, S)> {
        let held: Vec<PlayerId> = self
            .seats
            .iter()
            .filter(|(_, s)| s.held.is_some())
            .map(|(p, _)| *p)
            .collect();
        self.deadlines.clear();
        held.into_iter()
            .filter_map(|p| self.left(p).map(|place| (p, place)))
            .collect()
    }

    /// Seats held now.
    pub(super) fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: PlayerId = PlayerId(1);
    const B: PlayerId = PlayerId(2);

    fn seats() -> (Seats<u32>, Instant) {
        let mut seats = Seats::default();
        assert_eq!(seats.joined(A, NetId(10)), 1);
        assert_eq!(seats.joined(B, NetId(20)), 1);
        (seats, Instant::now())
    }

    #[test]
    fn a_held_seat_is_taken_back_once_with_the_current_token() {
        let (mut seats, now) = seats();
        assert_eq!(seats.resume(A, 1), Err(Refused::InUse), "still attached");
        assert_eq!(seats.hold(A, 7, now), Ok(()));
        assert_eq!(seats.hold(A, 8, now), Err(8), "held already");
        assert_eq!(seats.hold(PlayerId(9), 9, now), Err(9), "no such seat");
        assert_eq!(seats.held(), 1);
        assert_eq!(seats.resume(A, 2), Err(Refused::Forged), "never issued");
        let taken = seats.resume(A, 1);
        assert_eq!(
            taken,
            Ok(Taken {
                seat: 7,
                avatar: NetId(10),
                generation: 2
            })
        );
        assert_eq!(seats.held(), 0);
        // The same token again: the seat is attached to its resume now.
        assert_eq!(seats.resume(A, 1), Err(Refused::Superseded));
        assert_eq!(
            seats.resume(A, 2),
            Err(Refused::InUse),
            "used twice at once"
        );
        // Dropped again: only the newest token takes it.
        assert_eq!(seats.hold(A, 7, now), Ok(()));
        assert_eq!(seats.resume(A, 1), Err(Refused::Superseded));
        assert_eq!(seats.resume(A, 2).map(|t| t.generation), Ok(3));
        assert_eq!(seats.resume(PlayerId(9), 1), Err(Refused::Released));
    }

    #[test]
    fn a_hold_runs_out_at_its_deadline_and_the_seat_is_released() {
        let (mut seats, now) = seats();
        let grace = Duration::from_secs(20);
        assert_eq!(seats.hold(A, 7, now + grace), Ok(()));
        assert_eq!(seats.hold(B, 8, now + grace * 2), Ok(()));
        assert_eq!(seats.expired(now), None);
        assert_eq!(seats.expired(now + grace - Duration::from_millis(1)), None);
        assert_eq!(seats.expired(now + grace), Some((A, 7)));
        assert_eq!(seats.expired(now + grace), None);
        assert_eq!(seats.resume(A, 1), Err(Refused::Released));
        assert_eq!(seats.held(), 1, "B is still held");
        assert_eq!(seats.expired(now + grace * 3), Some((B, 8)));
        assert_eq!(seats.held(), 0);
    }

    #[test]
    fn a_resumed_seat_is_not_released_by_its_old_deadline() {
        let (mut seats, now) = seats();
        let grace = Duration::from_secs(20);
        assert_eq!(seats.hold(A, 7, now + grace), Ok(()));
        assert!(seats.resume(A, 1).is_ok());
        assert_eq!(seats.expired(now + grace), None, "resumed: not held");
        // Dropped again later: the new deadline counts, not the old one.
        assert_eq!(seats.hold(A, 7, now + grace * 2), Ok(()));
        assert_eq!(seats.expired(now + grace), None);
        assert_eq!(seats.expired(now + grace * 2), Some((A, 7)));
    }

    #[test]
    fn a_leave_or_a_shutdown_gives_the_held_places_back() {
        let (mut seats, now) = seats();
        assert_eq!(seats.hold(A, 7, now), Ok(()));
        assert_eq!(seats.left(B), None, "attached: no place to give back");
        assert_eq!(seats.left(A), Some(7));
        assert_eq!(seats.left(A), None);
        assert_eq!(seats.joined(B, NetId(20)), 1);
        assert_eq!(seats.joined(PlayerId(3), NetId(30)), 1);
        assert_eq!(seats.hold(B, 8, now), Ok(()));
        assert_eq!(seats.hold(PlayerId(3), 9, now), Ok(()));
        assert_eq!(seats.release_all(), vec![(B, 8), (PlayerId(3), 9)]);
        assert_eq!(seats.held(), 0);
        assert_eq!(seats.expired(now), None);
    }

    #[test]
    fn a_restored_seat_takes_a_newer_token_once() {
        let mut seats = Seats::default();
        let now = Instant::now();
        seats.restored(A, NetId(10), 2);
        assert_eq!(
            seats.generations().collect::<Vec<_>>(),
            vec![(A, NetId(10), 2)]
        );
        assert_eq!(seats.hold(A, 7, now), Ok(()));
        assert_eq!(
            seats.resume(A, 1),
            Err(Refused::Superseded),
            "older than saved"
        );
        // The dead node resumed the seat once more after its snapshot.
        let taken = seats.resume(A, 3).map(|t| t.generation);
        assert_eq!(taken, Ok(4));
        assert_eq!(seats.hold(A, 8, now), Ok(()));
        assert_eq!(
            seats.resume(A, 9),
            Err(Refused::Forged),
            "restored once only"
        );
        assert_eq!(seats.resume(A, 3), Err(Refused::Superseded));
        assert_eq!(seats.resume(A, 4).map(|t| t.generation), Ok(5));
    }
}
