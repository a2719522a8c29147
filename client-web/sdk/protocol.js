// Tickwire's wire protocol, in the browser.
//
// The same format as the Rust crate `tickwire-protocol`, written down byte by
// byte in `docs/protocol.md`: every WebSocket binary message is one message,
// built from bincode's standard-config primitives (varints, zigzag for signed
// integers). This module encodes the client's messages, decodes every server
// message (snapshots generically, driven by the schema of the welcome), and
// keeps the last few applied states so that a delta snapshot finds its
// baseline. Inputs and game events are generic too: the welcome's schema
// declares the game's input fields and its kinds of event, an input is
// encoded as the values of those fields in order, and an event is decoded
// into its declared name and named fields. Nothing here knows any game. Decoding is strict: any malformed, oversized or inconsistent
// input throws a ProtocolError and never yields a half-decoded message.
// The golden vectors of `crates/protocol/golden/` are decoded by
// `test/protocol.test.js`.

/** Version of the wire format this module speaks. */
export const PROTOCOL_VERSION = 3;

/** Largest snapshot accepted, in bytes. */
export const MAX_SNAPSHOT_BYTES = 1 << 20;
/** Largest control message (anything but a snapshot) accepted, in bytes. */
export const MAX_CONTROL_BYTES = 64 * 1024;
/** Most entities in one list of a snapshot, or in one state. */
export const MAX_ENTITIES = 65536;
/** Longest player or room name, chat line and error reason, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;
export const MAX_CHAT_BYTES = 256;
export const MAX_REASON_BYTES = 256;
/** Longest node URL in a redirect, in bytes. */
export const MAX_URL_BYTES = 256;
/** Longest seat ticket in a redirect, in bytes. */
export const MAX_TICKET_BYTES = 2048;
/** Most players in a welcome's roster. */
export const MAX_ROSTER = 1024;
/** Most named constants in a welcome. */
export const MAX_CONSTANTS = 64;
/** Longest resume token in a welcome, in bytes. */
export const MAX_RESUME_TOKEN_BYTES = 512;
/** A spectator's welcome `player`: no player (u32::MAX, the -1 of a player field). */
export const NO_PLAYER = 0xffffffff;
/** States a ClientState keeps (as many as the server's history ring). */
export const CLIENT_STATES = 32;

/** Most fields one entity kind or one kind of event declares. */
export const MAX_FIELDS = 8;
/** Most fields a game's input declares. */
export const MAX_INPUT_FIELDS = 8;
/** Most buttons one `Buttons` input field names. */
export const MAX_BUTTONS = 16;
const U16_MARKER = 251;
const U32_MARKER = 252;
const U64_MARKER = 253;

/** Every decoding or applying failure. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * The kind of a declared input field: an axis of `-steps..=steps`, an angle
 * of `0..steps` per turn, buttons (one bit per name), a bounded integer.
 * @typedef {{type: 'Axis', steps: number} | {type: 'Angle', steps: number} | {type: 'Buttons', names: string[]} | {type: 'Int', min: number, max: number}} InputKind
 */

/**
 * One declared input field, as the welcome's schema carries it.
 * @typedef {object} InputDecl
 * @property {string} name the field's name
 * @property {InputKind} kind what it holds
 */

/**
 * One quantized entity: its id, its kind's index, its field values.
 * @typedef {{id: number, kind: number, values: number[]}} Row
 */

