//! The "nearest first" priority of a budget: [`Nearness`] ranks an entity
//! by its distance from the centre of the player's view.

use tickwire_types::{Quantization, Rect, ReplicatedEntity, Schema};

use super::MIN_PRIORITY;

/// Ranks entities by how near they are to the centre of a view: the
/// "nearest first" priority of a budget, for schemas with fixed-point
/// fields named `x` and `y`.
#[derive(Clone, Debug)]
pub struct Nearness {
    /// Per kind: the `x` and `y` field indices and their scales.
    fields: Vec<Option<(usize, usize, f32, f32)>>,
    /// The view's centre.
    centre: (f32, f32),
    /// The view's half diagonal, for scaling distances.
    reach: f32,
}

impl Nearness {
    /// Nearness to the centre of `view` for rows of `schema`.
    pub fn new(schema: &Schema, view: Rect) -> Self {
        let fields = schema
            .kinds
            .iter()
            .map(|kind| {
                let find = |name: &str| {
                    kind.fields
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.name == name)
                        .and_then(|(i, f)| match f.quant {
                            Quantization::Fixed { scale } => Some((i, scale as f32)),
                            _ => None,
                        })
                };
                let (x, sx) = find("x")?;
                let (y, sy) = find("y")?;
                Some((x, y, sx, sy))
            })
            .collect();
        let centre = (
            (view.min.x + view.max.x) * 0.5,
            (view.min.y + view.max.y) * 0.5,
        );
        let (hx, hy) = (
            (view.max.x - view.min.x) * 0.5,
            (view.max.y - view.min.y) * 0.5,
        );
        Self {
            fields,
            centre,
            reach: (hx * hx + hy * hy).sqrt().max(f32::MIN_POSITIVE),
        }
    }

    /// A weight in `MIN_PRIORITY..=1`: 1 at the centre, falling with
    /// distance; 1 for an entity without a position.
    pub fn priority(&self, e: &ReplicatedEntity) -> f32 {
        let Some(&Some((x, y, sx, sy))) = self.fields.get(usize::from(e.kind)) else {
            return 1.0;
        };
        let dx = e.values[x] as f32 / sx - self.centre.0;
        let dy = e.values[y] as f32 / sy - self.centre.1;
        let d = (dx * dx + dy * dy).sqrt() / self.reach;
        (1.0 / (1.0 + 4.0 * d)).clamp(MIN_PRIORITY, 1.0)
    }
}
