//! The replay viewer's insides: the timeline replays a record once, seeks
//! from keyframes to exactly the states a straight replay reaches, shows a
//! changed input as a divergence at its tick, and measures what each
//! player was sent as the replication core counts it; and the viewer,
//! over real sockets, streams the match to a game page as the protocol
//! says, following the actions of a viewer page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire::replay::{Timeline, TimelineOptions, Viewer, ViewerOptions};
use tickwire_protocol::{
    Budget, ClientMessage, ClientState, Delivery, Limits, PROTOCOL_VERSION, Replicator,
    ServerMessage, Sink,
};
use tickwire_sim::games::arena::ArenaConfig;
use tickwire_sim::record::{Call, MatchRecord, Recording};
use tickwire_sim::{PlayerId, PlayerInput, ReplicatedEntity, Schema, Simulation, games};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const TICKS: u64 = 330;

/// A small deterministic generator, so the match is the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> i32 {
        (self.next() % n) as i32
    }
}

/// A recorded arena match: players join at ticks 1, 40 and 200, one
/// leaves at 120; inputs on most ticks. Small arena, small views, so that
/// views hold some of the match and not all of it.
struct Made {
    record: MatchRecord,
    /// Players in the match after the calls of each tick (index: tick - 1).
    present: Vec<Vec<PlayerId>>,
}

fn arena_config() -> ArenaConfig {
    ArenaConfig {
        arena_size: 1200.0,
        view_size: 500.0,
        ..ArenaConfig::default()
    }
}

fn record_arena(seed: u64) -> Made {
    record_arena_with(seed, None)
}

/// A dropped connection: the player at this index drops at the first tick
/// and sends nothing until the second.
type Away = (usize, u64, u64);

fn record_arena_with(seed: u64, drop: Option<Away>) -> Made {
    let setup = games::setup_with("arena", seed, 30, &arena_config());
    let sim = games::build(&setup).unwrap();
    let mut recording = Recording::new(sim, &setup, Vec::new(), true).unwrap();
    let mut rng = Lcg(seed);
    let mut players: Vec<(PlayerId, u32)> = Vec::new();
    let mut present = Vec::new();
    for tick in 1..=TICKS {
        let joining = match tick {
            1 => 6,
            40 => 2,
            200 => 1,
            _ => 0,
        };
        for i in 0..joining {
            let joined = recording.join(&format!("bot{tick}-{i}")).unwrap();
            players.push((joined.player, 0));
        }
        if tick == 120 {
            let (gone, _) = players.remove(2);
            recording.leave(gone);
        }
        if let Some((index, at, _)) = drop
            && tick == at
        {
            recording.dropped(players[index].0);
        }
        for (i, (player, seq)) in players.iter_mut().enumerate() {
            let away =
                drop.is_some_and(|(index, at, back)| i == index && (at..back).contains(&tick));
            // Back: an input at once, so the resume's tick is known.
            let back = drop.is_some_and(|(index, _, back)| i == index && tick == back);
            if away || (!back && rng.below(3) == 0) {
                continue;
            }
            *seq += 1;
            let values = [
                rng.below(255) - 127,
                rng.below(255) - 127,
                rng.below(65536),
                rng.below(2),
            ];
            recording.input(*player, PlayerInput::new(*seq, &values));
        }
        present.push(players.iter().map(|(p, _)| *p).collect());
        recording.step();
    }
    let (_, out) = recording.finish();
    let record = MatchRecord::read(out.unwrap().as_slice()).unwrap();
    assert_eq!(record.ticks.len() as u64, TICKS);
    Made { record, present }
}

fn timeline(record: MatchRecord, options: TimelineOptions) -> Timeline {
    tickwire::bundled::games()
        .timeline("test", record, options)
        .unwrap()
}

fn rows(sim: &dyn Simulation) -> Vec<ReplicatedEntity> {
    let mut rows = Vec::new();
    sim.replicated(&mut rows);
    rows
}

