//! The cluster's state in Redis: the node registry, the room directory and
//! the placement decision, each one Lua script run atomically by Redis.
//!
//! # The keys
//!
//! Every key has a TTL, renewed only by its owner; nothing is ever written
//! without one. `P` is the prefix (`tickwire:`); times are milliseconds of
//! Redis's own clock (`TIME`), so the nodes' clocks never have to agree.
//!
//! | key | type | what | TTL, renewed by |
//! | --- | --- | --- | --- |
//! | `P node:ID` | hash | `url`, `status` (`up`, `draining`), `players`, `rooms`, `capacity`, `room_limit`, `max_rooms` | the lease (`--lease`), the node's heartbeat |
//! | `P node:ID:seats` | sorted set | seats reserved on the node and not yet taken: reservation id, scored by its deadline (`--seat-ticket-ttl`) | the lease, the node's heartbeat |
//! | `P node:ID:new` | sorted set | rooms placed on the node and not yet opened, scored by deadline | the lease, the node's heartbeat |
//! | `P nodes` | sorted set | node ids, scored by the end of their lease | the lease, every heartbeat |
//! | `P room:NAME` | hash | `node`, `epoch`, `url`, `players`, `limit`, `status` (`open`, `draining`) | the lease, the owner's heartbeat (before the room opens too, while it is in `node:ID:new`) |
//! | `P room:NAME:seats` | sorted set | the room's reserved seats, scored by deadline | the lease, the owner's heartbeat |
//! | `P rooms` | sorted set | room names, scored by the end of their lease | the lease, every heartbeat |
//! | `P open` | sorted set | rooms with a free seat, scored by seats taken (fullest first) | the lease, every heartbeat |
//! | `P serial` | string | the counter of generated room names (`room-N`) | a day, each new name |
//!
//! # The rules, and the peers' failures they answer
//!
//! - **Every key has a TTL**, and only its owner renews it: a node that
//!   dies disappears from the registry within one lease, its rooms too
//!   (colyseus#389, #850, #799, #183).
//! - **No node deletes another's keys.** A node deletes only its own
//!   (its rooms when they close, everything when it leaves). The shared
//!   indexes (`nodes`, `rooms`, `open`) drop an entry only once its lease
//!   is over, or when the key it points to is gone: expiry decides, never a
//!   missed ping (colyseus#968).
//! - **Placement is one atomic decision** ([`PLACE`]): the named room if it
//!   has a seat, else the fullest open room, else a new room on the
//!   least-loaded node that is up. Redis runs a script alone, so fifty
//!   matchmakes for one new name make one room. A timeout is an error,
//!   never a room made locally instead (colyseus#978).
//! - **Heartbeats write absolute counts** ([`HEARTBEAT`]): players and rooms
//!   are set, never incremented, so they cannot drift (colyseus PR #649).
//!   Seats reserved and not yet taken are a sorted set of reservations that
//!   expire on their own; the owner removes the ones it saw taken in the
//!   same step that writes the new player count, so a player is never
//!   counted twice or not at all.
//! - **Fencing by epoch.** A room's epoch is the Redis time of the
//!   decision that created it. A heartbeat renews a room only if the
//!   directory still names this node and this epoch; a room whose entry
//!   names someone else is reported back as fenced, and the node stops it.
//!   An entry that is missing (its lease ran out, or Redis restarted
//!   empty) is claimed again, so a Redis restart costs the rooms nothing.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Helpers every script starts with (Lua 5.1: no shared functions between
/// scripts before Redis 7's functions, which need loading by hand).
macro_rules! prelude {
    () => {
        r#"
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local NODES = P .. 'nodes'
local ROOMS = P .. 'rooms'
local OPEN = P .. 'open'
local function node_key(id) return P .. 'node:' .. id end
local function room_key(name) return P .. 'room:' .. name end
-- the Redis time in microseconds, as digits: a new room's epoch
local function epoch_now() return t[1] .. string.sub('000000' .. t[2], -6) end
-- entries of a sorted set of deadlines that are still live
local function live(key) return redis.call('ZCOUNT', key, now, '+inf') end
-- sets a key's TTL to at least ms (a new key has none: PEXPIRE GT would skip it)
local function extend(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"#
    };
}

/// A node's heartbeat: registers the node, renews its rooms (claiming a
/// room whose entry is missing, reporting one that names someone else as
/// fenced), takes the reservations it saw used off the seat sets, deletes
/// the entries of its rooms that closed, and drops the indexes' entries
/// whose lease is over.
///
/// `ARGV`: prefix, node id, url, status, players, rooms, capacity,
/// room limit, max rooms, lease ms, then the rooms (a count, then name,
/// epoch, players, limit for each), the seats taken (a count, then room
/// and reservation id for each), the rooms closed (a count, then name and
/// epoch for each). Returns the live nodes, then name, owner and owner's
/// URL for each fenced room.
pub const HEARTBEAT: &str = concat!(
    prelude!(),
    r#"
local id = ARGV[2]
local url = ARGV[3]
local status = ARGV[4]
local lease = tonumber(ARGV[10])
local nk = node_key(id)
redis.call('HSET', nk, 'url', url, 'status', status, 'players', ARGV[5], 'rooms', ARGV[6],
  'capacity', ARGV[7], 'room_limit', ARGV[8], 'max_rooms', ARGV[9])
redis.call('PEXPIRE', nk, lease)
redis.call('ZREMRANGEBYSCORE', NODES, '-inf', '(' .. now)
redis.call('ZADD', NODES, now + lease, id)
extend(NODES, lease)
for _, name in ipairs(redis.call('ZRANGEBYSCORE', ROOMS, '-inf', '(' .. now)) do
  redis.call('ZREM', OPEN, name)
end
redis.call('ZREMRANGEBYSCORE', ROOMS, '-inf', '(' .. now)
redis.call('ZREMRANGEBYSCORE', nk .. ':seats', '-inf', '(' .. now)
redis.call('ZREMRANGEBYSCORE', nk .. ':new', '-inf', '(' .. now)

local i = 11
local n_rooms = tonumber(ARGV[i]); i = i + 1
local rooms = {}
for _ = 1, n_rooms do
  table.insert(rooms, {ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])})
  i = i + 4
