//! What the server measures: Prometheus metrics for `/metrics`, and each
//! room's tick-time histograms for `/api/rooms`.
//!
//! Metric names live here as constants so the code that counts and
//! `docs/operations.md` that documents them cannot drift apart silently.
//! The Prometheus recorder is process-global (the `metrics` facade allows one
//! recorder per process), so several servers in one process, as in the
//! integration tests, share their counters.

use std::sync::OnceLock;
use std::time::Duration;

use hdrhistogram::Histogram;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "tickwire_connections";
/// Players in rooms (gauge).
pub const PLAYERS: &str = "tickwire_players";
/// Open rooms (gauge).
pub const ROOMS: &str = "tickwire_rooms";
/// Time of one phase of one tick, seconds (histogram; label `phase` =
/// `simulate`, `encode` or `send`).
pub const TICK_PHASE_SECONDS: &str = "tickwire_tick_phase_seconds";
/// Ticks run (counter).
pub const TICKS: &str = "tickwire_ticks_total";
/// Bytes of WebSocket frames written, headers included (counter).
pub const BYTES_OUT: &str = "tickwire_bytes_out_total";
/// WebSocket frames written (counter).
pub const FRAMES_OUT: &str = "tickwire_frames_out_total";
/// Snapshots replaced in an outbox before the socket took them (counter).
pub const SNAPSHOTS_SKIPPED: &str = "tickwire_snapshots_skipped_total";
/// Inputs dropped (counter; label `reason` = `rate` or `queue`).
pub const INPUTS_DROPPED: &str = "tickwire_inputs_dropped_total";
/// Inputs applied in a tick behind another of their player's (a backlog
/// caught up after a stall), and ticks that found a player with no input
/// waiting (counter; label `kind` = `bunched` or `starved`): the ticks a
/// client's prediction of its own entity could not foresee.
pub const INPUT_TIMING: &str = "tickwire_input_timing_total";
/// Frames dropped unread, over a player's `--max-frames-per-second` (counter).
pub const FRAMES_DROPPED: &str = "tickwire_frames_dropped_total";
/// Chat lines dropped, over a player's chat budget (counter).
pub const CHAT_DROPPED: &str = "tickwire_chat_dropped_total";
/// Chat lines not delivered because a player's control queue was full
/// (lifecycle events are never dropped; see `tickwire_event_queue_closes_total`).
pub const EVENTS_DROPPED: &str = "tickwire_events_dropped_total";
/// Players disconnected for falling too far behind on lifecycle events.
pub const EVENT_QUEUE_CLOSES: &str = "tickwire_event_queue_closes_total";
/// Connections closed (counter; label `reason`).
pub const CLOSES: &str = "tickwire_closes_total";
/// Upgrade requests refused with HTTP 503 at the connection limit.
pub const CONNECTIONS_REFUSED: &str = "tickwire_connections_refused_total";
/// Upgrades refused before a connection slot was taken (counter; label
/// `reason` = `origin`, `ticket_missing`, `ticket_malformed`,
/// `ticket_forged`, `ticket_expired`, `ticket_room`, or an admission hook's
/// own, `admission` by default).
pub const UPGRADES_REFUSED: &str = "tickwire_upgrades_refused_total";
/// Requests for operators' answers (`/api/rooms?players=1`) refused for a
/// missing or wrong admin token, or none configured (counter).
pub const ADMIN_REFUSED: &str = "tickwire_admin_requests_refused_total";
/// Accepted connections not (yet) upgraded to a WebSocket (gauge).
pub const PENDING_CONNECTIONS: &str = "tickwire_pending_connections";
/// Connections closed at accept, before any request was read (counter;
/// label `limit` = `pending` for `--max-pending-connections`, `address`
/// for `--max-connections-per-address`).
pub const ACCEPTS_REFUSED: &str = "tickwire_accepts_refused_total";
/// Failed `accept` calls, such as running out of file descriptors (counter).
pub const ACCEPT_ERRORS: &str = "tickwire_accept_errors_total";
/// HTTP connections ended by a request-head limit (counter; label `reason`
/// = `headers_too_large` (answered 431) or `header_timeout`).
pub const HTTP_HEAD_REFUSED: &str = "tickwire_http_head_refused_total";
/// Joins refused because opening their room would pass `--max-rooms`
/// (counter).
pub const ROOMS_REFUSED: &str = "tickwire_rooms_refused_total";
/// Ticks a late room dropped instead of catching up (counter).
pub const CATCHUP_TICKS_DROPPED: &str = "tickwire_catchup_ticks_dropped_total";
/// Counter: entity changes a bandwidth budget held back for a later tick.
pub const CHANGES_DEFERRED: &str = "tickwire_changes_deferred_total";
/// Spectators in rooms (gauge): connections that watch without a seat.
pub const SPECTATORS: &str = "tickwire_spectators";
/// Seats held for players whose connection dropped, awaiting their resume
/// (gauge; the players are still counted in `tickwire_players`).
pub const SEATS_HELD: &str = "tickwire_seats_held";
/// Held seats taken back by a resume (counter).
pub const RESUMES: &str = "tickwire_resumes_total";
/// Resumes refused (counter; label `reason` = `malformed`, `forged`,
/// `expired`, `in_use`, `superseded`, `released`, `wrong_room`).
pub const RESUMES_REFUSED: &str = "tickwire_resumes_refused_total";

