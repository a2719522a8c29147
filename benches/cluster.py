#!/usr/bin/env python3
"""Cluster mode's figures: matchmaking latency with three nodes, and what
cluster mode costs a node's CPU.

    python3 benches/cluster.py latency    # redis-server, three nodes, matchmake-latency
    python3 benches/cluster.py cpu        # rooms-of-10-500, a node with --redis beside a server without

`latency` starts a redis-server of its own and three release nodes (the
bench game, rooms of 10) on free loopback ports, and times `POST
/api/matchmake` with target/release/matchmake-latency, one request at a
time and then 16 at a time. `cpu` starts a redis-server and runs
benches/side_by_side.py with two servers of the same binary at once, one
alone and one a cluster node (`TICKWIRE_REDIS`...), each under its own swarm
of the `rooms-of-10-500` layout; the cluster node places every bot's
connection through Redis and heartbeats every second. Every process it
starts, it stops.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SERVER = os.path.join(TARGET, "release", "tickwire")
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
        nodes = []
        for i in range(3):
            port = free_port()
            processes.append(subprocess.Popen(
                [SERVER, "--bind", "127.0.0.1:%d" % port, "--game", "bench", "--max-room-players", "10",
                 "--redis", url, "--public-url", "http://127.0.0.1:%d" % port, "--node-id", "node-%d" % i,
                 "--cluster-secret", SECRET],
                env=dict(os.environ, RUST_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            nodes.append("127.0.0.1:%d" % port)
        for node in nodes:
            wait_port(int(node.rsplit(":", 1)[1]), "a node")
        time.sleep(1.5)  # every node registered
        for concurrency in args.concurrency:
            subprocess.run([LATENCY, "--nodes", ",".join(nodes), "--requests", str(args.requests),
                            "--concurrency", str(concurrency)], check=True)
    finally:
        stop(processes)


def cpu(args):
    processes = []
    try:
        redis, url = start_redis()
        processes.append(redis)
        cluster = "TICKWIRE_REDIS=%s,TICKWIRE_PUBLIC_URL=http://127.0.0.1:0,TICKWIRE_CLUSTER_SECRET=%s:%s" % (
            url, SECRET, SERVER)
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "side_by_side.py"),
                        "--bots", str(args.bots), "--room-size", "10", "--duration", str(args.duration),
                        SERVER, cluster], check=True)
    finally:
        stop(processes)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    l = sub.add_parser("latency", help="matchmaking latency with three nodes")
    l.add_argument("--requests", type=int, default=3000)
    l.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    c = sub.add_parser("cpu", help="rooms-of-10-500 with and without --redis, side by side")
    c.add_argument("--bots", type=int, default=500)
    c.add_argument("--duration", type=int, default=20)
    args = p.parse_args()
    {"latency": latency, "cpu": cpu}[args.what](args)


if __name__ == "__main__":
    main()
