//! Interest management: a player's client holds exactly what the server
//! recorded it was sent, through views that move, entities that enter,
//! leave and re-enter, snapshots a slow socket skips, and a bandwidth budget
//! that holds changes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use support::arena::SplitMix;
use tickwire_protocol::{
    Budget, ClientState, EncodedBody, Limits, MIN_PRIORITY, RowIndex, SnapshotBody, ViewEncoder,
    ViewTracker, decode_snapshot_message, write_snapshot_message,
};
use tickwire_sim::prelude::Vec2;
use tickwire_sim::{FieldDecl, KindDecl, NetId, Quantization, Rect, ReplicatedEntity, Schema};

/// Side of the plane, in units.
const SIDE: f32 = 4000.0;
/// Side of a view.
const VIEW: f32 = 1000.0;
/// Position scale (1/16 unit).
const SCALE: f32 = 16.0;

/// The priority the bundled games declare (`Game::priority`): an avatar's
/// nearness to the view's centre, 1 for the other kind, which has no
/// position.
struct Nearness(Rect);

impl Nearness {
    fn new(_schema: &Schema, view: Rect) -> Self {
        Self(view)
    }

    fn priority(&self, e: &ReplicatedEntity) -> f32 {
        if e.kind != 0 {
            return 1.0;
        }
        let at = Vec2::new(e.values[0] as f32, e.values[1] as f32) / 16.0;
        tickwire_sim::nearness(self.0, at)
    }
}

/// Avatars with a position, and markers with no position whose visibility
/// is a field of their own (a game's "always relevant" entities).
fn schema() -> Schema {
    let field = |id: u8, name: &str, quant| FieldDecl {
        id,
        name: name.into(),
        quant,
    };
    Schema {
        game: "plane".into(),
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
                name: "marker".into(),
                fields: vec![
                    field(0, "shown", Quantization::Int { min: 0, max: 1 }),
                    field(1, "count", Quantization::Int { min: 0, max: 1000 }),
                ],
            },
        ],
        input: vec![],
        events: vec![],
    }
}

fn avatar(id: u32, x: f32, y: f32) -> ReplicatedEntity {
    ReplicatedEntity {
        id: NetId(id),
        kind: 0,
        values: [(x * SCALE) as i32, (y * SCALE) as i32, 0, 100, 0, 0, 0, 0],
    }
}

fn pos(e: &ReplicatedEntity) -> (f32, f32) {
    (e.values[0] as f32 / SCALE, e.values[1] as f32 / SCALE)
}

fn view_around(e: &ReplicatedEntity) -> Rect {
    let (x, y) = pos(e);
    Rect {
        min: Vec2::new(x - VIEW / 2.0, y - VIEW / 2.0),
        max: Vec2::new(x + VIEW / 2.0, y + VIEW / 2.0),
    }
}

/// Who `view` may see: avatars inside it, and markers that are shown.
fn visible(world: &[ReplicatedEntity], view: Rect) -> Vec<ReplicatedEntity> {
    world
        .iter()
        .filter(|e| match e.kind {
            0 => {
                let (x, y) = pos(e);
                view.contains(Vec2::new(x, y))
            }
            _ => e.values[0] == 1,
        })
        .copied()
        .collect()
}

/// A plane of avatars that wander (some fast enough to cross a view in a
/// few ticks), markers that blink in and out of sight, spawns and despawns.
struct Plane {
    entities: Vec<ReplicatedEntity>,
    next_id: u32,
    rng: SplitMix,
}

impl Plane {
    fn new(seed: u64, avatars: usize) -> Self {
        let mut plane = Self {
            entities: Vec::new(),
            next_id: 1,
            rng: SplitMix::new(seed),
        };
        // The player's own avatar is entity 1, near the middle.
        plane.entities.push(avatar(1, SIDE / 2.0, SIDE / 2.0));
        plane.next_id = 2;
        for _ in 0..avatars {
            plane.spawn();
        }
        plane
    }

    fn spawn(&mut self) {
        let id = self.next_id;
        self.next_id += 1;
        let e = if self.rng.next_u64() % 5 == 0 {
            ReplicatedEntity {
                id: NetId(id),
                kind: 1,
                values: [(self.rng.next_u64() % 2) as i32, 0, 0, 0, 0, 0, 0, 0],
            }
        } else {
            // Near the player, so that views see traffic.
            let x = SIDE / 2.0 + (self.rng.unit() - 0.5) * 1600.0;
            let y = SIDE / 2.0 + (self.rng.unit() - 0.5) * 1600.0;
            avatar(id, x, y)
        };
        self.entities.push(e);
    }

