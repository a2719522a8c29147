// Cluster mode (docs/scaling.md): matchmaking on any node, and the URL of
// the node that owns a room.
//
// A Tickwire cluster places a player with `POST /api/matchmake` on any node
// (behind any load balancer): the answer names the room's node and a
// short-lived seat ticket, and the page connects straight to that node.
// A connection that reaches the wrong node gets a redirect message and the
// close 4010; the connection (`net.js`) follows it once, with the URL made
// here.
//
//   import { matchmake, seatUrl, connect } from '/sdk/index.js';
//   const seat = await matchmake({ room: 'lobby-1', name: 'ann' });
//   const client = connect({ url: seatUrl(seat, { name: 'ann' }) });

/** The close code of "the room is on another node" (after a redirect). */
export const WRONG_NODE = 4010;
/** The close code of a seat ticket that is malformed or forged. */
export const SEAT_TICKET_INVALID = 4011;
/** The close code of a seat ticket that has expired. */
export const SEAT_TICKET_EXPIRED = 4012;
/** The close code of a seat ticket used before. */
export const SEAT_TICKET_REPLAYED = 4013;

/** Matchmaking found no seat: `status` is the HTTP status (409: the room is full; 503: try again shortly; 404: not a cluster). */
export class MatchmakeError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = 'MatchmakeError';
    this.status = status;
  }
}

/**
 * @typedef {object} Seat
 * @property {string} url the node's public base URL (`https://node-2.game.example`)
 * @property {string} room the room
 * @property {string} node the node's id
 * @property {string} ticket the seat ticket: good for one connection, for a few seconds
 */

/**
 * Asks a cluster for a seat: in `room`, or (without one) in the fullest
 * open room, or a new one.
 * @param {object} [options]
 * @param {string} [options.base] where to ask: any node's (or the load balancer's) base URL; default the page's origin
 * @param {string} [options.room]
 * @param {string} [options.name]
 * @param {typeof fetch} [options.fetchImpl]
 * @returns {Promise<Seat>}
 */
export async function matchmake({ base, room, name, fetchImpl = globalThis.fetch } = {}) {
  const origin = base ?? globalThis.location?.origin;
  if (!origin) throw new TypeError('matchmake: give a base URL (there is no page location)');
  const response = await fetchImpl(`${origin.replace(/\/+$/, '')}/api/matchmake`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: room || undefined, name: name || undefined }),
  });
  /** @type {any} */
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (!response.ok) throw new MatchmakeError(response.status, answer?.error ?? `matchmaking failed: HTTP ${response.status}`);
  if (typeof answer?.url !== 'string' || typeof answer?.room !== 'string' || typeof answer?.ticket !== 'string') {
    throw new MatchmakeError(response.status, 'matchmaking answered without a url, room and ticket');
  }
  return answer;
}

/**
 * The WebSocket URL of a node's game endpoint: `http` becomes `ws`, `https`
 * becomes `wss`, and `/ws` goes after any path.
 * @param {string} base the node's public base URL
 * @param {{room?: string, name?: string, seat?: string, ticket?: string}} params the room, the player's name, the seat ticket, and the game's own join ticket if it uses one
 */
export function nodeUrl(base, { room, name, seat, ticket } = {}) {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  url.search = '';
  url.hash = '';
  if (room) url.searchParams.set('room', room);
  if (name) url.searchParams.set('name', name);
  if (ticket) url.searchParams.set('ticket', ticket);
  if (seat) url.searchParams.set('seat', seat);
  return url.toString();
}

/**
 * The WebSocket URL to take a seat matchmaking gave, as `name`.
 * @param {Seat} seat
 * @param {{name?: string, ticket?: string}} [who] the player's name, and the game's own join ticket if it uses one
 */
export function seatUrl(seat, { name, ticket } = {}) {
  return nodeUrl(seat.url, { room: seat.room, name, seat: seat.ticket, ticket });
}

/**
 * Where a redirect sends a connection that opened `current`: the node it
 * names, with its room and seat ticket, the same name and game ticket.
 * @param {string} current the URL the redirected connection opened
 * @param {{url: string, room: string, ticket: string}} redirect the redirect message
 */
export function redirectUrl(current, redirect) {
  const params = new URL(current).searchParams;
  return nodeUrl(redirect.url, {
    room: redirect.room,
    name: params.get('name') ?? undefined,
    ticket: params.get('ticket') ?? undefined,
    seat: redirect.ticket || undefined,
  });
}

/**
 * `url` without its seat ticket: a seat ticket is good for one connection,
 * so a reconnect goes without it (and the node places the player again).
 * @param {string} url
 */
export function withoutSeat(url) {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('seat')) return url;
  parsed.searchParams.delete('seat');
  return parsed.toString();
}
