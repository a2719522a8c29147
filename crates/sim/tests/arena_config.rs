//! The arena's configuration file: defaults, and errors that name the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tickwire_sim::games::{self, GameError, arena::ArenaConfig, arena::ConfigError};

#[test]
fn bundled_file_is_the_default_config() {
    let parsed = ArenaConfig::from_toml(tickwire_sim::games::arena::DEFAULT_TOML, "arena.toml");
    assert_eq!(parsed, Ok(ArenaConfig::default()));
}

#[test]
fn an_empty_file_means_every_default() {
    assert_eq!(
        ArenaConfig::from_toml("", "arena.toml"),
        Ok(ArenaConfig::default())
    );
}

#[test]
fn each_bad_field_gets_an_error_naming_it() {
    let cases = [
        ("arena_size", "-3.0"),
        ("max_players", "0"),
        ("view_size", "0.0"),
        ("player_speed", "-3.0"),
        ("avatar_radius", "nan"),
        ("max_hp", "-1"),
        ("projectile_speed", "0.0"),
        ("projectile_damage", "0"),
        ("projectile_lifetime", "1e9"),
        ("fire_interval", "-0.5"),
        ("respawn_delay", "inf"),
    ];
    for (field, value) in cases {
        let err =
            ArenaConfig::from_toml(&format!("{field} = {value}\n"), "arena.toml").unwrap_err();
        let ConfigError::Field { field: named, .. } = &err else {
            panic!("{field}: expected a field error, got {err}");
        };
        assert_eq!(*named, field);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("arena.toml: field '{field}': ")),
            "{message}"
        );
    }
}

#[test]
fn error_message_says_the_problem_and_the_value() {
    let err = ArenaConfig::from_toml("player_speed = -3\n", "arena.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "arena.toml: field 'player_speed': must be > 0, got -3"
    );
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let err = ArenaConfig::from_toml("player_sped = 100.0\n", "arena.toml").unwrap_err();
    assert!(err.to_string().contains("player_sped"), "{err}");
}

#[test]
fn a_wrong_type_is_refused_by_name() {
    let err = ArenaConfig::from_toml("max_hp = \"lots\"\n", "arena.toml").unwrap_err();
    assert!(err.to_string().starts_with("arena.toml: "), "{err}");
}

#[test]
fn a_config_file_is_loaded_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arena.toml");
    std::fs::write(&path, "arena_size = 1000.0\nmax_players = 8\n").unwrap();
    let sim = games::new_simulation("arena", Some(&path), Some(20), 1).unwrap();
    assert_eq!(sim.max_players(), 8);
    assert_eq!(sim.tick_rate(), 20);
}

#[test]
fn a_bad_file_on_disk_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arena.toml");
    std::fs::write(&path, "max_hp = 0\n").unwrap();
    let err = games::new_simulation("arena", Some(&path), None, 1).unwrap_err();
    assert!(
        err.to_string().starts_with("arena.toml: field 'max_hp'"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_an_error_not_a_default() {
    let err = games::setup("arena", Some("no/such/arena.toml".as_ref()), None, 1).unwrap_err();
    assert!(
        matches!(err, GameError::Config(ConfigError::Io { .. })),
        "{err:?}"
    );
}

#[test]
fn an_unknown_game_is_refused() {
    let err = games::new_simulation("chess", None, None, 1).unwrap_err();
    assert_eq!(err, GameError::UnknownGame("chess".into()));
}

#[test]
fn a_zero_tick_rate_is_refused() {
    assert!(games::new_simulation("arena", None, Some(0), 1).is_err());
}

#[test]
fn clients_are_told_the_configured_size_speed_hit_points_and_shots() {
    let config = ArenaConfig {
        arena_size: 2500.0,
        player_speed: 150.0,
        max_hp: 250,
        projectile_speed: 600.0,
        projectile_lifetime: 0.5,
        fire_interval: 0.2,
        ..ArenaConfig::default()
    };
    let world = tickwire_sim::games::arena::new_world(1, config).unwrap();
    let constants = tickwire_sim::Simulation::client_constants(&world);
    assert!(
        constants.contains(&("arena_size".to_string(), 2500.0)),
        "{constants:?}"
    );
    assert!(
        constants.contains(&("player_speed".to_string(), 150.0)),
        "{constants:?}"
    );
    assert!(
        constants.contains(&("max_hp".to_string(), 250.0)),
        "{constants:?}"
    );
    // What the page draws its own shots with, in ticks at 30 Hz.
    for (name, value) in [
        ("projectile_speed", 600.0),
        ("fire_ticks", 6.0),
        ("projectile_life_ticks", 15.0),
    ] {
        assert!(
            constants.contains(&(name.to_string(), value)),
            "{name}: {constants:?}"
        );
    }
}
