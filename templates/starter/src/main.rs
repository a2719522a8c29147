//! The game server: the rules in `lib.rs`, the page in `web/` (embedded at
//! build time; `--client-dir templates/starter/web` serves it from disk
//! while you edit it).

fn main() -> std::process::ExitCode {
    tickwire::run_with_page::<tickwire_starter::Starter>(tickwire::page!("web"))
}