/// Cluster mode: matchmaking decisions, `POST /api/matchmake` and `/ws`
/// without a seat ticket alike (counter; label `result` = `existing`,
/// `new`, `full`, `draining`, `unavailable`).
pub const MATCHMAKES: &str = "tickwire_matchmakes_total";
/// Cluster mode: time of one matchmaking decision, the Redis round trip
/// included (histogram, seconds).
pub const MATCHMAKE_SECONDS: &str = "tickwire_matchmake_seconds";
/// Cluster mode: seat tickets refused (counter; label `reason` =
/// `malformed`, `forged`, `expired`, `replayed`).
pub const SEAT_TICKETS_REFUSED: &str = "tickwire_seat_tickets_refused_total";
/// Cluster mode: connections sent to the node that owns their room, and
/// players of a fenced room sent on (counter).
pub const REDIRECTS: &str = "tickwire_redirects_total";
/// Cluster mode: seconds since this node's last heartbeat went through
/// (gauge, set at every heartbeat).
pub const HEARTBEAT_LAG: &str = "tickwire_cluster_heartbeat_lag_seconds";
/// Cluster mode: heartbeats that failed (Redis unreachable, slow) (counter).
pub const HEARTBEATS_FAILED: &str = "tickwire_cluster_heartbeats_failed_total";
/// Cluster mode: rooms this node registered at its last heartbeat (gauge;
/// label `node`).
pub const NODE_ROOMS: &str = "tickwire_cluster_node_rooms";
/// Cluster mode: players this node registered at its last heartbeat
/// (gauge; label `node`).
pub const NODE_PLAYERS: &str = "tickwire_cluster_node_players";
/// Cluster mode: nodes with a live lease, as of this node's last heartbeat
/// (gauge).
pub const CLUSTER_NODES: &str = "tickwire_cluster_nodes";
/// Cluster mode: rooms this node stopped because the directory gave them
/// to another node or another epoch (counter).
pub const ROOMS_FENCED: &str = "tickwire_cluster_rooms_fenced_total";
/// Cluster mode: 1 while the node drains, else 0 (gauge).
pub const DRAINING: &str = "tickwire_cluster_draining";
/// Failover: rooms this node continued from another node's snapshot and
/// input log (counter).
pub const ROOMS_RESUMED: &str = "tickwire_failover_rooms_resumed_total";
/// Failover: rooms that could not be continued (a snapshot or log that
/// did not restore, a replay whose hashes differ) and opened afresh
/// instead (counter).
pub const RESUMES_FAILED: &str = "tickwire_failover_resumes_failed_total";
/// Failover: ticks of a dead node's input log replayed to continue its
/// rooms (counter).
pub const TICKS_REPLAYED: &str = "tickwire_failover_ticks_replayed_total";
/// Failover: time from the last tick a room's dead node wrote to Redis to
/// the first snapshot the room sent after it was continued here
/// (histogram, seconds).
pub const FAILOVER_SECONDS: &str = "tickwire_failover_gap_seconds";
/// Failover: bytes of snapshots and input log written to Redis (counter).
pub const JOURNAL_BYTES: &str = "tickwire_failover_journal_bytes_total";
/// Failover: journal entries dropped because Redis fell behind; the next
/// snapshot starts the log over (counter).
pub const JOURNAL_DROPPED: &str = "tickwire_failover_journal_dropped_total";
/// Failover: ticks sent before Redis confirmed their inputs, because
/// Redis was slower than `--journal-wait` or away (counter).
pub const JOURNAL_UNCONFIRMED: &str = "tickwire_failover_unconfirmed_ticks_total";

