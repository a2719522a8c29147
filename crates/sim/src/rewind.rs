//! Lag compensation: where positioned entities stood over the last ticks,
//! and the world as a player saw it.
//!
//! A player sees others drawn in the past: a snapshot takes half a round
//! trip to arrive, and the client draws between the last two it holds (see
//! `client-web/sdk/interpolation.js`). A shot aimed at where a moving avatar
//! was drawn would miss it on the server, which has moved it on since. So
//! every input says which tick its player was showing ([`PlayerInput::view`]),
//! the world keeps the grids of the last ticks ([`GridHistory`], a ring
//! rebuilt in place), and a game checks a hit against the grid of the tick
//! the shooter saw ([`Rewind`], lent as `ctx.rewind`).
//!
//! A client's claim is bounded: never further back than the world's max
//! rewind (`--max-rewind-ms`, [`DEFAULT_MAX_REWIND_MS`]), nor than the
//! history holds, and a claim of the present or the future is no rewind at
//! all. The viewed tick is part of every recorded input and the max rewind
//! part of every record's setup, so a replay rewinds exactly as the match
//! did.
//!
//! [`PlayerInput::view`]: crate::PlayerInput::view

use crate::game::Players;
use crate::grid::{Grid, GridItem, GridSpec};
use crate::replicate::PlayerId;

/// How far back a player may be believed to have seen unless the server
/// says otherwise (`--max-rewind-ms`), in milliseconds.
pub const DEFAULT_MAX_REWIND_MS: u32 = 200;

/// The longest max rewind a world accepts, in milliseconds: one second of
/// grids. Longer would let a client with a second of lag shoot from
/// behind cover for a second, and hold a second of grids per room.
pub const MAX_REWIND_MS: u32 = 1000;

/// `ms` of rewind in whole ticks at `tick_rate`, rounded down (a client is
/// never believed further back than the milliseconds allow), and at most
/// [`MAX_REWIND_MS`] worth.
///
/// ```
/// use tickwire_sim::rewind::rewind_ticks;
/// assert_eq!(rewind_ticks(200, 30), 6);
/// assert_eq!(rewind_ticks(200, 64), 12);
/// assert_eq!(rewind_ticks(5000, 30), 30);
/// ```
pub fn rewind_ticks(ms: u32, tick_rate: u32) -> u32 {
    let ms = u64::from(ms.min(MAX_REWIND_MS));
    u32::try_from(ms * u64::from(tick_rate) / 1000).unwrap_or(u32::MAX)
}

/// The grids of the last ticks: the newest (the world's grid) and up to
/// `depth - 1` before it, in a ring. A rebuild takes the oldest grid for the
/// newest and rebuilds it in place, so once every slot has held a tick,
/// keeping the history allocates nothing and rebuilds no more than the one
/// grid a tick rebuilt before. The rebuild's scratch buffer moves from grid
/// to grid, so the ring holds one, not one per grid. The newest grid has a
/// field of its own: the interest queries, once per player per tick, reach
/// it as directly as they reached the world's one grid.
#[derive(Clone, Debug)]
pub struct GridHistory {
    /// What every grid covers.
    spec: GridSpec,
    /// The newest grid.
    newest: Grid,
    /// The grids before it, a ring: `past[next]` is the oldest (the next
    /// to be rebuilt), `past[next - 1]` (wrapping) the one just before the
    /// newest.
    past: Vec<Grid>,
    /// Where the oldest of `past` is.
    next: usize,
    /// How many grids hold a tick, the newest included: `1..=depth`.
    held: usize,
    /// The tick the newest grid was built after (0: the empty grid the
    /// world starts with).
    newest_tick: u64,
}

impl GridHistory {
    /// An empty history of `depth` grids (at least one: the world's own)
    /// covering `spec`; the newest is the empty grid of tick 0.
    pub fn new(spec: GridSpec, depth: usize) -> Self {
        let newest = Grid::new(spec);
        Self {
            spec,
            past: vec![newest.clone(); depth.max(1) - 1],
            newest,
            next: 0,
            held: 1,
            newest_tick: 0,
        }
    }

    /// The newest grid: where everything stood after the last rebuild.
    #[inline]
    pub fn current(&self) -> &Grid {
        &self.newest
    }

    /// The tick the newest grid was built after.
    pub fn newest_tick(&self) -> u64 {
        self.newest_tick
    }

    /// How many grids the ring holds, the newest included.
    pub fn depth(&self) -> usize {
        self.past.len() + 1
    }

    /// The grid built after `tick`, if the ring still holds it.
    pub fn at(&self, tick: u64) -> Option<&Grid> {
        let back = usize::try_from(self.newest_tick.checked_sub(tick)?).ok()?;
        if back == 0 {
            return Some(&self.newest);
        }
        if back >= self.held {
            return None;
        }
        let len = self.past.len();
        self.past.get((self.next + len - back) % len)
    }