#[test]
fn seeking_from_keyframes_reaches_exactly_the_states_of_a_straight_replay() {
    let made = record_arena(7);
    let timeline = timeline(
        made.record.clone(),
        TimelineOptions {
            keyframe_ticks: 50,
            bandwidth_budget: None,
        },
    );
    assert_eq!(timeline.ticks(), TICKS);
    assert_eq!(timeline.divergences().count(), 0);
    assert_eq!(timeline.hashed_ticks() as u64, TICKS);
    assert_eq!(
        timeline.keyframes().collect::<Vec<_>>(),
        vec![0, 50, 100, 150, 200, 250, 300]
    );

    // A straight replay, one step at a time, from before the first tick.
    let mut straight = timeline.cursor(0);
    assert_eq!(straight.tick(), 0);
    let mut states = vec![rows(straight.sim().as_simulation())];
    for tick in 1..=TICKS {
        assert!(timeline.step(&mut straight));
        assert_eq!(straight.tick(), tick);
        let hash = straight.sim().state_hash();
        assert_eq!(Some(hash), timeline.replayed(tick));
        assert_eq!(Some(hash), made.record.ticks[tick as usize - 1].hash);
        states.push(rows(straight.sim().as_simulation()));
    }
    assert!(!timeline.step(&mut straight), "no tick after the last");
    // The match is worth seeking in: entities come and go.
    assert!(
        states
            .iter()
            .map(Vec::len)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 3
    );

    // One cursor, sought back and forth, on and off keyframes, past the end.
    let mut cursor = timeline.cursor(0);
    for target in [
        237, 3, 150, 149, 151, 0, 330, 400, 100, 99, 250, 251, 1, 300, 299, 50,
    ] {
        timeline.seek(&mut cursor, target);
        let tick = target.min(TICKS);
        assert_eq!(cursor.tick(), tick, "seek to {target}");
        if tick > 0 {
            assert_eq!(
                cursor.sim().state_hash(),
                timeline.recorded(tick).unwrap(),
                "hash after a seek to {target}"
            );
        }
        assert_eq!(
            rows(cursor.sim().as_simulation()),
            states[tick as usize],
            "rows after a seek to {target}"
        );
        assert!(cursor.events().is_empty(), "a seek leaves no events");
        // And the match runs on from there as it did.
        if tick < TICKS {
            assert!(timeline.step(&mut cursor));
            assert_eq!(
                cursor.sim().state_hash(),
                timeline.replayed(tick + 1).unwrap()
            );
        }
    }
    // A fresh cursor at a tick is the same as a sought one.
    let at = timeline.cursor(175);
    assert_eq!(at.sim().state_hash(), timeline.replayed(175).unwrap());
}

#[test]
fn a_changed_input_is_a_divergence_at_its_tick_with_both_hashes() {
    let made = record_arena(11);
    let mut record = made.record.clone();
    // The first input of tick 160: its aim turned, which the avatar keeps.
    let changed = 160u64;
    let calls = &mut record.ticks[changed as usize - 1].calls;
    let input = calls
        .iter_mut()
        .find_map(|c| match c {
            Call::Input { input, .. } => Some(input),
            _ => None,
        })
        .expect("an input at the tick");
    input.values[2] = (input.values[2] + 20_000) % 65_536;
    let original = made.record.ticks[changed as usize - 1].hash.unwrap();

    let timeline = timeline(record.clone(), TimelineOptions::default());
    let divergences: Vec<_> = timeline.divergences().collect();
    let first = divergences.first().expect("a divergence");
    assert_eq!(first.tick, changed);
    assert_eq!(first.recorded, original);
    assert_ne!(first.replayed, original);
    assert_eq!(Some(first.replayed), timeline.replayed(changed));
    for tick in 1..changed {
        assert_eq!(
            timeline.replayed(tick),
            timeline.recorded(tick),
            "tick {tick}"
        );
    }
    // The replay subcommand names the same tick.
    let verdict = tickwire::bundled::games().replay(&record).unwrap();
    assert!(
        matches!(verdict, tickwire::ReplayVerdict::Diverged { tick, .. } if tick == changed),
        "{verdict:?}"
    );
}