/// Time of one `malloc_trim` of the housekeeping task
/// (`--malloc-trim-every`; histogram, seconds).
pub const MALLOC_TRIM_SECONDS: &str = "tickwire_malloc_trim_seconds";
/// Bytes the process has allocated and not freed: its live heap (gauge,
/// read at each scrape; glibc only, see `malloc::heap`).
pub const HEAP_BYTES: &str = "tickwire_heap_bytes";
/// Bytes free in the allocator's arenas, kept for later allocations
/// (gauge, read at each scrape; glibc only).
pub const HEAP_FREE_BYTES: &str = "tickwire_heap_free_bytes";

/// Sets the heap gauges from the allocator, if it tells (glibc's does):
/// called before each render of `/metrics`.
pub(crate) fn read_heap() {
    if let Some(heap) = crate::malloc::heap() {
        metrics::gauge!(HEAP_BYTES).set(heap.in_use as f64);
        metrics::gauge!(HEAP_FREE_BYTES).set(heap.free as f64);
    }
}

/// The process's Prometheus recorder, installed on first use. `None` if
/// another recorder was installed first by an embedding program.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Tick phases take microseconds to a few milliseconds.
            let buckets = [
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
            ];
            // A matchmaking decision is a Redis round trip: about a
            // millisecond, more under load.
            let matchmake = [
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ];
            // A trim walks the allocator's free chunks: well under a
            // millisecond at a few MiB.
            let trim = [
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1,
            ];
            // A failover takes a lease or two, plus the clients' backoff.
            let failover = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 30.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(TICK_PHASE_SECONDS.to_owned()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(MATCHMAKE_SECONDS.to_owned()),
                        &matchmake,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(MALLOC_TRIM_SECONDS.to_owned()), &trim)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(FAILOVER_SECONDS.to_owned()), &failover)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed; /metrics is off");
                    None
                }
            }
        })
        .as_ref()
}

/// How often the recorder's histograms are drained into their buckets.
///
/// The recorder keeps every histogram sample (a tick's phase times, three
/// per room per tick) until upkeep folds it into the buckets. Scraping
/// `/metrics` runs upkeep too, but a server nobody scrapes must not grow:
/// without this, 50 rooms grew the process by about 70 KB a second.
pub const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Runs the recorder's upkeep every [`UPKEEP_PERIOD`], on a thread of its
/// own: the recorder belongs to the process, not to one runtime or server.
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Err(error) = spawn_periodic("metrics-upkeep", UPKEEP_PERIOD, move || {
        handle.run_upkeep();
    }) {
        tracing::warn!(%error, "metrics upkeep thread not started; histograms drain only when /metrics is scraped");
    }
}

/// Ticks of a room between two calls of [`flush_metric_garbage`] on its
/// thread: about once a second at 30 Hz.
pub const GARBAGE_FLUSH_TICKS: u64 = 32;

