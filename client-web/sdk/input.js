// Inputs by name: what a page holds (a stick at -0.4, a button down) turned
// into the integers the game's declared input carries, and back.
//
// The welcome declares the game's input fields (`schema.input`), each of one
// kind: an axis (`-steps..=steps`, a float -1..1 in the game), an angle
// (`0..steps` per turn, radians in the game), buttons (one bit per declared
// name) or a bounded integer. A page sets its input by those names:
//
//   { steer: -0.4 }          an axis, clamped into -1..1
//   { heading: Math.PI / 2 } an angle in radians, any turn
//   { jump: true }           a button by its name
//   { pad: 5 }               a buttons field's raw bits, by the field's name
//   { slot: 3 }              an integer in its declared range
//
// Floats are quantized exactly as the Rust derive does (`roundf` in f32), so
// the server, the replay and the client's prediction see the same bits. The
// way back ({@link InputCodec.named}) gives the game's step function the
// values the server's game sees.

import { MAX_BUTTONS, inputRange } from './protocol.js';

const f32 = Math.fround;
const TAU_F32 = f32(Math.PI * 2);

/**
 * One declared input field, as the welcome's schema carries it.
 * @typedef {object} InputDecl
 * @property {string} name the field's name
 * @property {InputKind} kind what it holds
 */

/**
 * The kind of a declared input field.
 * @typedef {{type: 'Axis', steps: number} | {type: 'Angle', steps: number} | {type: 'Buttons', names: string[]} | {type: 'Int', min: number, max: number}} InputKind
 */

/**
 * An input by name: axes as floats, angles in radians, buttons as booleans
 * by button name or raw bits by field name, integers as integers.
 * @typedef {Record<string, number | boolean>} NamedInput
 */

/**
 * `roundf`: to the nearest integer, halfway cases away from zero.
 * @param {number} x
 */
function roundf(x) {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * The steps of an axis for a float, as the Rust derive quantizes an `f32`
 * axis: clamped into -1..1, `roundf(value * steps)` in f32.
 * @param {number} value -1..1 (clamped)
 * @param {number} steps the axis's steps
 */
export function quantizeAxis(value, steps) {
  const v = Math.max(-1, Math.min(1, value));
  const q = roundf(f32(f32(v) * f32(steps)));
  return Math.max(-steps, Math.min(steps, q)) || 0;
}

/**
 * The steps of an angle in radians, as the Rust derive quantizes an `f32`
 * angle: `roundf(radians / τ * steps)` in f32, wrapped into `0..steps`.
 * @param {number} radians any angle
 * @param {number} steps steps per turn
 */
export function quantizeAngle(radians, steps) {
  const n = Math.max(1, steps);
  const turns = f32(f32(radians) / TAU_F32);
  const q = roundf(f32(turns * f32(n)));
  return ((q % n) + n) % n;
}

/**
 * Whether a buttons field is a single flag named after itself (a `bool`
 * field of the game's input): its value is then a boolean.
 * @param {InputDecl} decl
 */
function isFlag(decl) {
  return decl.kind.type === 'Buttons' && decl.kind.names.length === 1 && decl.kind.names[0] === decl.name;
}

/**
 * Encodes and decodes one game's input by name, from the welcome's declared
 * input fields.
 */
export class InputCodec {
  /**
   * @param {InputDecl[]} decls the welcome's `schema.input`
   */
  constructor(decls) {
    /** The declared input fields, in wire order. */
    this.decls = decls;
    /** @type {Map<string, number>} field name -> index */
    this.fields = new Map(decls.map((d, i) => [d.name, i]));
    /** @type {Map<string, {field: number, bit: number}>} button name -> its field and bit; field names win */
    this.buttons = new Map();
    decls.forEach((d, field) => {
      if (d.kind.type !== 'Buttons') return;
      d.kind.names.slice(0, MAX_BUTTONS).forEach((name, index) => {
        if (!this.fields.has(name) && !this.buttons.has(name)) this.buttons.set(name, { field, bit: 2 ** index });
      });
    });
  }

  /**
   * The wire values of a named input, one per declared field in order; a
   * field not named is 0. An unknown name, a value of the wrong type, an
   * integer out of its range or raw bits naming undeclared buttons are
   * refused with a RangeError (the server would close the connection over
   * them); floats are clamped (axes) or wrapped (angles).
   * @param {NamedInput} named
   * @returns {number[]}
   */
  values(named) {
    const values = new Array(this.decls.length).fill(0);
    for (const [name, value] of Object.entries(named)) {
      const at = this.fields.get(name);
      if (at !== undefined) {
        const v = this.fieldValue(this.decls[at], value);
        // A buttons field named by its bits and by its buttons gets both.
        values[at] = this.decls[at].kind.type === 'Buttons' ? values[at] | v : v;
        continue;
      }
      const button = this.buttons.get(name);
      if (!button) throw new RangeError(`the game declares no input field or button ${JSON.stringify(name)}`);
      if (typeof value !== 'boolean') throw new RangeError(`button ${name} takes true or false, not ${String(value)}`);
      if (value) values[button.field] |= button.bit;
    }
    return values;
  }

  /**
   * The wire value of one field.
   * @param {InputDecl} decl
   * @param {number | boolean} value
   * @returns {number}
   */
  fieldValue(decl, value) {
    const { name, kind } = decl;
    if (kind.type === 'Buttons' && typeof value === 'boolean') {
      if (kind.names.length !== 1 && !kind.names.includes(name)) {
        throw new RangeError(`input field ${name} holds ${kind.names.length} buttons: give its bits, or the buttons by name`);
      }
      return value ? 2 ** Math.max(0, kind.names.indexOf(name)) : 0;
    }
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new RangeError(`input field ${name} takes a number, not ${String(value)}`);
    }
    switch (kind.type) {
      case 'Axis':
        return quantizeAxis(value, kind.steps);
      case 'Angle':
        if (!Number.isFinite(value)) throw new RangeError(`input field ${name} takes a finite angle, not ${value}`);
        return quantizeAngle(value, kind.steps);
      default: {
        const [min, max] = inputRange(kind);
        if (!Number.isInteger(value) || value < min || value > max) {
          throw new RangeError(`input field ${name} is ${value}, outside ${min}..=${max}`);
        }
        return value;
      }
    }
  }

  /**
   * The named input the game sees for these wire values, as the Rust derive
   * reads them back: axes `q / steps` and angles `q / steps * τ` in f32,
   * integers as they are. A buttons field that is a single flag named after
   * itself is a boolean; any other is its bits by the field's name, and each
   * of its buttons a boolean by the button's name.
   * @param {ArrayLike<number>} values one per declared field (missing ones are 0)
   * @returns {NamedInput}
   */
  named(values) {
    /** @type {NamedInput} */
    const out = {};
    this.decls.forEach((decl, i) => {
      const q = Number(values[i] ?? 0);
      const kind = decl.kind;
      if (kind.type === 'Axis') out[decl.name] = f32(q / kind.steps);
      else if (kind.type === 'Angle') out[decl.name] = f32(f32(q / Math.max(1, kind.steps)) * TAU_F32);
      else if (isFlag(decl)) out[decl.name] = q !== 0;
      else out[decl.name] = q;
    });
    for (const [name, { field, bit }] of this.buttons) out[name] = (Number(values[field] ?? 0) & bit) !== 0;
    return out;
  }
}
