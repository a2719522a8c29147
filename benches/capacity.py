#!/usr/bin/env python3
"""Tickwire's capacity runner: the arena benchmark scenario, layout by layout.

For each layout and bot count it starts the release server with the bench
game on a free loopback port, runs the swarm against it, samples the server's
CPU time and resident memory from /proc while the swarm measures, and stops
the server it started. The results table is printed and, with --write,
replaces the capacity section of BENCHMARKS.md.

    python3 benches/capacity.py                       # the default layouts
    python3 benches/capacity.py --only one-room-100   # one row
    python3 benches/capacity.py --write               # update BENCHMARKS.md and the charts
    python3 benches/capacity.py --floor               # and the floor of each row
    python3 benches/capacity.py --plot-only           # redraw the charts from the results JSON
    python3 benches/capacity.py --plot-only --write   # and the table in BENCHMARKS.md

With --write, the rows are also kept in benches/capacity-results.json and
drawn as charts (benches/charts/capacity-*.svg, shown in BENCHMARKS.md):
server CPU per bot against N, per layout, with the floor beside it; bytes
per bot against N; gap p99 against N. --plot-only draws them again from
that JSON without running anything. The charts need matplotlib (Debian's
python3-matplotlib, or pip install matplotlib); running the rows does not.
--import-markdown reads the table already in BENCHMARKS.md into the
results JSON instead (for figures measured before the JSON was kept).

`churn-N` is `rooms-of-10-N` with churn: from the end of the ramp-up to the
end of the window, 10% of the bots a minute leave and as many new ones join,
a room of ten at a time (the oldest room empties and closes, a new one
opens), so the row is capacity while rooms open and close.

With --floor, each row is followed by a run of the bare fan-out
(target/release/bare-fanout: the same number of sockets, frames of the size
the row's snapshots had, sent as the row's rooms send them, and the same
inputs, with no game at all), and the table gives its CPU and the server's
as a multiple of it: a ratio measured on the machine itself, minutes apart,
which carries from one machine to another where the cores' figures do not.

Every run is bounded: the swarm measures for --duration after --warmup, and
is killed if it has not finished well after that.
"""

import argparse
import datetime
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SERVER = os.path.join(TARGET, "release", "tickwire")
SWARM = os.path.join(TARGET, "release", "tickwire-swarm")
FLOOR = os.path.join(TARGET, "release", "bare-fanout")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

DEFAULT_LAYOUTS = (
    ["one-room-%d" % n for n in (100, 200, 500, 1000)]
    + ["rooms-of-10-%d" % n for n in (500, 1000, 2000, 3000)]
    + ["open-world-%d" % n for n in (250, 500, 1000, 2000)]
    + ["churn-%d" % n for n in (500, 1000, 2000)]
)
# The churn layout: this share of the bots a minute, in waves of a room.
CHURN_PER_MINUTE = "10%"
CHURN_BATCH = 10
BEGIN = "<!-- capacity:begin -->"
END = "<!-- capacity:end -->"
# Where --write keeps the rows, and where the charts go.
RESULTS = os.path.join(ROOT, "benches", "capacity-results.json")
CHARTS = os.path.join(ROOT, "benches", "charts")
BENCHMARKS = os.path.join(ROOT, "BENCHMARKS.md")


