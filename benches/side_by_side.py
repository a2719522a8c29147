#!/usr/bin/env python3
"""Two or more server builds compared side by side, in the same window.

On a shared, noisy machine two runs minutes apart differ by more than most
changes do. This runs every given server binary at once, each on its own
loopback port with its own swarm of the same layout, samples each server's
CPU time, context switches and resident memory from /proc over the same
window, and prints one line per server. Compare the lines with each other,
not with figures from another run: the servers and swarms share the machine.

    python3 benches/side_by_side.py OLD/tickwire target/release/tickwire
    python3 benches/side_by_side.py --bots 1000 --room-size 0 A B
    python3 benches/side_by_side.py target/release/tickwire TICKWIRE_THREADS=1:target/release/tickwire

A server binary may be given with environment settings for it alone, as
`NAME=VALUE,NAME=VALUE:path`. Every run is bounded by --duration; the script
stops only the processes it started.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def context_switches(pid):
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            for line in open("/proc/%d/task/%s/status" % (pid, task)):
                if "ctxt_switches" in line:
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that just ended
    return total


def rss_bytes(pid):
    return int(open("/proc/%d/statm" % pid).read().split()[1]) * PAGE


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_server(spec):
    env = {}
    # The settings are everything before the last `:` (a value may hold
    # one: a URL), the path what follows.
    if ":" in spec and "=" in spec.rsplit(":", 1)[0]:
        settings, spec = spec.rsplit(":", 1)
        for pair in settings.split(","):
            name, value = pair.split("=", 1)
            env[name] = value
    return spec, env


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("servers", nargs="+", help="server binaries, each optionally NAME=VALUE,...:path")
    p.add_argument("--bots", type=int, default=500, help="bots per server")
    p.add_argument("--room-size", type=int, default=10, help="bots per room (0: one room)")
    p.add_argument("--duration", type=int, default=20, help="measured seconds")
    p.add_argument("--swarm", default=os.path.join(TARGET, "release", "tickwire-swarm"))
    args = p.parse_args()
    if not os.path.exists(args.swarm):
        sys.exit("no swarm at %s: run `cargo build --release -p tickwire-swarm`" % args.swarm)

    servers, swarms = [], []
    try:
        for spec in args.servers:
            path, env = parse_server(spec)
            port = free_port()
            server = subprocess.Popen(
                [path, "--bind", "127.0.0.1:%d" % port, "--game", "bench",
                 "--max-connections", str(args.bots + 100)],
                env=dict(os.environ, RUST_LOG="warn", **env),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append((spec, server, port))
        time.sleep(1.0)
        ramp = args.bots / 500.0
        warmup = int(ramp) + 3
        for _, _, port in servers:
            swarms.append(subprocess.Popen(
                [args.swarm, "--url", "ws://127.0.0.1:%d/ws" % port, "--bots", str(args.bots),
                 "--room-size", str(args.room_size), "--duration", "%ds" % (args.duration + 2),
                 "--warmup", "%ds" % warmup, "--behaviour", "scenario", "--json", "-", "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        time.sleep(ramp + warmup + 1.0)
        before = [(cpu_seconds(s.pid), context_switches(s.pid)) for _, s, _ in servers]
        t0 = time.time()
        time.sleep(args.duration)
        after = [(cpu_seconds(s.pid), context_switches(s.pid), rss_bytes(s.pid)) for _, s, _ in servers]
        elapsed = time.time() - t0
        for (spec, _, _), swarm, (c0, x0), (c1, x1, rss) in zip(servers, swarms, before, after):
            out, _ = swarm.communicate(timeout=args.duration + warmup + ramp + 60)
            report = json.loads(out.decode() or "{}")
            print("%s: cpu %.3f cores, %.0f context switches/s, rss %.1f KiB per bot, "
                  "snapshots/s %.1f, gap p99 %.1f ms, swarm %.2f cores, holds %s" % (
                      spec, (c1 - c0) / elapsed, (x1 - x0) / elapsed, rss / 1024.0 / args.bots,
                      report.get("snapshots_per_s_mean", 0), report.get("gap_ms_p99", 0),
                      report.get("swarm_cpu", 0), report.get("holds")))
    finally:
        for swarm in swarms:
            if swarm.poll() is None:
                swarm.kill()
                swarm.wait()
        for _, server, _ in servers:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
