//! The games bundled with Tickwire, the arena and the bench game, as the
//! `tickwire` binary serves them.
//!
//! Nothing here is particular to them: the binary is [`Games`] with both
//! games added, and [`bundled`] is [`Games::factory`] for tests and
//! embedders that start a [`Server`](crate::Server) themselves.

use std::sync::Arc;

use tickwire_sim::games::arena::Arena;
use tickwire_sim::games::bench::Bench;

use crate::{GameFactory, GameOptions, Games};

/// The options of a bundled game: the same as any game's.
pub type BundledOptions = GameOptions;

/// The bundled games, the arena first (the default of `--game`): the
/// `tickwire` binary.
pub fn games() -> Games {
    Games::new()
        .about("Tickwire: an authoritative multiplayer game-state server")
        .version(env!("CARGO_PKG_VERSION"))
        .game::<Arena>()
        .game::<Bench>()
}

/// The bundled game called `name` (`arena` or `bench`) set up with
/// `options`. Checks the name, the game's config and the record directory
/// now, so a mistake stops the server at start rather than at the first
/// join.
pub fn bundled(name: &str, options: BundledOptions) -> anyhow::Result<Arc<dyn GameFactory>> {
    games().factory(name, &options)
}
