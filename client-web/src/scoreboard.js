// The scoreboard's figures: every player in the room with its best-known
// score.
//
// With interest management most avatars are out of view, so the
// scoreboard cannot be read off the visible ones alone. An avatar in view
// carries its player's score (the avatar kind's declared score field, its
// player named by the declared player field; the own avatar is the own
// player's): that figure is the server's. Kills in the feed count for the
// players out of view. A player never seen since this page joined shows the
// kills it scored since then.

import { ARENA } from './arena.js';

/**
 * One row's figures.
 * @typedef {{id: number, name: string, score: number, own: boolean}} ScoreEntry
 */

/**
 * Best-known scores by player.
 */
export class Scores {
  constructor() {
    /** @type {Map<number, number>} player id -> score */
    this.scores = new Map();
  }

  /** Forgets every score (a new welcome). */
  reset() {
    this.scores.clear();
  }

  /**
   * A snapshot: the score of every avatar in view, by the arena's declared
   * fields.
   * @param {Iterable<{id: number, kind: string, fields: Record<string, number>}>} entities the newest server state
   * @param {{score: boolean, player: boolean}} declared which of the avatar's score and player fields the game declares
   * @param {{entity: number, player: number}} own the own avatar's id and the own player's
   */
  seen(entities, declared, own) {
    if (!declared.score) return;
    const { kind, score, player } = ARENA.avatar;
    for (const e of entities) {
      if (e.kind !== kind) continue;
      const owner = e.id === own.entity ? own.player : declared.player ? e.fields[player] : -1;
      if (owner >= 0) this.scores.set(owner, e.fields[score]);
    }
  }

  /**
   * A kill in the feed: the killer scored (-1: nobody did).
   * @param {number} killer
   */
  kill(killer) {
    if (killer >= 0) this.scores.set(killer, (this.scores.get(killer) ?? 0) + 1);
  }

  /**
   * A player left the room.
   * @param {number} player
   */
  left(player) {
    this.scores.delete(player);
  }

  /**
   * Every player of the roster with its best-known score.
   * @param {Map<number, string>} roster player id -> name
   * @param {number} ownPlayer the own player's id
   * @returns {ScoreEntry[]}
   */
  entries(roster, ownPlayer) {
    return [...roster].map(([id, name]) => ({ id, name, score: this.scores.get(id) ?? 0, own: id === ownPlayer }));
  }
}