/**
 * A decoded snapshot body (see {@link decodeSnapshot}).
 * @typedef {object} SnapshotBody
 * @property {number} tick the tick it describes
 * @property {number | null} baseline the tick it is a delta from, or null for a full snapshot
 * @property {number[]} removed ids gone since the baseline
 * @property {number} survivors how many baseline entities remain
 * @property {Array<{index: number, mask: number, deltas: number[]}>} changed survivors that changed
 * @property {Row[]} created entities new since the baseline
 */

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** A bounds-checked cursor reading bincode standard-config primitives. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  get remaining() {
    return this.bytes.length - this.pos;
  }

  u8() {
    if (this.pos >= this.bytes.length) throw new ProtocolError('truncated');
    return this.bytes[this.pos++];
  }

  take(n) {
    if (n > this.remaining) throw new ProtocolError('truncated');
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  f32() {
    const s = this.take(4);
    return new DataView(s.buffer, s.byteOffset, 4).getFloat32(0, true);
  }

  le(n) {
    const s = this.take(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + s[i];
    return v;
  }

  /** A varint no wider than `maxMarker` allows. */
  varint(maxMarker, what) {
    const b = this.u8();
    if (b < U16_MARKER) return b;
    if (b === U16_MARKER) return this.le(2);
    if (b === U32_MARKER && maxMarker >= U32_MARKER) return this.le(4);
    throw new ProtocolError(`varint marker ${b} is not valid for a ${what}`);
  }

  u16() {
    return this.varint(U16_MARKER, 'u16');
  }

  u32() {
    return this.varint(U32_MARKER, 'u32');
  }

  i32() {
    const n = this.u32();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  /** A u64, as a BigInt. */
  u64() {
    const b = this.u8();
    if (b < U16_MARKER) return BigInt(b);
    if (b === U16_MARKER) return BigInt(this.le(2));
    if (b === U32_MARKER) return BigInt(this.le(4));
    if (b === U64_MARKER) {
      const lo = this.le(4);
      const hi = this.le(4);
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw new ProtocolError(`varint marker ${b} is not valid for a u64`);
  }

  /** A collection length: a u64 that must fit what is left to read. */
  length(minItemBytes, what) {
    const n = this.u64();
    if (n > BigInt(this.remaining) / BigInt(Math.max(1, minItemBytes))) {
      throw new ProtocolError(`${what} length ${n} runs past the end of the message`);
    }
    return Number(n);
  }

  string(maxBytes, what) {
    const n = this.length(1, what);
    if (n > maxBytes) throw new ProtocolError(`${what} of ${n} bytes is over the limit of ${maxBytes}`);
    try {
      return utf8Decoder.decode(this.take(n));
    } catch {
      throw new ProtocolError(`${what} is not valid UTF-8`);
    }
  }

  option(read) {
    const b = this.u8();
    if (b === 0) return null;
    if (b === 1) return read();
    throw new ProtocolError(`invalid option byte ${b}`);
  }

  bool() {
    const b = this.u8();
    if (b > 1) throw new ProtocolError(`invalid bool byte ${b}`);
    return b === 1;
  }

  end() {
    if (this.remaining !== 0) throw new ProtocolError(`${this.remaining} trailing bytes`);
  }
}

/** A growable byte buffer writing bincode standard-config primitives. */
class Writer {
  constructor() {
    this.bytes = [];
  }

  u8(v) {
    this.bytes.push(v & 0xff);
  }

  le(v, n) {
    for (let i = 0; i < n; i++) {
      this.bytes.push(v % 256);
      v = Math.floor(v / 256);
    }
  }

  u32(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`not a u32: ${v}`);
    if (v < U16_MARKER) this.u8(v);
    else if (v <= 0xffff) {
      this.u8(U16_MARKER);
      this.le(v, 2);
    } else {
      this.u8(U32_MARKER);
      this.le(v, 4);
    }
  }

  u16(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`not a u16: ${v}`);
    this.u32(v);
  }

  /** A signed 32-bit integer, zigzag-encoded. */
  i32(v) {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`not an i32: ${v}`);
    this.u32(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  u64(v) {
    const big = BigInt(v);
    if (big < 0n || big > 0xffffffffffffffffn) throw new RangeError(`not a u64: ${v}`);
    if (big <= 0xffffffffn) this.u32(Number(big));
    else {
      this.u8(U64_MARKER);
      this.le(Number(big & 0xffffffffn), 4);
      this.le(Number(big >> 32n), 4);
    }
  }

  f32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.bytes.push(x);
  }

  string(s) {
    const b = utf8Encoder.encode(s);
    this.u32(b.length);
    for (const x of b) this.bytes.push(x);
  }

  finish() {
    return Uint8Array.from(this.bytes);
  }
}

// ---------------------------------------------------------------- client → server

/**
 * The first message on a socket: the version check. (The newest tick held,
 * when reconnecting, travels in the URL: `since=TICK`.)
 * @param {{schemaHash?: number|bigint, protocolVersion?: number}} join
 */
export function encodeJoin({ schemaHash = 0, protocolVersion = PROTOCOL_VERSION } = {}) {
  const w = new Writer();
  w.u32(0);
  w.u16(protocolVersion);
  w.u64(schemaHash);
  return w.finish();
}

/**
 * The values up to the last non-zero one: what an input or an event carries.
 * @param {ArrayLike<number>} values
 */
function trimmed(values) {
  let n = values.length;
  while (n > 0 && values[n - 1] === 0) n--;
  return Array.prototype.slice.call(values, 0, n);
}

/**
 * One input: its sequence number, the values of the game's declared input
 * fields (the welcome's `schema.input`), in declared order, already quantized
 * (see {@link inputValues}), and the tick the page was showing when it sent
 * it (its interpolation time rounded down: the server's lag compensation
 * checks the player's shots against the world of that tick). Trailing zeros
 * are not sent.
 * @param {number} seq sequence number, one more than the previous input's
 * @param {ArrayLike<number>} values at most MAX_INPUT_FIELDS integers
 * @param {number} [view] the tick shown; 0 (the default): nothing shown yet, no rewind
 */
export function encodeInput(seq, values = [], view = 0) {
  if (values.length > MAX_INPUT_FIELDS) {
    throw new RangeError(`${values.length} input values, at most ${MAX_INPUT_FIELDS} are allowed`);
  }
  const w = new Writer();
  w.u32(1);
  w.u32(seq);
  const sent = trimmed(values);
  w.u32(sent.length);
  for (const v of sent) w.i32(v);
  w.u32(view);
  return w.finish();
}

/**
 * The values an input field of this kind takes, `[min, max]`, as the server
 * checks them: an axis `-steps..=steps`, an angle `0..steps`, buttons one bit
 * per name, an integer `min..=max`.
 * @param {InputKind} kind
 * @returns {[number, number]}
 */
export function inputRange(kind) {
  switch (kind.type) {
    case 'Axis':
      return [-kind.steps, kind.steps];
    case 'Angle':
      return [0, Math.max(0, Math.min(kind.steps - 1, 0x7fffffff))];
    case 'Buttons':
      return [0, 2 ** Math.min(kind.names.length, MAX_BUTTONS) - 1];
    case 'Int':
      return [kind.min, kind.max];
    default:
      throw new RangeError(`unknown input kind ${/** @type {{type: string}} */ (kind).type}`);
  }
}

/**
 * The values of one input, in the schema's declared order, from an object of
 * named values (`{ steer: -127, buttons: 1 }`). A field left out is 0. An
 * unknown name, a value that is not an integer or one outside its field's
 * range ({@link inputRange}) is refused with a RangeError: the server would
 * close the connection over it.
 * @param {InputDecl[]} decls the welcome's `schema.input`
 * @param {Record<string, number>} named
 * @returns {number[]} one value per declared field
 */
export function inputValues(decls, named) {
  const values = new Array(decls.length).fill(0);
  for (const [name, value] of Object.entries(named)) {
    const at = decls.findIndex((d) => d.name === name);
    if (at < 0) throw new RangeError(`the game declares no input field ${JSON.stringify(name)}`);
    const [min, max] = inputRange(decls[at].kind);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`input field ${name} is ${value}, outside ${min}..=${max}`);
    }
    values[at] = value;
  }
  return values;
}

