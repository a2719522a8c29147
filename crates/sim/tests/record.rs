//! The recording format and the recorder's behaviour on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Write};

use tickwire_sim::games;
use tickwire_sim::record::RecordError;
use tickwire_sim::{Call, MatchRecord, PlayerId, PlayerInput, Recording, Simulation};

/// A writer that accepts `budget` bytes, then fails.
#[derive(Debug)]
struct Failing {
    budget: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::other("disk full"));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn recorded(ticks: u32, hashes: bool) -> Vec<u8> {
    let setup = games::setup("arena", None, None, 5).unwrap();
    let mut rec =
        Recording::new(games::build(&setup).unwrap(), &setup, Vec::new(), hashes).unwrap();
    let p = rec.join("ada").unwrap().player;
    for seq in 1..=ticks {
        rec.input(p, PlayerInput::new(seq, &[100]));
        rec.step();
    }
    rec.finish().1.unwrap()
}

#[test]
fn a_recording_is_a_header_then_one_line_per_tick() {
    let bytes = recorded(10, false);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 11);
    assert!(
        lines[0].starts_with(r#"{"game":"arena","seed":5,"tick_rate":30,"config":{"#),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], r#"{"t":1,"c":[{"j":"ada"},{"i":[0,1,[100]]}]}"#);
}

#[test]
fn calls_are_kept_in_call_order() {
    let record = MatchRecord::read(recorded(3, true).as_slice()).unwrap();
    assert_eq!(
        record.ticks[0].calls,
        vec![
            Call::Join { name: "ada".into() },
            Call::Input {
                player: PlayerId(0),
                input: PlayerInput::new(1, &[100])
            },
        ]
    );
    assert!(record.ticks.iter().all(|t| t.hash.is_some()));
}

#[test]
fn a_dropped_connection_is_recorded_and_replays_to_the_same_hashes() {
    let setup = games::setup("arena", None, None, 5).unwrap();
    let mut rec = Recording::new(games::build(&setup).unwrap(), &setup, Vec::new(), true).unwrap();
    let p = rec.join("ada").unwrap().player;
    rec.join("bob").unwrap();
    for seq in 1..=3 {
        rec.input(p, PlayerInput::new(seq, &[127, 0, 0, 1]));
        rec.input(p, PlayerInput::new(seq + 100, &[127, 0, 0, 1]));
        rec.step();
    }
    rec.dropped(p);
    for _ in 0..5 {
        rec.step();
    }
    let (_, bytes) = rec.finish();
    let bytes = bytes.unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.lines().nth(4).unwrap().contains(r#"{"d":0}"#),
        "{text}"
    );
    let record = MatchRecord::read(bytes.as_slice()).unwrap();
    assert_eq!(record.ticks[3].calls, vec![Call::Dropped { player: p }]);
    let replay = record.replay_on(&mut *games::build(&setup).unwrap());
    assert_eq!(replay.first_divergence, None);
    assert_eq!(replay.hashes.len(), 8);
    // Without the drop, the match differs: the buffered inputs would move on.
    let mut undropped = record.clone();
    undropped.ticks[3].calls.clear();
    let replay = undropped.replay_on(&mut *games::build(&setup).unwrap());
    assert_eq!(replay.first_divergence, Some(4));
}

#[test]
fn a_failing_writer_stops_the_recording_not_the_match() {
    let setup = games::setup("arena", None, None, 5).unwrap();
    let out = Failing { budget: 2_000 };
    let mut rec = Recording::new(games::build(&setup).unwrap(), &setup, out, false).unwrap();
    rec.join("ada").unwrap();
    for _ in 0..200 {
        rec.step();
    }
    assert_eq!(rec.tick(), 200);
    assert!(rec.error().is_some());
}

#[test]
fn a_garbled_line_is_an_error_naming_it() {
    let mut bytes = recorded(3, false);
    bytes.extend_from_slice(b"{\"t\":4,\"c\":[{\"x\":1}]}\n");
    let err = MatchRecord::read(bytes.as_slice()).unwrap_err();
    assert!(matches!(err, RecordError::Json { line: 5, .. }), "{err}");
}

#[test]
fn a_missing_tick_is_an_error() {
    let text = String::from_utf8(recorded(3, false)).unwrap();
    let without_second: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|&(i, _)| i != 2)
        .map(|(_, l)| l)
        .collect();
    let err = MatchRecord::read(without_second.join("\n").as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::TickOrder {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_empty_recording_is_an_error() {
    assert!(matches!(
        MatchRecord::read(&b""[..]),
        Err(RecordError::Empty)
    ));
}

#[test]
fn a_record_written_back_reads_the_same() {
    let record = MatchRecord::read(recorded(5, true).as_slice()).unwrap();
    let mut again = Vec::new();
    record.write(&mut again).unwrap();
    assert_eq!(MatchRecord::read(again.as_slice()).unwrap(), record);
}
