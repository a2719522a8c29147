//! An input's axis is an f32 or an integer, its buttons an integer, and it
//! has at most 8 fields.
use tickwire_sim::prelude::*;

#[derive(Clone, Copy, Default, Input)]
struct Controls {
    #[axis(127)]
    steer: bool,
}

#[derive(Clone, Copy, Default, Input)]
struct TooMany {
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
    i: u8,
}

fn main() {}
