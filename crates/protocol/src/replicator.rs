//! The replication core: every player's snapshot of one tick, with no I/O.
//!
//! A [`Replicator`] is the one place that knows, per player and keyed once
//! by [`PlayerId`], what that player's client is sure to hold: the baseline
//! its next delta is encoded against, and (for players with a view) the
//! view tracker of what it was sent. Once per tick the room hands it the
//! tick's replicated rows, the game's [`Interest`] (views, last inputs,
//! priorities) and a [`Sink`]; it encodes each player's snapshot message
//! into one reused buffer and gives it to the sink, which reports back what
//! became of it ([`Delivery`]), and, before the next, what its transport
//! wrote since ([`Sink::written`]). From those reports alone the core moves
//! each player's baseline: a snapshot begun on the wire becomes the
//! baseline; one replaced while it waited never will be.
//!
//! The core reads no clock and writes no socket: the server's room wraps
//! the player's outbox in its sink and times the offers there, the benches
//! count bytes in theirs, and the tests script the deliveries
//! (`crates/protocol/tests/replicator.rs`). The story of the whole tick is
//! told once, in `docs/architecture.md`.

use std::collections::BTreeMap;

use tickwire_types::{Interest, NetId, PlayerId, ReplicatedEntity, Schema, SchemaError};

use crate::history::{RecordError, ServerHistory};
use crate::interest::{Budget, ViewEncoder, ViewError, ViewTracker};
use crate::snapshot::write_snapshot_message;

/// What became of a snapshot message the core handed to a [`Sink`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Begun on the wire, in order: the client will hold it, so it is the
    /// player's new baseline.
    Written,
    /// Waiting for the transport. `written` is the newest tick begun on the
    /// wire so far, which the client is sure to hold.
    Waiting {
        /// The newest tick begun on the wire, if any.
        written: Option<u32>,
    },
    /// Waiting, in place of an older waiting snapshot that will now never
    /// be sent (so never be a baseline). `written` as for `Waiting`.
    Replaced {
        /// The newest tick begun on the wire, if any.
        written: Option<u32>,
    },
    /// The player's transport is closed: the message was dropped.
    Closed,
}

/// Where the core puts each player's message: the transport, seen from the
/// core. `H` is the per-player handle the core keeps for the sink (the
/// server's player link; `()` in a bench).
pub trait Sink<H: ?Sized> {
    /// Makes `message` ready for the next player's message: clears it, and
    /// may leave room in front (the server leaves room for a frame head).
    fn begin(&mut self, message: &mut Vec<u8>) {
        message.clear();
    }

    /// The newest tick begun on `player`'s wire, if the transport may have
    /// begun a waiting message since its last delivery (a writer task that
    /// drains between ticks). Asked just before the player is encoded, so
    /// its delta is against the newest state its client holds: a client
    /// that keeps only its newest state can apply every message. The
    /// default, for a transport that writes at once or never, is `None`.
    fn written(&mut self, player: PlayerId, handle: &H) -> Option<u32> {
        let _ = (player, handle);
        None
    }

    /// Takes `player`'s snapshot message of `tick`: everything in `message`
    /// after what [`Sink::begin`] left. Reports what became of it.
    fn deliver(
        &mut self,
        player: PlayerId,
        handle: &H,
        tick: u32,
        message: &mut Vec<u8>,
    ) -> Delivery;
}

/// What one [`Replicator::replicate`] did, for the room's metrics and logs.
#[derive(Debug, Default)]
pub struct Report {
    /// Messages begun on the wire.
    pub written: u64,
    /// Messages left waiting for their transport.
    pub waiting: u64,
    /// Messages that replaced an older waiting one (a skipped snapshot).
    pub replaced: u64,
    /// Messages dropped because the player's transport is closed.
    pub closed: u64,
    /// Changes a bandwidth budget held back, over every player.
    pub deferred: u64,
    /// Players whose view could not be encoded (a game bug); they keep
    /// their last state.
    pub failed: u64,
    /// The last such failure, to log.
    pub failure: Option<(PlayerId, ViewError)>,
}

