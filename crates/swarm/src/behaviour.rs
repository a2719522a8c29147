//! What a bot sends: a [`Behaviour`] picks each input's values from the
//! input the game declared in its welcome.
//!
//! Two come with the swarm. [`Random`] (`--behaviour random`, the default)
//! drives any game: every declared field gets random values in its range,
//! each held for a random number of inputs, and every button is pressed now
//! and then, so a game's firing code runs too. [`Scenario`] (`--behaviour
//! scenario`) is the arena benchmark scenario's bot, which the benchmark
//! figures are measured with: it fills `move_x`, `move_y` and `aim` by name.
//!
//! A scripted bot is one more implementation of [`Behaviour`], run with
//! [`crate::runner::run_with`].

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use tickwire_types::{InputDecl, InputKind, MAX_INPUT_FIELDS};

/// The values of one input, in the game's declaration order; fields past
/// the declared ones stay 0.
pub type Values = [i32; MAX_INPUT_FIELDS];

/// The behaviours `--behaviour` knows, by name.
pub const NAMES: [&str; 2] = [Random::NAME, Scenario::NAME];

/// What a behaviour is given for each input it picks.
#[derive(Debug)]
pub struct Tick<'a> {
    /// The input's number for this bot: 0 for the first one it sends, one
    /// more for each after it (the bot sends one every 100 ms).
    pub index: u64,
    /// The bot's random generator: seeded from the swarm's `--seed` and the
    /// bot's index, so a run is reproducible.
    pub rng: &'a mut Pcg32,
}

/// A behaviour cannot drive the game it joined, or is not known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BehaviourError {
    /// `--behaviour` named no known behaviour.
    #[error("unknown behaviour `{0}` (known: random, scenario)")]
    Unknown(String),
    /// The game does not declare a field the behaviour fills by name.
    #[error(
        "behaviour `{behaviour}` needs the input field `{field}`, which game `{game}` does not declare"
    )]
    MissingField {
        /// The behaviour.
        behaviour: &'static str,
        /// The field it needs.
        field: &'static str,
        /// The game's name, from the welcome.
        game: String,
    },
    /// The game declares the field, but not of the kind the behaviour needs.
    #[error(
        "behaviour `{behaviour}` needs the input field `{field}` to be {wanted}, and game `{game}` declares {found:?}"
    )]
    WrongKind {
        /// The behaviour.
        behaviour: &'static str,
        /// The field.
        field: &'static str,
        /// The kind it needs, in words.
        wanted: &'static str,
        /// What the game declares.
        found: InputKind,
        /// The game's name, from the welcome.
        game: String,
    },
    /// A declared field no value fits (a schema the server should have
    /// refused), or too many fields.
    #[error("game `{game}` declares an input no value fits: {problem}")]
    BadInput {
        /// The game's name.
        game: String,
        /// What is wrong, in words.
        problem: String,
    },
}

/// A bot's way of playing: given the declared input once, it picks the
/// values of every input the bot sends.
///
/// Every value must lie in its field's range ([`InputKind::range`]): the
/// server closes a socket that sends one outside it, and the bot checks
/// each input against the schema before sending it (a behaviour that breaks
/// the rule ends the run with an error).
pub trait Behaviour: Send {
    /// The behaviour's name, for reports and errors.
    fn name(&self) -> &'static str;

    /// Called once, when the welcome arrives and before the first
    /// [`Behaviour::next`], with the game's name and declared input. An
    /// error means this behaviour cannot drive this game: the run stops
    /// with it.
    fn start(&mut self, game: &str, input: &[InputDecl]) -> Result<(), BehaviourError>;

