//! A uniform spatial grid: "who is near here?" without pair loops.
//!
//! The world rebuilds the grid at the end of every tick from each entity's
//! [`crate::Game::position`], so during a tick it describes where everything
//! stood when the tick began, and between ticks it describes the state that
//! is replicated (what interest management asks about). Entities spawned
//! or despawned since the rebuild are not reflected: a query may name a key
//! that is gone, so look it up before use.
//!
//! The rebuild is a counting sort by cell: count the items of each cell,
//! prefix-sum the counts into start offsets, scatter the items. Every
//! buffer is reused from tick to tick, so a rebuild allocates nothing once
//! warm, and the items of one row of cells are contiguous: a query walks one
//! slice per row it covers.

use glam::Vec2;

use crate::entities::EntityKey;
use crate::replicate::{NetId, Rect};

/// Most cells a grid will use; past this the cell size grows instead.
pub const MAX_CELLS: usize = 1 << 20;

/// The area a grid covers and its cell size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec {
    /// The area covered. Positions outside it are counted in the nearest
    /// edge cell, so nothing is ever lost, only slower to find.
    pub bounds: Rect,
    /// Side of one square cell in world units. A good size is about the
    /// radius of the most common query.
    pub cell_size: f32,
}

impl Default for GridSpec {
    /// A 4096-unit square with 128-unit cells.
    fn default() -> Self {
        Self {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(4096.0),
            },
            cell_size: 128.0,
        }
    }
}

/// One entity in the grid.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GridItem {
    /// The entity's handle (may be stale: see the module docs).
    pub key: EntityKey,
    /// The entity's wire id.
    pub id: NetId,
    /// Where it was at the rebuild.
    pub pos: Vec2,
}

/// A uniform grid over a rectangle. See the module docs.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Lowest corner of the covered area.
    origin: Vec2,
    /// 1 / cell size, so cell lookup is a multiply.
    inv_cell: f32,
    /// Columns and rows of cells.
    cols: u32,
    rows: u32,
    /// `starts[c]..starts[c + 1]` are the indices in `items` of cell `c`.
    starts: Vec<u32>,
    /// Items sorted by cell, then by insertion order.
    items: Vec<GridItem>,
    /// The ids and positions of `items`, in the same order: all the
    /// interest query reads, packed (12 bytes, not 20) since it runs once
    /// per player per tick over scattered rows of cells.
    spots: Vec<(NetId, Vec2)>,
    /// Scratch: items in insertion order and their cells, reused per rebuild.
    staging: Vec<(u32, GridItem)>,
}

impl Grid {
    /// An empty grid for `spec`. A non-positive or non-finite cell size, or
    /// one that would need more than [`MAX_CELLS`] cells, is enlarged.
    pub fn new(spec: GridSpec) -> Self {
        let size = (spec.bounds.max - spec.bounds.min).max(Vec2::ONE);
        let mut cell = if spec.cell_size.is_finite() && spec.cell_size > 0.0 {
            spec.cell_size
        } else {
            size.max_element()
        };
        let cells = |cell: f32| {
            let c = (size / cell).ceil().max(Vec2::ONE);
            (c.x as u64) * (c.y as u64)
        };
        while cells(cell) > MAX_CELLS as u64 {
            cell *= 2.0;
        }
        let dims = (size / cell).ceil().max(Vec2::ONE);
        let (cols, rows) = (dims.x as u32, dims.y as u32);
        Self {
            origin: spec.bounds.min,
            inv_cell: 1.0 / cell,
            cols,
            rows,
            starts: vec![0; (cols * rows) as usize + 1],
            items: Vec::new(),
            spots: Vec::new(),
            staging: Vec::new(),
        }
    }

    /// Cell column and row of a position, clamped into the grid.
    fn cell_of(&self, pos: Vec2) -> (u32, u32) {
        let c = (pos - self.origin) * self.inv_cell;
        // `as` saturates (NaN becomes 0), so any float lands in range.
        let col = (c.x.max(0.0) as u32).min(self.cols - 1);
        let row = (c.y.max(0.0) as u32).min(self.rows - 1);
        (col, row)
    }

