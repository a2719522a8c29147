// The entity store: the newest server state, de-quantized, by entity id,
// and what changed in it.
//
// Each applied snapshot hands the store the whole quantized state (the
// protocol module's keeper rebuilds it from deltas). The store compares it
// with the previous state by the quantized integers, so a change is exact:
// an entity is added when its id appears (or comes back as another kind),
// changed when any of its fields' integers moved (with the names of those
// fields), removed when its id is gone. An entity keeps its object for as
// long as it lives; its `fields` object is replaced, never modified, on each
// change, so a reference to an older `fields` stays that state.

/**
 * One replicated entity, de-quantized: coordinates in world units, angles in
 * radians in [0, 2π), integers as they are, a player field as a player id
 * (-1 for none).
 * @typedef {object} Entity
 * @property {number} id its wire identity (NetId)
 * @property {string} kind its kind's name, as the schema declares it
 * @property {number} kindId its kind's index in the schema
 * @property {Record<string, number>} fields every declared field, by name (read-only)
 */

/**
 * One quantized entity, as the protocol module's keeper holds it.
 * @typedef {{id: number, kind: number, values: ArrayLike<number>}} Row
 */

/**
 * What the store calls back; each is optional.
 * @typedef {object} StoreCallbacks
 * @property {(entity: Entity) => void} [onAdded] an entity appeared
 * @property {(entity: Entity, changed: string[], previous: Record<string, number>) => void} [onChanged]
 *   an entity's fields changed: the names of the fields that did, and the fields before
 * @property {(entity: Entity) => void} [onRemoved] an entity is gone
 */

/**
 * The schema as the store needs it (a {@link import('./schema.js').SchemaView}).
 * @typedef {{kind(id: number): ({name: string, fields: Array<{id: number, name: string}>} | undefined), decodeEntity(kindId: number, values: ArrayLike<number>): ({kind: string, fields: Record<string, number>} | null)}} StoreSchema
 */

/**
 * The newest server state, de-quantized, with added, changed and removed
 * callbacks.
 */
export class EntityStore {
  /**
   * @param {StoreSchema | null} schema the welcome's schema (null until welcomed: nothing is stored)
   * @param {StoreCallbacks} [callbacks]
   */
  constructor(schema, { onAdded = () => {}, onChanged = () => {}, onRemoved = () => {} } = {}) {
    this.schema = schema;
    this.onAdded = onAdded;
    this.onChanged = onChanged;
    this.onRemoved = onRemoved;
    /** @type {Map<number, Entity>} the entities by id */
    this.entities = new Map();
    /** @type {Map<number, ArrayLike<number>>} the quantized values of each entity */
    this.rows = new Map();
  }

  /**
   * Replaces the schema (a welcome after a reconnect); a schema that is not
   * the same object forgets every entity first (each is removed).
   * @param {StoreSchema | null} schema
   */
  setSchema(schema) {
    if (schema !== this.schema) this.clear();
    this.schema = schema;
  }

  /**
   * Takes the whole state after a snapshot, then calls back: removed
   * entities first, then added, then changed, each in id order. The store
   * is up to date during every callback.
   * @param {Iterable<Row>} rows every entity in the snapshot's state
   */
  update(rows) {
    const schema = this.schema;
    if (!schema) return;
    /** @type {Entity[]} */
    const added = [];
    /** @type {Array<[Entity, string[], Record<string, number>]>} */
    const changed = [];
    /** @type {Entity[]} */
    const removed = [];
    const seen = new Set();
    for (const row of rows) {
      seen.add(row.id);
      const old = this.entities.get(row.id);
      const oldValues = this.rows.get(row.id);
      if (old && oldValues && old.kindId === row.kind) {
        if (oldValues === row.values) continue;
        const kind = schema.kind(row.kind);
        const names = [];
        for (const f of kind?.fields ?? []) if ((oldValues[f.id] ?? 0) !== (row.values[f.id] ?? 0)) names.push(f.name);
        this.rows.set(row.id, row.values);
        if (names.length === 0) continue;
        const previous = old.fields;
        old.fields = schema.decodeEntity(row.kind, row.values)?.fields ?? previous;
        changed.push([old, names, previous]);
        continue;
      }
      const decoded = schema.decodeEntity(row.kind, row.values);
      if (old) removed.push(old);
      if (!decoded) {
        this.entities.delete(row.id);
        this.rows.delete(row.id);
        continue;
      }
      /** @type {Entity} */
      const entity = { id: row.id, kind: decoded.kind, kindId: row.kind, fields: decoded.fields };
      this.entities.set(row.id, entity);
      this.rows.set(row.id, row.values);
      added.push(entity);
    }
    for (const [id, entity] of this.entities) {
      if (seen.has(id)) continue;
      this.entities.delete(id);
      this.rows.delete(id);
      removed.push(entity);
    }
    removed.sort((a, b) => a.id - b.id);
    for (const e of removed) this.onRemoved(e);
    for (const e of added) this.onAdded(e);
    for (const [e, names, previous] of changed) this.onChanged(e, names, previous);
  }

  /** Forgets every entity, calling back each as removed. */
  clear() {
    const removed = [...this.entities.values()];
    this.entities.clear();
    this.rows.clear();
    for (const e of removed) this.onRemoved(e);
  }

  /**
   * The entity with this id, or undefined.
   * @param {number} id
   */
  get(id) {
    return this.entities.get(id);
  }
}
