#!/usr/bin/env python3
"""Tickwire's soak harness: the release server under a steady load with churn,
for as long as asked, and whether anything grows.

It starts the release server (`--game bench`) on a free loopback port and the
swarm against it (`--behaviour scenario`), with bots leaving and joining at
`--churn` (rooms close and open), and samples every `--sample` seconds:

- the server's resident memory, open file descriptors and threads (/proc);
- each tick phase's p99 and mean over the sample, from `/metrics`
  (`tickwire_tick_phase_seconds`), and the connection and room gauges;
- the swarm's verdict over time (its `--interval-json` lines).

After the warm-up (`--warmup`, default 2 minutes) it fits each figure with a
least-squares line and reports its slope, the slope's standard error and
the spread of the samples around the line; it passes or fails against the
thresholds given on the command line, and draws the figures over time as
an SVG chart (`--svg`). Exit status: 0 when every check passes, 1 when one
fails, 2 when the run could not be made.

    python3 benches/soak.py --duration 30m --bots 500 --room-size 10 \\
        --churn 10% --churn-batch 10 --svg soak.svg --json soak.json
    python3 benches/soak.py --duration 2m --bots 200 --room-size 2 --churn 0 \\
        --sample 2s --warmup 60s --max-rss-slope 40   # a short one

Standard library only, but for the chart: `--svg` draws it with matplotlib
(`benches/plots.py`; Debian's python3-matplotlib, or pip install
matplotlib), and says so when it is missing. Every process it starts is bounded (the swarm stops
by itself after its duration, and is killed a minute after that) and
stopped on the way out; everything binds 127.0.0.1.
"""

import argparse
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
PHASES = ("simulate", "encode", "send")


def duration(text):
    """`90`, `90s`, `2m`, `1h` in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError("%r is not a duration like 30s, 2m" % text)
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * scale


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError("GET %s: %s" % (path, head[:40]))
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return body.decode()


def dechunk(body):
    out, i = [], 0
    while i < len(body):
        j = body.index(b"\r\n", i)
        size = int(body[i:j].split(b";")[0], 16)
        if size == 0:
            break
        out.append(body[j + 2:j + 2 + size])
        i = j + 2 + size + 2
    return b"".join(out)


def wait_healthy(port, deadline):
    while time.time() < deadline:
        try:
            http_get(port, "/healthz", timeout=0.5)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def proc_figures(pid):
    """Resident KiB, open file descriptors and threads of a process."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds, threads


METRIC = re.compile(r'^(\w+)(?:\{([^}]*)\})?\s+(\S+)$')


def scrape(port):
    """The metrics this harness reads: per phase the cumulative buckets, sum
    and count of the tick-phase histogram; the connection, room and heap
    gauges (the heap read by the server at the scrape)."""
    buckets = {p: {} for p in PHASES}
    sums, counts, gauges = {}, {}, {}
    for line in http_get(port, "/metrics").splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")), float(m.group(3))
        phase = labels.get("phase")
        if name == "tickwire_tick_phase_seconds_bucket" and phase in buckets:
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[phase][le] = value
        elif name == "tickwire_tick_phase_seconds_sum" and phase:
            sums[phase] = value
        elif name == "tickwire_tick_phase_seconds_count" and phase:
            counts[phase] = value
        elif name in ("tickwire_connections", "tickwire_rooms", "tickwire_players", "tickwire_heap_bytes"):
            gauges[name[len("tickwire_"):]] = value
    return {"buckets": buckets, "sums": sums, "counts": counts, "gauges": gauges}


def quantile(q, before, after):
    """The q-quantile of the samples between two scrapes of a cumulative
    bucketed histogram, interpolated within its bucket as Prometheus'
    histogram_quantile does. None if nothing was recorded."""
    bounds = sorted(after)
    deltas = [after[b] - before.get(b, 0.0) for b in bounds]
    total = deltas[-1] if deltas else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, deltas):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = bound, cumulative
    return lower


def fit(points):
    """Least-squares line through (x, y): slope, the slope's standard error,
    the residuals' standard deviation (the spread), intercept, n."""
    n = len(points)
    if n < 3:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    spread = math.sqrt(residual / (n - 2))
    return {"slope": slope, "slope_se": spread / math.sqrt(sxx), "spread": spread,
            "intercept": intercept, "mean": my, "n": n}


