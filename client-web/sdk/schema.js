// The welcome's schema, read generically.
//
// The server describes every replicated entity kind in its welcome: a name,
// and for each field a name and a quantization (fixed-point coordinate,
// angle in steps per turn, bounded integer, or a player of the room). The
// same welcome declares the game's input fields and its kinds of event;
// those are encoded and decoded by the protocol module. This module turns the
// quantized integers of a snapshot back into real values, and tells the
// interpolator how each field moves between snapshots, so no per-game code
// is needed: a game's page looks its own kinds and fields up by name.

const TAU = Math.PI * 2;

/**
 * A field's quantization, normalised: a fixed-point coordinate (`scale`
 * steps per unit), an angle (`steps` per turn), a bounded integer, or a
 * player of the room (an id, -1 for none).
 * @typedef {{type: 'fixed', scale: number} | {type: 'angle', steps: number} | {type: 'int', min: number, max: number} | {type: 'player'}} Quantization
 */

/**
 * How a field moves between snapshots.
 * @typedef {'linear' | 'angle' | 'step'} InterpolationMode
 */

/**
 * A field of a kind, indexed: its id, name, quantization and interpolation mode.
 * @typedef {{id: number, name: string, quant: Quantization, mode: InterpolationMode}} FieldView
 */

/**
 * A kind of entity, indexed: its id, name and fields in id order.
 * @typedef {{id: number, name: string, fields: FieldView[]}} KindView
 */

/**
 * A field of a kind or event as the welcome carries it.
 * @typedef {{id?: number, name: string, quant?: any, quantization?: any}} FieldDecl
 */

/**
 * A schema as the welcome carries it (see `decodeServerMessage` in protocol.js).
 * @typedef {object} SchemaDecl
 * @property {string} game the game's name
 * @property {Array<{id?: number, name: string, fields: FieldDecl[]}>} kinds the kinds of entity, in id order
 * @property {import('./protocol.js').InputDecl[]} [input] the input fields, in wire order
 * @property {Array<{name: string, fields: FieldDecl[]}>} [events] the kinds of event, in id order
 */

/**
 * Normalises one field's quantization into `{ type, ... }` with `type` one of
 * `"fixed"`, `"angle"`, `"int"`, `"player"` (a player id, or -1 for none). Accepts the serde externally tagged form
 * (`{ Fixed: { scale: 16 } }`) as well as a flat tagged form
 * (`{ type: "Fixed", scale: 16 }` or `{ kind: "fixed", scale: 16 }`).
 * @param {any} quant
 * @returns {Quantization}
 */
export function normaliseQuantization(quant) {
  if (quant == null || typeof quant !== 'object') {
    throw new Error(`bad quantization: ${JSON.stringify(quant)}`);
  }
  let tag = quant.type ?? quant.kind ?? quant.tag;
  let body = quant;
  if (tag === undefined) {
    const keys = Object.keys(quant);
    if (keys.length !== 1) throw new Error(`bad quantization: ${JSON.stringify(quant)}`);
    tag = keys[0];
    body = quant[tag] ?? {};
  }
  switch (String(tag).toLowerCase()) {
    case 'fixed':
      return { type: 'fixed', scale: Number(body.scale) };
    case 'angle':
      return { type: 'angle', steps: Number(body.steps) };
    case 'int':
      return { type: 'int', min: Number(body.min), max: Number(body.max) };
    case 'player':
      return { type: 'player' };
    default:
      throw new Error(`unknown quantization ${JSON.stringify(tag)}`);
  }
}

/**
 * The real value of a quantized field: coordinates in world units, angles in
 * radians in [0, 2π), integers and players as they are.
 * @param {Quantization} q normalised quantization
 * @param {number} value the integer on the wire
 * @returns {number}
 */
export function dequantize(q, value) {
  switch (q.type) {
    case 'fixed':
      return value / q.scale;
    case 'angle':
      return (value / q.steps) * TAU;
    default:
      return value;
  }
}

/**
 * How a field moves between two snapshots: coordinates linearly, angles
 * along the shorter arc, integers (counters, flags, timers) and players
 * in steps.
 * @param {{type: string}} q normalised quantization
 * @returns {InterpolationMode}
 */
export function interpolationMode(q) {
  if (q.type === 'fixed') return 'linear';
  if (q.type === 'angle') return 'angle';
  return 'step';
}

/**
 * A schema, indexed for decoding: kinds by id and by name, each with its
 * fields' names, quantizations and interpolation modes.
 */
export class SchemaView {
  /**
   * @param {SchemaDecl} schema the schema as the welcome carries it
   */
  constructor(schema) {
    /** Name of the game. */
    this.game = schema.game;
    /** @type {KindView[]} kinds in id order */
    this.kinds = schema.kinds.map((kind, index) => ({
      id: kind.id ?? index,
      name: kind.name,
      fields: kind.fields.map((field, f) => {
        const quant = normaliseQuantization(field.quant ?? field.quantization);
        return { id: field.id ?? f, name: field.name, quant, mode: interpolationMode(quant) };
      }),
    }));
    /** @type {import('./protocol.js').InputDecl[]} the game's input fields, in wire order */
    this.input = schema.input ?? [];
    /** @type {Array<{name: string, fields: FieldDecl[]}>} the game's kinds of event, in id order */
    this.events = schema.events ?? [];
    /** @type {Map<string, KindView>} kinds by name */
    this.byName = new Map(this.kinds.map((k) => [k.name, k]));
    /** @type {Record<string, Record<string, InterpolationMode>>} interpolation modes per kind name: `{ [kind]: { x: 'linear', heading: 'angle', ... } }` */
    this.modes = {};
    for (const kind of this.kinds) {
      this.modes[kind.name] = Object.fromEntries(kind.fields.map((f) => [f.name, f.mode]));
    }
  }

  /**
   * The kind with this id, or undefined.
   * @param {number} id
   * @returns {KindView | undefined}
   */
  kind(id) {
    return this.kinds[id];
  }

  /**
   * The id of the kind with this name, or -1.
   * @param {string} name
   * @returns {number}
   */
  kindId(name) {
    return this.byName.get(name)?.id ?? -1;
  }

  /**
   * De-quantizes one entity's row of integers into named real values.
   * @param {number} kindId
   * @param {ArrayLike<number>} values quantized values in field-id order
   * @returns {{kind: string, fields: Record<string, number>} | null} null for an unknown kind
   */
  decodeEntity(kindId, values) {
    const kind = this.kinds[kindId];
    if (!kind) return null;
    /** @type {Record<string, number>} */
    const fields = {};
    for (const field of kind.fields) {
      fields[field.name] = dequantize(field.quant, Number(values[field.id] ?? 0));
    }
    return { kind: kind.name, fields };
  }

  /**
   * The largest value an integer field takes (a counter's maximum, for
   * example), or `fallback` when the kind or field is not declared.
   * @param {string} kindName
   * @param {string} fieldName
   * @param {number} fallback
   * @returns {number}
   */
  intMax(kindName, fieldName, fallback) {
    const field = this.byName.get(kindName)?.fields.find((f) => f.name === fieldName);
    return field && field.quant.type === 'int' ? field.quant.max : fallback;
  }
}
