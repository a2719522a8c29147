//! Runs a fixed number of open-world ticks of 10,000 players (the
//! `open_world` bench's tick, see [`tickwire_benches::open_world`]) for an
//! instruction count, which unlike a time does not move with the machine's
//! load:
//!
//! ```text
//! cargo build --release -p tickwire-benches --bin open-world-ticks
//! valgrind --tool=callgrind --toggle-collect='*measured_ticks*' \
//!     target/release/open-world-ticks
//! ```
//!
//! Callgrind then counts only the measured ticks, after five to warm up;
//! divide its total by the ticks printed.

use std::hint::black_box;

use tickwire_benches::open_world::Room;

/// Ticks counted.
const TICKS: usize = 5;

/// The counted ticks; a function of its own so that callgrind can count
/// only them. Returns the bytes of every snapshot frame.
#[inline(never)]
fn measured_ticks(room: &mut Room) -> usize {
    (0..TICKS).map(|_| room.tick()).sum()
}

fn main() {
    let mut room = Room::new(None);
    for _ in 0..5 {
        black_box(room.tick());
    }
    let bytes = measured_ticks(&mut room);
    println!("{TICKS} ticks, {bytes} bytes of snapshot frames");
}
