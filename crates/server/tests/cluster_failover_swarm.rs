//! Failover under load: a room of 20 swarm bots on node `a`, which is
//! killed (`SIGKILL`) mid-match. Every bot resumes through node `b`,
//! where the room goes on within two leases and two seconds; the match
//! then replays bit for bit in this process from the room's first
//! snapshot and the two nodes' logs; and every input the bots sent is in
//! the log in order, every one `a` acknowledged included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::time::Duration;

use clap::Parser as _;
use cluster_support::{LEASE, Node, Redis, eventually};
use tickwire_sim::record::{Call, TickCalls};

/// A room's journal in Redis as it stands: the snapshot's tick and bytes,
/// and the log's lines after it.
async fn journal(redis: &Redis, room: &str) -> (u64, Vec<u8>, Vec<TickCalls>) {
    let mut c = redis.connection().await;
    let state = format!("tickwire:room:{room}:state");
    let (tick, snapshot): (u64, Vec<u8>) = redis::cmd("HMGET")
        .arg(&state)
        .arg("tick")
        .arg("snapshot")
        .query_async(&mut c)
        .await
        .unwrap();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("tickwire:room:{room}:log"))
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    let lines = entries
        .into_iter()
        .map(|(_, fields)| serde_json::from_str(&fields[0].1).unwrap())
        .collect();
    (tick, snapshot, lines)
}

/// One bot's line of the swarm's `--input-log`.
#[derive(Debug, serde::Deserialize)]
struct BotLog {
    bot: usize,
    players: Vec<u32>,
    sent: Vec<(u32, Vec<i32>)>,
    acked: Vec<Option<u32>>,
}

/// An input's values as the log and the swarm keep them: without the
/// trailing zeros.
fn trimmed(values: &[i32]) -> Vec<i32> {
    let len = values.iter().rposition(|v| *v != 0).map_or(0, |i| i + 1);
    values[..len].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_play_on_after_a_kill_and_the_match_replays_bit_for_bit() {
    let redis = Redis::start();
    // One snapshot, when the room opens: the log then holds the whole
    // match, for the replay below.
    let keep = ["--snapshot-every", "1000000"];
    let mut a = Node::start(&redis, "a", &keep);
    let b = Node::start(&redis, "b", &keep);
    let dir = tempfile::tempdir().unwrap();
    let input_log = dir.path().join("inputs.jsonl");
    // The bots come in through `b`; placement gives the room to `a` (both
    // empty: the tie goes to the smaller id).
    let url = format!("ws://{}/ws", b.addr);
    let args = tickwire_swarm::Args::parse_from([
        "tickwire-swarm",
        "--url",
        &url,
        "--matchmake",
        "--bots",
        "20",
        "--room-size",
        "20",
        "--warmup",
        "1s",
        "--duration",
        "10s",
        "--resume-timeout",
        "20s",
        "--input-log",
        input_log.to_str().unwrap(),
        "--quiet",
    ]);
    let kill = async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let rooms = redis.room_keys().await;
        assert_eq!(rooms.len(), 1, "{rooms:?}");
        let room = rooms[0].trim_start_matches("tickwire:room:").to_owned();
        assert_eq!(
            redis.hget(&rooms[0], "node").await.as_deref(),
            Some("a"),
            "the room is on a"
        );
        a.signal("KILL");
        assert!(a.wait_exit(Duration::from_secs(5)).is_some());
        // What `a` left in Redis, before `b` takes it over.
        let before = journal(&redis, &room).await;
        let continued = eventually(Duration::from_secs(15), || async {
            redis.hget(&rooms[0], "node").await.as_deref() == Some("b")
        })
        .await;
        assert!(continued, "b did not take the room over:\n{}", b.log());
        // Some play on `b`, then what it has written since.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = journal(&redis, &room).await;
        (before, after)
    };
    let (report, (before, after)) = tokio::join!(tickwire_swarm::run(&args), kill);
    let report = report.unwrap();
    eprintln!("{}", report.table());

    // Every bot was back, in time, and nothing was counted as an error.
    let within = LEASE * 2 + Duration::from_secs(2);
    assert_eq!(report.errors, 0, "{}\n{}", report.table(), b.log());
    assert!(report.resumes >= 20, "{}", report.table());
    assert!(
        report.gap_ms_max < within.as_secs_f64() * 1000.0,
        "a bot waited {} ms for a snapshot, over {within:?}\n{}",
        report.gap_ms_max,
        report.table()
    );

    // The match replays bit for bit in this process: `a`'s snapshot of
    // the room's first tick, `a`'s log, then `b`'s log after the tick it
    // continued from; every tick's hash is the one the nodes wrote.
    let (snapshot_tick, snapshot, from_a) = before;
    assert_eq!(
        snapshot_tick, 0,
        "the room's one snapshot is of its opening"
    );
    let (resumed_at, _, from_b) = after;
    let last_a = from_a.last().map_or(0, |t| t.tick);
    assert_eq!(resumed_at, last_a, "b continued from a's last tick");
    assert!(!from_b.is_empty(), "b wrote ticks");
    let game = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
    let mut sim = game.restore_match("replay", &snapshot).unwrap();
    let mut events = Vec::new();
    let mut logged: std::collections::BTreeMap<u32, Vec<(u32, Vec<i32>)>> = Default::default();
    for (i, tick) in from_a.iter().chain(&from_b).enumerate() {
        assert_eq!(tick.tick, i as u64 + 1, "the log goes on tick by tick");
        for call in &tick.calls {
            if let Call::Input { player, input } = call {
                logged
                    .entry(player.0)
                    .or_default()
                    .push((input.seq, trimmed(&input.values)));
            }
            call.apply(sim.as_mut());
        }
        sim.step();
        sim.drain_events(&mut events);
        assert_eq!(
            Some(sim.state_hash()),
            tick.hash,
            "tick {}: the replay's state differs from the node's",
            tick.tick
        );
    }
    let mut from_a_inputs: std::collections::BTreeMap<u32, u32> = Default::default();
    for tick in &from_a {
        for call in &tick.calls {
            if let Call::Input { player, input } = call {
                from_a_inputs.insert(player.0, input.seq);
            }
        }
    }

    // Every bot's inputs: the log holds what it sent, in order, and every
    // input `a` acknowledged.
    let text = std::fs::read_to_string(&input_log).unwrap();
    let bots: Vec<BotLog> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(bots.len(), 20);
    for bot in &bots {
        let player = bot.players[0];
        assert!(
            bot.players.iter().all(|p| *p == player),
            "bot {}: the same player after the failover: {:?}",
            bot.bot,
            bot.players
        );
        let sent: std::collections::BTreeMap<u32, &Vec<i32>> = bot
            .sent
            .iter()
            .map(|(seq, values)| (*seq, values))
            .collect();
        let inputs = logged.get(&player).cloned().unwrap_or_default();
        assert!(
            inputs.windows(2).all(|w| w[0].0 < w[1].0),
            "bot {}: the log's inputs are in order, each once",
            bot.bot
        );
        for (seq, values) in &inputs {
            assert_eq!(
                sent.get(seq).map(|v| trimmed(v)),
                Some(values.clone()),
                "bot {}: input {seq} is what the bot sent",
                bot.bot
            );
        }
        if let Some(Some(acked)) = bot.acked.first() {
            let held = from_a_inputs.get(&player).copied().unwrap_or(0);
            assert!(
                held >= *acked,
                "bot {}: a acknowledged input {acked}, its log ends at {held}",
                bot.bot
            );
        }
    }
}