def parse_layout(name):
    m = re.fullmatch(r"(one-room|rooms-of-10|open-world|churn)-(\d+)", name)
    if not m:
        sys.exit("unknown layout %r (one-room-N, rooms-of-10-N, open-world-N, churn-N)" % name)
    return m.group(1), int(m.group(2))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_rss(pid):
    """CPU seconds (user + system) and resident bytes of a process."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    cpu = (int(rest[11]) + int(rest[12])) / CLK_TCK
    rss = int(rest[21]) * PAGE
    return cpu, rss


def wait_healthy(port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def run_layout(name, args):
    kind, n = parse_layout(name)
    port = free_port()
    server_cmd = [SERVER, "--bind", "127.0.0.1:%d" % port, "--game", "bench",
                  "--max-connections", str(n + CHURN_BATCH + 100)]
    if kind == "open-world":
        server_cmd += ["--arena-size", str(round(400 * math.sqrt(n))), "--view-size", "2000"]
    swarm_cmd = [SWARM, "--url", "ws://127.0.0.1:%d/ws" % port, "--bots", str(n),
                 "--room-size", "10" if kind in ("rooms-of-10", "churn") else "0",
                 "--duration", "%ds" % args.duration, "--warmup", "%ds" % args.warmup,
                 "--behaviour", "scenario", "--json", "-", "--quiet"]
    if kind == "churn":
        swarm_cmd += ["--churn-per-minute", CHURN_PER_MINUTE, "--churn-batch", str(CHURN_BATCH)]
    server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, RUST_LOG="warn"))
    try:
        if not wait_healthy(port, time.time() + 10):
            return {"layout": name, "error": "server did not start"}
        # What the server holds before anyone joins (its code, runtime and
        # embedded client): the rest is what the players cost.
        _, rss_idle = proc_cpu_rss(server.pid)
        swarm = subprocess.Popen(swarm_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # Sample the server over the swarm's measured window: it starts after
        # the ramp-up (500 bots/s) and the warm-up.
        ramp = n / 500.0
        time.sleep(ramp + args.warmup + 0.5)
        cpu0, _ = proc_cpu_rss(server.pid)
        t0 = time.time()
        time.sleep(max(1.0, args.duration - 1.0))
        cpu1, rss = proc_cpu_rss(server.pid)
        t1 = time.time()
        try:
            out, _ = swarm.communicate(timeout=args.duration + args.warmup + ramp + 60)
        except subprocess.TimeoutExpired:
            swarm.kill()
            swarm.communicate()
            return {"layout": name, "error": "swarm did not finish in time"}
        report = json.loads(out.decode() or "{}")
        server_cpu = (cpu1 - cpu0) / (t1 - t0)
        return {
            "layout": name, "bots": n, "server_cpu": server_cpu,
            "server_cpu_per_bot_ms": 1000.0 * server_cpu / n,
            "rss_mib": rss / 2**20, "rss_per_bot_kib": rss / 1024.0 / n,
            "rss_idle_mib": rss_idle / 2**20, "rss_over_idle_per_bot_kib": (rss - rss_idle) / 1024.0 / n,
            "report": report,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_floor(row, args):
    """The bare fan-out at the row's size: its server's CPU, and whether it held."""
    kind, n = parse_layout(row["layout"])
    s = row["report"]
    # The swarm's bytes are payload (its wire figure adds the frame headers).
    per_snapshot = s.get("bytes_per_bot_per_s", 0) / max(1.0, s.get("snapshots_per_s_mean", 0))
    payload = max(1, round(per_snapshot))
    # Rooms of ten tick in 8 phase slots; a single room sends in one burst.
    phases = 8 if kind in ("rooms-of-10", "churn") else 1
    cmd = [FLOOR, "--sockets", str(n), "--frame-bytes", str(payload), "--phases", str(phases),
           "--warmup", str(args.warmup), "--duration", str(args.duration), "--json"]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=args.duration + args.warmup + 120).stdout
        floor = json.loads(out.decode() or "{}")
    except (subprocess.TimeoutExpired, ValueError):
        return None
    return {"cpu": floor.get("server_cpu"), "holds": floor.get("holds"), "frame_bytes": payload,
            "phases": phases}


def table(rows):
    lines = [
        "| layout | server CPU (cores) | server CPU per bot (ms/s) | RSS (MiB) | RSS per bot (KiB) "
        "| RSS idle (MiB) | RSS over idle per bot (KiB) | snapshots/s mean / min | gap p99 (ms) | rtt p50 / p99 (ms) | bytes/s per bot | errors "
        "| swarm CPU (cores) | holds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    floors = any(r.get("floor") for r in rows)
    if floors:
        lines[0] += " floor CPU (cores), holds | server / floor |"
        lines[1] += "---|---|"
    for r in rows:
        if "error" in r:
            lines.append("| %s | %s | | | | | | | | | | | | no |" % (r["layout"], r["error"]))
            continue
        s = r["report"]
        label = r["layout"]
        if s.get("leaves"):
            label += " (%d left, %d joined)" % (s["leaves"], s.get("joins", 0))
        lines.append(
            "| %s | %.2f | %.3f | %.0f | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f | %.1f / %.1f | %.0f | %d | %.2f | %s |" % (
                label, r["server_cpu"], r["server_cpu_per_bot_ms"], r["rss_mib"],
                r["rss_per_bot_kib"], r["rss_idle_mib"], r["rss_over_idle_per_bot_kib"], s.get("snapshots_per_s_mean", 0), s.get("snapshots_per_s_min", 0),
                s.get("gap_ms_p99", 0), s.get("rtt_ms_p50", 0), s.get("rtt_ms_p99", 0),
                s.get("bytes_per_bot_per_s", 0), s.get("errors", 0), s.get("swarm_cpu", 0),
                "yes" if s.get("holds") else "no"))
        floor = r.get("floor")
        if floors and floor and floor.get("cpu"):
            # A row read back from the table keeps the ratio it showed (of
            # the unrounded figures).
            lines[-1] += " %.2f, %s | %.2fx |" % (
                floor["cpu"], "yes" if floor.get("holds") else "no", floor.get("ratio") or r["server_cpu"] / floor["cpu"])
        elif floors:
            lines[-1] += " | |"
    return "\n".join(lines)


def parse_table(text):
    """The rows of a table `table` wrote (the capacity section of
    BENCHMARKS.md), as the runner's rows: what the table shows of them."""
    rows = []
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    if not lines or not lines[0].startswith("| layout |"):
        raise ValueError("no capacity table")
    floors = "floor CPU" in lines[0]
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        label = cells[0]
        m = re.fullmatch(r"(\S+)(?: \((\d+) left, (\d+) joined\))?", label)
        if not m:
            raise ValueError("bad layout cell %r" % label)
        name = m.group(1)
        _, n = parse_layout(name)
        if cells[2] == "":
            rows.append({"layout": name, "error": cells[1]})
            continue
        num = float
        pair = lambda cell: [float(x) for x in cell.split("/")]  # noqa: E731
        snap_mean, snap_min = pair(cells[7])
        rtt50, rtt99 = pair(cells[9])
        report = {
            "snapshots_per_s_mean": snap_mean, "snapshots_per_s_min": snap_min,
            "gap_ms_p99": num(cells[8]), "rtt_ms_p50": rtt50, "rtt_ms_p99": rtt99,
            "bytes_per_bot_per_s": num(cells[10]), "errors": int(cells[11]),
            "swarm_cpu": num(cells[12]), "holds": cells[13] == "yes",
        }
        if m.group(2):
            report["leaves"] = int(m.group(2))
            report["joins"] = int(m.group(3))
        row = {
            "layout": name, "bots": n, "server_cpu": num(cells[1]), "server_cpu_per_bot_ms": num(cells[2]),
            "rss_mib": num(cells[3]), "rss_per_bot_kib": num(cells[4]), "rss_idle_mib": num(cells[5]),
            "rss_over_idle_per_bot_kib": num(cells[6]), "report": report,
        }
        if floors and len(cells) > 14 and cells[14]:
            cpu, holds = [c.strip() for c in cells[14].split(",")]
            row["floor"] = {"cpu": num(cpu), "holds": holds == "yes", "ratio": num(cells[15].rstrip("x"))}
        rows.append(row)
    return rows