/**
 * The bit of a button in a `Buttons` input field (`1 << index` of its name),
 * or 0 when the schema declares no such field or button.
 * @param {InputDecl[]} decls the welcome's `schema.input`
 * @param {string} field the `Buttons` field's name
 * @param {string} button the button's name
 */
export function buttonBit(decls, field, button) {
  const decl = decls.find((d) => d.name === field && d.kind.type === 'Buttons');
  const index = decl && decl.kind.type === 'Buttons' ? decl.kind.names.indexOf(button) : -1;
  return index < 0 || index >= MAX_BUTTONS ? 0 : 2 ** index;
}

/** Acknowledges the newest applied snapshot tick. */
export function encodeAck(tick) {
  const w = new Writer();
  w.u32(2);
  w.u32(tick);
  return w.finish();
}

/** A round-trip probe carrying any u32 the pong echoes. */
export function encodePing(clientTime) {
  const w = new Writer();
  w.u32(3);
  w.u32(clientTime >>> 0);
  return w.finish();
}

/** A chat line to the room (at most MAX_CHAT_BYTES of UTF-8). */
export function encodeChat(text) {
  if (utf8Encoder.encode(text).length > MAX_CHAT_BYTES) throw new RangeError('chat line too long');
  const w = new Writer();
  w.u32(4);
  w.string(text);
  return w.finish();
}

/**
 * What a spectator watches: a player (`{type: 'player', player}`), a
 * rectangle of the world (`{type: 'rect', x, y, width, height}`: its
 * smallest corner and its size, in world units, finite and of a positive
 * size), or whichever player the server picks (`{type: 'anyone'}`).
 * @typedef {{type: 'player', player: number} | {type: 'rect', x: number, y: number, width: number, height: number} | {type: 'anyone'}} WatchTarget
 */

/**
 * A spectator's change of target. A rectangle that is not finite or not of
 * a positive size is a RangeError (the server would close the connection).
 * @param {WatchTarget} target
 */
export function encodeWatch(target) {
  const w = new Writer();
  w.u32(5);
  switch (target.type) {
    case 'player':
      w.u32(0);
      w.u32(target.player);
      break;
    case 'rect': {
      const { x, y, width, height } = target;
      const values = [x, y, width, height].map((v) => Math.fround(v));
      if (!values.every(Number.isFinite) || !(values[2] > 0 && values[3] > 0)) {
        throw new RangeError('a watch rectangle must be finite and of a positive size');
      }
      w.u32(1);
      for (const v of values) w.f32(v);
      break;
    }
    case 'anyone':
      w.u32(2);
      break;
    default:
      throw new RangeError(`unknown watch target ${/** @type {{type: string}} */ (target).type}`);
  }
  return w.finish();
}

/** A watch target, as the server reads it. */
function readWatchTarget(r) {
  switch (r.u32()) {
    case 0:
      return { type: 'player', player: r.u32() };
    case 1: {
      const [x, y, width, height] = [r.f32(), r.f32(), r.f32(), r.f32()];
      if (![x, y, width, height].every(Number.isFinite) || !(width > 0 && height > 0)) {
        throw new ProtocolError('a watch rectangle must be finite and of a positive size');
      }
      return { type: 'rect', x, y, width, height };
    }
    case 2:
      return { type: 'anyone' };
    default:
      throw new ProtocolError('unknown watch target');
  }
}

