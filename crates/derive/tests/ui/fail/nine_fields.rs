//! A kind has at most 8 fields.
use tickwire_sim::prelude::*;

#[derive(Replicate)]
enum Row {
    Small { a: u8 },
    Crowded { a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8 },
}

fn main() {}
