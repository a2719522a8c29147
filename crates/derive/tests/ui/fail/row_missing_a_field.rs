//! A game's `replicate` that leaves a field out of its row does not compile.
use tickwire_sim::prelude::*;

#[derive(Replicate)]
enum Row {
    Avatar {
        #[fixed(16)]
        x: f32,
        #[fixed(16)]
        y: f32,
        hp: u8,
    },
}

struct Dot {
    pos: Vec2,
}

fn replicate(d: &Dot) -> Option<Row> {
    Some(Row::Avatar { x: d.pos.x, y: d.pos.y })
}

fn main() {
    let _ = replicate(&Dot { pos: Vec2::ZERO });
}