/**
 * Decodes a client message (the server's side; here for tests and tools).
 * @param {Uint8Array} bytes
 */
export function decodeClientMessage(bytes) {
  if (bytes.length > MAX_CONTROL_BYTES) throw new ProtocolError('message too large');
  const r = new Reader(bytes);
  let message;
  switch (r.u32()) {
    case 0:
      message = {
        type: 'join',
        protocolVersion: r.u16(),
        schemaHash: r.u64(),
      };
      break;
    case 1:
      message = { type: 'input', seq: r.u32(), values: readValues(r, MAX_INPUT_FIELDS, 'input'), view: r.u32() };
      break;
    case 2:
      message = { type: 'ack', tick: r.u32() };
      break;
    case 3:
      message = { type: 'ping', clientTime: r.u32() };
      break;
    case 4:
      message = { type: 'chat', text: r.string(MAX_CHAT_BYTES, 'chat line') };
      break;
    case 5:
      message = { type: 'watch', target: readWatchTarget(r) };
      break;
    default:
      throw new ProtocolError('unknown client message');
  }
  r.end();
  return message;
}

// ---------------------------------------------------------------- schema

/**
 * The values of an input or an event: a count of at most `max`, then that
 * many zigzag integers (the ones after them are zero).
 */
function readValues(r, max, what) {
  const n = r.length(1, `${what} values`);
  if (n > max) throw new ProtocolError(`${what} of ${n} values, at most ${max} are allowed`);
  const values = [];
  for (let i = 0; i < n; i++) values.push(r.i32());
  return values;
}

function readQuantization(r) {
  const tag = r.u32();
  if (tag === 0) return { type: 'Fixed', scale: r.u32() };
  if (tag === 1) return { type: 'Angle', steps: r.u32() };
  if (tag === 2) return { type: 'Int', min: r.i32(), max: r.i32() };
  if (tag === 3) return { type: 'Player' };
  throw new ProtocolError(`unknown quantization ${tag}`);
}

/** Fields of a kind or an event: ids must be 0, 1, 2... in order. */
function readFields(r, owner) {
  const count = r.length(3, 'fields');
  if (count > MAX_FIELDS) throw new ProtocolError(`${owner} declares ${count} fields, at most ${MAX_FIELDS} are allowed`);
  const fields = [];
  for (let f = 0; f < count; f++) {
    const id = r.u8();
    const name = r.string(MAX_CONTROL_BYTES, 'field name');
    const quant = readQuantization(r);
    if (id !== f) throw new ProtocolError(`field ${owner}.${name} has id ${id}, expected ${f}`);
    fields.push({ id, name, quant });
  }
  return fields;
}

function readInputKind(r) {
  const tag = r.u32();
  if (tag === 0) return { type: 'Axis', steps: r.u16() };
  if (tag === 1) return { type: 'Angle', steps: r.u32() };
  if (tag === 2) {
    const count = r.length(1, 'buttons');
    if (count > MAX_BUTTONS) throw new ProtocolError(`${count} buttons, at most ${MAX_BUTTONS} are allowed`);
    const names = [];
    for (let i = 0; i < count; i++) names.push(r.string(MAX_CONTROL_BYTES, 'button name'));
    return { type: 'Buttons', names };
  }
  if (tag === 3) return { type: 'Int', min: r.i32(), max: r.i32() };
  throw new ProtocolError(`unknown input kind ${tag}`);
}

/**
 * The welcome's schema: `{ game, kinds: [{id, name, fields}], input: [{name,
 * kind}], events: [{name, fields}] }`, fields `{id, name, quant}`. Validated
 * as the server validates it.
 */
function readSchema(r) {
  const game = r.string(MAX_CONTROL_BYTES, 'game name');
  const kindCount = r.length(2, 'kinds');
  if (kindCount > 256) throw new ProtocolError(`${kindCount} kinds, at most 256 are allowed`);
  const kinds = [];
  for (let k = 0; k < kindCount; k++) {
    const id = r.u8();
    const name = r.string(MAX_CONTROL_BYTES, 'kind name');
    const fields = readFields(r, `kind ${name}`);
    if (id !== k) throw new ProtocolError(`kind ${name} has id ${id}, expected ${k}`);
    kinds.push({ id, name, fields });
  }
  const inputCount = r.length(2, 'input fields');
  if (inputCount > MAX_INPUT_FIELDS) throw new ProtocolError(`the input declares ${inputCount} fields, at most ${MAX_INPUT_FIELDS} are allowed`);
  const input = [];
  for (let i = 0; i < inputCount; i++) {
    const name = r.string(MAX_CONTROL_BYTES, 'input field name');
    input.push({ name, kind: readInputKind(r) });
  }
  const eventCount = r.length(2, 'events');
  if (eventCount > 256) throw new ProtocolError(`${eventCount} kinds of event, at most 256 are allowed`);
  const events = [];
  for (let e = 0; e < eventCount; e++) {
    const name = r.string(MAX_CONTROL_BYTES, 'event name');
    events.push({ name, fields: readFields(r, `event ${name}`) });
  }
  const schema = { game, kinds, input, events };
  validateSchema(schema);
  return schema;
}