/// Why no player got a snapshot of a tick: the tick's rows could not be
/// recorded (a game bug, such as unsorted ids or a value outside its
/// declared range). Players keep their last state.
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    /// The room-wide history refused the rows.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The views' record refused the rows.
    #[error(transparent)]
    View(#[from] ViewError),
}

/// One player, as the core keeps it.
#[derive(Debug)]
struct Client<H> {
    /// The transport's handle, given back to the sink with each message.
    handle: H,
    /// What the client was sent of its view, per tick not yet known lost.
    tracker: ViewTracker,
    /// The newest tick the client is sure to hold: the next delta's
    /// baseline. `None` until a snapshot is begun on the wire.
    baseline: Option<u32>,
    /// Whether the player's last message was of a view (its tracker's
    /// rows) or of the whole room (the history's).
    had_view: bool,
    /// The first tick encoded the way the player is encoded now: a state
    /// the client holds from before a switch between a view and the whole
    /// room is not a baseline for the other way.
    since: u32,
    /// The player's connection dropped and its seat is held: it is sent
    /// nothing, and what its client held is kept for its resume.
    held: bool,
}

/// The replication state of one room: the history, every player's
/// baseline and view tracker, and the tick's encode loop.
///
/// ```
/// # use tickwire_protocol::{Delivery, Replicator, Sink};
/// # use tickwire_types::*;
/// struct Everything;
/// impl Interest for Everything {
///     fn view(&self, _: PlayerId) -> Option<Rect> { None }
///     fn entities_in(&self, _: Rect, _: &mut Vec<NetId>) {}
///     fn last_applied_input(&self, _: PlayerId) -> Option<u32> { None }
/// }
/// struct Wire(Vec<Vec<u8>>);
/// impl Sink<()> for Wire {
///     fn deliver(&mut self, _: PlayerId, _: &(), _: u32, m: &mut Vec<u8>) -> Delivery {
///         self.0.push(m.clone());
///         Delivery::Written
///     }
/// }
/// let x = FieldDecl { id: 0, name: "x".into(), quant: Quantization::Int { min: 0, max: 100 } };
/// let dot = KindDecl { id: 0, name: "dot".into(), fields: vec![x] };
/// let schema = Schema::new("dots", vec![dot], vec![], vec![]);
/// let mut core = Replicator::new(schema, None)?;
/// core.add(PlayerId(1), ());
/// let dot = ReplicatedEntity { id: NetId(1), kind: 0, values: [5, 0, 0, 0, 0, 0, 0, 0] };
/// let mut wire = Wire(Vec::new());
/// let report = core.replicate(1, &[dot], &Everything, &mut wire)?;
/// assert_eq!(report.written, 1);
/// assert_eq!(core.baseline(PlayerId(1)), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Replicator<H> {
    /// Every player, in id order: the order the room drains inputs in and
    /// the order snapshots are encoded in.
    clients: BTreeMap<PlayerId, Client<H>>,
    /// Room-wide state, for players without a view.
    history: ServerHistory,
    /// Encoder of the snapshots of players with a view.
    views: ViewEncoder,
    /// The per-snapshot budget of players with a view, if any.
    budget: Option<Budget>,
    /// Reused per player: the ids in its view.
    ids: Vec<NetId>,
    /// Reused per player: its message, after what the sink's `begin` left.
    message: Vec<u8>,
}

impl<H> Replicator<H> {
    /// A core for a game with `schema`; `budget` limits each snapshot of a
    /// player with a view. Fails if the schema is invalid.
    pub fn new(schema: Schema, budget: Option<Budget>) -> Result<Self, SchemaError> {
        Ok(Self {
            clients: BTreeMap::new(),
            history: ServerHistory::new(schema.clone())?,
            views: ViewEncoder::new(schema)?,
            budget,
            ids: Vec::new(),
            message: Vec::new(),
        })
    }

