//! Writes the fixture the browser SDK's prediction test replays: one ship
//! turning and thrusting for 90 ticks on a `World<Asteroids>`, with each
//! tick's input (by name and as wire values), the server's quantized ship
//! row after the tick, the ship's exact f32 state (to see how close the
//! JavaScript step comes), and the constants the step needs.
//!
//! ```sh
//! cargo run -p tickwire-asteroids --example ship_prediction_fixture
//! ```
//!
//! writes `client-web/sdk/test/fixtures/asteroids-prediction.json` (or the
//! path given as the first argument).

use std::path::PathBuf;

use serde_json::{Value, json};
use tickwire_asteroids::{Asteroids, AsteroidsConfig, ShipInput, Thing};
use tickwire_sim::{
    Game, Input, InputKind, PlayerInput, Quantization, ReplicatedEntity, Simulation, World,
};

/// Ticks per second of the recorded match.
const TICK_RATE: u32 = 30;
/// Ticks of input recorded.
const TICKS: u32 = 90;

/// The held input for tick `t` (0-based): turning in place, then turning
/// both ways while thrusting and coasting, so the heading wraps around and
/// the ship reaches its top speed and crosses the field's edge.
fn input_at(t: u32) -> ShipInput {
    let (turn, thrust) = match t {
        0..=9 => (1.0, false),
        10..=29 => (0.6, true),
        30..=44 => (-1.0, true),
        45..=59 => (0.0, true),
        60..=74 => (-0.61, false),
        _ => (0.8, true),
    };
    ShipInput {
        turn,
        thrust,
        fire: t % 20 == 5,
    }
}

fn quant_json(q: Quantization) -> Value {
    match q {
        Quantization::Fixed { scale } => json!({"type": "Fixed", "scale": scale}),
        Quantization::Angle { steps } => json!({"type": "Angle", "steps": steps}),
        Quantization::Int { min, max } => json!({"type": "Int", "min": min, "max": max}),
        Quantization::Player => json!({"type": "Player"}),
    }
}

fn input_kind_json(kind: &InputKind) -> Value {
    match kind {
        InputKind::Axis { steps } => json!({"type": "Axis", "steps": steps}),
        InputKind::Angle { steps } => json!({"type": "Angle", "steps": steps}),
        InputKind::Buttons { names } => json!({"type": "Buttons", "names": names}),
        InputKind::Int { min, max } => json!({"type": "Int", "min": min, "max": max}),
    }
}

/// The own ship's quantized row and exact state after the last tick.
fn ship_state(world: &World<Asteroids>, id: u32) -> Result<(Value, Value), String> {
    let mut rows: Vec<ReplicatedEntity> = Vec::new();
    world.replicated(&mut rows);
    let row = rows
        .iter()
        .find(|r| r.id.0 == id)
        .ok_or("the ship is not replicated")?;
    let kind = &world.schema().kinds[usize::from(row.kind)];
    let values = &row.values[..kind.fields.len()];
    let ship = world
        .entities()
        .iter()
        .find_map(|(_, net, thing)| match thing {
            Thing::Ship(s) if net.0 == id => Some(s),
            _ => None,
        })
        .ok_or("the ship is gone")?;
    let exact = json!({
        "x": ship.pos.x, "y": ship.pos.y, "vx": ship.vel.x, "vy": ship.vel.y,
        "heading": ship.heading, "wrecked": ship.wrecked,
    });
    Ok((json!(values), exact))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os().nth(1).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../client-web/sdk/test/fixtures/asteroids-prediction.json")
        },
        PathBuf::from,
    );
    // A small field without rocks: the ship wraps around its edges and
    // never crashes.
    let config = AsteroidsConfig {
        field_size: 600.0,
        min_asteroids: 0,
        ..AsteroidsConfig::default()
    };
    let mut world = World::with_tick_rate(Asteroids::new(config, TICK_RATE), 21, TICK_RATE)?;
    let joined = world.join("pilot")?;
    let id = joined.avatar.0;
    // A ship starts wrecked for one tick and comes back at a random spot.
    world.step();
    let (start_row, start_exact) = ship_state(&world, id)?;

    let schema = world.schema().clone();
    let ship_kind = schema
        .kinds
        .iter()
        .find(|k| k.name == "ship")
        .ok_or("no ship kind")?;
    let mut ticks = Vec::new();
    for t in 0..TICKS {
        let held = input_at(t);
        let values = held.to_values();
        let seq = t + 1;
        world.input(
            joined.player,
            PlayerInput {
                seq,
                values,
                view: 0,
            },
        );
        world.step();
        let (row, exact) = ship_state(&world, id)?;
        let sent = &values[..schema.input.len()];
        ticks.push(json!({
            "seq": seq,
            "input": {"turn": held.turn, "thrust": held.thrust, "fire": held.fire},
            "values": sent,
            "acked": world.last_applied_input(joined.player),
            "row": row,
            "exact": exact,
        }));
    }
    let constants: serde_json::Map<String, Value> = world
        .game()
        .client_constants()
        .into_iter()
        .map(|(name, v)| (name, json!(v)))
        .collect();
    let fixture = json!({
        "about": "One asteroids ship turning and thrusting on a World<Asteroids>: \
                  regenerate with `cargo run -p tickwire-asteroids --example ship_prediction_fixture`.",
        "tickRate": TICK_RATE,
        "dt": world.dt(),
        "constants": constants,
        "input": schema.input.iter()
            .map(|d| json!({"name": d.name, "kind": input_kind_json(&d.kind)}))
            .collect::<Vec<_>>(),
        "ship": {
            "name": ship_kind.name,
            "fields": ship_kind.fields.iter()
                .map(|f| json!({"id": f.id, "name": f.name, "quant": quant_json(f.quant)}))
                .collect::<Vec<_>>(),
        },
        "start": {"row": start_row, "exact": start_exact},
        "ticks": ticks,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&fixture)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}
