"""Tickwire's benchmark charts, drawn with matplotlib: the capacity runner's
(`benches/capacity.py`) and the soak harness's (`benches/soak.py`).

Both scripts import this module only when they draw, so measuring needs
nothing but Python. The charts are SVG, written the same way every time
for the same figures (no date in the file, fixed element ids), so a
redrawn chart with unchanged figures is an unchanged file.

    import plots
    plots.capacity_charts(results, "benches/charts")    # three SVGs
    plots.soak_chart(result, fits, warmup_s, plateau_s, title, "soak.svg")
"""

import os
import re

# The layouts of the capacity runner, in the order and colours drawn.
LAYOUTS = ("one-room", "rooms-of-10", "open-world", "churn")
COLOURS = {"one-room": "#1f77b4", "rooms-of-10": "#d62728", "open-world": "#2ca02c", "churn": "#9467bd"}
# The verdict's gap threshold (the swarm's --max-gap-p99-ms default).
GAP_P99_LIMIT_MS = 50.0
# The capacity charts' file names, in the order BENCHMARKS.md shows them.
CAPACITY_CHARTS = ("capacity-cpu.svg", "capacity-bytes.svg", "capacity-gap.svg")


def pyplot():
    """matplotlib's pyplot on the file-only backend, set up for stable SVGs;
    a missing matplotlib stops with what to install."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "drawing the charts needs matplotlib: apt-get install python3-matplotlib "
            "(and run the script with /usr/bin/python3 if python3 is another Python), "
            "or pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "svg.hashsalt": "tickwire",   # fixed element ids
        "svg.fonttype": "none",       # text stays text: small, diffable files
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.grid": True,
        "grid.color": "#e6e6e6",
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    return plt


def save(fig, path):
    """Writes `fig` as SVG to `path` without a date, and closes it."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": "benches/plots.py"}, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)


def layout_of(row):
    """The layout kind and bot count of a capacity row, from its name."""
    m = re.fullmatch(r"(one-room|rooms-of-10|open-world|churn)-(\d+)", row["layout"])
    return (m.group(1), int(m.group(2))) if m else (None, None)


def series(rows, value):
    """Per layout kind, the (bots, value) points of the rows that have one,
    by bot count. `value(row)` may return None to leave a row out."""
    out = {}
    for row in rows:
        if "error" in row:
            continue
        kind, n = layout_of(row)
        if kind is None:
            continue
        v = value(row)
        if v is None:
            continue
        out.setdefault(kind, []).append((n, v))
    return {k: sorted(pts) for k, pts in out.items()}