/// Hands the calling thread's deferred frees of the recorder's histograms
/// to the shared queue, and frees those no thread can still see.
///
/// A histogram sample goes into a block of the recorder's lock-free bucket;
/// upkeep takes the blocks and defers their free through crossbeam-epoch,
/// whose queue of deferred frees is itself freed by deferral: the thread
/// that frees an entry of the queue (a room thread, which pins the epoch at
/// every sample) keeps the entry's node in a bag of its own until 64 have
/// gathered. At 50 rooms that bag filled at about 0.4 KB a second and took
/// minutes to fill: the server grew in a straight line for as long as
/// anyone watched. Room threads call this every [`GARBAGE_FLUSH_TICKS`]
/// ticks, so what a thread holds back is a second's worth, not minutes'.
pub fn flush_metric_garbage() {
    crossbeam_epoch::pin().flush();
}

/// Calls `work` every `period`, for the life of the process, on a thread
/// named `name`.
fn spawn_periodic(
    name: &str,
    period: Duration,
    work: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                work();
            }
        })
        .map(drop)
}

/// Registers the series the server exports at zero, so that every metric
/// is in `/metrics` from the start and a dashboard's `rate()` sees a zero
/// rather than nothing: the counters and gauges without labels, and those
/// with labels for every value their callers use (`closes`: the session's
/// end labels). With `cluster`, the cluster's too. Registering is
/// idempotent: a series already counting keeps its count.
pub fn zero_series(closes: &[&'static str], cluster: bool) {
    use metrics::{counter, gauge};
    for name in [
        CONNECTIONS,
        PLAYERS,
        ROOMS,
        SPECTATORS,
        SEATS_HELD,
        PENDING_CONNECTIONS,
    ] {
        gauge!(name).increment(0.0);
    }
    for name in [
        TICKS,
        BYTES_OUT,
        FRAMES_OUT,
        SNAPSHOTS_SKIPPED,
        FRAMES_DROPPED,
        CHAT_DROPPED,
        EVENTS_DROPPED,
        EVENT_QUEUE_CLOSES,
        CONNECTIONS_REFUSED,
        ADMIN_REFUSED,
        ACCEPT_ERRORS,
        ROOMS_REFUSED,
        CATCHUP_TICKS_DROPPED,
        CHANGES_DEFERRED,
        RESUMES,
    ] {
        counter!(name).increment(0);
    }
    for reason in closes {
        counter!(CLOSES, "reason" => *reason).increment(0);
    }
    for reason in ["rate", "queue"] {
        counter!(INPUTS_DROPPED, "reason" => reason).increment(0);
    }
    for kind in ["bunched", "starved"] {
        counter!(INPUT_TIMING, "kind" => kind).increment(0);
    }
    for limit in ["pending", "address"] {
        counter!(ACCEPTS_REFUSED, "limit" => limit).increment(0);
    }
    for reason in ["headers_too_large", "header_timeout"] {
        counter!(HTTP_HEAD_REFUSED, "reason" => reason).increment(0);
    }
    for reason in [
        "origin",
        "ticket_missing",
        "ticket_malformed",
        "ticket_forged",
        "ticket_expired",
        "ticket_room",
        "admission",
    ] {
        counter!(UPGRADES_REFUSED, "reason" => reason).increment(0);
    }
    for reason in [
        "malformed",
        "forged",
        "expired",
        "in_use",
        "superseded",
        "released",
        "wrong_room",
    ] {
        counter!(RESUMES_REFUSED, "reason" => reason).increment(0);
    }
    if !cluster {
        return;
    }
    for result in ["new", "existing", "full", "draining", "unavailable"] {
        counter!(MATCHMAKES, "result" => result).increment(0);
    }
    for reason in ["malformed", "forged", "expired", "replayed"] {
        counter!(SEAT_TICKETS_REFUSED, "reason" => reason).increment(0);
    }
    for name in [
        REDIRECTS,
        HEARTBEATS_FAILED,
        ROOMS_FENCED,
        ROOMS_RESUMED,
        RESUMES_FAILED,
        TICKS_REPLAYED,
        JOURNAL_BYTES,
        JOURNAL_DROPPED,
        JOURNAL_UNCONFIRMED,
    ] {
        counter!(name).increment(0);
    }
    for name in [HEARTBEAT_LAG, CLUSTER_NODES, DRAINING] {
        gauge!(name).increment(0.0);
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "Open WebSocket connections");
    describe_gauge!(PLAYERS, "Players in rooms");
    describe_gauge!(ROOMS, "Open rooms");
    describe_histogram!(
        TICK_PHASE_SECONDS,
        metrics::Unit::Seconds,
        "Time of one tick phase (simulate, encode, send)"
    );
    describe_histogram!(
        MALLOC_TRIM_SECONDS,
        metrics::Unit::Seconds,
        "Time of one malloc_trim of the housekeeping task (--malloc-trim-every)"
    );
    describe_gauge!(
        HEAP_BYTES,
        metrics::Unit::Bytes,
        "Bytes allocated and not freed: the live heap (glibc)"
    );
    describe_gauge!(
        HEAP_FREE_BYTES,
        metrics::Unit::Bytes,
        "Bytes free in the allocator's arenas, kept for later allocations (glibc)"
    );
    describe_counter!(TICKS, "Ticks run by all rooms");
    describe_counter!(BYTES_OUT, "WebSocket frame bytes written, headers included");
    describe_counter!(FRAMES_OUT, "WebSocket frames written");
    describe_counter!(
        SNAPSHOTS_SKIPPED,
        "Snapshots replaced before a slow socket took them"
    );
    describe_counter!(INPUTS_DROPPED, "Inputs dropped (rate limit or full queue)");
    describe_counter!(
        INPUT_TIMING,
        "Inputs applied bunched behind another, and ticks a player had none waiting"
    );
    describe_counter!(
        EVENTS_DROPPED,
        "Chat lines dropped for a full control queue"
    );
    describe_counter!(
        EVENT_QUEUE_CLOSES,
        "Players closed for falling too far behind on joins, leaves and game events"
    );
    describe_counter!(
        FRAMES_DROPPED,
        "Frames dropped unread over a player's frame budget"
    );
    describe_counter!(
        CHAT_DROPPED,
        "Chat lines dropped over a player's chat budget"
    );
    describe_counter!(CLOSES, "Connections closed, by reason");
    describe_gauge!(
        SEATS_HELD,
        "Seats held for players whose connection dropped, awaiting their resume"
    );
    describe_counter!(RESUMES, "Held seats taken back by a resume");
    describe_counter!(RESUMES_REFUSED, "Resumes refused, by reason");
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Upgrades refused at the connection limit"
    );
    describe_gauge!(
        PENDING_CONNECTIONS,
        "Accepted connections not upgraded to a WebSocket"
    );
    describe_counter!(
        ACCEPTS_REFUSED,
        "Connections closed at accept, by limit (pending, address)"
    );
    describe_counter!(
        ACCEPT_ERRORS,
        "Failed accept calls (out of file descriptors, mostly)"
    );
    describe_counter!(
        HTTP_HEAD_REFUSED,
        "HTTP connections ended by a request-head limit (headers_too_large, header_timeout)"
    );
    describe_counter!(
        ROOMS_REFUSED,
        "Joins refused because their room would pass the room limit"
    );
    describe_counter!(
        UPGRADES_REFUSED,
        "Upgrades refused for their origin or by admission (tickets, the hook), by reason"
    );
    describe_counter!(
        ADMIN_REFUSED,
        "Requests for player lists refused without the admin token"
    );
    describe_counter!(
        CATCHUP_TICKS_DROPPED,
        "Ticks a late room skipped instead of catching up"
    );
    describe_counter!(
        CHANGES_DEFERRED,
        "Entity changes a bandwidth budget held back for a later snapshot"
    );
    describe_gauge!(SPECTATORS, "Spectators in rooms (no seat, no avatar)");
    describe_counter!(MATCHMAKES, "Cluster matchmaking decisions, by result");
    describe_histogram!(
        MATCHMAKE_SECONDS,
        metrics::Unit::Seconds,
        "Time of one cluster matchmaking decision, Redis included"
    );
    describe_counter!(SEAT_TICKETS_REFUSED, "Seat tickets refused, by reason");
    describe_counter!(
        REDIRECTS,
        "Connections sent to the cluster node that owns their room"
    );
    describe_gauge!(
        HEARTBEAT_LAG,
        metrics::Unit::Seconds,
        "Seconds since this node's last heartbeat to Redis went through"
    );
    describe_counter!(HEARTBEATS_FAILED, "Heartbeats to Redis that failed");
    describe_gauge!(
        NODE_ROOMS,
        "Rooms this node registered at its last heartbeat"
    );
    describe_gauge!(
        NODE_PLAYERS,
        "Players this node registered at its last heartbeat"
    );
    describe_gauge!(CLUSTER_NODES, "Cluster nodes with a live lease");
    describe_counter!(
        ROOMS_FENCED,
        "Rooms stopped because the directory gave them to another node"
    );
    describe_gauge!(DRAINING, "1 while this node drains");
    describe_counter!(
        ROOMS_RESUMED,
        "Rooms continued here from a dead node's snapshot and input log"
    );
    describe_counter!(
        RESUMES_FAILED,
        "Rooms of a dead node that could not be continued, opened afresh"
    );
    describe_counter!(
        TICKS_REPLAYED,
        "Ticks of dead nodes' input logs replayed to continue their rooms"
    );
    describe_histogram!(
        FAILOVER_SECONDS,
        metrics::Unit::Seconds,
        "From a dead node's last tick in Redis to the continued room's first snapshot"
    );
    describe_counter!(
        JOURNAL_BYTES,
        "Bytes of room snapshots and input logs written to Redis"
    );
    describe_counter!(
        JOURNAL_DROPPED,
        "Journal entries dropped because Redis fell behind"
    );
    describe_counter!(
        JOURNAL_UNCONFIRMED,
        "Ticks sent before Redis confirmed their inputs"
    );
}

