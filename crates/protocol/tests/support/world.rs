//! A random world for the replication tests: two entity kinds that exercise
//! every quantization, evolving by random spawns, despawns and moves.

#![allow(dead_code)]

use tickwire_sim::{
    EventDecl, FieldDecl, InputDecl, InputKind, KindDecl, NetId, Quantization, ReplicatedEntity,
    Schema,
};

use super::arena::SplitMix;

/// An avatar (fixed-point position, angle, bounded hit points) and a pickup
/// (a negative-range Int, an angle with an odd step count, a coarse
/// coordinate, a full eight fields' worth of integers, the last a player),
/// an input with a field of every input kind, and two kinds of event.
pub fn test_schema() -> Schema {
    let input = |name: &str, kind| InputDecl {
        name: name.into(),
        kind,
    };
    let field = |id: u8, name: &str, quant| FieldDecl {
        id,
        name: name.into(),
        quant,
    };
    Schema {
        game: "proptest".into(),
        kinds: vec![
            KindDecl {
                id: 0,
                name: "avatar".into(),
                fields: vec![
                    field(0, "x", Quantization::Fixed { scale: 16 }),
                    field(1, "y", Quantization::Fixed { scale: 16 }),
                    field(2, "heading", Quantization::Angle { steps: 256 }),
                    field(3, "hp", Quantization::Int { min: 0, max: 100 }),
                ],
            },
            KindDecl {
                id: 1,
                name: "pickup".into(),
                fields: (0..8u8)
                    .map(|i| {
                        let quant = match i {
                            0 => Quantization::Int { min: -5, max: 5 },
                            1 => Quantization::Angle { steps: 7 },
                            2 => Quantization::Fixed { scale: 1 },
                            7 => Quantization::Player,
                            _ => Quantization::Int {
                                min: i32::MIN,
                                max: i32::MAX,
                            },
                        };
                        field(i, &format!("f{i}"), quant)
                    })
                    .collect(),
            },
        ],
        input: vec![
            input("move", InputKind::Axis { steps: 127 }),
            input("aim", InputKind::Angle { steps: 65_536 }),
            input(
                "buttons",
                InputKind::Buttons {
                    names: vec!["fire".into(), "jump".into()],
                },
            ),
            input("slot", InputKind::Int { min: -3, max: 9 }),
        ],
        events: vec![
            EventDecl {
                name: "kill".into(),
                fields: vec![
                    field(0, "killer", Quantization::Player),
                    field(1, "victim", Quantization::Player),
                ],
            },
            EventDecl {
                name: "bonus".into(),
                fields: vec![
                    field(0, "x", Quantization::Fixed { scale: 16 }),
                    field(1, "amount", Quantization::Int { min: 0, max: 50 }),
                ],
            },
        ],
    }
}

/// A value legal for `quant`, sometimes extreme.
pub fn random_value(rng: &mut SplitMix, quant: &Quantization) -> i32 {
    let r = rng.next_u64();
    match *quant {
        Quantization::Fixed { .. } => match r % 4 {
            0 => r as i32,
            _ => (r >> 8) as i32 % 64_000,
        },
        Quantization::Angle { steps } => ((r >> 8) % u64::from(steps)) as i32,
        Quantization::Int { min, max } => {
            let span = (i64::from(max) - i64::from(min) + 1) as u64;
            (i64::from(min) + ((r >> 8) % span) as i64) as i32
        }
        Quantization::Player => match r % 4 {
            0 => -1,
            1 => i32::MAX,
            _ => ((r >> 8) % 1000) as i32,
        },
    }
}

/// The world: entities sorted by id, ids never reused.
#[derive(Debug, Clone)]
pub struct RandomWorld {
    pub schema: Schema,
    pub entities: Vec<ReplicatedEntity>,
    next_id: u32,
    pub rng: SplitMix,
}

impl RandomWorld {
    pub fn new(seed: u64) -> Self {
        let mut world = Self {
            schema: test_schema(),
            entities: Vec::new(),
            next_id: 1,
            rng: SplitMix::new(seed),
        };
        let n = world.rng.next_u64() % 40;
        for _ in 0..n {
            world.spawn();
        }
        world
    }

    pub fn spawn(&mut self) {
        // Sometimes jump ahead, so ids need wide gaps.
        if self.rng.next_u64() % 16 == 0 {
            self.next_id += (self.rng.next_u64() % 100_000) as u32;
        }
        let kind = (self.rng.next_u64() % 2) as u8;
        let mut values = [0; 8];
        if let Some(decl) = self.schema.kind(kind) {
            for (v, f) in values.iter_mut().zip(&decl.fields) {
                *v = random_value(&mut self.rng, &f.quant);
            }
        }
        self.entities.push(ReplicatedEntity {
            id: NetId(self.next_id),
            kind,
            values,
        });
        self.next_id += 1;
    }

    /// One tick of random spawns, despawns and moves.
    pub fn step(&mut self) {
        let rng = &mut self.rng;
        let despawns = rng.next_u64() % 4;
        for _ in 0..despawns {
            if !self.entities.is_empty() {
                let i = (rng.next_u64() % self.entities.len() as u64) as usize;
                self.entities.remove(i);
            }
        }
        let movers = rng.next_u64() % 3; // 0: few move, 1: most, 2: all
        for e in &mut self.entities {
            let moves = match movers {
                0 => rng.next_u64() % 8 == 0,
                1 => rng.next_u64() % 4 != 0,
                _ => true,
            };
            if !moves {
                continue;
            }
            let Some(decl) = self.schema.kinds.get(usize::from(e.kind)) else {
                continue;
            };
            for (f, field) in decl.fields.iter().enumerate() {
                if rng.next_u64() % 3 == 0 {
                    continue;
                }
                e.values[f] = match field.quant {
                    Quantization::Fixed { .. } if rng.next_u64() % 8 != 0 => {
                        e.values[f].wrapping_add((rng.next_u64() % 215) as i32 - 107)
                    }
                    _ => random_value(rng, &field.quant),
                };
            }
        }
        let spawns = self.rng.next_u64() % 4;
        for _ in 0..spawns {
            self.spawn();
        }
    }
}