end
local n_taken = tonumber(ARGV[i]); i = i + 1
for _ = 1, n_taken do
  redis.call('ZREM', room_key(ARGV[i]) .. ':seats', ARGV[i + 1])
  redis.call('ZREM', nk .. ':seats', ARGV[i + 1])
  i = i + 2
end

local room_status = 'open'
if status ~= 'up' then room_status = 'draining' end
local out = {}
for _, r in ipairs(rooms) do
  local name, epoch, players, limit = r[1], r[2], r[3], r[4]
  local rk = room_key(name)
  local owner = redis.call('HMGET', rk, 'node', 'epoch')
  if owner[1] == false or (owner[1] == id and owner[2] == epoch) then
    redis.call('HSET', rk, 'node', id, 'epoch', epoch, 'url', url, 'players', players,
      'limit', limit, 'status', room_status)
    redis.call('PEXPIRE', rk, lease)
    redis.call('PEXPIRE', rk .. ':seats', lease)
    redis.call('ZREM', nk .. ':new', name)
    redis.call('ZADD', ROOMS, now + lease, name)
    extend(ROOMS, lease)
    local taken = players + live(rk .. ':seats')
    if room_status == 'open' and taken < limit then
      redis.call('ZADD', OPEN, taken, name)
      extend(OPEN, lease)
    else
      redis.call('ZREM', OPEN, name)
    end
  else
    local owner_url = redis.call('HGET', node_key(owner[1]), 'url')
    if owner_url == false then owner_url = '' end
    table.insert(out, name)
    table.insert(out, owner[1])
    table.insert(out, owner_url)
  end
end

-- rooms placed here and not opened yet (their players are on their way):
-- this node renews them too, so that they outlive it by one lease at most
for _, name in ipairs(redis.call('ZRANGEBYSCORE', nk .. ':new', now, '+inf')) do
  local rk = room_key(name)
  if redis.call('HGET', rk, 'node') == id then
    redis.call('PEXPIRE', rk, lease)
    redis.call('PEXPIRE', rk .. ':seats', lease)
    redis.call('ZADD', ROOMS, now + lease, name)
    extend(ROOMS, lease)
  end
end
redis.call('PEXPIRE', nk .. ':seats', lease)
redis.call('PEXPIRE', nk .. ':new', lease)