#[test]
fn a_dropped_connection_is_sent_nothing_until_its_next_input() {
    // A player drops at tick 150 and is back at 180.
    let made = record_arena_with(31, Some((3, 150, 180)));
    let player = made.present[149][3];
    let record = &made.record;
    assert!(
        record.ticks[149]
            .calls
            .iter()
            .any(|c| matches!(c, Call::Dropped { player: p } if *p == player))
    );
    let timeline = timeline(record.clone(), TimelineOptions::default());
    assert_eq!(timeline.divergences().count(), 0);
    let track = &timeline.players()[&player];
    let before = *track.at(149).unwrap();
    assert!(before.bytes > 0);
    for tick in 150..180 {
        let f = track.at(tick).unwrap();
        assert_eq!(f.bytes, 0, "tick {tick}: sent nothing while away");
        assert_eq!(
            f.held, before.held,
            "tick {tick}: its client holds what it held"
        );
    }
    let back = track.at(180).unwrap();
    assert!(back.bytes > 0, "sent again once back");
    // Thirty ticks away, within the core's 32 of history: a delta.
    assert!(!back.full);
    // The others were sent every tick throughout.
    for (p, t) in timeline.players() {
        if *p != player {
            assert!(
                (t.first.max(150)..=t.last().min(180)).all(|tick| t.at(tick).unwrap().bytes > 0)
            );
        }
    }
}

/// A sink that keeps every player's message length, written at once.
#[derive(Default)]
struct Lengths(BTreeMap<PlayerId, usize>);

impl Sink<()> for Lengths {
    fn deliver(&mut self, player: PlayerId, _: &(), _: u32, message: &mut Vec<u8>) -> Delivery {
        self.0.insert(player, message.len());
        Delivery::Written
    }
}

/// The figures against the replication core run by hand over the same
/// match: the same bytes per player per tick, and per tick the same count
/// of changes held back by the budget as the core's own report.
fn figures_match_the_core(budget: Option<u64>) {
    let made = record_arena(23);
    let timeline = timeline(
        made.record.clone(),
        TimelineOptions {
            keyframe_ticks: 100,
            bandwidth_budget: budget,
        },
    );
    let mut sim = games::build(&made.record.setup).unwrap();
    let schema: Schema = sim.schema().clone();
    let mut core: Replicator<()> =
        Replicator::new(schema.clone(), budget.map(|b| Budget::per_second(b, 30))).unwrap();
    let mut deferred_total = 0;
    let mut clients: BTreeMap<PlayerId, ClientState> = BTreeMap::new();
    for (i, calls) in made.record.ticks.iter().enumerate() {
        let tick = i as u64 + 1;
        for call in &calls.calls {
            call.apply(sim.as_mut());
        }
        let present = &made.present[i];
        for p in core.players().map(|(p, _)| p).collect::<Vec<_>>() {
            if !present.contains(&p) {
                core.remove(p);
                assert_eq!(timeline.players()[&p].last(), tick - 1, "{p:?} left");
            }
        }
        for p in present {
            if core.get(*p).is_none() {
                core.add(*p, ());
                clients.insert(*p, ClientState::new(schema.clone()).unwrap());
                assert_eq!(timeline.players()[p].first, tick, "{p:?} joined");
            }
        }
        sim.step();
        let rows = rows(sim.as_ref());
        let mut lengths = Lengths::default();
        let report = core
            .replicate(tick as u32, &rows, sim.as_ref(), &mut lengths)
            .unwrap();
        deferred_total += report.deferred;
        let mut deferred = 0;
        for p in present {
            let figures = timeline.players()[p].at(tick).copied().unwrap();
            assert_eq!(figures.bytes as usize, lengths.0[p], "{p:?} at tick {tick}");
            assert!(figures.bytes > 0);
            deferred += u64::from(figures.deferred);
            if budget.is_none() {
                // Without a budget the client holds exactly its view.
                let view = sim.view(*p).unwrap();
                let mut ids = Vec::new();
                sim.entities_in(view, &mut ids);
                let in_view = ids
                    .iter()
                    .filter(|id| rows.iter().any(|r| r.id == **id))
                    .count();
                assert_eq!(figures.held as usize, in_view, "{p:?} at tick {tick}");
                assert_eq!(figures.deferred, 0);
            }
            assert_eq!(figures.full, tick == timeline.players()[p].first);
        }
        assert_eq!(deferred, report.deferred, "held back at tick {tick}");
    }
    if budget.is_some() {
        assert!(
            deferred_total > 100,
            "a budget that holds nothing back: a weak test"
        );
    }
}