    /// The oldest tick the ring holds a grid of.
    pub fn oldest_tick(&self) -> u64 {
        self.newest_tick.saturating_sub(self.held as u64 - 1)
    }

    /// Builds the grid of `tick` (the next after the newest) from `items`,
    /// in place of the oldest grid.
    pub fn rebuild(&mut self, tick: u64, items: impl IntoIterator<Item = GridItem>) {
        if let Some(oldest) = self.past.get_mut(self.next) {
            std::mem::swap(&mut self.newest, oldest);
            let staging = oldest.take_staging();
            self.newest.give_staging(staging);
            self.next = (self.next + 1) % self.past.len();
            self.held = (self.held + 1).min(self.past.len() + 1);
        }
        self.newest.rebuild(items);
        self.newest_tick = tick;
    }

    /// Changes the depth, keeping the newest grid (and only it).
    pub fn set_depth(&mut self, depth: usize) {
        let depth = depth.max(1);
        if depth == self.depth() {
            return;
        }
        self.past.clear();
        self.past.resize(depth - 1, Grid::new(self.spec));
        self.next = 0;
        self.held = 1;
    }

    /// The grids the ring holds, the oldest first, for a snapshot: each
    /// one's items in the grid's own order.
    pub(crate) fn to_snapshot(&self) -> HistorySnapshot<'_> {
        let len = self.past.len();
        let mut grids: Vec<std::borrow::Cow<'_, [GridItem]>> = (1..self.held)
            .rev()
            .filter_map(|back| self.past.get((self.next + len - back) % len))
            .map(|g| std::borrow::Cow::Borrowed(g.items()))
            .collect();
        grids.push(std::borrow::Cow::Borrowed(self.newest.items()));
        HistorySnapshot {
            newest_tick: self.newest_tick,
            grids,
        }
    }

    /// The history a snapshot describes, `depth` grids deep over `spec`:
    /// each grid rebuilt from its items in their order, the same grid as
    /// the one saved. Refuses more grids than the depth, none at all, or
    /// ticks before 0.
    pub(crate) fn from_snapshot(
        spec: GridSpec,
        depth: usize,
        snap: HistorySnapshot<'_>,
    ) -> Result<Self, &'static str> {
        let held = snap.grids.len();
        let oldest = snap
            .newest_tick
            .checked_sub(held.saturating_sub(1) as u64)
            .ok_or("the grid history starts before tick 0")?;
        if held == 0 || held > depth.max(1) {
            return Err("the grid history holds no grid or more than its depth");
        }
        let mut history = Self::new(spec, depth);
        let mut grids = snap.grids.into_iter();
        if let Some(first) = grids.next() {
            history.newest.rebuild(first.iter().copied());
            history.newest_tick = oldest;
        }
        for (tick, items) in (oldest + 1..).zip(grids) {
            history.rebuild(tick, items.iter().copied());
        }
        Ok(history)
    }

    /// Bytes the ring's grids hold on the heap (their buffers' capacity):
    /// what the history costs a room.
    pub fn heap_bytes(&self) -> usize {
        self.newest.heap_bytes() + self.past.iter().map(Grid::heap_bytes).sum::<usize>()
    }
}

/// A [`GridHistory`] as a snapshot holds it: the tick of the newest grid
/// and every grid held, the oldest first, as its items.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct HistorySnapshot<'a> {
    /// The tick the newest grid was built after.
    pub(crate) newest_tick: u64,
    /// The grids, the oldest first.
    pub(crate) grids: Vec<std::borrow::Cow<'a, [GridItem]>>,
}

/// The world as players saw it, lent to a game call as `ctx.rewind`: how far
/// back a player's input says it saw, and the grid of that tick.
///
/// Rewinds count ticks back from the tick being computed (`ctx.tick` in
/// [`crate::Game::tick`] and [`crate::Game::input`]): 0 is the present
/// (the entities themselves: no grid holds it yet), 1 the start of this
/// tick (`ctx.grid`), and so on.
#[derive(Clone, Copy, Debug)]
pub struct Rewind<'w> {
    /// The grids of the last ticks.
    pub(crate) history: &'w GridHistory,
    /// The players, with the tick each one's latest input showed.
    pub(crate) players: &'w Players,
    /// The tick being computed (elsewhere, the last completed one).
    pub(crate) tick: u64,
    /// The furthest back a player is believed, in ticks.
    pub(crate) max: u32,
}

impl<'w> Rewind<'w> {
    /// The furthest back any player is believed, in ticks: the world's max
    /// rewind (`--max-rewind-ms` at the tick rate).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// How many ticks before the tick being computed `player` saw the world,
    /// by the viewed tick of its latest applied input: 0 when it claims
    /// nothing (view 0), the present or the future, otherwise at most
    /// [`Rewind::max`] and at most as far as the history holds. A game
    /// stores it with what the player started (a projectile) so that its
    /// later checks rewind as far.
    pub fn ticks(&self, player: PlayerId) -> u32 {
        let Some(view) = self.players.get(&player).map(|p| u64::from(p.view)) else {
            return 0;
        };
        if view == 0 || view >= self.tick {
            return 0;
        }
        let held = self.tick.saturating_sub(self.history.oldest_tick());
        let back = (self.tick - view).min(u64::from(self.max)).min(held);
        u32::try_from(back).unwrap_or(0)
    }

