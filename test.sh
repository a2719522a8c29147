#!/usr/bin/env bash
# Runs every test of Tickwire: the Rust workspace (unit, integration,
# property and golden-vector tests), then the browser client's tests
# (node's test runner, and end-to-end tests in headless Chromium against the
# real server binary).
#
# Needs: a Rust toolchain, Node.js 20+, and Debian's `chromium` at
# /usr/bin/chromium (apt-get install chromium). `npm ci` in client-web is run
# for you when its node_modules are missing.
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo test (workspace)"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== building the release server for the browser tests"
cargo build --release -p tickwire

echo "== web client tests"
if [ ! -d client-web/node_modules ]; then
    (cd client-web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "error: the end-to-end tests need Debian's Chromium at /usr/bin/chromium: run 'apt-get install chromium'" >&2
    exit 1
fi
(cd client-web && TICKWIRE_BIN="$(pwd)/../target/release/tickwire" node --test --test-concurrency=1 test/)