/// One tick phase, as labelled in metrics and `/api/rooms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Draining inputs and stepping the simulation.
    Simulate,
    /// Recording the history and encoding every player's snapshot.
    Encode,
    /// Handing the snapshots to the players' outboxes.
    Send,
}

impl Phase {
    /// All phases, in tick order.
    pub const ALL: [Phase; 3] = [Phase::Simulate, Phase::Encode, Phase::Send];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulate => "simulate",
            Self::Encode => "encode",
            Self::Send => "send",
        }
    }
}

/// Longest phase time a histogram tells apart, in microseconds (1 s): a
/// longer phase is recorded as 1 s, which is already 30 ticks late.
const MAX_MICROS: u64 = 1_000_000;

/// Samples of tick time each room keeps, one a second: the live graph of
/// the operator console (`/admin/api/rooms`) covers this many seconds.
pub const TICK_HISTORY: usize = 180;

/// One second of a room's tick times (one [`TickTimes`] sample): per phase,
/// in [`Phase::ALL`] order (`simulate`, `encode`, `send`), microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickSample {
    /// The room's tick at the end of the second.
    pub tick: u64,
    /// Mean time of each phase over the second's ticks.
    pub mean_us: [u32; 3],
    /// Longest time of each phase over the second's ticks.
    pub max_us: [u32; 3],
}

