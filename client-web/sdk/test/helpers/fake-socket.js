// Test helpers of the SDK's connection tests: the golden server messages,
// and a WebSocket stand-in that plays the server.

import { readFileSync } from 'node:fs';

import { decodeClientMessage } from '../../protocol.js';

/** A server's error message (tag 4): `code`, then `reason` as a string. */
export function encodeServerError(code, reason) {
  const text = new TextEncoder().encode(reason);
  if (text.length >= 251) throw new RangeError('a short reason only');
  return Uint8Array.from([4, 251, code & 0xff, code >> 8, text.length, ...text]);
}

/** A cluster's redirect (tag 5): the node's URL, the room, the seat ticket, each a short string. */
export function encodeRedirect(url, room, ticket) {
  const strings = [url, room, ticket].map((text) => new TextEncoder().encode(text));
  if (strings.some((b) => b.length >= 128)) throw new RangeError('short strings only');
  return Uint8Array.from([5, ...strings.flatMap((b) => [b.length, ...b])]);
}

/** The golden vector `name` (`crates/protocol/golden/<name>.bin`). */
export const golden = (name) =>
  new Uint8Array(readFileSync(new URL(`../../../../crates/protocol/golden/${name}.bin`, import.meta.url)));

/** A WebSocket stand-in that records what is sent and lets the test play the server. */
export class FakeSocket {
  /** Every socket opened since the test last reset it. */
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.all.push(this);
  }
  send(bytes) {
    this.sent.push(decodeClientMessage(bytes));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  /** Delivers a server message: its bytes, or the name of a golden vector. */
  receive(message) {
    const bytes = typeof message === 'string' ? golden(message) : message;
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
  drop(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