    /// Where every positioned entity stood `ticks` ticks before the tick
    /// being computed; `None` for 0 (the present: ask the entities) and for
    /// a tick the history does not hold (more than [`Rewind::max`] back, or
    /// before the match).
    pub fn grid(&self, ticks: u32) -> Option<&'w Grid> {
        if ticks == 0 {
            return None;
        }
        self.history.at(self.tick.checked_sub(u64::from(ticks))?)
    }

    /// The tick of the grid `ticks` back, for a game that remembers when
    /// things happened (an avatar that respawned since was not there).
    pub fn tick_of(&self, ticks: u32) -> u64 {
        self.tick.saturating_sub(u64::from(ticks))
    }

    /// The world as `player` saw it: [`Rewind::grid`] of
    /// [`Rewind::ticks`]. `None` when it saw the present.
    pub fn seen_by(&self, player: PlayerId) -> Option<&'w Grid> {
        self.grid(self.ticks(player))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::entities::EntityKey;
    use crate::replicate::{NetId, Rect};
    use glam::Vec2;

    fn spec() -> GridSpec {
        GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(100.0),
            },
            cell_size: 10.0,
        }
    }

    fn at(x: f32) -> [GridItem; 1] {
        [GridItem {
            key: EntityKey::default(),
            id: NetId(1),
            pos: Vec2::new(x, 0.0),
        }]
    }

    fn x_of(grid: &Grid) -> f32 {
        grid.query_rect(Rect {
            min: Vec2::splat(-1.0),
            max: Vec2::splat(101.0),
        })
        .next()
        .unwrap()
        .pos
        .x
    }

    #[test]
    fn the_ring_holds_the_last_ticks_and_forgets_older_ones() {
        let mut h = GridHistory::new(spec(), 3);
        assert_eq!(h.at(0).map(Grid::len), Some(0));
        for tick in 1..=5 {
            h.rebuild(tick, at(tick as f32));
        }
        assert_eq!(x_of(h.current()), 5.0);
        assert_eq!(h.at(4).map(x_of), Some(4.0));
        assert_eq!(h.at(3).map(x_of), Some(3.0));
        assert!(h.at(2).is_none(), "three grids: ticks 3, 4, 5");
        assert!(h.at(6).is_none(), "no grid of the future");
        assert_eq!(h.oldest_tick(), 3);
    }

    #[test]
    fn a_ring_of_one_is_the_plain_grid() {
        let mut h = GridHistory::new(spec(), 0);
        assert_eq!(h.depth(), 1);
        h.rebuild(1, at(1.0));
        h.rebuild(2, at(2.0));
        assert_eq!(h.at(2).map(x_of), Some(2.0));
        assert!(h.at(1).is_none());
    }

    #[test]
    fn a_warm_ring_allocates_nothing_more() {
        let mut h = GridHistory::new(spec(), 4);
        let many = |x: f32| (0..100).map(move |i| at(x + i as f32 * 0.5)[0]);
        for tick in 1..=8 {
            h.rebuild(tick, many(tick as f32));
        }
        let warm = h.heap_bytes();
        for tick in 9..=40 {
            h.rebuild(tick, many(tick as f32 % 7.0));
        }
        assert_eq!(h.heap_bytes(), warm);
        // Four grids, but one rebuild scratch buffer between them.
        let mut lone = Grid::new(spec());
        lone.rebuild(many(1.0));
        let lone_bytes = lone.heap_bytes();
        let scratch = lone.take_staging().capacity() * std::mem::size_of::<(u32, GridItem)>();
        assert!(scratch > 0);
        assert_eq!(warm, 4 * (lone_bytes - scratch) + scratch);
    }

    #[test]
    fn a_new_depth_keeps_the_newest_grid() {
        let mut h = GridHistory::new(spec(), 2);
        h.rebuild(1, at(1.0));
        h.rebuild(2, at(2.0));
        h.set_depth(5);
        assert_eq!(h.depth(), 5);
        assert_eq!(h.at(2).map(x_of), Some(2.0));
        assert!(h.at(1).is_none());
        h.rebuild(3, at(3.0));
        assert_eq!(h.at(2).map(x_of), Some(2.0));
    }

    #[test]
    fn milliseconds_become_whole_ticks_rounded_down() {
        assert_eq!(rewind_ticks(0, 30), 0);
        assert_eq!(rewind_ticks(33, 30), 0);
        assert_eq!(rewind_ticks(34, 30), 1);
        assert_eq!(rewind_ticks(DEFAULT_MAX_REWIND_MS, 30), 6);
        assert_eq!(rewind_ticks(u32::MAX, 1000), 1000);
    }
}
