#!/usr/bin/env python3
"""Cluster mode's figures: matchmaking latency with three nodes, what
cluster mode and failover cost a node's CPU, and how long a failover takes.

    python3 benches/cluster.py latency    # redis-server, three nodes, matchmake-latency
    python3 benches/cluster.py cpu        # rooms-of-10-500: alone, --redis without failover, with
    python3 benches/cluster.py failover   # 10 kills of the node holding a room of 20 bots

`latency` starts a redis-server of its own and three release nodes (the
bench game, rooms of 10) on free loopback ports, and times `POST
/api/matchmake` with target/release/matchmake-latency, one request at a
time and then 16 at a time. `cpu` starts two redis-servers and runs
benches/side_by_side.py with three servers of the same binary at once: one
alone, one a cluster node without failover (`TICKWIRE_SNAPSHOT_EVERY=0`) and
one with it (the default: every room streams its snapshot every second and
each tick's calls to Redis), each in a Redis of its own and under its own
swarm of the `rooms-of-10-500` layout; it prints what each Redis received
(`INFO stats`), so the bytes the failover's journal costs a room per second
are the difference. `failover` starts a redis-server, an entry node the
swarm connects through (`z-entry`: placement breaks ties by node id, so it
never gets the room) and a node `n-0` that gets the room of 20 swarm bots;
then ten times it starts a fresh node, kills the room's node with SIGKILL,
and waits for the room to be continued on the fresh one, reading from its
`/metrics` the time from the dead node's last write to the room's first
snapshot there. Every process it starts, it stops.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SERVER = os.path.join(TARGET, "release", "tickwire")
SWARM = os.path.join(TARGET, "release", "tickwire-swarm")
LATENCY = os.path.join(TARGET, "release", "matchmake-latency")
SECRET = "the benchmark cluster's secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s did not listen on port %d" % (what, port))


def start_redis():
    port = free_port()
    try:
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        sys.exit("no redis-server: apt-get install redis-server")
    wait_port(port, "redis-server")
    return redis, "redis://127.0.0.1:%d/" % port


def start_node(url, node_id, extra):
    """A release node of the cluster whose Redis is at `url`, on a free
    loopback port, with `extra` flags: the process and its port (not yet
    listening: see wait_port)."""
    port = free_port()
    node = subprocess.Popen(
        [SERVER, "--bind", "127.0.0.1:%d" % port, "--redis", url, "--public-url", "http://127.0.0.1:%d" % port,
         "--node-id", node_id, "--cluster-secret", SECRET, *extra],
        env=dict(os.environ, RUST_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return node, port


def stop(processes):
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()


def latency(args):
    for path, build in ((SERVER, "-p tickwire"), (LATENCY, "-p tickwire-benches --bin matchmake-latency")):
        if not os.path.exists(path):
            sys.exit("no %s: cargo build --release %s" % (path, build))
    processes = []
    try:
        redis, url = start_redis()
        processes.append(redis)
        ports = []
        for i in range(3):
            node, port = start_node(url, "node-%d" % i, ["--game", "bench", "--max-room-players", "10"])
            processes.append(node)
            ports.append(port)
        for port in ports:
            wait_port(port, "a node")
        nodes = ["127.0.0.1:%d" % port for port in ports]
        time.sleep(1.5)  # every node registered
        for concurrency in args.concurrency:
            subprocess.run([LATENCY, "--nodes", ",".join(nodes), "--requests", str(args.requests),
                            "--concurrency", str(concurrency)], check=True)
    finally:
        stop(processes)


def redis_bytes_in(url):
    """What the Redis at `url` has received, in bytes."""
    port = url.rsplit(":", 1)[1].strip("/")
    out = subprocess.run(["redis-cli", "-p", port, "INFO", "stats"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if line.startswith("total_net_input_bytes:"):
            return int(line.split(":")[1])
    sys.exit("redis-cli INFO stats has no total_net_input_bytes")


def cpu(args):
    processes = []
    try:
        plain, plain_url = start_redis()
        journal, journal_url = start_redis()
        processes += [plain, journal]

        def node(url, extra):
            return "TICKWIRE_REDIS=%s,TICKWIRE_PUBLIC_URL=http://127.0.0.1:0,TICKWIRE_CLUSTER_SECRET=%s%s:%s" % (
                url, SECRET, extra, SERVER)

        before = (redis_bytes_in(plain_url), redis_bytes_in(journal_url))
        started = time.time()
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "side_by_side.py"),
                        "--bots", str(args.bots), "--room-size", "10", "--duration", str(args.duration),
                        SERVER, node(plain_url, ",TICKWIRE_SNAPSHOT_EVERY=0"), node(journal_url, "")],
                       check=True)
        took = time.time() - started
        after = (redis_bytes_in(plain_url), redis_bytes_in(journal_url))
        rooms = args.bots // 10
        plain_in, journal_in = after[0] - before[0], after[1] - before[1]
        print("redis received in %.0f s: %d bytes without failover, %d with; the journal: %.0f bytes "
              "per room per second (%d rooms, warm-up and ramp included)" % (
                  took, plain_in, journal_in, (journal_in - plain_in) / took / rooms, rooms))
    finally:
        stop(processes)


def metric(port, name):
    """The value of the series `name` in the node's /metrics, or None."""
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def failover(args):
    for path, build in ((SERVER, "-p tickwire"), (SWARM, "-p tickwire-swarm")):
        if not os.path.exists(path):
            sys.exit("no %s: cargo build --release %s" % (path, build))
    processes = []
    try:
        redis, url = start_redis()
        processes.append(redis)

        def start(node_id):
            p, port = start_node(url, node_id, ["--lease", str(args.lease), "--heartbeat", str(args.lease / 3)])
            processes.append(p)
            wait_port(port, "node " + node_id)
            return p, port

        _, entry = start("z-entry")
        holder = start("n-0")
        time.sleep(args.lease)  # both registered
        duration = int(args.kills * (args.lease * 2 + 4) + 10)
        swarm = subprocess.Popen(
            [SWARM, "--url", "ws://127.0.0.1:%d/ws" % entry, "--matchmake", "--bots", str(args.bots),
             "--room-size", str(args.bots), "--warmup", "1s", "--duration", "%ds" % duration,
             "--resume-timeout", "30s"])
        processes.append(swarm)
        time.sleep(4)
        gaps = []
        for i in range(1, args.kills + 1):
            fresh = start("n-%d" % i)
            time.sleep(args.lease)  # registered, and a few snapshots of the room written
            killed = time.time()
            holder[0].send_signal(signal.SIGKILL)
            holder[0].wait()
            while True:
                resumed = metric(fresh[1], "tickwire_failover_gap_seconds_count")
                if resumed:
                    break
                if time.time() - killed > 30:
                    sys.exit("kill %d: the room was not continued within 30 s" % i)
                time.sleep(0.05)
            gap = metric(fresh[1], "tickwire_failover_gap_seconds_sum")
            gaps.append(gap)
            print("kill %2d: the room's first snapshot on n-%d %.3f s after the dead node's last write "
                  "(seen %.2f s after the kill)" % (i, i, gap, time.time() - killed), flush=True)
            holder = fresh
            time.sleep(1)
        gaps.sort()
        p50 = gaps[len(gaps) // 2]
        p99 = gaps[-1]
        print("over %d kills (lease %.2f s): p50 %.3f s, p99 (the worst) %.3f s" % (len(gaps), args.lease, p50, p99))
        swarm.terminate()
        swarm.wait(timeout=30)
    finally:
        stop(processes)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    l = sub.add_parser("latency", help="matchmaking latency with three nodes")
    l.add_argument("--requests", type=int, default=3000)
    l.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    c = sub.add_parser("cpu", help="rooms-of-10-500 alone, with --redis, and with failover, side by side")
    c.add_argument("--bots", type=int, default=500)
    c.add_argument("--duration", type=int, default=20)
    f = sub.add_parser("failover", help="kill the node holding a room of bots, ten times")
    f.add_argument("--kills", type=int, default=10)
    f.add_argument("--bots", type=int, default=20)
    f.add_argument("--lease", type=float, default=3.0, help="--lease of every node (heartbeat a third)")
    args = p.parse_args()
    {"latency": latency, "cpu": cpu, "failover": failover}[args.what](args)


if __name__ == "__main__":
    main()