local n_closed = tonumber(ARGV[i]); i = i + 1
for _ = 1, n_closed do
  local name, epoch = ARGV[i], ARGV[i + 1]
  i = i + 2
  local rk = room_key(name)
  local owner = redis.call('HMGET', rk, 'node', 'epoch')
  if owner[1] == id and owner[2] == epoch and live(rk .. ':seats') == 0 then
    redis.call('DEL', rk, rk .. ':seats')
    redis.call('ZREM', ROOMS, name)
    redis.call('ZREM', OPEN, name)
  end
end
table.insert(out, 1, tostring(redis.call('ZCOUNT', NODES, now, '+inf')))
return out
"#
);

/// The placement decision: a seat in the named room if it has one (a new
/// room of that name if there is none), or in the fullest open room, or
/// in a new room on the least-loaded node that is up; the seat is
/// reserved until the ticket's deadline.
///
/// `ARGV`: prefix, room (empty: any), reservation id, ticket ms (how long
/// the seat is held), lease ms (how long the keys it writes live unless
/// the room's node renews them). Returns `existing` or `new` with room, node, url, epoch;
/// `full`, `draining` or `down` with the room; `none` when no node can
/// take a new room.
pub const PLACE: &str = concat!(
    prelude!(),
    r#"
local want = ARGV[2]
local jti = ARGV[3]
local deadline = now + tonumber(ARGV[4])
local lease = tonumber(ARGV[5])

local function reserve(name, node)
  local rs = room_key(name) .. ':seats'
  local ns = node_key(node) .. ':seats'
  redis.call('ZADD', rs, deadline, jti)
  extend(rs, lease)
  redis.call('ZADD', ns, deadline, jti)
  extend(ns, lease)
end

-- a seat in an existing room, or why not
local function try_room(name)
  local rk = room_key(name)
  local r = redis.call('HMGET', rk, 'node', 'epoch', 'players', 'limit', 'status')
  if r[1] == false then return nil, 'gone' end
  if r[5] ~= 'open' then return nil, 'draining' end
  local node = redis.call('HMGET', node_key(r[1]), 'status', 'url')
  if node[1] == false then return nil, 'down' end
  if node[1] ~= 'up' then return nil, 'draining' end
  local limit = tonumber(r[4])
  local taken = tonumber(r[3]) + live(rk .. ':seats')
  if taken >= limit then return nil, 'full' end
  reserve(name, r[1])
  if taken + 1 < limit then
    redis.call('ZADD', OPEN, taken + 1, name)
    extend(OPEN, lease)
  else
    redis.call('ZREM', OPEN, name)
  end
  return {'existing', name, r[1], node[2], r[2]}
end

-- the least-loaded node that is up and has room for one more room
local function pick_node()
  local best = nil
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', NODES, now, '+inf')) do
    local nk = node_key(id)
    local f = redis.call('HMGET', nk, 'status', 'url', 'players', 'capacity', 'rooms',
      'max_rooms', 'room_limit')
    if f[1] == 'up' then
      local players = tonumber(f[3]) + live(nk .. ':seats')
      local rooms = tonumber(f[5]) + live(nk .. ':new')
      local capacity = tonumber(f[4])
      if rooms < tonumber(f[6]) and players < capacity then
        local load = players / capacity
        if best == nil or load < best.load
          or (load == best.load and (rooms < best.rooms or (rooms == best.rooms and id < best.id))) then
          best = {id = id, url = f[2], load = load, rooms = rooms, limit = tonumber(f[7])}
        end
      end
    end
  end
  return best
end

local function new_room(name)
  local node = pick_node()
  if node == nil then return {'none', name} end
  local epoch = epoch_now()
  local rk = room_key(name)
  redis.call('HSET', rk, 'node', node.id, 'epoch', epoch, 'url', node.url, 'players', 0,
    'limit', node.limit, 'status', 'open')
  redis.call('PEXPIRE', rk, lease)
  redis.call('ZADD', ROOMS, now + lease, name)
  extend(ROOMS, lease)
  if node.limit > 1 then
    redis.call('ZADD', OPEN, 1, name)
    extend(OPEN, lease)
  end
  local nn = node_key(node.id) .. ':new'
  redis.call('ZADD', nn, deadline, name)
  extend(nn, lease)
  reserve(name, node.id)
  return {'new', name, node.id, node.url, epoch}
end

if want ~= '' then
  local placed, why = try_room(want)
  if placed then return placed end
  if why == 'gone' then return new_room(want) end
  return {why, want}
end

for _, name in ipairs(redis.call('ZREVRANGEBYSCORE', OPEN, '+inf', '-inf', 'LIMIT', 0, 64)) do
  local placed, why = try_room(name)
  if placed then return placed end
  -- a room gone, full or draining is no candidate; its owner puts it back
  if why ~= 'down' then redis.call('ZREM', OPEN, name) end
end

local serial = P .. 'serial'
local name
repeat
  name = 'room-' .. redis.call('INCR', serial)
until redis.call('EXISTS', room_key(name)) == 0
redis.call('PEXPIRE', serial, 86400000)
return new_room(name)
"#
);

