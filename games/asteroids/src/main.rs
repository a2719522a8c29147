//! The asteroids game server: the whole binary is the one-call entry.
//!
//! `asteroids --help` lists the flags; `asteroids replay FILE` replays a
//! record written with `--record DIR`.

fn main() -> std::process::ExitCode {
    tickwire::run::<tickwire_asteroids::Asteroids>()
}