    /// The values of the next input.
    fn next(&mut self, tick: &mut Tick<'_>) -> Values;
}

/// The random generator of bot `index` in a swarm seeded with `seed`: the
/// same pair gives the same generator, so the same inputs.
pub fn bot_rng(seed: u64, index: usize) -> Pcg32 {
    Pcg32::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The behaviour `name` (one of [`NAMES`]), fresh.
pub fn by_name(name: &str) -> Result<Box<dyn Behaviour>, BehaviourError> {
    match name {
        Random::NAME => Ok(Box::new(Random::default())),
        Scenario::NAME => Ok(Box::new(Scenario::default())),
        other => Err(BehaviourError::Unknown(other.to_string())),
    }
}

/// The value of a field nobody moves: 0 if the range holds it, else the
/// end nearest to 0.
pub fn rest_value(kind: &InputKind) -> i32 {
    let (min, max) = kind.range();
    0.clamp(min, max.max(min))
}

/// Checks that every field has a value and that there are not too many.
fn check_fields(game: &str, input: &[InputDecl]) -> Result<(), BehaviourError> {
    if input.len() > MAX_INPUT_FIELDS {
        return Err(BehaviourError::BadInput {
            game: game.to_string(),
            problem: format!("{} fields, at most {MAX_INPUT_FIELDS}", input.len()),
        });
    }
    for field in input {
        let (min, max) = field.kind.range();
        if min > max {
            return Err(BehaviourError::BadInput {
                game: game.to_string(),
                problem: format!("field `{}` has the empty range {min}..={max}", field.name),
            });
        }
    }
    Ok(())
}

/// Most inputs a [`Random`] value is held for (ten: one second).
pub const MAX_HOLD: u32 = 10;

/// One in this many draws presses a given button.
pub const PRESS_ONE_IN: u32 = 3;

/// One declared field as [`Random`] drives it.
#[derive(Clone, Debug)]
struct Held {
    kind: InputKind,
    value: i32,
    /// Inputs left before a new value is drawn.
    left: u32,
}

/// Random valid inputs for any game: each field takes a uniformly random
/// value of its range (each button pressed with probability
/// 1/[`PRESS_ONE_IN`]) and holds it for 1 to [`MAX_HOLD`] inputs, then
/// draws again.
#[derive(Clone, Debug, Default)]
pub struct Random {
    fields: Vec<Held>,
}

impl Random {
    /// Its name on the command line.
    pub const NAME: &'static str = "random";
}

fn draw(kind: &InputKind, rng: &mut Pcg32) -> i32 {
    match kind {
        InputKind::Buttons { names } => {
            let mut bits = 0i32;
            for bit in 0..names.len().min(tickwire_types::MAX_BUTTONS) {
                if rng.random_range(0..PRESS_ONE_IN) == 0 {
                    bits |= 1 << bit;
                }
            }
            bits
        }
        other => {
            let (min, max) = other.range();
            rng.random_range(min..=max)
        }
    }
}

impl Behaviour for Random {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn start(&mut self, game: &str, input: &[InputDecl]) -> Result<(), BehaviourError> {
        check_fields(game, input)?;
        self.fields = input
            .iter()
            .map(|decl| Held {
                kind: decl.kind.clone(),
                value: rest_value(&decl.kind),
                left: 0,
            })
            .collect();
        Ok(())
    }

    fn next(&mut self, tick: &mut Tick<'_>) -> Values {
        let mut values = [0; MAX_INPUT_FIELDS];
        for (slot, field) in values.iter_mut().zip(&mut self.fields) {
            if field.left == 0 {
                field.value = draw(&field.kind, tick.rng);
                field.left = tick.rng.random_range(1..=MAX_HOLD);
            }
            field.left -= 1;
            *slot = field.value;
        }
        values
    }
}

/// Inputs the [`Scenario`] bot keeps one direction for (one second).
pub const INPUTS_PER_DIRECTION: u64 = 10;

/// The arena benchmark scenario's bot: full speed in a uniformly random
/// direction, a new one every [`INPUTS_PER_DIRECTION`] inputs, aiming where
/// it goes; no button pressed; any other field at rest ([`rest_value`]).
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Index and steps of `move_x`, `move_y` and `aim`.
    fields: Option<ScenarioFields>,
    rest: Values,
    direction: f32,
}

#[derive(Clone, Copy, Debug)]
struct ScenarioFields {
    move_x: (usize, u16),
    move_y: (usize, u16),
    aim: (usize, u32),
}

impl Scenario {
    /// Its name on the command line.
    pub const NAME: &'static str = "scenario";