#[test]
fn each_players_figures_are_what_the_replication_core_sent_it() {
    figures_match_the_core(None);
}

#[test]
fn under_a_budget_the_figures_count_what_the_core_held_back() {
    figures_match_the_core(Some(1_500));
}

// --- over sockets -----------------------------------------------------------

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

/// A game page, as the SDK is one: it joins, and keeps what it is sent.
struct Page {
    ws: Ws,
    schema: Option<Schema>,
    keeper: Option<ClientState>,
}

/// What a page read: a welcome, a snapshot's tick and whole state, or an
/// event.
#[derive(Debug)]
enum Read {
    Welcome(Box<tickwire_protocol::Welcome>),
    Snapshot(u32, Vec<ReplicatedEntity>),
    Other,
}

impl Page {
    async fn open(addr: std::net::SocketAddr) -> Self {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let join = ClientMessage::Join {
            protocol_version: PROTOCOL_VERSION,
            schema_hash: 0,
        };
        ws.send(Message::Binary(join.to_bytes().into()))
            .await
            .unwrap();
        Self {
            ws,
            schema: None,
            keeper: None,
        }
    }

    async fn read(&mut self) -> Read {
        loop {
            let message = timeout(WAIT, self.ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let Message::Binary(bytes) = message else {
                continue;
            };
            let decoded =
                ServerMessage::decode(&bytes, self.schema.as_ref(), &Limits::default()).unwrap();
            return match decoded {
                ServerMessage::Welcome(w) => {
                    self.schema = Some(w.schema.clone());
                    if self.keeper.is_none() {
                        self.keeper = Some(ClientState::new(w.schema.clone()).unwrap());
                    }
                    Read::Welcome(Box::new(w))
                }
                ServerMessage::Snapshot(s) => {
                    let keeper = self.keeper.as_mut().unwrap();
                    let state = keeper.apply(&s.body).unwrap().to_vec();
                    Read::Snapshot(s.body.tick, state)
                }
                _ => Read::Other,
            };
        }
    }

    /// Reads until a welcome, then its snapshot.
    async fn started_over(&mut self) -> (tickwire_protocol::Welcome, u32, Vec<ReplicatedEntity>) {
        let welcome = loop {
            if let Read::Welcome(w) = self.read().await {
                break *w;
            }
        };
        loop {
            if let Read::Snapshot(tick, state) = self.read().await {
                return (welcome, tick, state);
            }
        }
    }
}

/// A viewer page: JSON in and out.
struct Steer(Ws);

impl Steer {
    async fn open(addr: std::net::SocketAddr) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/viewer/ws"))
            .await
            .unwrap();
        Self(ws)
    }

    async fn act(&mut self, action: serde_json::Value) {
        self.0
            .send(Message::Text(action.to_string().into()))
            .await
            .unwrap();
    }

