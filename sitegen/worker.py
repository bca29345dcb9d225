"""Figure worker processes: `python -m sitegen.worker` makes the figure described by one JSON job on stdin.

It answers with JSON lines on its stdout ({"event": "progress"|"done"|"error", ...}); anything the figure
script prints goes to stderr. `run_pool` starts up to N such workers with glibc malloc tuned (the variables
must be set before a process starts) and one thread each when several run side by side (REFERENCE §5).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from generate.runtime import MALLOC_ENV  # one source for the process tuning (malloc, OpenMP spinning)
from sitegen.config import ROOT


def worker_env(jobs: int, base: dict | None = None) -> dict[str, str]:
    """Return the environment for a worker: malloc tuned, threads = cores / jobs unless already set."""
    env = dict(os.environ if base is None else base)
    env.update(MALLOC_ENV)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _pump(proc: subprocess.Popen, fig_id: str, events: queue.Queue) -> None:
    for line in proc.stdout:
        try:
            events.put((fig_id, json.loads(line)))
        except ValueError:
            sys.stderr.write(line)
    events.put((fig_id, {"event": "exit", "code": proc.wait()}))


def run_pool(jobs: list[dict], n: int, on_event: Callable[[str, dict], None]) -> None:
    """Run jobs in up to n worker processes; call on_event(id, event) for each progress/done/error/exit.

    on_event may raise (e.g. a BuildError on "error"); then, as on KeyboardInterrupt, the other workers
    are terminated before the exception propagates.
    """
    env = worker_env(n)
    events: queue.Queue = queue.Queue()
    pending, running = list(jobs), {}
    try:
        while pending or running:
            while pending and len(running) < n:
                job = pending.pop(0)
                proc = subprocess.Popen([sys.executable, "-m", "sitegen.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
                proc.stdin.write(json.dumps(job))
                proc.stdin.close()
                running[job["id"]] = proc
                threading.Thread(target=_pump, args=(proc, job["id"], events), daemon=True).start()
            fig_id, event = events.get()
            if event["event"] == "exit":
                running.pop(fig_id)
            on_event(fig_id, event)
    finally:
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            proc.wait()


def main() -> int:
    """Make the figure described by the JSON job on stdin; report events as JSON lines."""
    from sitegen.figures import make_entry, script_line

    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)   # the figure script's own prints go to stderr, keeping stdout for events
    sys.stdout = sys.stderr

    def send(**event) -> None:
        out.write(json.dumps(event) + "\n")

    t0 = time.perf_counter()
    try:
        entry = make_entry(job, lambda done, total: send(event="progress", done=done, total=total))
    except KeyboardInterrupt:
        return 130
    except BaseException as e:  # noqa: BLE001 -- everything else is reported to the parent as one event
        send(event="error", type=type(e).__name__, message=str(e), line=script_line(e, Path(job["script"])),
             traceback="".join(traceback.format_exception(e)))
        return 1
    send(event="done", entry=str(entry), seconds=time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