    fn find<'a>(
        game: &str,
        input: &'a [InputDecl],
        field: &'static str,
    ) -> Result<(usize, &'a InputKind), BehaviourError> {
        input
            .iter()
            .position(|d| d.name == field)
            .map(|i| (i, &input[i].kind))
            .ok_or_else(|| BehaviourError::MissingField {
                behaviour: Self::NAME,
                field,
                game: game.to_string(),
            })
    }

    fn axis(
        game: &str,
        input: &[InputDecl],
        field: &'static str,
    ) -> Result<(usize, u16), BehaviourError> {
        match Self::find(game, input, field)? {
            (i, InputKind::Axis { steps }) => Ok((i, *steps)),
            (_, other) => Err(BehaviourError::WrongKind {
                behaviour: Self::NAME,
                field,
                wanted: "an axis",
                found: other.clone(),
                game: game.to_string(),
            }),
        }
    }
}

impl Behaviour for Scenario {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn start(&mut self, game: &str, input: &[InputDecl]) -> Result<(), BehaviourError> {
        check_fields(game, input)?;
        let move_x = Self::axis(game, input, "move_x")?;
        let move_y = Self::axis(game, input, "move_y")?;
        let aim = match Self::find(game, input, "aim")? {
            (i, InputKind::Angle { steps }) => (i, *steps),
            (_, other) => {
                return Err(BehaviourError::WrongKind {
                    behaviour: Self::NAME,
                    field: "aim",
                    wanted: "an angle",
                    found: other.clone(),
                    game: game.to_string(),
                });
            }
        };
        for (slot, decl) in self.rest.iter_mut().zip(input) {
            *slot = rest_value(&decl.kind);
        }
        self.fields = Some(ScenarioFields {
            move_x,
            move_y,
            aim,
        });
        Ok(())
    }