    fn step(&mut self) {
        for e in &mut self.entities {
            let r = self.rng.next_u64();
            match e.kind {
                0 => {
                    if r % 4 == 0 {
                        continue; // standing still
                    }
                    // Mostly walking, sometimes a jump across a view edge.
                    let reach = if r % 17 == 0 { 400.0 } else { 12.0 };
                    let dx = ((r >> 8) % 1000) as f32 / 1000.0 - 0.5;
                    let dy = ((r >> 20) % 1000) as f32 / 1000.0 - 0.5;
                    let (x, y) = pos(e);
                    let x = (x + dx * reach).clamp(0.0, SIDE);
                    let y = (y + dy * reach).clamp(0.0, SIDE);
                    e.values[0] = (x * SCALE) as i32;
                    e.values[1] = (y * SCALE) as i32;
                    e.values[2] = ((r >> 32) % 256) as i32;
                }
                _ => {
                    if r % 3 == 0 {
                        e.values[0] ^= 1;
                    }
                    e.values[1] = (e.values[1] + 1) % 1000;
                }
            }
        }
        // Despawns (never the player) and spawns.
        let r = self.rng.next_u64();
        if r % 4 == 0 && self.entities.len() > 1 {
            let i = 1 + (r >> 8) as usize % (self.entities.len() - 1);
            self.entities.remove(i);
        }
        if r % 5 == 0 {
            self.spawn();
        }
    }

    fn player(&self) -> &ReplicatedEntity {
        &self.entities[0]
    }
}

/// A snapshot on its way: put in the outbox, perhaps taken by the writer.
#[derive(Clone)]
struct Pending {
    tick: u32,
    frame: Vec<u8>,
}

/// The server side of one player as the room runs it: a latest-wins outbox
/// with one slot, a writer that may hold one snapshot in flight, and the
/// written baseline.
#[derive(Default)]
struct Link {
    slot: Option<Pending>,
    in_flight: Option<Pending>,
    written: Option<u32>,
}

fn frame(body: &EncodedBody) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot_message(&mut out, None, &body.bytes);
    out
}

/// Decodes and applies one frame; returns the decoded body.
fn apply(client: &mut ClientState, frame: &[u8]) -> SnapshotBody {
    let schema = client.schema().clone();
    let snapshot = decode_snapshot_message(&schema, frame, &Limits::default()).unwrap();
    client.apply(&snapshot.body).unwrap();
    snapshot.body
}

