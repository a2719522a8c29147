#!/usr/bin/env bash
# Runs every test of Tickwire: the Rust workspace (unit, integration,
# property and golden-vector tests), then the browser client's tests
# (node's test runner, and end-to-end tests in headless Chromium against the
# real game binaries: the arena, asteroids and the starter template), and
# last a 2-minute soak of the release server under the swarm (its live heap,
# descriptors and threads; benches/soak.py).
#
# Needs a Rust toolchain, and checks the rest first, before building
# anything: Node.js 20+ and npm, Debian's Chromium at /usr/bin/chromium
# (TICKWIRE_CHROMIUM overrides the path checked), redis-server (the
# cluster tests start their own, on loopback), matplotlib for the
# benchmark charts' tests (python3-matplotlib), and for the server's
# `agones` feature protoc with the well-known types (protobuf-compiler,
# libprotobuf-dev) and, for its stand-in sidecar, OpenSSL's headers
# (libssl-dev, pkg-config). Run as root on a Debian
# machine, it installs what is missing with apt-get; otherwise it stops at
# once with the command to run. It runs `npm ci` in client-web when
# node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${TICKWIRE_CHROMIUM:-/usr/bin/chromium}"

node_20_or_newer() {
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
    [ "$major" -ge 20 ]
}

# The Python that draws the benchmark charts (benches/plots.py): python3 if
# it has matplotlib, else Debian's, where python3-matplotlib installs (the
# python3 first on PATH may be another Python).
chart_python() {
    local py
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import matplotlib' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

# The needs, one a line: what it is | the Debian packages that provide it |
# the check (a shell command that succeeds when the need is met).
NEEDS=(
    "Node.js 20+|nodejs|node_20_or_newer"
    "npm|npm|command -v npm"
    "Debian's Chromium at $CHROMIUM|chromium fonts-dejavu-core|test -x '$CHROMIUM'"
    "matplotlib for Python 3 (the benchmark charts)|python3-matplotlib|chart_python"
    # The cluster tests start their own Redis servers.
    "redis-server|redis-server|command -v redis-server"
    # The agones feature's build (the agones crate, and the dummy-agones
    # stand-in of its tests) compiles the Agones SDK's .proto files.
    "protoc and the protobuf well-known types (the agones feature)|protobuf-compiler libprotobuf-dev|command -v protoc && test -f /usr/include/google/protobuf/descriptor.proto"
    # The stand-in sidecar of the Agones tests links OpenSSL (through reqwest).
    "OpenSSL's headers and pkg-config (the Agones tests)|libssl-dev pkg-config|pkg-config --exists openssl"
)

# Sets MISSING (what) and PACKAGES (to install) from NEEDS.
check_needs() {
    MISSING=()
    PACKAGES=()
    local need what packages check
    for need in "${NEEDS[@]}"; do
        IFS='|' read -r what packages check <<<"$need"
        if ! eval "$check" >/dev/null 2>&1; then
            MISSING+=("$what")
            # shellcheck disable=SC2206 # a list of package names
            PACKAGES+=($packages)
        fi
    done
}

missing_list() {
    local IFS=,
    echo "${MISSING[*]}" | sed 's/,/, /g'
}

echo "== checking what the tests need"
check_needs
if [ ${#MISSING[@]} -gt 0 ]; then
    install="apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]}"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing $(missing_list): ${PACKAGES[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
        check_needs
        if [ ${#MISSING[@]} -gt 0 ]; then
            echo "error: still missing after installing ${PACKAGES[*]}: $(missing_list)" >&2
            if ! node_20_or_newer; then
                echo "(Debian before 13 packages Node.js 18: install Node.js 20+ from nodejs.org or NodeSource)" >&2
            fi
            exit 1
        fi
    else
        echo "error: the tests need $(missing_list). Run, as root:" >&2
        echo "    $install" >&2
        echo "(or run ./test.sh as root, which does it)" >&2
        exit 1
    fi
fi

if [ ! -f client-web/node_modules/.package-lock.json ] ||
    [ client-web/package-lock.json -nt client-web/node_modules/.package-lock.json ]; then
    echo "== installing the web client's test tools (npm ci)"
    (cd client-web && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== benchmark charts and results (python)"
"$(chart_python)" benches/test_plots.py

# First: the browser tests run the release game servers (the arena, the
# asteroids game and the starter template, each serving its own page) and
# the release swarm (its bots play the replay viewer's match, and 30 of them
# the operator console's test), and the profile test replays debug-built
# records in the release game servers.
echo "== building the release game servers and the swarm"
cargo build --release -p tickwire -p tickwire-asteroids -p tickwire-starter -p tickwire-swarm

echo "== cargo test (workspace)"
cargo test --workspace --all-targets
cargo test --workspace --doc

# The server built with its agones feature: its unit tests, and the node
# against a stand-in Agones sidecar (tests/agones.rs).
echo "== cargo test (the server with --features agones)"
cargo test -p tickwire --features agones-test --lib agones
cargo test -p tickwire --features agones-test --test agones

echo "== web client tests"
(cd client-web && TICKWIRE_BIN="$(pwd)/../target/release/tickwire" \
    TICKWIRE_ASTEROIDS_BIN="$(pwd)/../target/release/asteroids" \
    TICKWIRE_STARTER_BIN="$(pwd)/../target/release/starter" \
    TICKWIRE_SWARM_BIN="$(pwd)/../target/release/tickwire-swarm" \
    TICKWIRE_CHROMIUM="$CHROMIUM" \
    node --test --test-concurrency=1 sdk/test/ test/)

# Two minutes of the release server under 200 bots in rooms of two, a fifth
# of them replaced a minute: its live heap's floor must not rise more than
# 12 KiB a minute after the first 30 s (a leak of 0.46 KB a second, the one
# the soak issue found, reads 27-28), its descriptors must come back to one
# a bot after each wave, its threads stay level. glibc's per-thread caches
# are off for it: the chunks they keep count as in use, and would blur the
# floor. The longer soaks and their figures: BENCHMARKS.md, "Soak".
echo "== the 2-minute soak (heap, descriptors, threads)"
python3 benches/soak.py --no-build --duration 2m --bots 200 --room-size 2 \
    --churn 20% --churn-batch 2 --sample 1s --warmup 30s --max-heap-slope 12 \
    --only heap,fds,threads --server-env GLIBC_TUNABLES=glibc.malloc.tcache_count=0
