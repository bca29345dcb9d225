"""Cold builds side by side: one process that computes its runs one after another on all cores' threads (as
the build did before runs became the unit of work) against the default executor (one run per core).

    .venv/bin/python bench/bench_build.py --quick          # about 2 minutes on a 2-core CPU
    .venv/bin/python bench/bench_build.py                  # the full article: an hour or more on 2 cores

Each mode builds into an empty cache of its own. Prints, per mode, the wall time of the build and of its run
phase, and the cores kept busy in each (CPU time of the build's processes / wall time; in the run phase, the
machine's busy cores sampled from /proc/stat, so run it on an otherwise idle machine), then the ratio of
the wall times. Same precision for both (--precision, default fp32 so the two compute the same pixels).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sitegen.runs import cpu_name  # after the path is set

ROOT = Path(__file__).resolve().parents[1]
MODES = {"single": ["--jobs", "1", "--threads", str(os.cpu_count() or 1)], "default": []}


def cpu_jiffies() -> tuple[int, int]:
    """Return (busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def build(mode: str, quick: bool, precision: str) -> dict:
    """Run one cold build as a subprocess; return its wall times and cores busy."""
    with tempfile.TemporaryDirectory(prefix=f"bench-build-{mode}-") as tmp:
        argv = [sys.executable, "build.py", "--cache", f"{tmp}/cache", "--out", f"{tmp}/public", "--no-progress",
                "--precision", precision, *(["--quick"] if quick else []), *MODES[mode]]
        samples, marks, stop = [], {}, threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.perf_counter(), *cpu_jiffies()))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        for line in proc.stderr:
            if "executor:" in line:
                marks["runs_start"] = time.perf_counter()
            if re.search(r"runs: made \d+ in", line):
                marks["runs_end"] = time.perf_counter()
        if proc.wait():
            raise SystemExit(f"{mode}: build failed ({proc.returncode})")
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stop.set()
        sampler.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {"wall": wall, "busy": cpu / wall}
    if "runs_start" in marks and "runs_end" in marks:
        a, b = marks["runs_start"], marks["runs_end"]
        inside = [s for s in samples if a <= s[0] <= b]
        out["runs_wall"] = b - a
        if len(inside) >= 2:
            (_, b0, t0_), (_, b1, t1) = inside[0], inside[-1]
            out["runs_busy"] = (b1 - b0) / (t1 - t0_) * (os.cpu_count() or 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the quick article (small runs)")
    ap.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--modes", default="single,default", help="comma-separated, in this order")
    args = ap.parse_args(argv)
    print(f"cpu: {os.cpu_count()} cores, {cpu_name()}; {'quick' if args.quick else 'full'} article, "
          f"precision {args.precision}")
    results = {}
    for mode in args.modes.split(","):
        r = results[mode] = build(mode, args.quick, args.precision)
        runs = (f"; run phase {r['runs_wall']:.1f} s, {r.get('runs_busy', float('nan')):.2f} cores busy"
                if "runs_wall" in r else "")
        print(f"{mode:>8}: {r['wall']:.1f} s wall, {r['busy']:.2f} cores busy{runs}", flush=True)
    if {"single", "default"} <= set(results):
        print(f"default / single wall time: {results['default']['wall'] / results['single']['wall']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