    /// Replaces the contents with `items`, keeping their order within each
    /// cell.
    pub fn rebuild(&mut self, items: impl IntoIterator<Item = GridItem>) {
        let mut staging = std::mem::take(&mut self.staging);
        staging.clear();
        self.starts.fill(0);
        for item in items {
            let (col, row) = self.cell_of(item.pos);
            let cell = row * self.cols + col;
            self.starts[cell as usize + 1] += 1;
            staging.push((cell, item));
        }
        for c in 1..self.starts.len() {
            self.starts[c] += self.starts[c - 1];
        }
        // `starts[c]` is now where cell `c` begins; use it as that cell's
        // write cursor while scattering.
        self.items.clear();
        self.items.resize(
            staging.len(),
            GridItem {
                key: EntityKey::default(),
                id: NetId(0),
                pos: Vec2::ZERO,
            },
        );
        for &(cell, item) in &staging {
            let cursor = &mut self.starts[cell as usize];
            self.items[*cursor as usize] = item;
            *cursor += 1;
        }
        self.spots.clear();
        self.spots
            .extend(self.items.iter().map(|item| (item.id, item.pos)));
        // Each cursor now points at the start of the next cell: shift back.
        let n = self.starts.len();
        self.starts.copy_within(0..n - 1, 1);
        self.starts[0] = 0;
        self.staging = staging;
    }

    /// Hands over the rebuild's scratch buffer, for the next grid of a
    /// [`crate::rewind::GridHistory`] to rebuild with.
    pub(crate) fn take_staging(&mut self) -> Vec<(u32, GridItem)> {
        std::mem::take(&mut self.staging)
    }

    /// Takes a scratch buffer to rebuild with, dropping its own.
    pub(crate) fn give_staging(&mut self, staging: Vec<(u32, GridItem)>) {
        self.staging = staging;
    }

    /// Bytes the grid holds on the heap: the capacity of its buffers.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.starts.capacity() * size_of::<u32>()
            + self.items.capacity() * size_of::<GridItem>()
            + self.spots.capacity() * size_of::<(NetId, Vec2)>()
            + self.staging.capacity() * size_of::<(u32, GridItem)>()
    }

    /// The items, sorted by cell, then in insertion order: rebuilt from
    /// in this order, a grid of the same spec comes out the same.
    pub(crate) fn items(&self) -> &[GridItem] {
        &self.items
    }

    /// Number of items in the grid.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the grid is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items whose cells overlap `rect`, unfiltered: a superset of the
    /// items inside it, one contiguous slice per row of cells.
    fn candidates(&self, rect: Rect) -> impl Iterator<Item = &GridItem> + '_ {
        let (c0, r0) = self.cell_of(rect.min);
        let (c1, r1) = self.cell_of(rect.max);
        let empty = rect.min.x > rect.max.x || rect.min.y > rect.max.y;
        let rows = r0..if empty { r0 } else { r1 + 1 };
        // Unused when empty (no rows), where `c1` may lie before `c0`.
        let width = c1.saturating_sub(c0) as usize + 1;
        rows.flat_map(move |row| {
            let span = self.row_span(row, c0, width);
            self.items.get(span).unwrap_or(&[]).iter()
        })
    }

    /// Where in `items` (and `spots`) the `width` cells of `row` from
    /// column `c0` are: one contiguous span, empty if out of the grid.
    #[inline]
    fn row_span(&self, row: u32, c0: u32, width: usize) -> std::ops::Range<usize> {
        let first = row as usize * self.cols as usize + c0 as usize;
        match (self.starts.get(first), self.starts.get(first + width)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }

    /// The items inside `rect` (edges included).
    pub fn query_rect(&self, rect: Rect) -> impl Iterator<Item = &GridItem> + '_ {
        self.candidates(rect)
            .filter(move |it| rect.contains(it.pos))
    }

    /// Appends the ids of the items inside `rect` (edges included), in cell
    /// order: the same items as [`Grid::query_rect`], as one tight loop per
    /// row of cells (this is the interest-management query, run once per
    /// player per tick).
    pub fn ids_in_rect(&self, rect: Rect, out: &mut Vec<NetId>) {
        self.scan(rect, out, |_| true);
    }

    /// [`Grid::ids_in_rect`] of the items for which `keep` holds: for a
    /// grid that may name entities gone since its rebuild.
    pub fn ids_in_rect_where(
        &self,
        rect: Rect,
        out: &mut Vec<NetId>,
        mut keep: impl FnMut(EntityKey) -> bool,
    ) {
        self.scan(rect, out, |i| {
            self.items.get(i).is_some_and(|item| keep(item.key))
        });
    }

    /// The rows of cells `rect` covers, each one contiguous span of items,
    /// for the ids of those inside it whose index in `items` `keep` keeps.
    /// Generic, so that [`Grid::ids_in_rect`] calls no filter at all.
    #[inline]
    fn scan(&self, rect: Rect, out: &mut Vec<NetId>, mut keep: impl FnMut(usize) -> bool) {
        // Also false for a NaN corner, which no position is inside.
        if !(rect.min.x <= rect.max.x && rect.min.y <= rect.max.y) {
            return;
        }
        let (c0, r0) = self.cell_of(rect.min);
        let (c1, r1) = self.cell_of(rect.max);
        let width = (c1 - c0) as usize + 1;
        // A row's spots, and the index in `items` of its first.
        let row = |row: u32| {
            let span = self.row_span(row, c0, width);
            let start = span.start;
            (self.spots.get(span).unwrap_or(&[]), start)
        };
        // The first and last rows may be partly outside the rect in y. A
        // row strictly between lies inside it in y: the map from a position
        // to its row never decreases, and the clamped edge rows are never
        // strictly between. Those test x only.
        let (spots, start) = row(r0);
        push_inside::<true>(spots, rect, out, |i| keep(start + i));
        if r1 > r0 {
            for r in r0 + 1..r1 {
                let (spots, start) = row(r);
                push_inside::<false>(spots, rect, out, |i| keep(start + i));
            }
            let (spots, start) = row(r1);
            push_inside::<true>(spots, rect, out, |i| keep(start + i));
        }
    }

    /// The items within `radius` of `centre` (distance `<= radius`).
    pub fn query_radius(&self, centre: Vec2, radius: f32) -> impl Iterator<Item = &GridItem> + '_ {
        let rect = Rect {
            min: centre - Vec2::splat(radius),
            max: centre + Vec2::splat(radius),
        };
        let r2 = radius * radius;
        self.candidates(rect)
            .filter(move |it| it.pos.distance_squared(centre) <= r2)
    }
}