function unusableQuantization(q) {
  return (q.type === 'Fixed' && q.scale === 0) || (q.type === 'Angle' && q.steps === 0) || (q.type === 'Int' && q.min > q.max);
}

function validateSchema(schema) {
  for (const owner of [...schema.kinds, ...schema.events]) {
    for (const f of owner.fields) {
      if (unusableQuantization(f.quant)) throw new ProtocolError(`field ${owner.name}.${f.name} has an unusable quantization`);
    }
  }
  for (const { name, kind } of schema.input) {
    const unusable =
      ((kind.type === 'Axis' || kind.type === 'Angle') && kind.steps === 0) ||
      (kind.type === 'Angle' && kind.steps > 2 ** 31) ||
      (kind.type === 'Buttons' && kind.names.length === 0) ||
      (kind.type === 'Int' && kind.min > kind.max);
    if (unusable) throw new ProtocolError(`input field ${name} is unusable`);
  }
}

/**
 * The schema's FNV-1a 64-bit hash, as the server computes it, as a BigInt.
 * @param {{game: string, kinds: Array, input?: Array, events?: Array}} schema
 */
export function schemaHash(schema) {
  let h = 0xcbf29ce484222325n;
  const feed = (bytes) => {
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  const text = (s) => feed(utf8Encoder.encode(s));
  const le16 = (v) => [v & 0xff, (v >>> 8) & 0xff];
  const le32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const field = (f) => {
    feed([f.id]);
    text(f.name);
    feed([0xfd]);
    const q = f.quant;
    if (q.type === 'Fixed') feed([0, ...le32(q.scale)]);
    else if (q.type === 'Angle') feed([1, ...le32(q.steps)]);
    else if (q.type === 'Int') feed([2, ...le32(q.min), ...le32(q.max)]);
    else feed([3]);
  };
  text(schema.game);
  feed([0xff]);
  for (const kind of schema.kinds) {
    feed([kind.id]);
    text(kind.name);
    feed([0xfe]);
    kind.fields.forEach(field);
  }
  feed([0xfc]);
  for (const { name, kind } of schema.input ?? []) {
    text(name);
    feed([0xfd]);
    if (kind.type === 'Axis') feed([0, ...le16(kind.steps)]);
    else if (kind.type === 'Angle') feed([1, ...le32(kind.steps)]);
    else if (kind.type === 'Buttons') {
      feed([2]);
      for (const button of kind.names) {
        text(button);
        feed([0xfb]);
      }
    } else feed([3, ...le32(kind.min), ...le32(kind.max)]);
  }
  feed([0xfc]);
  for (const event of schema.events ?? []) {
    text(event.name);
    feed([0xfe]);
    event.fields.forEach(field);
  }
  return h;
}

/** Per-kind field quantizations, computed once per schema object. */
const plans = new WeakMap();

function planOf(schema) {
  let plan = plans.get(schema);
  if (!plan) {
    plan = schema.kinds.map((k) => k.fields.map((f) => f.quant));
    plans.set(schema, plan);
  }
  return plan;
}

function inRange(q, v) {
  if (q.type === 'Angle') return v >= 0 && v < q.steps;
  if (q.type === 'Int') return v >= q.min && v <= q.max;
  if (q.type === 'Player') return v >= -1;
  return true;
}

/**
 * A game event by its schema: `{ type: 'game', kind, name, fields }` with
 * every declared field by name (`{ scorer: 3, team: 1 }`), values as sent
 * (a player field is a player id, or -1 for none). A kind the schema does not
 * declare, a value its field does not admit, or a value past the declared
 * fields is a ProtocolError.
 */
function readGameEvent(r, schema) {
  const kind = r.u8();
  const values = readValues(r, MAX_FIELDS, 'game event');
  if (!schema) throw new ProtocolError('game event before the welcome');
  const decl = schema.events?.[kind];
  if (!decl) throw new ProtocolError(`game event kind ${kind} is not declared`);
  if (values.length > decl.fields.length && values.slice(decl.fields.length).some((v) => v !== 0)) {
    throw new ProtocolError(`game event ${decl.name} has values past its declared fields`);
  }
  const fields = {};
  for (const f of decl.fields) {
    const v = values[f.id] ?? 0;
    if (!inRange(f.quant, v)) throw new ProtocolError(`game event ${decl.name} field ${f.name} cannot be ${v}`);
    fields[f.name] = v;
  }
  return { type: 'game', kind, name: decl.name, fields };
}

function applyDelta(q, base, d) {
  if (q.type === 'Angle') {
    const v = (base + d) % q.steps;
    return v < 0 ? v + q.steps : v;
  }
  return (base + d) | 0;
}

// ---------------------------------------------------------------- server → client

/**
 * Decodes one server message. Snapshots and game events need the welcome's
 * schema.
 * Returns one of:
 * - `{type: 'welcome', protocolVersion, player, entity, room, tickRate, tick, schema: {game, kinds, input, events}, schemaHash (BigInt), roster: [[player, name]], constants: [[name, value]], spectator, following, resume}`
 *   (a spectator's `player` is NO_PLAYER, its `entity` the one the followed player controls, 0 for none, and `following` that player or null;
 *   `resume`: the player's resume token, '' for a spectator or when the server holds no seats)
 * - `{type: 'snapshot', lastInput, body: {tick, baseline, removed, survivors, changed: [{index, mask, deltas}], created: [{id, kind, values}]}}`
 * - `{type: 'pong', clientTime, serverTick}`
 * - `{type: 'event', event: {type: 'game', kind, name, fields} | {type: 'chat', player, text} | {type: 'playerJoined', player, name} | {type: 'playerLeft', player} | {type: 'watching', player, entity}}`;
 *   a game event names its kind and fields as the schema declares them (`{type: 'game', kind: 1, name: 'goal', fields: {scorer: 3, team: 1}}`)
 * - `{type: 'error', code, reason}`
 * - `{type: 'redirect', url, room, ticket}`: the room is on another node of a
 *   cluster; connect there (see `matchmake.js`)
 * @param {Uint8Array} bytes
 * @param {object|null} schema
 */
export function decodeServerMessage(bytes, schema) {
  const r = new Reader(bytes);
  const tag = r.u32();
  if (tag === 1) {
    if (!schema) throw new ProtocolError('snapshot before the welcome');
    return decodeSnapshot(bytes, schema);
  }
  if (bytes.length > MAX_CONTROL_BYTES) throw new ProtocolError('message too large');
  let message;
  switch (tag) {
    case 0: {
      const protocolVersion = r.u16();
      const player = r.u32();
      // The entity the player controls.
      const entity = r.u32();
      const room = r.string(MAX_NAME_BYTES, 'room name');
      const tickRate = r.u16();
      const tick = r.u32();
      const decodedSchema = readSchema(r);
      const hash = r.u64();
      const count = r.length(2, 'roster');
      if (count > MAX_ROSTER) throw new ProtocolError(`roster of ${count} is over the limit`);
      const roster = [];
      for (let i = 0; i < count; i++) roster.push([r.u32(), r.string(MAX_NAME_BYTES, 'player name')]);
      const constantCount = r.length(5, 'constants');
      if (constantCount > MAX_CONSTANTS) throw new ProtocolError(`${constantCount} constants is over the limit`);
      const constants = [];
      for (let i = 0; i < constantCount; i++) constants.push([r.string(MAX_NAME_BYTES, 'constant name'), r.f32()]);
      // A spectator: no player of its own, `entity` the one the followed player controls.
      const spectator = r.bool();
      const following = r.option(() => r.u32());
      const resume = r.string(MAX_RESUME_TOKEN_BYTES, 'resume token');
      const computed = schemaHash(decodedSchema);
      if (computed !== hash) throw new ProtocolError(`welcome schema hashes to ${computed}, but claims ${hash}`);
      message = { type: 'welcome', protocolVersion, player, entity, room, tickRate, tick, schema: decodedSchema, schemaHash: hash, roster, constants, spectator, following, resume };
      break;
    }
    case 2:
      message = { type: 'pong', clientTime: r.u32(), serverTick: r.u32() };
      break;
    case 3: {
      let event;
      switch (r.u32()) {
        case 0:
          event = readGameEvent(r, schema);
          break;
        case 1:
          event = { type: 'chat', player: r.u32(), text: r.string(MAX_CHAT_BYTES, 'chat line') };
          break;
        case 2:
          event = { type: 'playerJoined', player: r.u32(), name: r.string(MAX_NAME_BYTES, 'player name') };
          break;
        case 3:
          event = { type: 'playerLeft', player: r.u32() };
          break;
        case 4: {
          // To a spectator: the player its snapshots follow now, and the entity that player controls.
          const followed = r.option(() => [r.u32(), r.u32()]);
          event = { type: 'watching', player: followed ? followed[0] : null, entity: followed ? followed[1] : null };
          break;
        }
        default:
          throw new ProtocolError('unknown event');
      }
      message = { type: 'event', event };
      break;
    }
    case 4:
      message = { type: 'error', code: r.u16(), reason: r.string(MAX_REASON_BYTES, 'error reason') };
      break;
    case 5:
      message = {
        type: 'redirect',
        url: r.string(MAX_URL_BYTES, 'node url'),
        room: r.string(MAX_NAME_BYTES, 'room name'),
        ticket: r.string(MAX_TICKET_BYTES, 'seat ticket'),
      };
      break;
    default:
      throw new ProtocolError(`unknown server message tag ${tag}`);
  }
  r.end();
  return message;
}

/** Reads id gaps: the first id, then each id minus the previous one minus one. */
function readIds(r, count, out) {
  let next = 0;
  for (let i = 0; i < count; i++) {
    const id = next + r.u32();
    if (id > 0xffffffff) throw new ProtocolError('entity id overflows');
    out.push(id);
    next = id + 1;
  }
}

function readCount(r, what, limit, minItemBytes) {
  const n = r.u32();
  if (n > limit) throw new ProtocolError(`${what} count ${n} is over the limit of ${limit}`);
  if (minItemBytes > 0 && n > Math.floor(r.remaining / minItemBytes)) throw new ProtocolError('truncated');
  return n;
}

/**
 * Decodes a snapshot message (tag, last input, body) against a schema.
 * @param {Uint8Array} bytes
 * @param {object} schema
 */
export function decodeSnapshot(bytes, schema) {
  if (bytes.length > MAX_SNAPSHOT_BYTES) throw new ProtocolError('snapshot too large');
  const plan = planOf(schema);
  const r = new Reader(bytes);
  const tag = r.u32();
  if (tag !== 1) throw new ProtocolError(`not a snapshot (tag ${tag})`);
  const lastInput = r.option(() => r.u32());
  const tick = r.u32();
  const age = r.u32();
  if (age > tick) throw new ProtocolError(`baseline age ${age} is older than tick ${tick}`);
  const baseline = age === 0 ? null : tick - age;

  const removedCount = readCount(r, 'removed', MAX_ENTITIES, 1);
  const removed = [];
  readIds(r, removedCount, removed);
  const survivors = r.u32();
  if (survivors > MAX_ENTITIES) throw new ProtocolError(`survivors count ${survivors} is over the limit`);
  if (baseline === null && (removedCount !== 0 || survivors !== 0)) {
    throw new ProtocolError('a full snapshot lists removed or surviving entities');
  }
  const changedCount = r.u32();
  if (changedCount > survivors) throw new ProtocolError('more changed entities than survivors');
  if (changedCount > r.remaining) throw new ProtocolError('truncated');

  const indices = [];
  if (changedCount === survivors) {
    for (let i = 0; i < survivors; i++) indices.push(i);
  } else if (changedCount !== 0) {
    const form = r.u8();
    if (form === 0) {
      const bits = r.take(Math.ceil(survivors / 8));
      for (let i = 0; i < survivors; i++) if (bits[i >> 3] & (1 << (i & 7))) indices.push(i);
      const tail = survivors % 8;
      if (indices.length !== changedCount || (tail !== 0 && bits[bits.length - 1] >> tail !== 0)) {
        throw new ProtocolError('the changed survivors do not match the changed count');
      }
    } else if (form === 1) {
      let next = 0;
      for (let k = 0; k < changedCount; k++) {
        const i = next + r.u32();
        if (i >= survivors) throw new ProtocolError('the changed survivors do not match the changed count');
        indices.push(i);
        next = i + 1;
      }
    } else if (form === 2) {
      const unchanged = survivors - changedCount;
      if (unchanged > r.remaining) throw new ProtocolError('truncated');
      let next = 0;
      for (let k = 0; k < unchanged; k++) {
        const i = next + r.u32();
        if (i >= survivors) throw new ProtocolError('the changed survivors do not match the changed count');
        for (let j = next; j < i; j++) indices.push(j);
        next = i + 1;
      }
      for (let j = next; j < survivors; j++) indices.push(j);
    } else {
      throw new ProtocolError(`unknown selection form ${form}`);
    }
  }

  const changed = [];
  if (changedCount !== 0) {
    const defaultMask = r.u8();
    if (defaultMask === 0) throw new ProtocolError('invalid field masks');
    const masks = new Uint8Array(changedCount).fill(defaultMask);
    const exceptions = r.u32();
    if (exceptions > changedCount) throw new ProtocolError('invalid field masks');
    let next = 0;
    for (let e = 0; e < exceptions; e++) {
      const k = next + r.u32();
      const mask = r.u8();
      if (k >= changedCount || mask === 0 || mask === defaultMask) throw new ProtocolError('invalid field masks');
      masks[k] = mask;
      next = k + 1;
    }
    for (let k = 0; k < changedCount; k++) {
      const mask = masks[k];
      const deltas = [];
      for (let f = 0; f < MAX_FIELDS; f++) if (mask & (1 << f)) deltas.push(r.i32());
      changed.push({ index: indices[k], mask, deltas });
    }
  }

  const createdCount = readCount(r, 'created', MAX_ENTITIES, 2);
  const created = [];
  let next = 0;
  for (let c = 0; c < createdCount; c++) {
    const id = next + r.u32();
    if (id > 0xffffffff) throw new ProtocolError('entity id overflows');
    next = id + 1;
    const kind = r.u8();
    const quants = plan[kind];
    if (!quants) throw new ProtocolError(`entity ${id} has unknown kind ${kind}`);
    const values = [];
    for (let f = 0; f < quants.length; f++) {
      const v = r.i32();
      if (!inRange(quants[f], v)) throw new ProtocolError(`entity ${id} field ${f} = ${v} is outside its declared range`);
      values.push(v);
    }
    created.push({ id, kind, values });
  }
  r.end();
  return { type: 'snapshot', lastInput, body: { tick, baseline, removed, survivors, changed, created } };
}

/**
 * Applies a decoded snapshot body to the state at its baseline (ignored for a
 * full snapshot) and returns the new state: entities `{id, kind, values}`
 * sorted by id, `values` holding the kind's declared fields.
 * @param {object} schema
 * @param {Row[]} base
 * @param {SnapshotBody} body
 * @returns {Row[]}
 */
export function applySnapshot(schema, base, body) {
  const plan = planOf(schema);
  if (body.baseline === null) base = [];
  const survivors = [];
  let r = 0;
  for (const e of base) {
    if (r < body.removed.length && body.removed[r] === e.id) r++;
    else if (r < body.removed.length && body.removed[r] < e.id) {
      throw new ProtocolError(`removed entity ${body.removed[r]} is not in the baseline`);
    } else survivors.push(e);
  }
  if (r < body.removed.length) throw new ProtocolError(`removed entity ${body.removed[r]} is not in the baseline`);
  if (survivors.length !== body.survivors) {
    throw new ProtocolError(`snapshot expects ${body.survivors} surviving entities, the baseline leaves ${survivors.length}`);
  }
  if (survivors.length + body.created.length > MAX_ENTITIES) throw new ProtocolError('too many entities');
  for (const c of body.changed) {
    const old = survivors[c.index];
    const quants = old && plan[old.kind];
    if (!quants) throw new ProtocolError(`changed entity index ${c.index} is not a survivor`);
    if (c.mask >> quants.length !== 0) throw new ProtocolError(`field mask ${c.mask} of entity ${old.id} is out of range`);
    const values = old.values.slice();
    let d = 0;
    for (let f = 0; f < quants.length; f++) {
      if (c.mask & (1 << f)) {
        const v = applyDelta(quants[f], values[f], c.deltas[d++]);
        if (!inRange(quants[f], v)) throw new ProtocolError(`entity ${old.id} field ${f} = ${v} is outside its declared range`);
        values[f] = v;
      }
    }
    survivors[c.index] = { id: old.id, kind: old.kind, values };
  }
  if (body.created.length === 0) return survivors;
  const state = [];
  let k = 0;
  for (const e of survivors) {
    while (k < body.created.length && body.created[k].id < e.id) state.push(body.created[k++]);
    if (k < body.created.length && body.created[k].id === e.id) throw new ProtocolError(`created entity ${e.id} already exists`);
    state.push(e);
  }
  while (k < body.created.length) state.push(body.created[k++]);
  return state;
}

/** The client's last few states, so that any snapshot finds its baseline. */
export class ClientState {
  /**
   * @param {object} schema the welcome's schema
   * @param {number} capacity states kept
   */
  constructor(schema, capacity = CLIENT_STATES) {
    this.schema = schema;
    this.capacity = Math.max(1, capacity);
    /** @type {Array<{tick: number, entities: Array}>} oldest first */
    this.states = [];
  }

  /**
   * Applies a snapshot body to its baseline, keeps the result as the newest
   * state and returns its entities. Throws (changing nothing) when the
   * baseline is not held, the snapshot is not newer, or it does not fit;
   * but a full snapshot that is not newer needs nothing held, and starts
   * the keeper over at its tick, every state held before forgotten (the
   * replay viewer starts a page over so when it seeks back).
   * @param {SnapshotBody} body
   * @returns {Row[]}
   */
  apply(body) {
    const newest = this.latestTick();
    if (body.baseline === null && newest !== null && body.tick <= newest) {
      const entities = applySnapshot(this.schema, [], body);
      this.states = [{ tick: body.tick, entities }];
      return entities;
    }
    const latest = this.latestTick();
    if (latest !== null && body.tick <= latest) {
      throw new ProtocolError(`snapshot tick ${body.tick} is not newer than the latest tick ${latest}`);
    }
    /** @type {Row[]} */
    let base = [];
    if (body.baseline !== null) {
      const held = this.stateAt(body.baseline);
      if (!held) throw new ProtocolError(`baseline tick ${body.baseline} is not held`);
      base = held;
    }
    const entities = applySnapshot(this.schema, base, body);
    this.states.push({ tick: body.tick, entities });
    if (this.states.length > this.capacity) this.states.shift();
    return entities;
  }

  /** The newest tick applied (to acknowledge, or to resume from), or null. */
  latestTick() {
    return this.states.length ? this.states[this.states.length - 1].tick : null;
  }

  /** The entities at `tick`, if held. */
  stateAt(tick) {
    for (let i = this.states.length - 1; i >= 0; i--) if (this.states[i].tick === tick) return this.states[i].entities;
    return null;
  }

  /** Forgets every state: the next snapshot must be full. */
  clear() {
    this.states = [];
  }
}