/// Runs one player through `ticks` ticks of a random plane with a socket
/// that writes at random moments, and checks after every snapshot the
/// client applies that it holds exactly what the tracker says it was sent
/// (and, without a budget, exactly the view at that tick).
fn run(seed: u64, ticks: u32, budget: Option<Budget>) {
    let mut plane = Plane::new(seed, 60);
    let mut rng = SplitMix::new(seed ^ 0x5eed);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    // The same player as a room runs it: the plane recorded each tick, the
    // view given as ids. It must send exactly the same bytes.
    let mut room = ViewEncoder::new(schema()).unwrap();
    let mut room_tracker = ViewTracker::new();
    // And as a room writes frames: header and body in one go.
    let mut framer = ViewEncoder::new(schema()).unwrap();
    let mut framer_tracker = ViewTracker::new();
    let mut client = ClientState::new(schema()).unwrap();
    let mut link = Link::default();
    let mut views: BTreeMap<u32, Vec<ReplicatedEntity>> = BTreeMap::new();
    let speed = rng.next_u64() % 4; // how often the writer keeps up
    let mut applied = 0;
    for tick in 1..=ticks {
        plane.step();
        let view = view_around(plane.player());
        let seen = visible(&plane.entities, view);
        let nearness = Nearness::new(&schema(), view);
        let out = encoder
            .encode(&mut tracker, tick, link.written, &seen, budget, |e| {
                nearness.priority(e)
            })
            .unwrap();
        room.record(tick, &plane.entities).unwrap();
        let mut ids: Vec<NetId> = seen.iter().rev().map(|e| e.id).collect();
        ids.push(NetId(u32::MAX)); // not recorded: skipped
        let room_out = room
            .encode_ids(&mut room_tracker, link.written, &ids, budget, |e| {
                nearness.priority(e)
            })
            .unwrap();
        assert_eq!(room_out, out, "tick {tick} (seed {seed})");
        framer.record(tick, &plane.entities).unwrap();
        let mut framed = Vec::new();
        let message = framer
            .encode_message(
                &mut framer_tracker,
                link.written,
                &ids,
                budget,
                |e| nearness.priority(e),
                Some(tick * 7),
                &mut framed,
            )
            .unwrap();
        let mut expected = Vec::new();
        write_snapshot_message(&mut expected, Some(tick * 7), &out.body.bytes);
        assert_eq!(framed, expected, "tick {tick} (seed {seed})");
        assert_eq!(framed.capacity(), framed.len());
        assert_eq!(
            (message.tick, message.baseline, message.deferred),
            (tick, out.body.baseline, out.deferred)
        );
        assert_eq!(
            room.state_at(&room_tracker, tick),
            encoder.state_at(&tracker, tick)
        );
        if budget.is_none() {
            assert_eq!(out.deferred, 0);
            assert_eq!(encoder.state_at(&tracker, tick).unwrap(), &seen[..]);
        }
        views.insert(tick, seen);
        let pending = Pending {
            tick,
            frame: frame(&out.body),
        };
        if link.slot.replace(pending).is_some() {
            tracker.forget_replaced();
            room_tracker.forget_replaced();
            framer_tracker.forget_replaced();
        }
        // The writer: finishes the write in flight, or takes the slot.
        let mut writes = match speed {
            0 => rng.next_u64() % 2,
            1 => rng.next_u64() % 3,
            _ => 1 + rng.next_u64() % 2,
        };
        while writes > 0 {
            writes -= 1;
            if let Some(done) = link.in_flight.take() {
                let body = apply(&mut client, &done.frame);
                link.written = Some(done.tick);
                let held = client.latest().unwrap();
                assert_eq!(
                    held,
                    encoder
                        .state_at(&tracker, done.tick)
                        .expect("a written snapshot is remembered"),
                    "tick {} (seed {seed})",
                    done.tick
                );
                if budget.is_none() {
                    assert_eq!(held, &views[&done.tick][..]);
                }
                if let Some(b) = body.baseline {
                    assert!(link.written.is_some_and(|w| w > b));
                }
                applied += 1;
            } else if let Some(next) = link.slot.take() {
                link.in_flight = Some(next);
            }
        }
        assert!(tracker.len() <= tickwire_protocol::VIEW_STATES);
    }
    assert!(ticks < 40 || speed < 2 || applied > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn client_holds_what_the_server_says_it_sent_under_skips(
        seed in any::<u64>(),
        ticks in 1u32..200,
    ) {
        run(seed, ticks, None);
    }

    #[test]
    fn client_holds_what_the_server_says_it_sent_under_a_budget(
        seed in any::<u64>(),
        ticks in 1u32..200,
        bytes in 0usize..400,
    ) {
        run(seed, ticks, Some(Budget { bytes_per_snapshot: bytes }));
    }
}

/// Encodes a snapshot, has it written at once, and returns its decoded
/// body after the client applied it.
fn send_now(
    encoder: &mut ViewEncoder,
    tracker: &mut ViewTracker,
    client: &mut ClientState,
    tick: u32,
    seen: &[ReplicatedEntity],
    budget: Option<Budget>,
) -> SnapshotBody {
    let out = encoder
        .encode(tracker, tick, client.latest_tick(), seen, budget, |_| 1.0)
        .unwrap();
    apply(client, &frame(&out.body))
}

#[test]
fn player_receives_exactly_the_entities_in_its_view() {
    let me = avatar(1, 2000.0, 2000.0);
    let world = vec![
        me,
        avatar(2, 2100.0, 2100.0), // inside
        avatar(3, 2600.0, 2000.0), // just outside (view reaches 2500)
        avatar(4, 1500.0, 1500.0), // on the corner: inside
        avatar(5, 100.0, 100.0),   // far away
        avatar(6, 2000.0, 2499.0), // inside
    ];
    let seen = visible(&world, view_around(&me));
    let ids: Vec<u32> = seen.iter().map(|e| e.id.0).collect();
    assert_eq!(ids, [1, 2, 4, 6]);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let mut client = ClientState::new(schema()).unwrap();
    let body = send_now(&mut encoder, &mut tracker, &mut client, 1, &seen, None);
    assert_eq!(body.baseline, None);
    assert_eq!(client.latest().unwrap(), &seen[..]);
}

#[test]
fn entering_arrives_created_and_leaving_arrives_removed() {
    let schema = schema();
    let mut encoder = ViewEncoder::new(schema).unwrap();
    let mut tracker = ViewTracker::new();
    let mut client = ClientState::new(encoder.schema().clone()).unwrap();
    let me = avatar(1, 2000.0, 2000.0);
    let other = |x| avatar(2, x, 2000.0);
    let view = view_around(&me);

    let t1 = vec![me, other(2400.0)];
    send_now(
        &mut encoder,
        &mut tracker,
        &mut client,
        1,
        &visible(&t1, view),
        None,
    );

    // Tick 2: the other walks out of view.
    let t2 = vec![me, other(2600.0)];
    let body = send_now(
        &mut encoder,
        &mut tracker,
        &mut client,
        2,
        &visible(&t2, view),
        None,
    );
    assert_eq!(body.removed, [NetId(2)]);
    assert!(body.created.is_empty());

    // Tick 3: back in, a little further along: created with full state.
    let t3 = vec![me, other(2450.0)];
    let body = send_now(
        &mut encoder,
        &mut tracker,
        &mut client,
        3,
        &visible(&t3, view),
        None,
    );
    assert!(body.removed.is_empty());
    assert_eq!(body.created, [other(2450.0)]);
    assert_eq!(client.latest().unwrap(), &t3[..]);
}

#[test]
fn reentering_between_written_snapshots_is_a_plain_change() {
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let mut client = ClientState::new(schema()).unwrap();
    let me = avatar(1, 2000.0, 2000.0);
    let other = |x| avatar(2, x, 2000.0);
    let view = view_around(&me);

    let body = send_now(
        &mut encoder,
        &mut tracker,
        &mut client,
        1,
        &[me, other(2400.0)],
        None,
    );
    assert_eq!(body.created.len(), 2);
    // Tick 2 (other out of view) is encoded and put, but the socket skips
    // it: the baseline stays at tick 1.
    let out = encoder
        .encode(
            &mut tracker,
            2,
            Some(1),
            &visible(&[me, other(2600.0)], view),
            None,
            |_| 1.0,
        )
        .unwrap();
    assert_eq!(out.body.baseline, Some(1));
    // Tick 3: the other is back; against tick 1 it never left. Putting
    // tick 3 replaces tick 2 in the outbox, unsent.
    let t3 = [me, other(2420.0)];
    let out = encoder
        .encode(&mut tracker, 3, Some(1), &t3, None, |_| 1.0)
        .unwrap();
    tracker.forget_replaced();
    assert!(encoder.state_at(&tracker, 2).is_none() && encoder.state_at(&tracker, 1).is_some());
    let body = apply(&mut client, &frame(&out.body));
    assert_eq!(body.baseline, Some(1));
    assert!(body.removed.is_empty() && body.created.is_empty());
    assert_eq!(body.changed.len(), 1);
    assert_eq!(client.latest().unwrap(), &t3[..]);
}

#[test]
fn baseline_no_longer_held_gets_a_full_snapshot() {
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let me = avatar(1, 2000.0, 2000.0);
    for tick in 1..=40 {
        encoder
            .encode(&mut tracker, tick, None, &[me], None, |_| 1.0)
            .unwrap();
    }
    // Tick 3 fell out of the 32 remembered; tick 39 is held.
    assert!(encoder.state_at(&tracker, 3).is_none());
    let full = encoder
        .encode(&mut tracker, 41, Some(3), &[me], None, |_| 1.0)
        .unwrap();
    assert_eq!(full.body.baseline, None);
    let delta = encoder
        .encode(&mut tracker, 42, Some(41), &[me], None, |_| 1.0)
        .unwrap();
    assert_eq!(delta.body.baseline, Some(41));
}

#[test]
fn a_fast_socket_keeps_two_states_per_player() {
    let mut plane = Plane::new(5, 60);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let mut written = None;
    for tick in 1..=100 {
        plane.step();
        let seen = visible(&plane.entities, view_around(plane.player()));
        encoder
            .encode(&mut tracker, tick, written, &seen, None, |_| 1.0)
            .unwrap();
        written = Some(tick);
        assert!(tracker.len() <= 2, "tick {tick}: {} states", tracker.len());
    }
}

#[test]
fn players_with_the_same_view_and_baseline_share_one_body() {
    let mut plane = Plane::new(9, 60);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let (mut a, mut b, mut c) = (ViewTracker::new(), ViewTracker::new(), ViewTracker::new());
    let mut written = None;
    for tick in 1..=20 {
        plane.step();
        let view = view_around(plane.player());
        let seen = visible(&plane.entities, view);
        let elsewhere = visible(
            &plane.entities,
            Rect {
                min: view.min - Vec2::splat(300.0),
                max: view.max - Vec2::splat(300.0),
            },
        );
        let ra = encoder
            .encode(&mut a, tick, written, &seen, None, |_| 1.0)
            .unwrap();
        let rb = encoder
            .encode(&mut b, tick, written, &seen, None, |_| 1.0)
            .unwrap();
        let rc = encoder
            .encode(&mut c, tick, written, &elsewhere, None, |_| 1.0)
            .unwrap();
        assert!(!ra.shared && rb.shared, "tick {tick}");
        assert!(std::sync::Arc::ptr_eq(&ra.body.bytes, &rb.body.bytes));
        assert!(a.shares_latest_state(&b));
        assert_eq!(rc.shared, elsewhere == seen);
        written = Some(tick);
    }
}

#[test]
fn a_player_whose_baseline_differs_gets_its_own_body() {
    let me = avatar(1, 2000.0, 2000.0);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let (mut a, mut b) = (ViewTracker::new(), ViewTracker::new());
    encoder
        .encode(&mut a, 1, None, &[me], None, |_| 1.0)
        .unwrap();
    encoder
        .encode(&mut b, 1, None, &[me], None, |_| 1.0)
        .unwrap();
    let moved = [avatar(1, 2001.0, 2000.0)];
    let ra = encoder
        .encode(&mut a, 2, Some(1), &moved, None, |_| 1.0)
        .unwrap();
    let rb = encoder
        .encode(&mut b, 2, None, &moved, None, |_| 1.0)
        .unwrap();
    assert_eq!(ra.body.baseline, Some(1));
    assert_eq!(rb.body.baseline, None);
    assert!(!rb.shared);
}

/// A crowd in view, every avatar moving every tick, and a budget that fits
/// only a few changes per snapshot.
#[test]
fn tight_budget_updates_every_entity_in_view_within_a_bounded_number_of_ticks() {
    let n = 40u32;
    let mut rng = SplitMix::new(77);
    let mut world: Vec<ReplicatedEntity> = (1..=n)
        .map(|id| avatar(id, 1600.0 + rng.unit() * 800.0, 1600.0 + rng.unit() * 800.0))
        .collect();
    world[0] = avatar(1, 2000.0, 2000.0);
    let view = view_around(&world[0]);
    let nearness = Nearness::new(&schema(), view);
    let budget = Budget::per_second(1500, 30); // 50 bytes a snapshot
    assert_eq!(budget.bytes_per_snapshot, 50);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let mut client = ClientState::new(schema()).unwrap();
    // Per entity: the tick whose row the client last received.
    let mut fresh_at: BTreeMap<NetId, u32> = BTreeMap::new();
    let mut history: BTreeMap<u32, Vec<ReplicatedEntity>> = BTreeMap::new();
    let bound = 2 * (n - 1) * (1 + (1.0 / MIN_PRIORITY) as u32);
    let mut worst = 0;
    let mut sizes = Vec::new();
    for tick in 1..=600u32 {
        for e in world.iter_mut() {
            // Every avatar wanders inside the view.
            let (x, y) = pos(e);
            let x = (x + (rng.unit() - 0.5) * 8.0).clamp(1550.0, 2450.0);
            let y = (y + (rng.unit() - 0.5) * 8.0).clamp(1550.0, 2450.0);
            *e = avatar(e.id.0, x, y);
        }
        let seen = visible(&world, view);
        assert_eq!(seen.len(), n as usize);
        history.insert(tick, seen.clone());
        let out = encoder
            .encode(
                &mut tracker,
                tick,
                client.latest_tick(),
                &seen,
                Some(budget),
                |e| nearness.priority(e),
            )
            .unwrap();
        sizes.push(out.body.bytes.len() + 2);
        apply(&mut client, &frame(&out.body));
        let held = client.latest().unwrap();
        assert_eq!(held, encoder.state_at(&tracker, tick).unwrap());
        for e in &seen {
            if held.iter().any(|h| h == e) {
                fresh_at.insert(e.id, tick);
            }
            let last = fresh_at.get(&e.id).copied().unwrap_or(0);
            worst = worst.max(tick - last);
            assert!(
                tick - last <= bound,
                "entity {:?} not updated for {} ticks",
                e.id,
                tick - last
            );
        }
    }
    // Every entity was created, and the budget held on average.
    assert_eq!(fresh_at.len(), n as usize);
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    assert!(mean <= 56.0, "mean snapshot {mean} bytes");
    // Far inside the proven bound: about n / (changes per snapshot), scaled
    // by how unevenly nearness ranks them.
    assert!(worst <= 60, "worst wait {worst} ticks (bound {bound})");
}

#[test]
fn removals_always_go_under_any_budget() {
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    let mut client = ClientState::new(schema()).unwrap();
    let crowd: Vec<_> = (1..=30).map(|id| avatar(id, 2000.0, 2000.0)).collect();
    send_now(&mut encoder, &mut tracker, &mut client, 1, &crowd, None);
    let tiny = Some(Budget {
        bytes_per_snapshot: 0,
    });
    let few: Vec<_> = (1..=30)
        .filter(|id| id % 3 == 0)
        .map(|id| avatar(id, 2001.0, 2000.0))
        .collect();
    let body = send_now(&mut encoder, &mut tracker, &mut client, 2, &few, tiny);
    assert_eq!(body.removed.len(), 20);
    // One change still goes, the rest wait at their old rows.
    assert_eq!(body.changed.len(), 1);
    assert_eq!(tracker.waiting(), 9);
    assert_eq!(client.latest().unwrap().len(), 10);
}

#[test]
fn row_index_picks_rows_by_id_dense_or_sparse() {
    let dense: Vec<_> = (10..200)
        .filter(|i| i % 7 != 0)
        .map(|i| avatar(i, 0.0, 0.0))
        .collect();
    let sparse: Vec<_> = (0..50).map(|i| avatar(i * 100_000 + 3, 0.0, 0.0)).collect();
    for rows in [dense, sparse] {
        let mut index = RowIndex::new();
        index.rebuild(&rows);
        let mut ids: Vec<NetId> = rows.iter().rev().step_by(3).map(|e| e.id).collect();
        ids.push(NetId(7)); // not present
        ids.push(NetId(u32::MAX));
        let mut out = Vec::new();
        index.select(&rows, &mut ids, &mut out);
        let mut expected: Vec<_> = rows.iter().rev().step_by(3).copied().collect();
        expected.sort_by_key(|e| e.id);
        assert_eq!(out, expected);
    }
    let mut empty = RowIndex::new();
    empty.rebuild(&[]);
    let mut out = Vec::new();
    empty.select(&[], &mut [NetId(1)], &mut out);
    assert!(out.is_empty());
}

#[test]
fn nearer_entities_rank_higher() {
    let view = view_around(&avatar(1, 2000.0, 2000.0));
    let near = Nearness::new(&schema(), view);
    let centre = near.priority(&avatar(2, 2000.0, 2000.0));
    let close = near.priority(&avatar(3, 2100.0, 2000.0));
    let edge = near.priority(&avatar(4, 2500.0, 2500.0));
    assert_eq!(centre, 1.0);
    assert!(centre > close && close > edge && edge >= MIN_PRIORITY);
    let marker = ReplicatedEntity {
        id: NetId(5),
        kind: 1,
        values: [1; 8],
    };
    assert_eq!(near.priority(&marker), 1.0);
}

#[test]
fn delta_with_reused_scratch_gives_the_same_bytes_as_a_fresh_one() {
    use support::world::RandomWorld;
    let mut world = RandomWorld::new(21);
    let mut scratch = tickwire_protocol::DeltaScratch::default();
    let mut base = world.entities.clone();
    for tick in 2..200 {
        world.step();
        let (mut fresh, mut reused) = (Vec::new(), Vec::new());
        tickwire_protocol::encode_delta(
            &world.schema,
            tick - 1,
            &base,
            tick,
            &world.entities,
            &mut fresh,
        )
        .unwrap();
        tickwire_protocol::encode_delta_with(
            &mut scratch,
            &world.schema,
            tick - 1,
            &base,
            tick,
            &world.entities,
            &mut reused,
        )
        .unwrap();
        assert_eq!(fresh, reused);
        let body = SnapshotBody::decode(&world.schema, &fresh, &Limits::default()).unwrap();
        let applied =
            tickwire_protocol::apply_snapshot(&world.schema, &base, &body, &Limits::default())
                .unwrap();
        assert_eq!(applied, world.entities);
        base = world.entities.clone();
    }
}

/// Encodes `ticks` (each the whole room's rows) for one player who sees
/// everything and writes each snapshot at once, both ways: rows given, and
/// rows recorded then picked by id. Returns both ways' results per tick.
#[allow(clippy::type_complexity)]
fn both_ways(
    ticks: &[Vec<ReplicatedEntity>],
) -> Vec<(
    Result<EncodedBody, tickwire_protocol::ViewError>,
    Result<EncodedBody, tickwire_protocol::ViewError>,
)> {
    let (mut rows_way, mut ids_way) = (
        ViewEncoder::new(schema()).unwrap(),
        ViewEncoder::new(schema()).unwrap(),
    );
    let (mut a, mut b) = (ViewTracker::new(), ViewTracker::new());
    let mut out = Vec::new();
    for (i, rows) in ticks.iter().enumerate() {
        let tick = i as u32 + 1;
        let written = a.latest_tick();
        let by_rows = rows_way
            .encode(&mut a, tick, written, rows, None, |_| 1.0)
            .map(|s| s.body);
        ids_way.record(tick, rows).unwrap();
        let ids: Vec<NetId> = rows.iter().map(|e| e.id).collect();
        let written = b.latest_tick();
        let by_ids = ids_way
            .encode_ids(&mut b, written, &ids, None, |_| 1.0)
            .map(|s| s.body);
        out.push((by_rows, by_ids));
    }
    out
}

#[test]
fn an_entity_that_changes_kind_is_replaced_the_same_both_ways() {
    let marker = |id, shown| ReplicatedEntity {
        id: NetId(id),
        kind: 1,
        values: [shown, 0, 0, 0, 0, 0, 0, 0],
    };
    let ticks = vec![
        vec![avatar(1, 10.0, 10.0), avatar(2, 20.0, 20.0)],
        vec![avatar(1, 11.0, 10.0), marker(2, 1)],
        vec![avatar(1, 12.0, 10.0), marker(2, 0)],
    ];
    for (tick, (by_rows, by_ids)) in both_ways(&ticks).into_iter().enumerate() {
        let by_rows = by_rows.unwrap();
        assert_eq!(by_rows, by_ids.unwrap(), "tick {}", tick + 1);
    }
    // The kind change is a removal and a creation.
    let mut client = ClientState::new(schema()).unwrap();
    for (by_rows, _) in both_ways(&ticks) {
        apply(&mut client, &frame(&by_rows.unwrap()));
    }
    assert_eq!(client.latest().unwrap(), &ticks[2][..]);
}

#[test]
fn a_value_out_of_range_fails_the_same_both_ways() {
    let mut hurt = avatar(2, 20.0, 20.0);
    hurt.values[3] = 101; // hp above its maximum
    let ticks = vec![
        vec![avatar(1, 10.0, 10.0), avatar(2, 20.0, 20.0)],
        vec![avatar(1, 11.0, 10.0), hurt],
        vec![avatar(1, 12.0, 10.0), avatar(2, 21.0, 20.0)],
    ];
    let results = both_ways(&ticks);
    assert!(results[1].0.is_err());
    for (tick, (by_rows, by_ids)) in results.into_iter().enumerate() {
        assert_eq!(by_rows, by_ids, "tick {}", tick + 1);
    }
}

#[test]
fn players_with_the_same_view_and_baseline_share_one_body_from_the_record() {
    let mut plane = Plane::new(9, 60);
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let (mut a, mut b, mut c) = (ViewTracker::new(), ViewTracker::new(), ViewTracker::new());
    let mut written = None;
    for tick in 1..=20 {
        plane.step();
        encoder.record(tick, &plane.entities).unwrap();
        let view = view_around(plane.player());
        let seen: Vec<NetId> = visible(&plane.entities, view)
            .iter()
            .map(|e| e.id)
            .collect();
        let elsewhere: Vec<NetId> = visible(
            &plane.entities,
            Rect {
                min: view.min - Vec2::splat(300.0),
                max: view.max - Vec2::splat(300.0),
            },
        )
        .iter()
        .map(|e| e.id)
        .collect();
        let ra = encoder
            .encode_ids(&mut a, written, &seen, None, |_| 1.0)
            .unwrap();
        let rb = encoder
            .encode_ids(&mut b, written, &seen, None, |_| 1.0)
            .unwrap();
        let rc = encoder
            .encode_ids(&mut c, written, &elsewhere, None, |_| 1.0)
            .unwrap();
        assert!(!ra.shared && rb.shared, "tick {tick}");
        assert!(std::sync::Arc::ptr_eq(&ra.body.bytes, &rb.body.bytes));
        assert!(a.shares_latest_state(&b));
        assert_eq!(rc.shared, elsewhere == seen);
        assert_eq!(
            encoder.state_at(&a, tick).unwrap(),
            visible(&plane.entities, view)
        );
        written = Some(tick);
    }
}

#[test]
fn recording_refuses_an_old_tick_and_unsorted_rows() {
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    assert_eq!(
        encoder.encode_ids(&mut tracker, None, &[NetId(1)], None, |_| 1.0),
        Err(tickwire_protocol::ViewError::NotRecorded)
    );
    encoder.record(5, &[avatar(1, 0.0, 0.0)]).unwrap();
    assert!(encoder.record(5, &[avatar(1, 0.0, 0.0)]).is_err());
    assert!(
        encoder
            .record(6, &[avatar(2, 0.0, 0.0), avatar(1, 0.0, 0.0)])
            .is_err()
    );
    // The record of tick 5 stands.
    let out = encoder
        .encode_ids(&mut tracker, None, &[NetId(1), NetId(9)], None, |_| 1.0)
        .unwrap();
    assert_eq!(out.body.tick, 5);
    assert_eq!(
        encoder.state_at(&tracker, 5).unwrap(),
        [avatar(1, 0.0, 0.0)]
    );
}

#[test]
fn sparse_ids_and_long_changes_encode_the_same_both_ways() {
    // Ids too far apart for an id table, and moves too long to keep inline.
    let ticks: Vec<Vec<ReplicatedEntity>> = (0..6)
        .map(|t| {
            let step = t as f32;
            vec![
                avatar(1, 10.0 + step, 10.0),
                avatar(50_000, 20.0 + 900.0 * step, 3000.0 - 700.0 * step),
                avatar(90_000 + t, 30.0, 30.0 + step),
                avatar(400_000, 40.0, 40.0),
            ]
        })
        .collect();
    for (tick, (by_rows, by_ids)) in both_ways(&ticks).into_iter().enumerate() {
        let by_rows = by_rows.unwrap();
        assert_eq!(by_rows, by_ids.unwrap(), "tick {}", tick + 1);
    }
}

#[test]
fn a_repeated_id_in_view_fails_as_unsorted_rows_do() {
    let rows = [avatar(1, 10.0, 10.0), avatar(2, 20.0, 20.0)];
    let moved = [avatar(1, 11.0, 10.0), avatar(2, 21.0, 20.0)];
    let mut encoder = ViewEncoder::new(schema()).unwrap();
    let mut tracker = ViewTracker::new();
    encoder.record(1, &rows).unwrap();
    encoder
        .encode_ids(&mut tracker, None, &[NetId(2), NetId(1)], None, |_| 1.0)
        .unwrap();
    encoder.record(2, &moved).unwrap();
    let twice = encoder.encode_ids(
        &mut tracker,
        Some(1),
        &[NetId(2), NetId(1), NetId(2)],
        None,
        |_| 1.0,
    );
    let by_rows = ViewEncoder::new(schema()).unwrap().encode(
        &mut ViewTracker::new(),
        2,
        None,
        &[moved[0], moved[1], moved[1]],
        None,
        |_| 1.0,
    );
    assert!(twice.is_err());
    assert_eq!(twice, by_rows);
}