    /// Adds `player`, whose messages go to the sink with `handle`. A player
    /// already present is replaced (its state starts over); its old handle
    /// is returned.
    pub fn add(&mut self, player: PlayerId, handle: H) -> Option<H> {
        let client = Client {
            handle,
            tracker: ViewTracker::new(),
            baseline: None,
            had_view: false,
            since: 0,
            held: false,
        };
        self.clients.insert(player, client).map(|c| c.handle)
    }

    /// Removes `player`; returns its handle if it was present.
    pub fn remove(&mut self, player: PlayerId) -> Option<H> {
        self.clients.remove(&player).map(|c| c.handle)
    }

    /// `player`'s handle, if present.
    pub fn get(&self, player: PlayerId) -> Option<&H> {
        self.clients.get(&player).map(|c| &c.handle)
    }

    /// Every player and its handle, in id order, held ones included.
    pub fn players(&self) -> impl ExactSizeIterator<Item = (PlayerId, &H)> + '_ {
        self.clients.iter().map(|(id, c)| (*id, &c.handle))
    }

    /// Every player with a connection (not [held](Self::hold)) and its
    /// handle, in id order.
    pub fn attached(&self) -> impl Iterator<Item = (PlayerId, &H)> + '_ {
        self.clients
            .iter()
            .filter(|(_, c)| !c.held)
            .map(|(id, c)| (*id, &c.handle))
    }

    /// Whether `player` is present and [held](Self::hold).
    pub fn is_held(&self, player: PlayerId) -> bool {
        self.clients.get(&player).is_some_and(|c| c.held)
    }

    /// `player`'s connection dropped and its seat is held: from now on it
    /// is sent nothing, and what its client holds (its baseline, its view
    /// tracker) is kept, so that its [resume](Self::attach) can be a delta.
    /// Returns whether the player was present and attached.
    pub fn hold(&mut self, player: PlayerId) -> bool {
        match self.clients.get_mut(&player) {
            Some(client) if !client.held => {
                client.held = true;
                true
            }
            _ => false,
        }
    }

    /// A held player resumes on a new transport, `handle`, its client
    /// holding the state of tick `since` (`None`: nothing). The next delta
    /// is encoded against `since` when the core still has that state (the
    /// room-wide history's, or for a player with a view, its tracker's);
    /// otherwise the next snapshot is full. Returns the old handle, or
    /// `None` (and changes nothing) if the player is not held.
    pub fn attach(&mut self, player: PlayerId, handle: H, since: Option<u32>) -> Option<H> {
        let Self {
            clients,
            history,
            views,
            ..
        } = self;
        let client = clients.get_mut(&player).filter(|c| c.held)?;
        let held = since.filter(|&tick| {
            if client.had_view {
                views.state_at(&client.tracker, tick).is_some()
            } else {
                history.get(tick).is_some()
            }
        });
        client.held = false;
        client.baseline = held;
        if held.is_none() {
            client.tracker.clear();
        }
        Some(std::mem::replace(&mut client.handle, handle))
    }

    /// Records `rows` (the replicated state of `tick`, sorted by id) in the
    /// room-wide history without sending anything: a room continued on
    /// another node replays the ticks its players' clients may hold, so
    /// that their resumes get a delta (see [`Replicator::attach`]).
    pub fn remember(&mut self, tick: u32, rows: &[ReplicatedEntity]) -> Result<(), ReplicateError> {
        self.history.record(tick, rows.to_vec())?;
        Ok(())
    }

    /// Every player and its handle, in id order, removing them all.
    pub fn drain(&mut self) -> impl Iterator<Item = (PlayerId, H)> + use<H> {
        std::mem::take(&mut self.clients)
            .into_iter()
            .map(|(id, c)| (id, c.handle))
    }

    /// Players present.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no player is present.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The tick `player`'s next delta will be encoded against, if any.
    pub fn baseline(&self, player: PlayerId) -> Option<u32> {
        self.clients.get(&player).and_then(|c| c.baseline)
    }

    /// How many snapshots the core remembers sending `player` for its
    /// view: its memory, at most [`crate::VIEW_STATES`]. A snapshot that
    /// was replaced before it was sent is forgotten at once.
    pub fn states_held(&self, player: PlayerId) -> usize {
        self.clients.get(&player).map_or(0, |c| c.tracker.len())
    }

    /// A resuming client says it still holds `tick` from an earlier
    /// connection: use it as `player`'s baseline, if nothing was begun on
    /// the wire for it yet and the room-wide history still holds `tick`.
    /// Returns whether it was taken.
    pub fn resume(&mut self, player: PlayerId, tick: u32) -> bool {
        match self.clients.get_mut(&player) {
            Some(client) if client.baseline.is_none() && self.history.holds_baseline(tick) => {
                client.baseline = Some(tick);
                true
            }
            _ => false,
        }
    }

    /// Encodes every player's snapshot of `tick`, whose replicated rows are
    /// `rows` (sorted by id, as the simulation gives them), and hands each
    /// to `sink` as soon as it is encoded, so one message buffer serves the
    /// whole room.
    ///
    /// A player without a view gets the room-wide body against its
    /// baseline, encoded once per distinct baseline. A player with a view
    /// gets the entities in it, against what its tracker says its client
    /// holds, within the budget if one is set. The rows are recorded for
    /// each kind of player when the first player of that kind needs them.
    ///
    /// An error means the rows could not be recorded: the players from that
    /// point on get nothing this tick (they keep their last state). A
    /// player whose view fails to encode is skipped and counted in the
    /// report.
    pub fn replicate<I, S>(
        &mut self,
        tick: u32,
        rows: &[ReplicatedEntity],
        interest: &I,
        sink: &mut S,
    ) -> Result<Report, ReplicateError>
    where
        I: Interest + ?Sized,
        S: Sink<H> + ?Sized,
    {
        let Self {
            clients,
            history,
            views,
            budget,
            ids,
            message,
        } = self;
        let (mut recorded, mut indexed) = (false, false);
        let mut report = Report::default();
        for (&player, client) in clients.iter_mut() {
            if client.held {
                continue;
            }
            let view = interest.view(player);
            if client.had_view != view.is_some() {
                // A switch between a view and the whole room starts over
                // with a full snapshot.
                client.had_view = view.is_some();
                client.tracker.clear();
                client.baseline = None;
                client.since = tick;
            }
            if let Some(written) = sink.written(player, &client.handle) {
                if written >= client.since {
                    client.baseline = client.baseline.max(Some(written));
                }
            }
            let last_input = interest.last_applied_input(player);
            match view {
                Some(view) => {
                    if !indexed {
                        views.record(tick, rows)?;
                        indexed = true;
                    }
                    ids.clear();
                    interest.entities_in(view, ids);
                    sink.begin(message);
                    let encoded = views.encode_message(
                        &mut client.tracker,
                        client.baseline,
                        ids,
                        *budget,
                        |e| interest.priority(view, e),
                        last_input,
                        message,
                    );
                    match encoded {
                        Ok(out) => report.deferred += out.deferred as u64,
                        Err(error) => {
                            report.failed += 1;
                            report.failure = Some((player, error));
                            continue;
                        }
                    }
                }
                None => {
                    if !recorded {
                        history.record(tick, rows)?;
                        recorded = true;
                    }
                    let Some(body) = history.shared_body(client.baseline) else {
                        continue; // only before the first record, just made
                    };
                    sink.begin(message);
                    write_snapshot_message(message, last_input, &body.bytes);
                }
            }
            match sink.deliver(player, &client.handle, tick, message) {
                Delivery::Written => {
                    client.baseline = Some(tick);
                    report.written += 1;
                }
                Delivery::Waiting { written } => {
                    client.baseline = written;
                    report.waiting += 1;
                }
                Delivery::Replaced { written } => {
                    client.baseline = written;
                    client.tracker.forget_replaced();
                    report.replaced += 1;
                }
                Delivery::Closed => report.closed += 1,
            }
        }
        Ok(report)
    }
}
