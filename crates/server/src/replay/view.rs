//! What the viewer's page is told, as JSON: the match once, then a frame
//! per shown tick. `docs/operations.md` lists every field.
//!
//! Hashes are `u64`s, beyond what a JavaScript number holds exactly, so
//! they travel as decimal strings.

use std::collections::BTreeMap;

use serde::Serialize;
use tickwire_sim::{Quantization, ReplicatedEntity, Schema};

use super::recorded::Seat;
use super::timeline::{Cursor, Figures, Timeline, Track};

/// Longest list of divergences the match message carries: the first ones.
pub const MAX_DIVERGENCES_LISTED: usize = 100;

/// Most entities a frame lists while playing; beyond, only paused frames
/// list them (a paused one lists every entity).
pub const MAX_PLAYING_ENTITIES: usize = 1000;

/// The match: sent once to every viewer page, and at `/viewer/api/match`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchView<'a> {
    /// Always `"match"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The record's name.
    pub name: &'a str,
    /// The game's name.
    pub game: &'a str,
    /// The match's seed, as a decimal string (a `u64`).
    pub seed: String,
    /// The recorded tick rate.
    pub tick_rate: u32,
    /// Ticks in the match.
    pub ticks: u64,
    /// Ticks between two keyframes.
    pub keyframe_ticks: u64,
    /// The ticks keyframes hold.
    pub keyframes: Vec<u64>,
    /// Ticks that carry a recorded hash.
    pub hashed_ticks: usize,
    /// The budget the figures were measured with, in bytes per second.
    pub bandwidth_budget: Option<u64>,
    /// How many ticks diverge.
    pub divergent_ticks: usize,
    /// The first divergent ticks (at most [`MAX_DIVERGENCES_LISTED`]),
    /// each with both hashes.
    pub divergences: Vec<DivergenceView>,
    /// Runs of divergent ticks, `[first, last]`, for the timeline.
    pub divergent_spans: Vec<[u64; 2]>,
    /// Every player ever in the match.
    pub players: Vec<PlayerView<'a>>,
    /// Replicated entities after each tick, the first first.
    pub entities: &'a [u32],
    /// The game's constants for its clients.
    pub constants: BTreeMap<&'a str, f32>,
}

/// A divergent tick.
#[derive(Debug, Serialize)]
pub struct DivergenceView {
    /// The tick.
    pub tick: u64,
    /// The recorded hash.
    pub recorded: String,
    /// The replayed hash.
    pub replayed: String,
}

/// A player of the match.
#[derive(Debug, Serialize)]
pub struct PlayerView<'a> {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: &'a str,
    /// The first tick it was in the match.
    pub first: u64,
    /// The last tick it was in the match.
    pub last: u64,
}

impl<'a> MatchView<'a> {
    /// The match of `timeline`.
    pub fn new(timeline: &'a Timeline) -> Self {
        let mut divergent_ticks = 0;
        let mut divergences = Vec::new();
        let mut divergent_spans: Vec<[u64; 2]> = Vec::new();
        for d in timeline.divergences() {
            divergent_ticks += 1;
            if divergences.len() < MAX_DIVERGENCES_LISTED {
                divergences.push(DivergenceView {
                    tick: d.tick,
                    recorded: d.recorded.to_string(),
                    replayed: d.replayed.to_string(),
                });
            }
            match divergent_spans.last_mut() {
                Some(span) if span[1] + 1 == d.tick => span[1] = d.tick,
                _ => divergent_spans.push([d.tick, d.tick]),
            }
        }
        let setup = &timeline.record().setup;
        Self {
            kind: "match",
            name: timeline.name(),
            game: &setup.game,
            seed: setup.seed.to_string(),
            tick_rate: setup.tick_rate,
            ticks: timeline.ticks(),
            keyframe_ticks: timeline.keyframe_ticks(),
            keyframes: timeline.keyframes().collect(),
            hashed_ticks: timeline.hashed_ticks(),
            bandwidth_budget: timeline.bandwidth_budget(),
            divergent_ticks,
            divergences,
            divergent_spans,
            players: timeline
                .players()
                .iter()
                .map(|(id, track)| PlayerView {
                    id: id.0,
                    name: &track.name,
                    first: track.first,
                    last: track.last(),
                })
                .collect(),
            entities: timeline.entity_counts(),
            constants: timeline
                .constants()
                .iter()
                .map(|(name, value)| (name.as_str(), *value))
                .collect(),
        }
    }
}

/// One shown tick: sent to every viewer page after each step, seek or
/// change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameView {
    /// Always `"frame"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The shown tick (0: before the first).
    pub tick: u64,
    /// Whether the playback is running.
    pub playing: bool,
    /// Playback speed: `rate / tickRate`.
    pub speed: f64,
    /// Snapshots per second the game page is sent while playing.
    pub rate: u32,
    /// The replayed state hash after the shown tick.
    pub hash: Option<String>,
    /// The recorded one, if the record kept it.
    pub recorded: Option<String>,
    /// Whether both are there and differ.
    pub diverged: bool,
    /// Replicated entities after the shown tick.
    pub entity_count: usize,
    /// The players in the match at the shown tick.
    pub players: Vec<SeatView>,
    /// The player followed, or `null` for everyone.
    pub follow: Option<u32>,
    /// What the followed player was sent at the shown tick.
    pub pov: Option<PovView>,
    /// Every replicated entity, de-quantized: while paused, and while
    /// playing when there are at most [`MAX_PLAYING_ENTITIES`].
    pub entities: Option<Vec<EntityView>>,
}

/// A player in the match at the shown tick.
#[derive(Debug, Serialize)]
pub struct SeatView {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its avatar's id, if alive.
    pub avatar: Option<u32>,
}

