// Test helpers for the browser tests: Debian's Chromium through
// playwright-core (never a downloaded browser), a tiny static file server,
// free loopback ports, and the real server binary as a child process.

import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect, createServer as createNetServer } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The client's root folder (where index.html is). */
export const CLIENT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Where screenshots and logs of the browser tests go (gitignored). */
export const RESULTS_DIR = join(CLIENT_ROOT, 'test-results');
/** Debian's Chromium (`TICKWIRE_CHROMIUM` overrides the path, as in test.sh). */
export const CHROMIUM = process.env.TICKWIRE_CHROMIUM || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium; fails with the install command when it is missing. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's Chromium at ${CHROMIUM}: run 'apt-get install chromium'`);
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Makes sure the results folder exists and returns a path in it. */
export function resultPath(name) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return join(RESULTS_DIR, name);
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
};

/**
 * Serves `root` on a free loopback port. `routes` maps extra paths to HTML
 * strings. Returns `{ url, close }`.
 */
export async function serveStatic(root, routes = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (routes[path] !== undefined) {
      res.writeHead(200, { 'content-type': MIME['.html'] });
      res.end(routes[path]);
      return;
    }
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** A loopback port that was free a moment ago. */
export async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Resolves once something accepts TCP connections on `port`, or rejects after `timeoutMs`. */
export async function waitForPort(port, timeoutMs, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    if (!isAlive()) throw new Error('the server exited before it listened');
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The path of a game server binary that the environment variable `env`
 * names (as test.sh passes them), checked to exist. Throws, saying how to
 * build it, when it is not set or not there: `cargo build --release -p
 * <pkg>` builds `target/release/<bin>`.
 * @param {string} env the environment variable, e.g. `TICKWIRE_ASTEROIDS_BIN`
 * @param {string} pkg the game's cargo package, e.g. `tickwire-asteroids`
 * @param {string} bin the binary's name, e.g. `asteroids`
 * @returns {string}
 */
export function gameBinary(env, pkg, bin) {
  const path = process.env[env];
  if (!path || !existsSync(path)) {
    throw new Error(
      `${env} must name the release ${bin} binary (got ${JSON.stringify(path)}): ` +
        `build it with 'cargo build --release -p ${pkg}', then run the tests with ${env}=<repository>/target/release/${bin}`,
    );
  }
  return path;
}

/**
 * Starts the server binary on a free loopback port. Returns
 * `{ url, process, output, stop }`; `stop` kills it and waits for the exit.
 */
export async function startServer(bin, extraArgs = []) {
  if (!bin || !existsSync(bin)) {
    throw new Error(`TICKWIRE_BIN must name the release server binary (got ${JSON.stringify(bin)}): cargo build --release -p tickwire`);
  }
  const port = await freePort();
  const child = spawn(bin, ['--bind', `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
  });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 500) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise((ok) => child.once('exit', () => {
    exited = true;
    ok();
  }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
  };
  try {
    await waitForPort(port, 15000, () => !exited);
  } catch (error) {
    await stop();
    throw new Error(`${error.message}\nserver output:\n${output.join('')}`);
  }
  return { url: `http://127.0.0.1:${port}`, process: child, output, stop };
}

/**
 * A TCP proxy on a free loopback port that delays every chunk by `oneWayMs`
 * in each direction (so the round trip grows by twice that), keeping order.
 * Returns `{ url, close }`.
 */
export async function latencyProxy(targetUrl, oneWayMs) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const server = createNetServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const pipeDelayed = (from, to) => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), oneWayMs));
      from.on('end', () => setTimeout(() => to.end(), oneWayMs));
    };
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((ok) => server.close(ok));
    },
  };
}

/**
 * Moves `page`'s mouse from its own avatar toward entity `id`, staying on
 * screen (a target may be further away than the screen is tall; only the
 * direction matters for aiming). Returns whether the target was known.
 */
export async function aimToward(page, id) {
  const pos = await page.evaluate((target) => {
    const t = window.tickwire;
    const e = t.entities[target];
    if (!e || !t.drawn) return null;
    const me = t.worldToScreen(t.drawn.x, t.drawn.y);
    const to = t.worldToScreen(e.x, e.y);
    const d = Math.hypot(to.x - me.x, to.y - me.y) || 1;
    const k = Math.min(d, 250) / d;
    return { x: me.x + (to.x - me.x) * k, y: me.y + (to.y - me.y) * k };
  }, id);
  if (pos) await page.mouse.move(pos.x, pos.y);
  return pos !== null;
}

/**
 * The server's count of the ticks a client's prediction could not foresee
 * (`tickwire_input_timing_total` in `/metrics`): inputs applied `bunched`
 * behind another of their player's after a stall, and ticks `starved` of a
 * player's input. While both stay put, the server applied every input in a
 * tick of its own, as the page predicted; a busy machine stalls the page,
 * the proxy or the server, and then they move.
 * @param {string} serverUrl the server's own URL (not a proxy's)
 * @returns {Promise<{bunched: number, starved: number}>}
 */
export async function inputTiming(serverUrl) {
  const text = await (await fetch(`${serverUrl}/metrics`)).text();
  const count = (kind) => {
    const m = text.match(new RegExp(`^tickwire_input_timing_total\\{kind="${kind}"\\} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { bunched: count('bunched'), starved: count('starved') };
}

/**
 * What changed between two {@link inputTiming} readings.
 * @param {{bunched: number, starved: number}} before
 * @param {{bunched: number, starved: number}} after
 */
export function timingSince(before, after) {
  return { bunched: after.bunched - before.bunched, starved: after.starved - before.starved };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function until(what, fn, timeoutMs, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