def import_markdown(path=BENCHMARKS):
    """The results JSON of the capacity section of BENCHMARKS.md: its rows,
    and when, where and how they were measured, as its first line says."""
    body = open(path).read()
    if BEGIN not in body or END not in body:
        raise SystemExit("%s has no capacity section to import" % path)
    section = body[body.index(BEGIN) + len(BEGIN):body.index(END)]
    m = re.search(r"Measured (\S+) on (\d+) cores, server and swarm on the same machine, (\d+) s after a (\d+) s warm-up, with `([^`]+)`", section)
    if not m:
        raise SystemExit("the capacity section of %s does not say how it was measured" % path)
    return {
        "measured": m.group(1), "cores": int(m.group(2)), "duration": int(m.group(3)), "warmup": int(m.group(4)),
        "command": m.group(5), "source": "imported from the table in BENCHMARKS.md",
        "rows": parse_table(section),
    }


def section(results):
    """The capacity section of BENCHMARKS.md for `results`: how it was
    measured, the table, and the charts."""
    charts = "\n\n".join("![%s](benches/charts/%s)" % (alt, name) for alt, name in (
        ("Server CPU per bot against N, per layout, with the floor beside it", "capacity-cpu.svg"),
        ("Bytes per bot against N, per layout", "capacity-bytes.svg"),
        ("Gap p99 against N, per layout", "capacity-gap.svg")))
    return "%s\nMeasured %s on %d cores, server and swarm on the same machine, %d s after a %d s warm-up, with `%s`.\n\n%s\n\n%s\n%s" % (
        BEGIN, results["measured"], results["cores"], results["duration"], results["warmup"], results["command"],
        table(results["rows"]), charts, END)