/// Appends the ids of `spots` inside `rect` whose index `keep` keeps; in y
/// only when `TEST_Y`, for a row that may be partly outside.
fn push_inside<const TEST_Y: bool>(
    spots: &[(NetId, Vec2)],
    rect: Rect,
    out: &mut Vec<NetId>,
    mut keep: impl FnMut(usize) -> bool,
) {
    // Without a branch on what was loaded: each id is pushed, then kept or
    // not. A mispredicted branch per item would wait for its row's load;
    // this way the rows' loads overlap.
    for (i, &(id, pos)) in spots.iter().enumerate() {
        let inside_y = !TEST_Y || ((pos.y >= rect.min.y) & (pos.y <= rect.max.y));
        let inside = (pos.x >= rect.min.x) & (pos.x <= rect.max.x) & inside_y & keep(i);
        let len = out.len();
        out.push(id);
        out.truncate(len + usize::from(inside));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use slotmap::SlotMap;

    fn grid_with(points: &[Vec2]) -> (Grid, Vec<EntityKey>) {
        let mut keys: SlotMap<EntityKey, ()> = SlotMap::with_key();
        let ks: Vec<_> = points.iter().map(|_| keys.insert(())).collect();
        let mut g = Grid::new(GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(1000.0),
            },
            cell_size: 100.0,
        });
        g.rebuild(
            points
                .iter()
                .zip(&ks)
                .enumerate()
                .map(|(i, (&pos, &key))| GridItem {
                    key,
                    id: NetId(i as u32),
                    pos,
                }),
        );
        (g, ks)
    }

    fn brute(points: &[Vec2], f: impl Fn(Vec2) -> bool) -> Vec<u32> {
        (0..points.len() as u32)
            .filter(|&i| f(points[i as usize]))
            .collect()
    }

    fn ids<'a>(it: impl Iterator<Item = &'a GridItem>) -> Vec<u32> {
        let mut v: Vec<u32> = it.map(|i| i.id.0).collect();
        v.sort_unstable();
        v
    }

    fn scatter(n: usize) -> Vec<Vec2> {
        // A cheap deterministic scatter, including points outside the bounds.
        (0..n)
            .map(|i| {
                let a = (i as f32 * 37.77) % 1200.0 - 100.0;
                let b = (i as f32 * 91.31) % 1200.0 - 100.0;
                Vec2::new(a, b)
            })
            .collect()
    }

    #[test]
    fn rect_query_matches_brute_force() {
        let pts = scatter(2000);
        let (g, _) = grid_with(&pts);
        let rect = Rect {
            min: Vec2::new(120.0, 340.0),
            max: Vec2::new(610.0, 777.0),
        };
        assert_eq!(ids(g.query_rect(rect)), brute(&pts, |p| rect.contains(p)));
    }

    #[test]
    fn radius_query_matches_brute_force() {
        let pts = scatter(2000);
        let (g, _) = grid_with(&pts);
        let c = Vec2::new(480.0, 520.0);
        assert_eq!(
            ids(g.query_radius(c, 150.0)),
            brute(&pts, |p| p.distance_squared(c) <= 150.0 * 150.0)
        );
    }

    #[test]
    fn points_outside_the_bounds_are_still_found() {
        let pts = vec![Vec2::new(-50.0, -50.0), Vec2::new(5000.0, 20.0)];
        let (g, _) = grid_with(&pts);
        assert_eq!(ids(g.query_radius(Vec2::new(-50.0, -50.0), 1.0)), vec![0]);
        assert_eq!(ids(g.query_radius(Vec2::new(5000.0, 20.0), 1.0)), vec![1]);
    }

    #[test]
    fn ids_in_rect_match_the_rect_query() {
        let pts = scatter(2000);
        let (g, ks) = grid_with(&pts);
        let rect = Rect {
            min: Vec2::new(-30.0, 340.0),
            max: Vec2::new(610.0, 1777.0),
        };
        let mut out = Vec::new();
        g.ids_in_rect(rect, &mut out);
        let mut got: Vec<u32> = out.iter().map(|id| id.0).collect();
        got.sort_unstable();
        assert_eq!(got, ids(g.query_rect(rect)));
        // `keep` filters by key.
        out.clear();
        g.ids_in_rect_where(rect, &mut out, |k| k != ks[got[0] as usize]);
        assert_eq!(out.len(), got.len() - 1);
        assert!(!out.contains(&NetId(got[0])));
        // An empty rect finds nothing.
        out.clear();
        let inverted = Rect {
            min: rect.max,
            max: rect.min,
        };
        g.ids_in_rect(inverted, &mut out);
        assert!(out.is_empty());
    }

    proptest::proptest! {
        /// Whatever the rect (crossing the bounds, thinner than a cell,
        /// on cell edges, beyond everything) and wherever the items
        /// (outside the bounds too), the query finds exactly the items
        /// inside: the rows it does not test in y hold nothing outside.
        #[test]
        fn ids_in_rect_find_exactly_the_items_inside(
            points in proptest::collection::vec((-300i32..1300, -300i32..1300), 0..300),
            corner in (-400i32..1400, -400i32..1400),
            size in (0i32..1200, 0i32..1200),
            quarter in proptest::bool::ANY,
        ) {
            // Whole and quarter units: edges land on cell boundaries too.
            let unit = if quarter { 0.25 } else { 1.0 };
            let pts: Vec<Vec2> = points
                .iter()
                .map(|&(x, y)| Vec2::new(x as f32, y as f32) * unit)
                .collect();
            let (g, _) = grid_with(&pts);
            let min = Vec2::new(corner.0 as f32, corner.1 as f32) * unit;
            let rect = Rect { min, max: min + Vec2::new(size.0 as f32, size.1 as f32) * unit };
            let mut out = Vec::new();
            g.ids_in_rect(rect, &mut out);
            let mut got: Vec<u32> = out.iter().map(|id| id.0).collect();
            got.sort_unstable();
            proptest::prop_assert_eq!(got, brute(&pts, |p| rect.contains(p)));
        }
    }

    #[test]
    fn rebuild_replaces_previous_contents() {
        let (mut g, _) = grid_with(&scatter(100));
        g.rebuild(std::iter::empty());
        assert!(g.is_empty());
        assert_eq!(
            g.query_rect(Rect {
                min: Vec2::splat(-1e9),
                max: Vec2::splat(1e9)
            })
            .count(),
            0
        );
    }

    #[test]
    fn huge_bounds_cap_the_cell_count() {
        let g = Grid::new(GridSpec {
            bounds: Rect {
                min: Vec2::ZERO,
                max: Vec2::splat(1.0e7),
            },
            cell_size: 1.0,
        });
        assert!(g.starts.len() <= MAX_CELLS + 1);
    }
}