    fn next(&mut self, tick: &mut Tick<'_>) -> Values {
        if tick.index % INPUTS_PER_DIRECTION == 0 {
            self.direction = tick.rng.random_range(0.0..std::f32::consts::TAU);
        }
        let mut values = self.rest;
        let Some(f) = self.fields else {
            return values;
        };
        let (sin, cos) = self.direction.sin_cos();
        let axis = |unit: f32, steps: u16| {
            let steps = f32::from(steps);
            (unit * steps).round().clamp(-steps, steps) as i32
        };
        values[f.move_x.0] = axis(cos, f.move_x.1);
        values[f.move_y.0] = axis(sin, f.move_y.1);
        let turn = self.direction.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
        let steps = u64::from(f.aim.1.max(1));
        // Wraps a full turn to 0, as an angle does; (`as` saturates at 0).
        values[f.aim.0] = ((turn as f64 * steps as f64) as u64 % steps) as i32;
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickwire_types::{PlayerInput, Schema};

    fn decl(name: &str, kind: InputKind) -> InputDecl {
        InputDecl {
            name: name.to_string(),
            kind,
        }
    }

    fn buttons(names: &[&str]) -> InputKind {
        InputKind::Buttons {
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// The arena's declared input.
    fn arena() -> Vec<InputDecl> {
        vec![
            decl("move_x", InputKind::Axis { steps: 127 }),
            decl("move_y", InputKind::Axis { steps: 127 }),
            decl("aim", InputKind::Angle { steps: 65536 }),
            decl("buttons", buttons(&["fire"])),
        ]
    }

    /// Every kind, at the edges of what a schema may declare.
    fn every_kind() -> Vec<InputDecl> {
        vec![
            decl("axis", InputKind::Axis { steps: 1 }),
            decl("wide", InputKind::Axis { steps: u16::MAX }),
            decl("angle", InputKind::Angle { steps: 1 }),
            decl("fine", InputKind::Angle { steps: 1 << 31 }),
            decl("pad", buttons(&["a", "b", "c"])),
            decl(
                "all",
                buttons(&[
                    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                    "15",
                ]),
            ),
            decl("card", InputKind::Int { min: 3, max: 9 }),
            decl(
                "any",
                InputKind::Int {
                    min: i32::MIN,
                    max: i32::MAX,
                },
            ),
        ]
    }

    /// `n` inputs of `behaviour` started on `input`, with `rng`.
    fn play(
        behaviour: &mut dyn Behaviour,
        input: &[InputDecl],
        rng: &mut Pcg32,
        n: u64,
    ) -> Vec<Values> {
        if let Err(e) = behaviour.start("test", input) {
            panic!("{e}");
        }
        (0..n)
            .map(|index| behaviour.next(&mut Tick { index, rng }))
            .collect()
    }

    fn assert_valid(input: &[InputDecl], inputs: &[Values]) {
        let schema = Schema::new("test", vec![], input.to_vec(), vec![]);
        assert_eq!(schema.validate(), Ok(()));
        for (seq, values) in inputs.iter().enumerate() {
            let input = PlayerInput {
                seq: seq as u32,
                values: *values,
                view: 0,
            };
            assert_eq!(
                schema.check_input(&input),
                Ok(()),
                "input {seq}: {values:?}"
            );
        }
    }

    fn kind() -> impl Strategy<Value = InputKind> {
        prop_oneof![
            (1..=u16::MAX).prop_map(|steps| InputKind::Axis { steps }),
            (1..=1u32 << 31).prop_map(|steps| InputKind::Angle { steps }),
            (1..=MAX_BUTTONS_PLUS_ONE - 1).prop_map(|n| InputKind::Buttons {
                names: (0..n).map(|i| format!("b{i}")).collect(),
            }),
            (any::<i32>(), any::<i32>()).prop_map(|(a, b)| InputKind::Int {
                min: a.min(b),
                max: a.max(b),
            }),
        ]
    }

    const MAX_BUTTONS_PLUS_ONE: usize = tickwire_types::MAX_BUTTONS + 1;

    proptest! {
        #[test]
        fn random_inputs_are_always_in_range(
            kinds in proptest::collection::vec(kind(), 0..=MAX_INPUT_FIELDS),
            seed in any::<u64>(),
        ) {
            let input: Vec<InputDecl> = kinds
                .into_iter()
                .enumerate()
                .map(|(i, kind)| decl(&format!("f{i}"), kind))
                .collect();
            let inputs = play(&mut Random::default(), &input, &mut bot_rng(seed, 0), 64);
            assert_valid(&input, &inputs);
        }
    }

    #[test]
    fn random_inputs_of_every_kind_are_in_range_and_vary() {
        let input = every_kind();
        let inputs = play(&mut Random::default(), &input, &mut bot_rng(1, 0), 2000);
        assert_valid(&input, &inputs);
        // Each field takes more than one value: values are held, then change.
        for (i, field) in input.iter().enumerate() {
            let first = inputs[0][i];
            let range = field.kind.range();
            if range.0 < range.1 {
                assert!(
                    inputs.iter().any(|v| v[i] != first),
                    "field {} never changes",
                    field.name
                );
            }
        }
    }

    #[test]
    fn random_values_are_held_for_a_while() {
        let input = every_kind();
        let inputs = play(&mut Random::default(), &input, &mut bot_rng(1, 0), 1000);
        // The wide axis changes on nearly every draw, so its changes count
        // the draws: one per input would mean nothing is held.
        let changes = inputs.windows(2).filter(|w| w[0][1] != w[1][1]).count();
        assert!(changes < 500, "{changes} changes in 1000 inputs");
        assert!(changes > 1000 / MAX_HOLD as usize / 2, "{changes} changes");
    }

    #[test]
    fn random_presses_every_button_within_a_hundred_inputs() {
        let input = every_kind();
        let inputs = play(&mut Random::default(), &input, &mut bot_rng(1, 0), 100);
        for (i, field) in input.iter().enumerate() {
            if let InputKind::Buttons { names } = &field.kind {
                for (bit, name) in names.iter().enumerate() {
                    assert!(
                        inputs.iter().any(|v| v[i] >> bit & 1 == 1),
                        "{}.{name} never pressed",
                        field.name
                    );
                }
                // ... and released: not every button held all the time.
                assert!(
                    inputs.iter().any(|v| v[i] != all(names)),
                    "{} always all held",
                    field.name
                );
            }
        }
    }

    fn all(names: &[String]) -> i32 {
        ((1i64 << names.len()) - 1) as i32
    }

    #[test]
    fn the_same_seed_sends_the_same_inputs() {
        let input = every_kind();
        let a = play(&mut Random::default(), &input, &mut bot_rng(42, 7), 300);
        let b = play(&mut Random::default(), &input, &mut bot_rng(42, 7), 300);
        assert_eq!(a, b);
        let other_bot = play(&mut Random::default(), &input, &mut bot_rng(42, 8), 300);
        assert_ne!(a, other_bot, "two bots of one swarm play alike");
        let other_seed = play(&mut Random::default(), &input, &mut bot_rng(43, 7), 300);
        assert_ne!(a, other_seed, "another seed plays alike");
    }

    #[test]
    fn scenario_refuses_a_game_without_move_x() {
        let input: Vec<InputDecl> = arena().into_iter().filter(|d| d.name != "move_x").collect();
        let err = Scenario::default().start("tag", &input);
        assert_eq!(
            err,
            Err(BehaviourError::MissingField {
                behaviour: "scenario",
                field: "move_x",
                game: "tag".to_string(),
            })
        );
        let text = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("move_x") && text.contains("tag"), "{text}");
        // By name: `by_name` gives the same behaviour.
        let named = by_name("scenario").map(|mut b| b.start("tag", &input));
        assert!(matches!(
            named,
            Ok(Err(BehaviourError::MissingField { .. }))
        ));
    }

    #[test]
    fn scenario_refuses_a_field_of_the_wrong_kind() {
        let mut input = arena();
        input[2].kind = InputKind::Int { min: 0, max: 7 };
        assert!(matches!(
            Scenario::default().start("arena", &input),
            Err(BehaviourError::WrongKind { field: "aim", .. })
        ));
    }

    #[test]
    fn scenario_sends_what_the_scenario_bot_always_sent() {
        // The bot before behaviours: a new direction every ten inputs from
        // the bot's generator, full speed toward it, aim along it, no button.
        let mut rng = bot_rng(1, 3);
        let mut direction = 0.0f32;
        let expected: Vec<Values> = (0..100u32)
            .map(|seq| {
                if seq % 10 == 0 {
                    direction = rng.random_range(0.0..std::f32::consts::TAU);
                }
                let (sin, cos) = direction.sin_cos();
                let aim = (direction.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU
                    * 65536.0) as u32 as u16;
                [
                    (cos * 127.0).round() as i32,
                    (sin * 127.0).round() as i32,
                    i32::from(aim),
                    0,
                    0,
                    0,
                    0,
                    0,
                ]
            })
            .collect();
        let input = arena();
        let got = play(&mut Scenario::default(), &input, &mut bot_rng(1, 3), 100);
        assert_eq!(got, expected);
        assert_valid(&input, &got);
    }

    #[test]
    fn scenario_leaves_other_fields_at_rest_in_range() {
        let mut input = arena();
        input.push(decl("card", InputKind::Int { min: 2, max: 5 }));
        input.push(decl("lean", InputKind::Int { min: -9, max: -4 }));
        let got = play(&mut Scenario::default(), &input, &mut bot_rng(1, 0), 30);
        assert_valid(&input, &got);
        assert!(got.iter().all(|v| v[3] == 0 && v[4] == 2 && v[5] == -4));
    }

    #[test]
    fn unknown_behaviours_are_refused_by_name() {
        assert_eq!(
            by_name("dance").err(),
            Some(BehaviourError::Unknown("dance".to_string()))
        );
        for name in NAMES {
            assert_eq!(by_name(name).map(|b| b.name()), Ok(name));
        }
    }
}