/// Per-room tick-time histograms over a rolling window, for `/api/rooms`,
/// and a history of per-second samples, for the operator console.
///
/// Two windows: the one filling and the last full one; percentiles are read
/// from both merged, so they describe the last 10 to 20 seconds. The
/// history holds the last [`TICK_HISTORY`] samples (32 bytes each).
#[derive(Debug)]
pub struct TickTimes {
    current: [Histogram<u16>; 3],
    previous: [Histogram<u16>; 3],
    /// The phases' Prometheus histograms, looked up once.
    exported: [metrics::Histogram; 3],
    ticks_in_window: u32,
    window_ticks: u32,
    /// The sample being summed: per phase, total and longest microseconds.
    second: [(u64, u32); 3],
    ticks_in_second: u32,
    /// Ticks per sample: the tick rate, so a sample is a second.
    sample_ticks: u32,
    history: std::collections::VecDeque<TickSample>,
}

/// Percentiles of one phase, microseconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PhasePercentiles {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// A histogram of 1 µs to 1 s at two significant figures (1% precision is
/// plenty for a p99) with 16-bit counts (a window holds at most 2,400 ticks,
/// two merged 4,800): about 3.5 KiB. Every room holds six of them, so their
/// size is a cost per room: three significant figures and 64-bit counts
/// took 120 KiB each, and dominated the memory of a server of small rooms;
/// 1 µs to 10 s with 32-bit counts still took 9 KiB, 5.5 KiB per player in
/// rooms of ten.
#[allow(clippy::expect_used)] // constant bounds, checked by every test
fn new_histogram() -> Histogram<u16> {
    Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("constant histogram bounds are valid")
}

