//! How urgent a change is under a bandwidth budget: the game's own ranking
//! of its rows, which the protocol's budget selection asks for through
//! [`crate::Game::priority`]. A game that has positions usually ranks by
//! nearness to the centre of the player's view; [`nearness`] is that rule,
//! as the bundled games use it.

use glam::Vec2;

use crate::replicate::Rect;

/// The least weight [`nearness`] gives: the far edge of a view still gets a
/// turn, eight times less often than its centre.
pub const LEAST_NEARNESS: f32 = 1.0 / 8.0;

/// A weight in `LEAST_NEARNESS..=1` for something at `at` seen through
/// `view`: 1 at the view's centre, falling with the distance measured in
/// half-diagonals of the view.
///
/// ```
/// # use tickwire_sim::{nearness, Rect};
/// # use glam::Vec2;
/// let view = Rect::centred(Vec2::ZERO, Vec2::splat(100.0));
/// assert_eq!(nearness(view, Vec2::ZERO), 1.0);
/// assert!(nearness(view, Vec2::new(40.0, 0.0)) < nearness(view, Vec2::new(10.0, 0.0)));
/// ```
pub fn nearness(view: Rect, at: Vec2) -> f32 {
    let centre = (
        (view.min.x + view.max.x) * 0.5,
        (view.min.y + view.max.y) * 0.5,
    );
    let (hx, hy) = (
        (view.max.x - view.min.x) * 0.5,
        (view.max.y - view.min.y) * 0.5,
    );
    let reach = (hx * hx + hy * hy).sqrt().max(f32::MIN_POSITIVE);
    let (dx, dy) = (at.x - centre.0, at.y - centre.1);
    let d = (dx * dx + dy * dy).sqrt() / reach;
    (1.0 / (1.0 + 4.0 * d)).clamp(LEAST_NEARNESS, 1.0)
}