/// A node leaving the cluster: deletes its own keys, and the entries of
/// its rooms that still name it.
///
/// `ARGV`: prefix, node id, then name and epoch of each of its rooms.
pub const LEAVE: &str = concat!(
    prelude!(),
    r#"
local id = ARGV[2]
local nk = node_key(id)
redis.call('DEL', nk, nk .. ':seats', nk .. ':new')
redis.call('ZREM', NODES, id)
local i = 3
while ARGV[i] do
  local name, epoch = ARGV[i], ARGV[i + 1]
  local rk = room_key(name)
  local owner = redis.call('HMGET', rk, 'node', 'epoch')
  if owner[1] == id and owner[2] == epoch then
    redis.call('DEL', rk, rk .. ':seats')
    redis.call('ZREM', ROOMS, name)
    redis.call('ZREM', OPEN, name)
  end
  i = i + 2
end
return 'ok'
"#
);

/// The whole cluster: every room with a live lease (at most 10,000) and
/// every node.
///
/// `ARGV`: prefix. Returns the count of rooms, then name, node, url,
/// players, limit, status and seats reserved of each; then id, url,
/// status, players and rooms of each node.
pub const LIST: &str = concat!(
    prelude!(),
    r#"
local out = {}
local rooms = {}
for _, name in ipairs(redis.call('ZRANGEBYSCORE', ROOMS, now, '+inf', 'LIMIT', 0, 10000)) do
  local rk = room_key(name)
  local r = redis.call('HMGET', rk, 'node', 'url', 'players', 'limit', 'status')
  if r[1] ~= false then
    table.insert(rooms, {name, r[1], r[2], r[3], r[4], r[5], tostring(live(rk .. ':seats'))})
  end
end
table.insert(out, tostring(#rooms))
for _, r in ipairs(rooms) do
  for _, v in ipairs(r) do table.insert(out, v) end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', NODES, now, '+inf')) do
  local f = redis.call('HMGET', node_key(id), 'url', 'status', 'players', 'rooms')
  if f[1] ~= false then
    table.insert(out, id)
    for _, v in ipairs(f) do table.insert(out, v or '') end
  end
end
return out
"#
);

/// The prefix of every key Tickwire writes.
pub const PREFIX: &str = "tickwire:";

/// How long one call to Redis may take before it counts as failed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a node takes new rooms and players.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It does.
    Up,
    /// It is draining: no new placement.
    Draining,
}

impl Status {
    /// The value in the node's entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Draining => "draining",
        }
    }
}

/// A room as a heartbeat reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeatRoom {
    /// Its name.
    pub name: String,
    /// Its epoch.
    pub epoch: u64,
    /// Seats held on the node now (players in it, and on their way in).
    pub players: usize,
    /// Its player limit.
    pub limit: usize,
}

/// What one heartbeat writes.
#[derive(Clone, Debug)]
pub struct Beat {
    /// The node's id.
    pub node: String,
    /// Its public URL.
    pub url: String,
    /// Up or draining.
    pub status: Status,
    /// Players on the node.
    pub players: usize,
    /// Most players it takes (`--max-connections`).
    pub capacity: usize,
    /// The player limit of a new room.
    pub room_limit: usize,
    /// Most rooms it opens (`--max-rooms`).
    pub max_rooms: usize,
    /// How long its keys live, in milliseconds.
    pub lease_ms: u64,
    /// Its open rooms.
    pub rooms: Vec<BeatRoom>,
    /// Seats taken since the last heartbeat: room and reservation id.
    pub taken: Vec<(String, String)>,
    /// Rooms closed since the last heartbeat: name and epoch.
    pub closed: Vec<(String, u64)>,
}