/// What a player was sent at the shown tick.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PovView {
    /// The player.
    pub player: u32,
    /// Its name.
    pub name: String,
    /// Whether it was in the match at the shown tick.
    pub present: bool,
    /// Its view: the rectangle it was sent, or `null` for the whole room.
    pub view: Option<RectView>,
    /// Its figures at the shown tick (`null` when not in the match).
    pub figures: Option<Figures>,
    /// Bytes on the wire: the message in its WebSocket frame.
    pub frame_bytes: Option<u32>,
}

/// A rectangle of the world.
#[derive(Debug, Serialize)]
pub struct RectView {
    /// Smallest x.
    pub x: f32,
    /// Smallest y.
    pub y: f32,
    /// Size along x.
    pub width: f32,
    /// Size along y.
    pub height: f32,
}

/// One replicated entity, de-quantized as the browser SDK does it.
#[derive(Debug, Serialize)]
pub struct EntityView {
    /// Its wire id.
    pub id: u32,
    /// Its kind's name.
    pub kind: String,
    /// Its fields by name: coordinates in world units, angles in radians,
    /// integers and players as they are.
    pub fields: BTreeMap<String, f64>,
}

/// The playback's state, as a frame reports it.
#[derive(Clone, Copy, Debug)]
pub struct Playing {
    /// Whether it runs.
    pub playing: bool,
    /// Snapshots per second.
    pub rate: u32,
    /// The followed player.
    pub follow: Option<tickwire_sim::PlayerId>,
}

impl FrameView {
    /// The frame of the cursor's tick.
    pub fn new(timeline: &Timeline, cursor: &Cursor, seats: &[Seat], playing: Playing) -> Self {
        let tick = cursor.tick();
        let hash = timeline.replayed(tick);
        let recorded = timeline.recorded(tick);
        let sim = cursor.sim().as_simulation();
        let mut rows = Vec::new();
        sim.replicated(&mut rows);
        let pov = playing.follow.map(|player| {
            let track: Option<&Track> = timeline.players().get(&player);
            let figures = track.and_then(|t| t.at(tick)).copied();
            PovView {
                player: player.0,
                name: track.map(|t| t.name.clone()).unwrap_or_default(),
                present: seats.iter().any(|s| s.player == player),
                view: sim.view(player).map(|r| RectView {
                    x: r.min.x,
                    y: r.min.y,
                    width: r.max.x - r.min.x,
                    height: r.max.y - r.min.y,
                }),
                figures,
                frame_bytes: figures.filter(|f| f.bytes > 0).map(|f| {
                    let len = f.bytes as usize;
                    let total = len + tickwire_protocol::server_frame_header_bytes(len);
                    u32::try_from(total).unwrap_or(u32::MAX)
                }),
            }
        });
        Self {
            kind: "frame",
            tick,
            playing: playing.playing,
            speed: f64::from(playing.rate) / f64::from(timeline.tick_rate().max(1)),
            rate: playing.rate,
            hash: hash.map(|h| h.to_string()),
            recorded: recorded.map(|h| h.to_string()),
            diverged: matches!((hash, recorded), (Some(a), Some(b)) if a != b),
            entity_count: rows.len(),
            players: seats
                .iter()
                .map(|s| SeatView {
                    id: s.player.0,
                    name: s.name.clone(),
                    avatar: s.avatar.map(|a| a.0),
                })
                .collect(),
            follow: playing.follow.map(|p| p.0),
            pov,
            entities: (!playing.playing || rows.len() <= MAX_PLAYING_ENTITIES).then(|| {
                rows.iter()
                    .filter_map(|row| entity(timeline.schema(), row))
                    .collect()
            }),
        }
    }
}

/// A row, de-quantized by its kind's declared fields.
pub fn entity(schema: &Schema, row: &ReplicatedEntity) -> Option<EntityView> {
    let kind = schema.kinds.get(usize::from(row.kind))?;
    let fields = kind
        .fields
        .iter()
        .map(|field| {
            let q = row.values.get(usize::from(field.id)).copied().unwrap_or(0);
            (field.name.clone(), dequantize(field.quant, q))
        })
        .collect();
    Some(EntityView {
        id: row.id.0,
        kind: kind.name.clone(),
        fields,
    })
}

/// The real value of a quantized field, exactly as the browser SDK's
/// `dequantize` computes it (in doubles).
pub fn dequantize(quant: Quantization, q: i32) -> f64 {
    match quant {
        Quantization::Fixed { scale } => f64::from(q) / f64::from(scale),
        Quantization::Angle { steps } => f64::from(q) / f64::from(steps) * std::f64::consts::TAU,
        Quantization::Int { .. } | Quantization::Player => f64::from(q),
    }
}

/// A player's figures over the match: `/viewer/api/players/ID`.
#[derive(Debug, Serialize)]
pub struct TrackView<'a> {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: &'a str,
    /// The tick of the first figures.
    pub first: u64,
    /// Snapshot bytes per tick.
    pub bytes: Vec<u32>,
    /// Entities held per tick.
    pub held: Vec<u32>,
    /// Entities held back per tick.
    pub deferred: Vec<u32>,
}

impl<'a> TrackView<'a> {
    /// The figures of player `id`.
    pub fn new(id: u32, track: &'a Track) -> Self {
        Self {
            id,
            name: &track.name,
            first: track.first,
            bytes: track.figures.iter().map(|f| f.bytes).collect(),
            held: track.figures.iter().map(|f| f.held).collect(),
            deferred: track.figures.iter().map(|f| f.deferred).collect(),
        }
    }
}
