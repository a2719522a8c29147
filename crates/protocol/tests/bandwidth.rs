//! The arena scenario's bandwidth stays under the project's goal of
//! 10,000 bytes per player per second (100 players, all moving, all
//! visible, 30 Hz, WebSocket header included). The bench
//! `benches/benches/bandwidth.rs` prints the same figure.

mod support;

use support::arena::bytes_per_player_per_second;

#[test]
fn arena_100_players_stays_under_10_000_bytes_per_player_per_second() {
    let rate = bytes_per_player_per_second(100, 5, 20, 0x7157);
    println!("arena, 100 players: {rate:.0} B/s per player");
    assert!(rate <= 10_000.0, "{rate:.0} B/s per player is over 10,000");
}