impl TickTimes {
    /// Histograms whose window spans `window_ticks` ticks, and a history
    /// of one sample per `sample_ticks` ticks.
    pub fn new(window_ticks: u32, sample_ticks: u32) -> Self {
        Self {
            current: [new_histogram(), new_histogram(), new_histogram()],
            previous: [new_histogram(), new_histogram(), new_histogram()],
            exported: Phase::ALL
                .map(|phase| metrics::histogram!(TICK_PHASE_SECONDS, "phase" => phase.name())),
            ticks_in_window: 0,
            window_ticks: window_ticks.max(1),
            second: [(0, 0); 3],
            ticks_in_second: 0,
            sample_ticks: sample_ticks.max(1),
            // All of it at once (5.6 KiB): grown as it filled, the history
            // made every room's memory creep for its first three minutes,
            // and ended at a power of two over what it holds.
            history: std::collections::VecDeque::with_capacity(TICK_HISTORY),
        }
    }

    /// Records the three phase times of `tick` and exports them as
    /// metrics. Returns whether a sample of the history ended with it
    /// (once a second).
    pub fn record(&mut self, tick: u64, phases: [Duration; 3]) -> bool {
        for (i, d) in phases.into_iter().enumerate() {
            let micros = u64::try_from(d.as_micros())
                .unwrap_or(MAX_MICROS)
                .clamp(1, MAX_MICROS);
            let _ = self.current[i].record(micros);
            self.exported[i].record(d.as_secs_f64());
            let (sum, max) = &mut self.second[i];
            *sum += micros;
            *max = (*max).max(micros as u32);
        }
        self.ticks_in_second += 1;
        let sampled = self.ticks_in_second >= self.sample_ticks;
        if sampled {
            let n = u64::from(self.ticks_in_second);
            let sample = TickSample {
                tick,
                mean_us: self.second.map(|(sum, _)| (sum / n) as u32),
                max_us: self.second.map(|(_, max)| max),
            };
            if self.history.len() >= TICK_HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(sample);
            self.second = [(0, 0); 3];
            self.ticks_in_second = 0;
        }
        self.ticks_in_window += 1;
        if self.ticks_in_window >= self.window_ticks {
            std::mem::swap(&mut self.current, &mut self.previous);
            for h in &mut self.current {
                h.reset();
            }
            self.ticks_in_window = 0;
        }
        sampled
    }

    /// The history's samples, oldest first, after tick `since` if given.
    pub fn history(&self, since: Option<u64>) -> Vec<TickSample> {
        self.history
            .iter()
            .filter(|s| since.is_none_or(|since| s.tick > since))
            .copied()
            .collect()
    }

