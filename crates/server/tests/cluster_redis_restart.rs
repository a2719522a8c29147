//! A Redis restart costs the rooms nothing: the swarm's bots, placed
//! through matchmaking, play on at the tick rate while Redis is gone and
//! comes back empty, and every node registers again within two heartbeats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use clap::Parser as _;
use cluster_support::{HEARTBEAT, Node, Redis, eventually};

/// How long Redis is gone.
const OUTAGE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_keep_ticking_and_nodes_register_again_across_a_redis_restart() {
    let mut redis = Redis::start();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|id| Node::start(&redis, id, &["--game", "bench"]))
        .collect();
    let url = format!("ws://{}/ws", nodes[0].addr);
    let args = tickwire_swarm::Args::parse_from([
        "tickwire-swarm",
        "--url",
        &url,
        "--matchmake",
        "--bots",
        "30",
        "--room-size",
        "10",
        "--warmup",
        "1s",
        "--duration",
        "6s",
        "--behaviour",
        "scenario",
        "--quiet",
    ]);
    // Well inside the measured window: Redis goes, a second later it is
    // back, empty.
    let restart = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        redis.stop();
        tokio::time::sleep(OUTAGE).await;
        redis.restart();
        let back = Instant::now();
        let registered = eventually(HEARTBEAT * 2, || async {
            let mut all = true;
            for node in &nodes {
                all &= redis.exists(&node.key()).await;
            }
            all
        })
        .await;
        let took = back.elapsed();
        // Their rooms too: three rooms of ten.
        let rooms = eventually(HEARTBEAT * 2, || async {
            redis.room_keys().await.len() == 3
        })
        .await;
        // Their failover state too: each room's journal starts over with
        // a snapshot (one a second) once Redis is back, then its log.
        let states = eventually(Duration::from_secs(3), || async {
            let keys = redis.keys().await;
            keys.iter().filter(|k| k.ends_with(":state")).count() == 3
                && keys.iter().filter(|k| k.ends_with(":log")).count() == 3
        })
        .await;
        (registered, rooms, took, states)
    };
    // The swarm's run is not `Send`: both on this task.
    let (report, (registered, rooms, took, states)) =
        tokio::join!(tickwire_swarm::run(&args), restart);
    assert!(
        registered,
        "not every node registered again within two heartbeats ({took:?})"
    );
    assert!(rooms, "{:?}", redis.room_keys().await);
    assert!(
        states,
        "the rooms' failover states did not come back within 3 s of the rooms"
    );
    let report = report.unwrap();
    eprintln!(
        "nodes registered again {took:?} after redis came back\n{}",
        report.table()
    );
    assert_eq!(report.rooms, 3);
    // What this is about: no room waits on Redis. A tick that waited out
    // the outage would leave a gap of the outage's length, and lose its
    // second of snapshots; the machine's load alone does neither.
    assert_eq!(report.errors, 0, "{}", report.table());
    assert_eq!(report.drops, 0, "{}", report.table());
    assert!(
        report.gap_ms_max < OUTAGE.as_secs_f64() * 1000.0,
        "a snapshot gap as long as the outage ({OUTAGE:?}): a room waited on Redis\n{}",
        report.table()
    );
    let outage_share = OUTAGE.as_secs_f64() / report.duration_s;
    assert!(
        report.snapshots_per_s_min > 30.0 * (1.0 - outage_share),
        "a bot lost the outage's snapshots\n{}",
        report.table()
    );
    redis.assert_every_key_has_a_ttl().await;
}
