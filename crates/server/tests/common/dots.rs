//! A tiny game of its own for the one-call entry's tests: every player is
//! a dot on a line that a one-field input pushes left or right, `step`
//! units a tick. Its config has no world-shape setting, so `--arena-size`
//! and `--view-size` are refused.

use serde::{Deserialize, Serialize};
use tickwire_sim::prelude::*;
use tickwire_sim::{
    Configure, FieldDecl, InputDecl, InputKind, KindDecl, MAX_FIELDS, MAX_INPUT_FIELDS,
    Quantization, SetupError,
};

/// The dots game's config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DotsConfig {
    /// Units a push moves a dot each tick.
    pub step: i32,
}

impl Default for DotsConfig {
    fn default() -> Self {
        Self { step: 3 }
    }
}

/// The dots game.
#[derive(Clone, Debug)]
pub struct Dots {
    step: i32,
}

/// A dot: where it is and which way it is pushed.
#[derive(Clone, Debug)]
pub struct Dot {
    x: i32,
    push: i32,
}

impl StateHash for Dot {
    fn hash_state(&self, h: &mut StateHasher) {
        h.i32(self.x);
        h.i32(self.push);
    }
}

/// The one replicated kind.
pub struct DotRow {
    x: i32,
}

impl Replicate for DotRow {
    fn kinds() -> Vec<KindDecl> {
        vec![KindDecl {
            id: 0,
            name: "dot".into(),
            fields: vec![FieldDecl {
                id: 0,
                name: "x".into(),
                quant: Quantization::Int {
                    min: -1_000_000,
                    max: 1_000_000,
                },
            }],
        }]
    }

    fn quantize(&self) -> (u8, [i32; MAX_FIELDS]) {
        let mut values = [0; MAX_FIELDS];
        values[0] = self.x.clamp(-1_000_000, 1_000_000);
        (0, values)
    }
}

/// The input: push left (-1), not at all (0) or right (1).
#[derive(Clone, Copy, Debug, Default)]
pub struct Push(pub i32);

impl Input for Push {
    fn fields() -> Vec<InputDecl> {
        vec![InputDecl {
            name: "push".into(),
            kind: InputKind::Int { min: -1, max: 1 },
        }]
    }

    fn from_values(values: &[i32; MAX_INPUT_FIELDS]) -> Self {
        Self(values[0].clamp(-1, 1))
    }

    fn to_values(&self) -> [i32; MAX_INPUT_FIELDS] {
        let mut values = [0; MAX_INPUT_FIELDS];
        values[0] = self.0;
        values
    }
}

impl Game for Dots {
    type Entity = Dot;
    type Row = DotRow;
    type Input = Push;
    type Event = NoEvents;
    const NAME: &'static str = "dots";

    fn max_players(&self) -> usize {
        8
    }

    fn join(
        &mut self,
        ctx: &mut Ctx<'_, Dot>,
        _player: PlayerId,
        _name: &str,
    ) -> Result<EntityKey, JoinError> {
        let x = ctx.rng.random_range(-100..=100);
        Ok(ctx.entities.spawn(Dot { x, push: 0 }))
    }

    fn input(
        &mut self,
        ctx: &mut Ctx<'_, Dot>,
        _player: PlayerId,
        avatar: EntityKey,
        input: &Push,
    ) {
        if let Some(dot) = ctx.entities.get_mut(avatar) {
            dot.push = input.0;
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Dot>) {
        for (_, _, dot) in ctx.entities.iter_mut() {
            dot.x += dot.push * self.step;
        }
    }

    fn replicate(&self, dot: &Dot) -> Option<DotRow> {
        Some(DotRow { x: dot.x })
    }
}

impl Configure for Dots {
    type Config = DotsConfig;

    fn build(config: &DotsConfig, _tick_rate: u32) -> Result<Self, SetupError> {
        Ok(Self { step: config.step })
    }
}
