"""Tests of the benchmark charts and the capacity runner's results file:
the charts drawn from fixed results (benches/fixtures/), stable from one
drawing to the next; --plot-only from the command line; the capacity table
read back from BENCHMARKS.md as it was written; the soak chart redrawn by
--rejudge; and a missing matplotlib saying what to install.

    python3 benches/test_plots.py        # needs matplotlib (python3-matplotlib)
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import capacity  # noqa: E402
import plots  # noqa: E402

try:
    import matplotlib  # noqa: F401
except ImportError:
    sys.exit("these tests draw charts and need matplotlib: apt-get install python3-matplotlib "
             "(and run them with /usr/bin/python3 if python3 is another Python), or pip install matplotlib")

FIXTURES = os.path.join(HERE, "fixtures")
CAPACITY_FIXTURE = os.path.join(FIXTURES, "capacity-results.json")
SOAK_FIXTURE = os.path.join(FIXTURES, "soak-run.json")
SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(path):
    """The root of an SVG file and every piece of text in it."""
    root = ET.parse(path).getroot()
    return root, ["".join(t.itertext()) for t in root.iter(SVG + "text")]


class CapacityCharts(unittest.TestCase):
    def setUp(self):
        with open(CAPACITY_FIXTURE) as f:
            self.results = json.load(f)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_the_three_charts_show_every_layout_and_the_floor(self):
        paths = plots.capacity_charts(self.results, self.tmp.name)
        self.assertEqual([os.path.basename(p) for p in paths], list(plots.CAPACITY_CHARTS))
        root, texts = svg_texts(paths[0])
        self.assertEqual(root.tag, SVG + "svg")
        for label in ("one-room", "rooms-of-10", "open-world", "churn", "one-room floor", "rooms-of-10 floor"):
            self.assertIn(label, texts)
        self.assertTrue(any("goal: at most 1.25x" in t for t in texts))
        # The bot counts measured label the x axis.
        for n in ("100", "500", "1,000", "3,000"):
            self.assertIn(n, texts)
        _, texts = svg_texts(paths[1])
        self.assertTrue(any(t.startswith("Bytes per bot") for t in texts))
        _, texts = svg_texts(paths[2])
        self.assertTrue(any("holds at most 50 ms" in t for t in texts))

    def test_the_points_are_the_rows(self):
        rows = self.results["rows"]
        cpu = plots.series(rows, lambda r: r.get("server_cpu_per_bot_ms"))
        self.assertEqual(cpu["one-room"], [(100, 0.555), (1000, 0.467)])
        self.assertEqual(cpu["rooms-of-10"], [(500, 0.571), (3000, 0.342)])
        # The failed row (no figures) is left out, not drawn as zero.
        self.assertEqual(cpu["open-world"], [(500, 0.552)])
        gaps = plots.series(rows, lambda r: r["report"].get("gap_ms_p99"))
        self.assertEqual(gaps["rooms-of-10"], [(500, 35.8), (3000, 245.1)])

    def test_a_chart_redrawn_from_the_same_figures_is_the_same_file(self):
        first = plots.capacity_charts(self.results, os.path.join(self.tmp.name, "a"))
        second = plots.capacity_charts(self.results, os.path.join(self.tmp.name, "b"))
        for a, b in zip(first, second):
            with open(a, "rb") as fa, open(b, "rb") as fb:
                self.assertEqual(fa.read(), fb.read(), os.path.basename(a))
        with open(first[0]) as f:
            self.assertNotIn("<dc:date>", f.read(), "no date in the file")

    def test_plot_only_draws_from_the_results_file_without_running(self):
        out = os.path.join(self.tmp.name, "charts")
        done = subprocess.run([sys.executable, os.path.join(HERE, "capacity.py"), "--plot-only",
                               "--results", CAPACITY_FIXTURE, "--charts-dir", out],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(os.listdir(out)), sorted(plots.CAPACITY_CHARTS))
        missing = subprocess.run([sys.executable, os.path.join(HERE, "capacity.py"), "--plot-only",
                                  "--results", os.path.join(self.tmp.name, "none.json"), "--charts-dir", out],
                                 capture_output=True, text=True, timeout=120)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("cannot read the results JSON", missing.stderr)

    def test_the_section_keeps_the_rest_of_the_file(self):
        path = os.path.join(self.tmp.name, "BENCHMARKS.md")
        with open(path, "w") as f:
            f.write("# Benchmarks\n\nbefore\n\n%s\nSTALE TABLE\n%s\n\nafter\n" % (capacity.BEGIN, capacity.END))
        capacity.write_section(self.results, path)
        with open(path) as f:
            body = f.read()
        self.assertTrue(body.startswith("# Benchmarks\n\nbefore\n\n"))
        self.assertTrue(body.endswith("\n\nafter\n"))
        self.assertNotIn("STALE TABLE", body)
        self.assertIn(capacity.table(self.results["rows"]), body)
        for name in plots.CAPACITY_CHARTS:
            self.assertIn("](benches/charts/%s)" % name, body)
        # And it reads back as it was written.
        again = capacity.import_markdown(path)
        self.assertEqual(capacity.table(again["rows"]), capacity.table(self.results["rows"]))


class TheCommittedTable(unittest.TestCase):
    def test_benchmarks_md_reads_back_into_the_same_table(self):
        results = capacity.import_markdown(os.path.join(ROOT, "BENCHMARKS.md"))
        with open(os.path.join(ROOT, "BENCHMARKS.md")) as f:
            body = f.read()
        section = body[body.index(capacity.BEGIN):body.index(capacity.END)]
        written = "\n".join(line for line in section.splitlines() if line.startswith("|"))
        self.assertEqual(capacity.table(results["rows"]), written)
        self.assertGreater(len(results["rows"]), 5)

    def test_the_committed_results_are_the_committed_table(self):
        with open(capacity.RESULTS) as f:
            kept = json.load(f)
        with open(os.path.join(ROOT, "BENCHMARKS.md")) as f:
            body = f.read()
        self.assertIn(capacity.table(kept["rows"]), body)


class SoakChart(unittest.TestCase):
    def test_rejudge_redraws_the_chart(self):
        with tempfile.TemporaryDirectory() as tmp:
            svg = os.path.join(tmp, "soak.svg")
            done = subprocess.run([sys.executable, os.path.join(HERE, "soak.py"), "--rejudge", SOAK_FIXTURE,
                                   "--warmup", "10s", "--max-rss-slope", "100000", "--svg", svg],
                                  capture_output=True, text=True, timeout=120)
            self.assertIn(done.returncode, (0, 1), done.stderr)
            self.assertIn("soak", done.stdout)
            root, texts = svg_texts(svg)
            self.assertEqual(root.tag, SVG + "svg")
            for label in ("RSS (MiB)", "descriptors", "threads", "the swarm", "minutes"):
                self.assertIn(label, texts)
            self.assertTrue(any(t.startswith("fit after warm-up:") for t in texts))
            self.assertTrue(any(t.startswith("p99 send") for t in texts))


class SoakHeap(unittest.TestCase):
    """The heap check on a saved run given a live heap: a flat one passes,
    one growing 30 KiB a minute fails, and --only judges what it names."""

    def rejudge(self, tmp, slope_kib_per_min, *extra):
        with open(SOAK_FIXTURE) as f:
            saved = json.load(f)
        for s in saved["samples"]:
            # A few KiB of noise, the same in every run of the test.
            s["heap_kib"] = 8000.0 + slope_kib_per_min * s["t"] / 60.0 + 3.0 * math.sin(s["t"])
        path = os.path.join(tmp, "run-%g.json" % slope_kib_per_min)
        with open(path, "w") as f:
            json.dump(saved, f)
        return subprocess.run([sys.executable, os.path.join(HERE, "soak.py"), "--rejudge", path,
                               "--warmup", "10s", "--max-heap-slope", "10", *extra],
                              capture_output=True, text=True, timeout=120)

    def test_a_flat_heap_passes_and_a_growing_one_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            flat = self.rejudge(tmp, 0.0, "--only", "heap")
            self.assertEqual(flat.returncode, 0, flat.stdout + flat.stderr)
            self.assertRegex(flat.stdout, r"(?m)^ok +heap floor slope -?\d\.\d\d KiB/min")
            # The fixture's other checks are printed, not judged.
            self.assertRegex(flat.stdout, r"(?m)^info RSS slope")
            growing = self.rejudge(tmp, 30.0, "--only", "heap,fds")
            self.assertEqual(growing.returncode, 1, growing.stdout + growing.stderr)
            self.assertRegex(growing.stdout, r"(?m)^FAIL heap floor slope (2[5-9]|3[0-5])\.\d\d KiB/min")

    def test_the_chart_draws_the_heap(self):
        with tempfile.TemporaryDirectory() as tmp:
            svg = os.path.join(tmp, "soak.svg")
            self.rejudge(tmp, 0.0, "--svg", svg)
            _, texts = svg_texts(svg)
            self.assertIn("memory (MiB)", texts)
            self.assertTrue(any(t.startswith("live heap:") for t in texts), texts)

    def test_a_run_without_a_heap_fails_when_the_heap_is_judged(self):
        done = subprocess.run([sys.executable, os.path.join(HERE, "soak.py"), "--rejudge", SOAK_FIXTURE,
                               "--warmup", "10s", "--only", "heap"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"(?m)^FAIL heap: not told by the server")


class MissingMatplotlib(unittest.TestCase):
    def test_it_says_what_to_install(self):
        code = ("import sys; sys.modules['matplotlib'] = None; sys.path.insert(0, %r); "
                "import plots; plots.pyplot()" % HERE)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("apt-get install python3-matplotlib", done.stderr)
        self.assertIn("pip install matplotlib", done.stderr)


if __name__ == "__main__":
    unittest.main()
