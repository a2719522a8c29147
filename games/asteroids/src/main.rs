//! The asteroids game server: the whole binary is the one-call entry, with
//! the game's own page (`web/`, embedded at build time) at `/`.
//!
//! `asteroids --help` lists the flags; `asteroids replay FILE` replays a
//! record written with `--record DIR`; `--client-dir games/asteroids/web`
//! serves the page from disk while it is being written.

fn main() -> std::process::ExitCode {
    tickwire::run_with_page::<tickwire_asteroids::Asteroids>(tickwire::page!("web"))
}