/// A room whose directory entry names another node or epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fenced {
    /// The room.
    pub room: String,
    /// The node the directory names.
    pub node: String,
    /// That node's URL (empty if it has no live entry).
    pub url: String,
}

/// What a heartbeat learned.
#[derive(Clone, Debug, Default)]
pub struct Beaten {
    /// Nodes with a live lease.
    pub nodes: u64,
    /// This node's rooms that the directory gave to someone else.
    pub fenced: Vec<Fenced>,
}

/// Where placement put a player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Whether the room is new.
    pub fresh: bool,
    /// The room.
    pub room: String,
    /// Its node.
    pub node: String,
    /// The node's public URL.
    pub url: String,
    /// The room's epoch.
    pub epoch: u64,
}

/// The placement decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A seat is reserved.
    Placed(Placed),
    /// The named room is full.
    Full(String),
    /// The named room's node is draining.
    Draining(String),
    /// The named room's node has lost its lease; the room's own lease
    /// runs out soon, and a new room of that name can be made then.
    Down(String),
    /// No node is up with room for a new room.
    NoNode,
}

/// A room as the directory lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ListedRoom {
    /// The room.
    pub room: String,
    /// Its node.
    pub node: String,
    /// The node's public URL.
    pub url: String,
    /// Players, as of the node's last heartbeat.
    pub players: usize,
    /// Its limit.
    pub max_players: usize,
    /// Seats reserved and not yet taken.
    pub reserved: usize,
    /// `open` or `draining`.
    pub status: String,
}

/// A node as the directory lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ListedNode {
    /// Its id.
    pub node: String,
    /// Its public URL.
    pub url: String,
    /// `up` or `draining`.
    pub status: String,
    /// Players, as of its last heartbeat.
    pub players: usize,
    /// Rooms, as of its last heartbeat.
    pub rooms: usize,
}

/// The whole cluster, as the directory lists it.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Every room with a live lease.
    pub rooms: Vec<ListedRoom>,
    /// Every node with a live lease.
    pub nodes: Vec<ListedNode>,
}

