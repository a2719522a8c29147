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
 * Normalises one field's quantization into `{ type, ... }` with `type` one of
 * `"fixed"`, `"angle"`, `"int"`, `"player"` (a player id, or -1 for none). Accepts the serde externally tagged form
 * (`{ Fixed: { scale: 16 } }`) as well as a flat tagged form
 * (`{ type: "Fixed", scale: 16 }` or `{ kind: "fixed", scale: 16 }`).
 * @param {object} quant
 * @returns {{type: string, scale?: number, steps?: number, min?: number, max?: number}}
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
 * @param {{type: string, scale?: number, steps?: number}} q normalised quantization
 * @param {number} value the integer on the wire
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
 * @returns {'linear' | 'angle' | 'step'}
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
   * @param {{game: string, kinds: Array<{id: number, name: string, fields: Array<{id: number, name: string, quant: object}>}>, input?: Array, events?: Array}} schema
   *   the schema as the welcome carries it
   */
  constructor(schema) {
    /** Name of the game. */
    this.game = schema.game;
    /** Kinds in id order, each `{ id, name, fields: [{ id, name, quant, mode }] }`. */
    this.kinds = schema.kinds.map((kind, index) => ({
      id: kind.id ?? index,
      name: kind.name,
      fields: kind.fields.map((field, f) => {
        const quant = normaliseQuantization(field.quant ?? field.quantization);
        return { id: field.id ?? f, name: field.name, quant, mode: interpolationMode(quant) };
      }),
    }));
    /** The game's input fields, `[{ name, kind }]`, in wire order (see `inputValues` in protocol.js). */
    this.input = schema.input ?? [];
    /** The game's kinds of event, `[{ name, fields }]`, in id order. */
    this.events = schema.events ?? [];
    /** @type {Map<string, object>} */
    this.byName = new Map(this.kinds.map((k) => [k.name, k]));
    /** Interpolation modes per kind name: `{ [kind]: { x: 'linear', heading: 'angle', ... } }`. */
    this.modes = {};
    for (const kind of this.kinds) {
      this.modes[kind.name] = Object.fromEntries(kind.fields.map((f) => [f.name, f.mode]));
    }
  }

  /** The kind with this id, or undefined. */
  kind(id) {
    return this.kinds[id];
  }

  /** The id of the kind with this name, or -1. */
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
    const fields = {};
    for (const field of kind.fields) {
      fields[field.name] = dequantize(field.quant, Number(values[field.id] ?? 0));
    }
    return { kind: kind.name, fields };
  }

  /**
   * The largest value an integer field takes (the maximum hit points, for
   * example), or `fallback` when the kind or field is not declared.
   */
  intMax(kindName, fieldName, fallback) {
    const field = this.byName.get(kindName)?.fields.find((f) => f.name === fieldName);
    return field && field.quant.type === 'int' ? field.quant.max : fallback;
  }
}