def plain_log_axes(ax, rows, log_y=False):
    """Bot counts on a log scale, labelled with the counts measured; with
    `log_y`, the y axis on a log scale too, in plain numbers."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    ns = sorted({layout_of(r)[1] for r in rows if layout_of(r)[1]})
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ns))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=7)
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v) if str(int(round(v)))[0] in "25" else ""))
        ax.tick_params(axis="y", which="minor", labelsize=7)


def plot_layouts(ax, rows, value):
    """One line per layout of `value` against N, its missed rows circled."""
    data = series(rows, value)
    for kind in LAYOUTS:
        if kind in data:
            xs, ys = zip(*data[kind])
            ax.plot(xs, ys, "-o", color=COLOURS[kind], label=kind, markersize=4)
            held_markers(ax, rows, value, kind, COLOURS[kind])


def held_markers(ax, rows, value, kind, colour):
    """Rows that missed the verdict, circled in red."""
    for row in rows:
        if "error" in row or layout_of(row)[0] != kind or row["report"].get("holds", True):
            continue
        v = value(row)
        if v is not None:
            ax.plot([layout_of(row)[1]], [v], "o", markersize=11, markerfacecolor="none",
                    markeredgecolor="#cc0000", markeredgewidth=1.2, zorder=5)


def capacity_charts(results, out_dir):
    """Draws the capacity charts of `results` (the runner's results JSON)
    into `out_dir`: server CPU per bot against N per layout with the floor
    beside it, bytes per bot against N, and gap p99 against N. Returns the
    paths written."""
    plt = pyplot()
    rows = results["rows"]
    subtitle = "%s, %s cores, server and swarm on one machine" % (results.get("measured", "?"), results.get("cores", "?"))
    missed = "rows circled in red missed the verdict"
    paths = []

    def per_bot_ms(row):
        return row.get("server_cpu_per_bot_ms")

    def floor_per_bot_ms(row):
        floor = row.get("floor") or {}
        if not floor.get("cpu"):
            return None
        if floor.get("ratio"):
            # Read back from a table: the server's figure per bot (three
            # decimals) over the ratio the table showed is closer than the
            # floor's cores (two).
            return row["server_cpu_per_bot_ms"] / floor["ratio"]
        return 1000.0 * floor["cpu"] / layout_of(row)[1]

    def ratio(row):
        floor = row.get("floor") or {}
        if not floor.get("cpu"):
            return None
        return floor.get("ratio") or row["server_cpu"] / floor["cpu"]

    def bytes_per_bot(row):
        return row["report"].get("bytes_per_bot_per_s")

    def gap_p99(row):
        return row["report"].get("gap_ms_p99")

    # Server CPU per bot, with the floor (the bare fan-out at the same size).
    fig, (ax, ratio_ax) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    server = series(rows, per_bot_ms)
    floor = series(rows, floor_per_bot_ms)
    for kind in LAYOUTS:
        colour = COLOURS[kind]
        if kind in server:
            xs, ys = zip(*server[kind])
            ax.plot(xs, ys, "-o", color=colour, label=kind, markersize=4)
            held_markers(ax, rows, per_bot_ms, kind, colour)
        if kind in floor:
            xs, ys = zip(*floor[kind])
            ax.plot(xs, ys, "--", marker="x", color=colour, alpha=0.7, label="%s floor" % kind, markersize=4)
    plain_log_axes(ax, rows)
    ax.set_xlabel("bots (N)")
    ax.set_ylabel("server CPU per bot (ms of CPU per second)")
    ax.set_ylim(bottom=0)
    ax.set_title("Server CPU per bot, and its floor (dashed: bare fan-out)", fontsize=10)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    ratios = series(rows, ratio)
    for kind in LAYOUTS:
        if kind in ratios:
            xs, ys = zip(*ratios[kind])
            ratio_ax.plot(xs, ys, "-o", color=COLOURS[kind], label=kind, markersize=4)
    ratio_ax.axhline(1.25, color="#888888", linestyle=":", linewidth=1)
    ratio_ax.annotate("goal: at most 1.25x", (0.98, 1.25), xycoords=("axes fraction", "data"), ha="right",
                      xytext=(0, 3), textcoords="offset points", fontsize=7, color="#666666")
    ratio_ax.axhline(1.0, color="#bbbbbb", linewidth=0.8)
    plain_log_axes(ratio_ax, rows)
    ratio_ax.set_xlabel("bots (N)")
    ratio_ax.set_ylabel("server CPU / floor CPU")
    ratio_ax.set_title("Server against its floor", fontsize=10)
    fig.suptitle("Capacity: %s; %s" % (subtitle, missed), fontsize=8, y=0.01, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = os.path.join(out_dir, CAPACITY_CHARTS[0])
    save(fig, path)
    paths.append(path)

    # Bytes per bot.
    fig, ax = plt.subplots(figsize=(7, 4))
    plot_layouts(ax, rows, bytes_per_bot)
    plain_log_axes(ax, rows, log_y=True)
    ax.set_xlabel("bots (N)")
    ax.set_ylabel("payload bytes per bot per second")
    ax.set_title("Bytes per bot (one room: everyone sees everyone)", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle("%s; %s" % (subtitle, missed), fontsize=8, y=0.02, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = os.path.join(out_dir, CAPACITY_CHARTS[1])
    save(fig, path)
    paths.append(path)

    # Gap p99, with the verdict's threshold.
    fig, ax = plt.subplots(figsize=(7, 4))
    plot_layouts(ax, rows, gap_p99)
    ax.axhline(GAP_P99_LIMIT_MS, color="#888888", linestyle=":", linewidth=1)
    ax.annotate("holds at most %g ms" % GAP_P99_LIMIT_MS, (0.02, GAP_P99_LIMIT_MS), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=7, color="#666666")
    ax.axhline(1000.0 / 30, color="#bbbbbb", linewidth=0.8)
    ax.annotate("one tick", (0.98, 1000.0 / 30), xycoords=("axes fraction", "data"), ha="right",
                xytext=(0, 3), textcoords="offset points", fontsize=7, color="#888888")
    plain_log_axes(ax, rows, log_y=True)
    ax.set_xlabel("bots (N)")
    ax.set_ylabel("p99 gap between two snapshots at a bot (ms)")
    ax.set_title("Gap p99 (a tick is 33.3 ms)", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle("%s; %s" % (subtitle, missed), fontsize=8, y=0.02, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = os.path.join(out_dir, CAPACITY_CHARTS[2])
    save(fig, path)
    paths.append(path)
    return paths


PHASES = ("simulate", "encode", "send")


def soak_chart(result, fits, warmup_s, plateau_s, title, path):
    """Draws a soak run (the harness's samples and the swarm's intervals)
    as one panel a figure, minutes across: RSS with the fit after the
    warm-up (dashed) and over the last part (red), descriptors and
    connections, threads, each tick phase's p99 and mean, and the swarm's
    slowest bot and gap p99. The dotted line is the end of the warm-up."""
    plt = pyplot()
    samples = result["samples"]
    intervals = result["intervals"]
    minutes = lambda pts: ([t / 60.0 for t, _ in pts], [v for _, v in pts])  # noqa: E731
    fig, axes = plt.subplots(5, 1, figsize=(8, 12), sharex=True)
    t_max = max([s["t"] for s in samples] + [1.0]) / 60.0

    ax = axes[0]
    xs, ys = minutes([(s["t"], s["rss_kib"] / 1024.0) for s in samples])
    ax.plot(xs, ys, color="#1f77b4", linewidth=1.2, label="RSS")
    f = fits.get("rss_kib")
    if f:
        a, b = warmup_s / 60.0, t_max
        ax.plot([a, b], [(f["intercept"] + f["slope"] * a) / 1024.0, (f["intercept"] + f["slope"] * b) / 1024.0],
                "--", color="black", linewidth=1,
                label="fit after warm-up: %+.2f ± %.2f KiB/min" % (f["slope"], f["slope_se"]))
        late = fits.get("rss_kib_last")
        if late:
            a = max(warmup_s, t_max * 60 - plateau_s) / 60.0
            ax.plot([a, b], [(late["intercept"] + late["slope"] * a) / 1024.0, (late["intercept"] + late["slope"] * b) / 1024.0],
                    color="#d62728", linewidth=1.5,
                    label="last %g min: %+.2f ± %.2f KiB/min" % (round(plateau_s / 60.0, 1), late["slope"], late["slope_se"]))
    heap = [(s["t"], s["heap_kib"] / 1024.0) for s in samples if s.get("heap_kib") is not None]
    if heap:
        slope = fits.get("heap_kib_median_slope")
        ax.plot(*minutes(heap), color="#2ca02c", linewidth=1.2,
                label="live heap" + (": floor %+.2f KiB/min after warm-up" % slope if slope is not None else ""))
    ax.set_ylabel("memory (MiB)" if heap else "RSS (MiB)")
    ax.legend(fontsize=7, loc="lower right")

    ax = axes[1]
    ax.plot(*minutes([(s["t"], s["fds"]) for s in samples]), color="#1f77b4", linewidth=1.2, label="file descriptors")
    ax.plot(*minutes([(s["t"], (s["connections"] or 0) + result["idle"]["fds"]) for s in samples]),
            color="#d62728", linewidth=1, linestyle="--", label="connections + the server's own")
    ax.set_ylabel("descriptors")
    ax.legend(fontsize=7, loc="lower right")

    ax = axes[2]
    ax.plot(*minutes([(s["t"], s["threads"]) for s in samples]), color="#1f77b4", linewidth=1.2)
    ax.set_ylabel("threads")

    ax = axes[3]
    colours = ("#1f77b4", "#d62728", "#2ca02c")
    for colour, p in zip(colours, PHASES):
        pts = [(s["t"], s["p99_us_" + p]) for s in samples if s.get("p99_us_" + p) is not None]
        if pts:
            ax.plot(*minutes(pts), color=colour, linewidth=1.2, label="p99 " + p)
        pts = [(s["t"], s["mean_us_" + p]) for s in samples if s.get("mean_us_" + p) is not None]
        if pts:
            ax.plot(*minutes(pts), color=colour, linewidth=1, linestyle="--", label="mean " + p)
    ax.set_ylabel("tick phase (µs), /metrics")
    ax.legend(fontsize=7, ncol=3, loc="upper left")

    ax = axes[4]
    if intervals:
        ax.plot(*minutes([(i["t"], i["snapshots_per_s_min"]) for i in intervals]), color="#1f77b4", linewidth=1.2,
                label="slowest bot (snapshots/s)")
        ax.plot(*minutes([(i["t"], i["gap_ms_p99"]) for i in intervals]), color="#d62728", linewidth=1.2,
                label="gap p99 (ms)")
        ax.legend(fontsize=7, loc="center right")
    ax.set_ylabel("the swarm")
    ax.set_xlabel("minutes")

    for ax in axes:
        ax.axvline(warmup_s / 60.0, color="#999999", linestyle=":", linewidth=1)
        ax.set_xlim(0, t_max)
    axes[0].set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    save(fig, path)
    return path
