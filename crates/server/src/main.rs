//! The `tickwire` binary: the server with the bundled games, built as any
//! game server is (see `tickwire::run`). `--game arena|bench` picks the
//! game; `replay FILE` replays a record; `ticket` prints a join ticket.

fn main() -> std::process::ExitCode {
    tickwire::bundled::games().run()
}