    async fn read(&mut self) -> serde_json::Value {
        loop {
            let message = timeout(WAIT, self.0.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    /// Reads until a frame that satisfies `want`.
    async fn frame(&mut self, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let message = self.read().await;
            if message["type"] == "frame" && want(&message) {
                return message;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_streams_the_match_to_a_game_page_as_a_viewer_page_steers_it() {
    let made = record_arena(5);
    let timeline = timeline(
        made.record.clone(),
        TimelineOptions {
            keyframe_ticks: 60,
            bandwidth_budget: None,
        },
    );
    let truth = |tick: u64| {
        let cursor = timeline.cursor(tick);
        (
            rows(cursor.sim().as_simulation()),
            cursor.sim().as_simulation().view(PlayerId(1)),
        )
    };
    let (at_200, view_200) = truth(200);
    let (at_90, _) = truth(90);
    let mut p1_view_200: Vec<ReplicatedEntity> = {
        let cursor = timeline.cursor(200);
        let sim = cursor.sim().as_simulation();
        let mut ids = Vec::new();
        sim.entities_in(view_200.unwrap(), &mut ids);
        at_200
            .iter()
            .filter(|r| ids.contains(&r.id))
            .copied()
            .collect()
    };
    p1_view_200.sort_by_key(|r| r.id);
    let recorded_200 = timeline.recorded(200).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let viewer = Viewer::start(
        timeline,
        tickwire::bundled::page(),
        listener,
        ViewerOptions::default(),
    )
    .unwrap();
    let addr = viewer.local_addr();
    assert!(viewer.url().ends_with("/viewer/"));

    // A game page is welcomed at once, before the first tick: everyone.
    let mut page = Page::open(addr).await;
    let (welcome, tick, state) = page.started_over().await;
    assert_eq!(tick, 0);
    assert!(state.is_empty());
    assert!(welcome.spectator, "a page watches the match");
    assert_eq!(welcome.player, tickwire_protocol::NO_PLAYER);
    assert_eq!(welcome.following, None);
    assert_eq!(welcome.avatar, tickwire_protocol::NO_ENTITY);
    assert_eq!(welcome.tick_rate, 30);

    // A viewer page hears the match, then the shown tick.
    let mut steer = Steer::open(addr).await;
    let first = steer.read().await;
    assert_eq!(first["type"], "match");
    assert_eq!(first["game"], "arena");
    assert_eq!(first["ticks"], TICKS);
    assert_eq!(first["divergentTicks"], 0);
    assert_eq!(first["players"].as_array().unwrap().len(), 9);
    steer.frame(|f| f["tick"] == 0).await;

    // Seek: the page starts over at the tick, with the whole match.
    steer
        .act(serde_json::json!({"op": "seek", "tick": 200}))
        .await;
    let frame = steer.frame(|f| f["tick"] == 200).await;
    assert_eq!(frame["hash"], recorded_200.to_string());
    assert_eq!(frame["recorded"], recorded_200.to_string());
    assert_eq!(frame["diverged"], false);
    let listed: Vec<u64> = frame["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        listed,
        at_200.iter().map(|r| u64::from(r.id.0)).collect::<Vec<_>>()
    );
    let (welcome, tick, state) = page.started_over().await;
    assert_eq!((welcome.tick, tick), (200, 200));
    assert_eq!(state, at_200);
    assert_eq!(
        welcome.roster.len(),
        8,
        "8 by tick 40, one left at 120, one came at 200"
    );

    // Follow player 1: its avatar, its view, and its figures.
    steer
        .act(serde_json::json!({"op": "follow", "player": 1}))
        .await;
    let frame = steer.frame(|f| f["follow"] == 1).await;
    let pov = &frame["pov"];
    assert_eq!(pov["present"], true);
    assert_eq!(pov["figures"]["held"], p1_view_200.len());
    let view = view_200.unwrap();
    // An f32 travels as its shortest decimal, which reads back as it.
    let f32_of = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
    assert_eq!(f32_of(&pov["view"]["x"]), view.min.x);
    assert_eq!(f32_of(&pov["view"]["width"]), view.max.x - view.min.x);
    let (welcome, tick, state) = page.started_over().await;
    assert!(welcome.spectator);
    assert_eq!(welcome.following, Some(PlayerId(1)));
    assert!(
        state.iter().any(|r| r.id == welcome.avatar),
        "its own avatar in view"
    );
    assert_eq!(tick, 200);
    assert_eq!(state, p1_view_200);
    assert!(
        state.len() < at_200.len(),
        "a view holds less than the match"
    );

    // A spectator page switches whom it watches: the viewer follows.
    let watch = ClientMessage::Watch(tickwire_protocol::WatchTarget::Player(PlayerId(3)));
    page.ws
        .send(Message::Binary(watch.to_bytes().into()))
        .await
        .unwrap();
    steer.frame(|f| f["follow"] == 3).await;
    let (welcome, _, _) = page.started_over().await;
    assert_eq!(welcome.following, Some(PlayerId(3)));

    // Back to everyone, then a seek back: a full snapshot of an earlier
    // tick, which the page's keeper takes as a start over.
    steer
        .act(serde_json::json!({"op": "follow", "player": null}))
        .await;
    page.started_over().await;
    steer
        .act(serde_json::json!({"op": "seek", "tick": 90}))
        .await;
    let (_, tick, state) = page.started_over().await;
    assert_eq!(tick, 90);
    assert_eq!(state, at_90);

    // Play at twice the speed: the page is welcomed at 60 snapshots a
    // second and sent the following ticks in order; then pause.
    steer
        .act(serde_json::json!({"op": "speed", "speed": 2}))
        .await;
    page.started_over().await;
    steer.act(serde_json::json!({"op": "play"})).await;
    let (welcome, tick, _) = page.started_over().await;
    assert_eq!((welcome.tick_rate, tick), (60, 90));
    let mut expected = 91;
    while expected < 100 {
        if let Read::Snapshot(tick, _) = page.read().await {
            assert_eq!(tick, expected);
            expected += 1;
        }
    }
    steer.act(serde_json::json!({"op": "pause"})).await;
    let frame = steer.frame(|f| f["playing"] == false).await;
    assert!(frame["tick"].as_u64().unwrap() >= 99);
    assert!(
        frame["entities"].is_array(),
        "a paused frame lists the entities"
    );

    // Steps, one each way.
    steer
        .act(serde_json::json!({"op": "seek", "tick": 150}))
        .await;
    steer.frame(|f| f["tick"] == 150).await;
    steer.act(serde_json::json!({"op": "step", "by": 1})).await;
    steer.frame(|f| f["tick"] == 151).await;
    steer.act(serde_json::json!({"op": "step", "by": -1})).await;
    steer.frame(|f| f["tick"] == 150).await;

    // A bad action is answered, not fatal.
    steer.act(serde_json::json!({"op": "fly"})).await;
    loop {
        let m = steer.read().await;
        if m["type"] == "error" {
            break;
        }
    }
    steer
        .act(serde_json::json!({"op": "follow", "player": 77}))
        .await;
    loop {
        let m = steer.read().await;
        if m["type"] == "error" {
            assert!(m["message"].as_str().unwrap().contains("77"));
            break;
        }
    }

    // A flood of actions is cut to the viewer's rate, and answered so.
    for _ in 0..400 {
        steer.act(serde_json::json!({"op": "pause"})).await;
    }
    loop {
        let m = steer.read().await;
        if m["type"] == "error" && m["message"].as_str().unwrap().contains("too many") {
            break;
        }
    }
    // Still steering once the flood is over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    steer
        .act(serde_json::json!({"op": "seek", "tick": 42}))
        .await;
    steer.frame(|f| f["tick"] == 42).await;

    // A page of another site may not open the sockets.
    let foreign = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/viewer/ws"),
    )
    .map(|mut r| {
        r.headers_mut()
            .insert("origin", "http://evil.example".parse().unwrap());
        r
    })
    .unwrap();
    let refused = tokio_tungstenite::connect_async(foreign).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 403),
        "{refused:?}"
    );

    // The JSON API and the files.
    let client = reqwest_like(addr, "/viewer/api/match").await;
    assert!(client.contains("\"type\":\"match\""), "{client}");
    let track = reqwest_like(addr, "/viewer/api/players/1").await;
    assert!(track.contains("\"bytes\":["), "{track}");
    assert!(
        reqwest_like(addr, "/viewer/api/players/99")
            .await
            .contains("404")
    );
    assert!(reqwest_like(addr, "/viewer/").await.contains("200 OK"));
    assert!(reqwest_like(addr, "/sdk/index.js").await.contains("200 OK"));

    viewer.shutdown().await;
}

/// A GET over a plain TCP socket: the whole answer, head and body.
async fn reqwest_like(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
