//! Bytes per player per second of the arena scenario (`bench/arena-scenario.md`
//! in the project's shared notes): every avatar moving at 200 units/s, a new
//! random direction once per second, 30 Hz, every avatar visible to every
//! player, each snapshot a delta against the previous tick, WebSocket frame
//! header included. Prints the figure for several room sizes; the test
//! `crates/protocol/tests/bandwidth.rs` guards the 100-player figure against
//! the 10,000 B/s goal with the same scenario code.
//!
//! Run: `cargo bench -p tickwire-benches --bench bandwidth`

#[path = "../../crates/protocol/tests/support/arena.rs"]
mod arena;

fn main() {
    const WARMUP_SECONDS: u32 = 5;
    const SECONDS: u32 = 30;
    println!(
        "arena scenario, 30 Hz, delta against the previous tick, {SECONDS} s after {WARMUP_SECONDS} s warm-up"
    );
    println!(
        "{:>8}  {:>16}  {:>14}",
        "players", "B/s per player", "B per snapshot"
    );
    for players in [10, 50, 100, 200] {
        let rate = arena::bytes_per_player_per_second(players, WARMUP_SECONDS, SECONDS, 0x7157);
        println!(
            "{players:>8}  {rate:>16.0}  {:>14.1}",
            rate / f64::from(arena::TICK_RATE)
        );
    }
}
