//! `#[fixed]` and `#[angle]` fields are f32.
use tickwire_sim::prelude::*;

#[derive(Replicate)]
struct Row {
    #[fixed(16)]
    x: String,
}

fn main() {}