    /// Percentiles of each phase, in [`Phase::ALL`] order.
    pub fn percentiles(&self) -> [PhasePercentiles; 3] {
        let mut out = [PhasePercentiles::default(); 3];
        for (i, slot) in out.iter_mut().enumerate() {
            let mut merged = self.previous[i].clone();
            let _ = merged.add(&self.current[i]);
            if merged.is_empty() {
                continue;
            }
            *slot = PhasePercentiles {
                p50_us: merged.value_at_quantile(0.5),
                p99_us: merged.value_at_quantile(0.99),
                max_us: merged.max(),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_work_runs_again_and_again() -> std::io::Result<()> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        spawn_periodic("test-periodic", Duration::from_millis(5), move || {
            counted.fetch_add(1, Ordering::Relaxed);
        })?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::Relaxed) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the work ran {} times in 10 s",
                runs.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    #[test]
    fn percentiles_cover_the_recorded_phases() {
        let mut t = TickTimes::new(1000, 30);
        for i in 1..=100u64 {
            t.record(
                i,
                [
                    Duration::from_micros(i),
                    Duration::from_micros(2 * i),
                    Duration::from_micros(3),
                ],
            );
        }
        let [sim, enc, send] = t.percentiles();
        assert!((49..=51).contains(&sim.p50_us), "{sim:?}");
        assert!((98..=100).contains(&sim.p99_us), "{sim:?}");
        assert!((99..=101).contains(&enc.p50_us), "{enc:?}");
        assert_eq!(send.max_us, 3);
    }

    #[test]
    fn two_windows_at_the_highest_tick_rate_fit_the_counts() {
        // 240 Hz, ten-second windows: 2,400 ticks each, 4,800 merged.
        let mut t = TickTimes::new(240 * 10, 240);
        for i in 0..4_799u64 {
            let d = Duration::from_micros(if i % 100 == 0 { 900 } else { 100 });
            t.record(i, [d, d, Duration::from_secs(5)]);
        }
        let [sim, _, send] = t.percentiles();
        assert!((99..=101).contains(&sim.p50_us), "{sim:?}");
        assert!((890..=910).contains(&sim.max_us), "{sim:?}");
        assert!(
            send.p50_us >= 990_000,
            "a phase over 1 s reads as 1 s: {send:?}"
        );
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut t = TickTimes::new(10, 10);
        for i in 0..10 {
            t.record(i, [Duration::from_millis(5); 3]);
        }
        for i in 10..30 {
            t.record(i, [Duration::from_micros(10); 3]);
        }
        assert!(t.percentiles()[0].max_us < 100);
    }

    #[test]
    fn the_history_holds_one_sample_a_second_and_forgets_the_oldest() {
        let mut t = TickTimes::new(300, 30);
        // A room's memory is all there from its first tick.
        let room_opened = t.history.capacity();
        assert!(room_opened >= TICK_HISTORY);
        let mut sampled = 0;
        for i in 1..=30 * (TICK_HISTORY as u64 + 5) {
            let micros = if i % 30 == 0 { 900 } else { 100 };
            let d = Duration::from_micros(micros);
            if t.record(i, [d, Duration::from_micros(20), d]) {
                sampled += 1;
            }
        }
        assert_eq!(sampled, TICK_HISTORY + 5);
        let history = t.history(None);
        assert_eq!(history.len(), TICK_HISTORY, "bounded");
        assert_eq!(history[0].tick, 30 * 6, "the oldest five forgotten");
        let last = history[TICK_HISTORY - 1];
        assert_eq!(last.tick, 30 * (TICK_HISTORY as u64 + 5));
        assert_eq!(last.max_us, [900, 20, 900]);
        assert_eq!(
            last.mean_us,
            [(29 * 100 + 900) / 30, 20, (29 * 100 + 900) / 30]
        );
        assert_eq!(t.history(Some(last.tick - 30)), vec![last], "since");
        assert_eq!(t.history.capacity(), room_opened, "never grown");
    }
}
