// Tickwire's browser client SDK: connect to any Tickwire game, keep its
// entities, send its input, predict the own entity with the game's own
// step, and draw the rest interpolated. Plain ES modules, no dependencies;
// see docs/client-sdk.md.
//
//   import { connect } from '/sdk/index.js';
//   const client = connect({ predict });
//   client.on('added', (e) => ...);
//   requestAnimationFrame(function draw(now) { for (const e of client.frame(now)) ...; requestAnimationFrame(draw); });

export { connect, Client, MAX_CATCH_UP_INPUTS } from './client.js';
export { EntityStore } from './store.js';
export { InputCodec, quantizeAxis, quantizeAngle } from './input.js';
export { Predictor, agree, MAX_PENDING } from './prediction.js';
export { SchemaView, dequantize, interpolationMode, normaliseQuantization } from './schema.js';
export { Interpolator, SnapshotClock, angleDelta, lerpAngle, interpolateFields } from './interpolation.js';
export { Connection, RateMeter, backoffDelay, gameUrl, BACKOFF_START_MS, BACKOFF_MAX_MS, PING_INTERVAL_MS, KICKED, ROOM_CLOSED } from './net.js';
export { matchmake, seatUrl, nodeUrl, redirectUrl, withoutSeat, MatchmakeError, WRONG_NODE, SEAT_TICKET_INVALID, SEAT_TICKET_EXPIRED, SEAT_TICKET_REPLAYED } from './matchmake.js';
export * as protocol from './protocol.js';

/** @typedef {import('./store.js').Entity} Entity */
/** @typedef {import('./input.js').NamedInput} NamedInput */
/** @typedef {import('./input.js').InputDecl} InputDecl */
/** @typedef {import('./prediction.js').PredictFn} PredictFn */
/** @typedef {import('./client.js').ConnectOptions} ConnectOptions */
/** @typedef {import('./client.js').Welcome} Welcome */
/** @typedef {import('./client.js').GameEvent} GameEvent */
/** @typedef {import('./client.js').PlayerChange} PlayerChange */
/** @typedef {import('./client.js').ChatLine} ChatLine */
/** @typedef {import('./client.js').Status} Status */
/** @typedef {import('./client.js').Stats} Stats */
/** @typedef {import('./client.js').ClientEvents} ClientEvents */
/** @typedef {import('./matchmake.js').Seat} Seat */