/// The cluster's Redis: one multiplexed connection, reconnected as needed,
/// and the scripts.
#[derive(Clone)]
pub struct Directory {
    redis: ConnectionManager,
    heartbeat: redis::Script,
    place: redis::Script,
    leave: redis::Script,
    list: redis::Script,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

/// A call to Redis that failed or took longer than [`CALL_TIMEOUT`].
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Redis answered with an error, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// An answer that is not what the script returns.
    #[error("unexpected answer from redis: {0}")]
    Answer(&'static str),
}

impl Directory {
    /// A directory in the Redis at `url`; connects on first use (and
    /// reconnects after a failure on the next), so a node starts while
    /// Redis is still coming up.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            redis: connect(url)?,
            heartbeat: redis::Script::new(HEARTBEAT),
            place: redis::Script::new(PLACE),
            leave: redis::Script::new(LEAVE),
            list: redis::Script::new(LIST),
        })
    }

    /// Runs `invocation`, within `timeout`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        timeout: Duration,
    ) -> Result<T, DirectoryError> {
        invoke(&self.redis, invocation, timeout).await
    }

    /// Writes one heartbeat, within `timeout`.
    pub async fn heartbeat(
        &self,
        beat: &Beat,
        timeout: Duration,
    ) -> Result<Beaten, DirectoryError> {
        let mut call = self.heartbeat.prepare_invoke();
        call.arg(PREFIX)
            .arg(&beat.node)
            .arg(&beat.url)
            .arg(beat.status.as_str())
            .arg(beat.players)
            .arg(beat.rooms.len())
            .arg(beat.capacity)
            .arg(beat.room_limit)
            .arg(beat.max_rooms)
            .arg(beat.lease_ms)
            .arg(beat.rooms.len());
        for room in &beat.rooms {
            call.arg(&room.name)
                .arg(room.epoch)
                .arg(room.players)
                .arg(room.limit);
        }
        call.arg(beat.taken.len());
        for (room, jti) in &beat.taken {
            call.arg(room).arg(jti);
        }
        call.arg(beat.closed.len());
        for (room, epoch) in &beat.closed {
            call.arg(room).arg(epoch);
        }
        let answer: Vec<String> = self.run(&call, timeout).await?;
        let mut answer = answer.into_iter();
        let nodes = answer
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or(DirectoryError::Answer("no node count"))?;
        let mut fenced = Vec::new();
        while let (Some(room), Some(node), Some(url)) =
            (answer.next(), answer.next(), answer.next())
        {
            fenced.push(Fenced { room, node, url });
        }
        Ok(Beaten { nodes, fenced })
    }

    /// Places a player: in `room`, or anywhere with `None`; the seat is
    /// reserved as `jti` for `ticket`, and the keys written live `lease`
    /// unless the room's node renews them.
    pub async fn place(
        &self,
        room: Option<&str>,
        jti: &str,
        ticket: Duration,
        lease: Duration,
    ) -> Result<Placement, DirectoryError> {
        let mut call = self.place.prepare_invoke();
        call.arg(PREFIX)
            .arg(room.unwrap_or(""))
            .arg(jti)
            .arg(millis(ticket))
            .arg(millis(lease));
        let answer: Vec<String> = self.run(&call, CALL_TIMEOUT).await?;
        let field = |i: usize| answer.get(i).cloned().unwrap_or_default();
        Ok(match answer.first().map(String::as_str) {
            Some(kind @ ("existing" | "new")) => Placement::Placed(Placed {
                fresh: kind == "new",
                room: field(1),
                node: field(2),
                url: field(3),
                epoch: field(4)
                    .parse()
                    .map_err(|_| DirectoryError::Answer("an epoch that is not a number"))?,
            }),
            Some("full") => Placement::Full(field(1)),
            Some("draining") => Placement::Draining(field(1)),
            Some("down") => Placement::Down(field(1)),
            Some("none") => Placement::NoNode,
            _ => return Err(DirectoryError::Answer("not a placement")),
        })
    }

    /// Deletes `node`'s keys and the entries of `rooms` (name and epoch)
    /// that still name it.
    pub async fn leave(&self, node: &str, rooms: &[(String, u64)]) -> Result<(), DirectoryError> {
        let mut call = self.leave.prepare_invoke();
        call.arg(PREFIX).arg(node);
        for (room, epoch) in rooms {
            call.arg(room).arg(epoch);
        }
        self.run::<redis::Value>(&call, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Every room and node with a live lease.
    pub async fn list(&self) -> Result<Listing, DirectoryError> {
        let mut call = self.list.prepare_invoke();
        call.arg(PREFIX);
        let answer: Vec<String> = self.run(&call, CALL_TIMEOUT).await?;
        let mut answer = answer.into_iter();
        let count: usize = answer
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or(DirectoryError::Answer("no room count"))?;
        let mut listing = Listing::default();
        let number = |s: Option<String>| s.and_then(|s| s.parse().ok()).unwrap_or(0);
        for _ in 0..count {
            let room = answer.next().unwrap_or_default();
            let node = answer.next().unwrap_or_default();
            let url = answer.next().unwrap_or_default();
            let players = number(answer.next());
            let max_players = number(answer.next());
            let status = answer.next().unwrap_or_default();
            let reserved = number(answer.next());
            listing.rooms.push(ListedRoom {
                room,
                node,
                url,
                players,
                max_players,
                reserved,
                status,
            });
        }
        while let Some(node) = answer.next() {
            let url = answer.next().unwrap_or_default();
            let status = answer.next().unwrap_or_default();
            let players = number(answer.next());
            let rooms = number(answer.next());
            listing.nodes.push(ListedNode {
                node,
                url,
                status,
                players,
                rooms,
            });
        }
        Ok(listing)
    }
}

/// A connection to the Redis at `url`, made on first use (and again after
/// a failure, on the next), each call answered within [`CALL_TIMEOUT`]: a
/// node starts while Redis is still coming up.
pub fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    use anyhow::Context as _;
    let client = redis::Client::open(url).context("bad --redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .context("cannot set up the connection to redis")
}

/// Runs `invocation` on `redis`, within `timeout`.
pub async fn invoke<T: redis::FromRedisValue>(
    redis: &ConnectionManager,
    invocation: &redis::ScriptInvocation<'_>,
    timeout: Duration,
) -> Result<T, DirectoryError> {
    let mut redis = redis.clone();
    match tokio::time::timeout(timeout, invocation.invoke_async(&mut redis)).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(DirectoryError::Timeout(timeout)),
    }
}

/// Whole milliseconds, at least one.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
