//! A recorded match as the viewer drives it: any game's world behind one
//! object-safe trait, [`Replayable`], that can be copied (a keyframe) and
//! names its players.

use tickwire_sim::record::MatchSetup;
use tickwire_sim::setup::{self, Configure, SetupError};
use tickwire_sim::{Game, NetId, PlayerId, Simulation, World};

/// A player of the match at some tick: its id, its name, and the entity it
/// controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The player's id.
    pub player: PlayerId,
    /// The name it joined with.
    pub name: String,
    /// Its avatar's wire id, if the avatar is alive in the world.
    pub avatar: Option<NetId>,
}

/// A running match the viewer can copy and ask about its players: a
/// [`World`] of any game that is `Clone`, behind a box.
pub trait Replayable: Simulation {
    /// A copy that runs on apart from this one (a keyframe).
    fn fork(&self) -> Box<dyn Replayable>;
    /// Every player now in the match, in id order, into `out` (cleared
    /// first).
    fn seats(&self, out: &mut Vec<Seat>);
    /// This match as a [`Simulation`].
    fn as_simulation(&self) -> &dyn Simulation;
    /// This match as a [`Simulation`], to change.
    fn as_simulation_mut(&mut self) -> &mut dyn Simulation;
}

impl<G: Game + Clone> Replayable for World<G>
where
    G::Entity: Clone,
{
    fn fork(&self) -> Box<dyn Replayable> {
        Box::new(self.clone())
    }

    fn seats(&self, out: &mut Vec<Seat>) {
        out.clear();
        out.extend(self.players().map(|(player, name)| {
            Seat {
                player,
                name: name.to_owned(),
                avatar: self
                    .avatar(player)
                    .and_then(|key| self.entities().net_id(key)),
            }
        }));
    }

    fn as_simulation(&self) -> &dyn Simulation {
        self
    }

    fn as_simulation_mut(&mut self) -> &mut dyn Simulation {
        self
    }
}

/// A fresh match of `G` built from a record's header (its config, seed and
/// tick rate), before its first tick: where a replay starts.
pub fn fresh<G>(setup: &MatchSetup) -> Result<Box<dyn Replayable>, SetupError>
where
    G: Configure + Clone,
    G::Entity: Clone,
{
    let config = setup::recorded_config::<G>(setup)?;
    Ok(Box::new(setup::world::<G>(
        &config,
        setup.seed,
        setup.tick_rate,
    )?))
}