def write_section(results, path=BENCHMARKS):
    """Replaces the capacity section of BENCHMARKS.md (or adds one)."""
    body = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    text = section(results)
    if BEGIN in body and END in body:
        body = body[:body.index(BEGIN)] + text + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n## Capacity (the arena scenario)\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(body)


def save_results(results, path):
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")


def draw(results, charts_dir):
    """The charts of `results`, into `charts_dir` (imports matplotlib)."""
    import plots
    for path in plots.capacity_charts(results, charts_dir):
        print("drew %s" % os.path.relpath(path, ROOT), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", help="layouts to run (default: all)")
    p.add_argument("--duration", type=int, default=30, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per run")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    p.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    p.add_argument("--floor", action="store_true",
                   help="after each row, run the bare fan-out at its size (doubles the time)")
    p.add_argument("--plot-only", action="store_true",
                   help="run nothing: draw the charts from the results JSON (with --write, the table too)")
    p.add_argument("--import-markdown", action="store_true",
                   help="run nothing: read the table in BENCHMARKS.md into the results JSON, and draw it")
    p.add_argument("--results", default=RESULTS, help="the results JSON (default benches/capacity-results.json)")
    p.add_argument("--charts-dir", default=CHARTS, help="where the charts go (default benches/charts)")
    args = p.parse_args()
    if args.import_markdown:
        results = import_markdown()
        save_results(results, args.results)
        draw(results, args.charts_dir)
        return
    if args.plot_only:
        try:
            with open(args.results) as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("cannot read the results JSON %s: %s (run with --write first)" % (args.results, e))
        draw(results, args.charts_dir)
        if args.write:
            write_section(results)
        return
    layouts = args.only or DEFAULT_LAYOUTS
    for name in layouts:
        parse_layout(name)
    if not args.no_build:
        packages = ["-p", "tickwire", "-p", "tickwire-swarm"]
        if args.floor:
            packages += ["-p", "tickwire-benches", "--bin", "bare-fanout"]
        subprocess.run(["cargo", "build", "--release"] + packages, cwd=ROOT, check=True)
    rows = []
    for name in layouts:
        print("running %s ..." % name, file=sys.stderr, flush=True)
        row = run_layout(name, args)
        if args.floor and "error" not in row:
            row["floor"] = run_floor(row, args)
        rows.append(row)
        print(table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if args.write:
        command = "python3 benches/capacity.py --write" + (" --floor" if args.floor else "")
        results = {"measured": datetime.date.today().isoformat(), "cores": os.cpu_count(),
                   "duration": args.duration, "warmup": args.warmup, "command": command, "rows": rows}
        save_results(results, args.results)
        draw(results, args.charts_dir)
        write_section(results)


if __name__ == "__main__":
    main()
