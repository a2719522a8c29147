//! The games bundled with Tickwire, the arena and the bench game, as the
//! `tickwire` binary serves them.
//!
//! Nothing here is particular to them: the binary is [`Games`] with both
//! games added and the arena app as its page ([`page`]), and [`bundled`]
//! is [`Games::factory`] for tests and embedders that start a
//! [`Server`](crate::Server) themselves.

use std::sync::Arc;

use rust_embed::RustEmbed;

use tickwire_sim::games::arena::Arena;
use tickwire_sim::games::bench::Bench;

use crate::{GameFactory, GameOptions, Games, Page};

/// The arena app (`client-web/` but the SDK, served at `/sdk/` for every
/// game, the replay viewer's page, the operator console, served at
/// `/admin/`, and the app's tests and tools). Release builds embed it; debug
/// builds read it from the source tree, so edits show up on reload.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../client-web"]
#[exclude = "sdk/*"]
#[exclude = "console/*"]
#[exclude = "viewer/*"]
#[exclude = "node_modules/*"]
#[exclude = "test/*"]
#[exclude = "test-results/*"]
#[exclude = "tools/*"]
#[exclude = "README.md"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = ".*"]
#[exclude = "*/.*"]
struct ArenaApp;

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
        .page(page())
}

/// The arena app, the page of the bundled `tickwire` binary (for both of
/// its games): for a [`Server`](crate::Server) started with a bundled
/// game that should serve it, `Server::builder(config, game).page(page())`.
pub fn page() -> Page {
    Page::embedded::<ArenaApp>()
}

/// The bundled game called `name` (`arena` or `bench`) set up with
/// `options`. Checks the name, the game's config and the record directory
/// now, so a mistake stops the server at start rather than at the first
/// join.
pub fn bundled(name: &str, options: BundledOptions) -> anyhow::Result<Arc<dyn GameFactory>> {
    games().factory(name, &options)
}
