//! An f32 field must say how it is quantized.
use tickwire_sim::prelude::*;

#[derive(Replicate)]
enum Row {
    Ball { x: f32 },
}

fn main() {}