def median_slope(points):
    """The Theil-Sen slope: the median of the slopes between every two
    points. A point or two off the line (a window of the heap's floor that
    caught no quiet moment on a busy machine) does not tilt it."""
    slopes = sorted((y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points)
                    for x2, y2 in points[i + 1:] if x2 != x1)
    if not slopes:
        return None
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2.0


def floor(points, window):
    """The lowest point of each whole `window` seconds from the first: the
    heap when no frame is in flight and no garbage waits to be freed, which
    moves only when what the server keeps does."""
    if not points:
        return []
    start, end = points[0][0], points[-1][0]
    out = []
    while start + window <= end + 1e-9:
        inside = [p for p in points if start <= p[0] < start + window]
        if inside:
            out.append(min(inside, key=lambda p: p[1]))
        start += window
    return out


def read_intervals(path):
    lines = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return lines


def run(args):
    server_bin = args.server or os.path.join(TARGET, "release", "tickwire")
    swarm_bin = args.swarm or os.path.join(TARGET, "release", "tickwire-swarm")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="tickwire-soak-")
    intervals_path = os.path.join(tmp, "intervals.jsonl")
    report_path = os.path.join(tmp, "report.json")
    server_cmd = [server_bin, "--bind", "127.0.0.1:%d" % port, "--game", "bench",
                  "--max-connections", str(args.bots + args.churn_batch + 100)]
    swarm_cmd = [swarm_bin, "--url", "ws://127.0.0.1:%d/ws" % port, "--bots", str(args.bots),
                 "--room-size", str(args.room_size), "--behaviour", "scenario",
                 "--duration", "%ds" % round(args.duration), "--warmup", "%ds" % round(args.swarm_warmup),
                 "--interval", "%ds" % round(args.sample * 2), "--interval-json", intervals_path,
                 "--json", report_path, "--quiet"]
    if args.churn:
        swarm_cmd += ["--churn-per-minute", args.churn, "--churn-batch", str(args.churn_batch)]
    env = dict(os.environ, RUST_LOG="warn")
    env.update(kv.split("=", 1) for kv in args.server_env)
    server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    swarm = None
    samples = []
    try:
        if not wait_healthy(port, time.time() + 10):
            raise RuntimeError("the server did not start: %s" % " ".join(server_cmd))
        # The server's own figures before any bot: the fewest descriptors of
        # a few looks (the health check's socket may not be closed yet).
        idle = []
        for _ in range(5):
            time.sleep(0.1)
            idle.append(proc_figures(server.pid))
        idle_rss, idle_fds, idle_threads = idle[-1][0], min(f for _, f, _ in idle), idle[-1][2]
        swarm = subprocess.Popen(swarm_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # The swarm's clock: ramp-up (500 bots/s), up to 5 s to settle, its
        # warm-up, then the measured window; the harness's clock starts here.
        t0 = time.time()
        hard_stop = t0 + args.bots / 500.0 + args.swarm_warmup + args.duration + 60
        before = scrape(port)
        next_sample = t0 + args.sample
        while swarm.poll() is None and time.time() < hard_stop:
            time.sleep(max(0.0, next_sample - time.time()))
            next_sample += args.sample
            if swarm.poll() is not None:
                break
            rss, fds, threads = proc_figures(server.pid)
            now = scrape(port)
            sample = {"t": time.time() - t0, "rss_kib": rss, "fds": fds, "threads": threads}
            sample.update({k: now["gauges"].get(k) for k in ("connections", "rooms", "players")})
            heap = now["gauges"].get("heap_bytes")
            sample["heap_kib"] = None if heap is None else heap / 1024.0
            for p in PHASES:
                p99 = quantile(0.99, before["buckets"][p], now["buckets"][p])
                n = now["counts"].get(p, 0) - before["counts"].get(p, 0)
                mean = (now["sums"].get(p, 0) - before["sums"].get(p, 0)) / n if n > 0 else None
                sample["p99_us_" + p] = None if p99 is None else p99 * 1e6
                sample["mean_us_" + p] = None if mean is None else mean * 1e6
            before = now
            samples.append(sample)
            if args.verbose:
                print("  %6.0f s  rss %d KiB  heap %s KiB  fds %d  threads %d  connections %s  rooms %s  p99 %s" % (
                    sample["t"], rss, "-" if sample["heap_kib"] is None else "%.0f" % sample["heap_kib"], fds, threads, sample["connections"], sample["rooms"],
                    "/".join("%.0f" % (sample["p99_us_" + p] or 0) for p in PHASES)),
                    file=sys.stderr, flush=True)
        if swarm.poll() is None:
            swarm.kill()
        _, err = swarm.communicate(timeout=30)
        try:
            with open(report_path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            report = {"holds": False, "missed": ["the swarm wrote no report: %s" % err.decode()[-300:]]}
    finally:
        if swarm and swarm.poll() is None:
            swarm.kill()
            swarm.wait()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    intervals = read_intervals(intervals_path)
    for path in (intervals_path, report_path):
        if os.path.exists(path):
            os.remove(path)
    os.rmdir(tmp)
    # The swarm's window starts after ramp-up, settle and warm-up: put its
    # interval lines on the harness's clock.
    offset = args.bots / 500.0 + args.swarm_warmup
    for line in intervals:
        line["t"] = line["t_s"] + offset
    return {"idle": {"rss_kib": idle_rss, "fds": idle_fds, "threads": idle_threads},
            "samples": samples, "intervals": intervals, "report": report,
            "server_cmd": server_cmd, "swarm_cmd": swarm_cmd}


def judge(result, args):
    """Fits and checks: a list of (name, passed, words), and the fits."""
    samples = [s for s in result["samples"] if s["t"] >= args.warmup]
    checks, fits = [], {}
    per_min = lambda pts: [(t / 60.0, y) for t, y in pts]  # noqa: E731
    series = {"rss_kib": [(s["t"], s["rss_kib"]) for s in samples],
              "heap_kib": floor([(s["t"], s["heap_kib"]) for s in samples if s.get("heap_kib") is not None], args.floor_window),
              "fds": [(s["t"], s["fds"]) for s in samples],
              "threads": [(s["t"], s["threads"]) for s in samples]}
    for p in PHASES:
        series["p99_us_" + p] = [(s["t"], s["p99_us_" + p]) for s in samples if s["p99_us_" + p] is not None]
        series["mean_us_" + p] = [(s["t"], s["mean_us_" + p]) for s in samples if s["mean_us_" + p] is not None]
    for name, pts in series.items():
        fits[name] = fit(per_min(pts))
    # A plateau: the slope over the last --plateau of the run.
    end = samples[-1]["t"] if samples else 0

    def slope_check(key, what, limit):
        whole = fits[key]
        last = [(t, y) for t, y in series[key] if t >= end - args.plateau]
        fits[key + "_last"] = late = fit(per_min(last))
        if whole is None:
            return False, "%s: too few samples after the warm-up to fit" % what
        flat = whole["slope"] <= limit
        levels = late is not None and late["slope"] <= limit
        return flat or levels, "%s slope %.2f KiB/min (standard error %.2f, spread %.0f KiB) after the warm-up%s, at most %g%s" % (
            what, whole["slope"], whole["slope_se"], whole["spread"],
            "; %.2f KiB/min (standard error %.2f) over the last %.0f s" % (late["slope"], late["slope_se"], args.plateau) if late else "",
            limit, "" if flat or not levels else ": a plateau")

    checks.append(("rss",) + slope_check("rss_kib", "RSS", args.max_rss_slope))
    heap = series["heap_kib"]
    if len(heap) >= 3:
        # The floor's slope is the median of its pairwise slopes: robust
        # where least squares follows a window that caught no quiet moment.
        f = fits["heap_kib"]
        slope = median_slope(per_min(heap))
        fits["heap_kib_median_slope"] = slope
        checks.append(("heap", slope <= args.max_heap_slope,
                       "heap floor slope %.2f KiB/min after the warm-up (median of %d windows' pairwise slopes; least squares %.2f, standard error %.2f, spread %.0f KiB), at most %g" % (
                           slope, len(heap), f["slope"], f["slope_se"], f["spread"], args.max_heap_slope)))
    elif heap:
        checks.append(("heap", False, "heap: too few floor windows after the warm-up to fit (%d)" % len(heap)))
    else:
        checks.append(("heap", None, "heap: not told by the server (glibc's only, without the jemalloc feature)"))
    # File descriptors: the server's own (counted before any bot) plus one a
    # connected bot; after each churn wave they must come back to that.
    idle_fds = result["idle"]["fds"]
    excess = [(s["t"], s["fds"] - idle_fds - args.bots) for s in samples]
    window = max(2 * args.sample, args.churn_period or 0) + args.sample
    stuck = []
    for t, _ in excess:
        inside = [e for u, e in excess if t <= u < t + window]
        if t + window <= (samples[-1]["t"] if samples else 0) and min(inside) > args.max_fd_excess:
            stuck.append(t)
    checks.append(("fds", not stuck and bool(excess),
                   "file descriptors over the server's own %d plus one a bot: %s; back to at most %d within every %.0f s%s" % (
                       idle_fds, "min %d, max %d, last %d" % (min(e for _, e in excess), max(e for _, e in excess), excess[-1][1]) if excess else "none sampled",
                       args.max_fd_excess, window, "" if not stuck else ", NOT from %.0f s" % stuck[0])))
    th = fits["threads"]
    if th is not None:
        checks.append(("threads", abs(th["slope"]) * args.duration / 60.0 < 1.0,
                       "threads %.0f, slope %.3f/min" % (th["mean"], th["slope"])))
    # Tick time flat: the fitted line's rise over the fitted span, against its
    # mean, for each phase's p99.
    span = (samples[-1]["t"] - samples[0]["t"]) / 60.0 if len(samples) > 1 else 0
    for p in PHASES:
        f = fits["p99_us_" + p]
        if f is None or f["mean"] <= 0:
            continue
        rise = f["slope"] * span / f["mean"]
        checks.append(("tick_p99_" + p, rise <= args.max_tick_rise,
                       "tick %s p99 %.0f µs mean, slope %.2f µs/min (standard error %.2f, spread %.0f): %+.0f%% over the run, at most %+.0f%%" % (
                           p, f["mean"], f["slope"], f["slope_se"], f["spread"], 100 * rise, 100 * args.max_tick_rise)))
    report = result["report"]
    missed = [line for line in result["intervals"] if not line.get("holds")]
    checks.append(("verdict", bool(report.get("holds")) and not missed,
                   "swarm: %s over the run (%s); %d of %d intervals missed; %s joins, %s leaves, %s errors" % (
                       "HOLDS" if report.get("holds") else "MISSED " + "; ".join(report.get("missed", [])),
                       "slowest bot %.2f snapshots/s, gap p99 %.1f ms" % (report.get("snapshots_per_s_min", 0), report.get("gap_ms_p99", 0)),
                       len(missed), len(result["intervals"]), report.get("joins"), report.get("leaves"), report.get("errors"))))
    return checks, fits


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=duration, default=duration("30m"), help="the swarm's measured window (default 30m)")
    p.add_argument("--bots", type=int, default=500)
    p.add_argument("--room-size", type=int, default=10)
    p.add_argument("--churn", default="10%", help="bots replaced a minute: a count or a share (default 10%%; 0: none)")
    p.add_argument("--churn-batch", type=int, default=10, help="bots replaced together in a wave (default 10: a room)")
    p.add_argument("--sample", type=duration, default=duration("5s"), help="time between samples (default 5s)")
    p.add_argument("--warmup", type=duration, default=duration("2m"), help="samples before this are drawn, not fitted (default 2m)")
    p.add_argument("--swarm-warmup", type=duration, default=duration("5s"), help="the swarm's own warm-up before its window")
    p.add_argument("--max-rss-slope", type=float, default=1.0, help="most RSS slope after the warm-up, KiB/min (default 1)")
    p.add_argument("--max-heap-slope", type=float, default=1.0,
                   help="most slope of the live heap's floor (tickwire_heap_bytes, its lowest sample in each --floor-window) after the warm-up, KiB/min (default 1)")
    p.add_argument("--floor-window", type=duration, default=duration("10s"), help="the heap's floor is its lowest sample in each window this long (default 10s)")
    p.add_argument("--only", metavar="CHECKS",
                   help="judge these checks only, comma-separated (rss, heap, fds, threads, tick_p99, verdict); the others are printed, not judged (default: all)")
    p.add_argument("--plateau", type=duration, default=None,
                   help="the RSS check also passes if the slope over this last part of the run is under the limit (a plateau; default: the last third after the warm-up)")
    p.add_argument("--max-fd-excess", type=int, default=0, help="fds over the server's own plus one a bot that must be reached again after each wave (default 0)")
    p.add_argument("--max-tick-rise", type=float, default=0.5, help="most rise of each phase's fitted p99 over the run, as a share of its mean (default 0.5)")
    p.add_argument("--server", help="the server binary (default target/release/tickwire)")
    p.add_argument("--server-env", action="append", default=[], metavar="K=V", help="environment of the server (repeatable)")
    p.add_argument("--swarm", help="the swarm binary (default target/release/tickwire-swarm)")
    p.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    p.add_argument("--json", help="write samples, fits and checks here")
    p.add_argument("--svg", help="draw the chart here")
    p.add_argument("--title", help="the chart's title")
    p.add_argument("--verbose", "-v", action="store_true", help="print each sample")
    p.add_argument("--rejudge", metavar="JSON", help="judge and draw a run saved with --json again, with these thresholds, instead of running")
    args = p.parse_args()
    known = {"rss", "heap", "fds", "threads", "tick_p99", "verdict"}
    if args.only and not {c.strip() for c in args.only.split(",")} <= known:
        p.error("--only takes some of %s" % ", ".join(sorted(known)))
    plateau_given = args.plateau is not None
    if not plateau_given:
        args.plateau = max(0.0, args.duration - args.warmup) / 3.0
    churn = (args.churn or "0").strip()
    args.churn = None if churn in ("0", "0%") else churn
    args.churn_period = None
    if args.churn:
        per_minute = float(churn[:-1]) / 100.0 * args.bots if churn.endswith("%") else float(churn)
        args.churn_period = 60.0 * args.churn_batch / per_minute if per_minute > 0 else None
    if args.rejudge:
        with open(args.rejudge) as f:
            saved = json.load(f)
        for key in ("duration", "bots", "room_size", "churn", "churn_batch", "churn_period", "sample", "swarm_warmup"):
            setattr(args, key, saved["args"][key])
        if not plateau_given:
            # The default plateau is a third of the saved run after the warm-up.
            args.plateau = max(0.0, args.duration - args.warmup) / 3.0
        result = {k: saved[k] for k in ("idle", "samples", "intervals", "report", "server_cmd", "swarm_cmd")}
        return finish(result, args)
    if not args.no_build and not args.server:
        subprocess.run(["cargo", "build", "--release", "-p", "tickwire", "-p", "tickwire-swarm"], cwd=ROOT, check=True)
    print("soak: %d bots in rooms of %d, churn %s (waves of %d), %.0f s, samples every %.0f s, fitted after %.0f s" % (
        args.bots, args.room_size, args.churn or "none", args.churn_batch, args.duration, args.sample, args.warmup),
        file=sys.stderr, flush=True)
    try:
        result = run(args)
    except (RuntimeError, OSError) as e:
        print("soak: %s" % e, file=sys.stderr)
        return 2
    return finish(result, args)


def finish(result, args):
    """Judges a run, prints the checks, writes --json and --svg."""
    checks, fits = judge(result, args)
    only = None if not args.only else {c.strip() for c in args.only.split(",")}
    ok = True
    for name, passed, words in checks:
        if only is not None and not (name in only or any(name.startswith(o + "_") for o in only)):
            mark = "info"
        elif passed is None and only is None:
            # Not measured (a server that does not tell its heap): said, not judged.
            mark = "--"
        else:
            ok = ok and bool(passed)
            mark = "ok" if passed else "FAIL"
        print("%-4s %s" % (mark, words))
    print("soak %s" % ("PASSED" if ok else "FAILED"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "checks": checks, "fits": fits, **result}, f, indent=1)
    if args.svg:
        title = args.title or "soak: %d bots, rooms of %d, churn %s, %.0f min" % (
            args.bots, args.room_size, args.churn or "none", args.duration / 60.0)
        import plots  # matplotlib, only to draw
        plots.soak_chart(result, fits, args.warmup, args.plateau, title, args.svg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
