"""Process set-up for entry points: environment that only takes effect if set before the interpreter starts.

- glibc malloc: activation batches over ~32 MB otherwise get a fresh mmap and page faults on every
  allocation, slow in this VM (large elementwise ops 2.5–3× slower, measured; docs/FACTS.md).
- one malloc arena: the engine optimizes row groups in parallel threads (render.optimize), and a second
  thread's arena is a 64 MB mmap'd heap, too small for those batches: two streams with their own arenas
  ran 1.0× and 1.4× as fast as one in two tries, with one shared arena 1.1–1.3× in six (measured).
- libgomp spinning: torch's OpenMP threads spin ~300k iterations at every barrier by default. On this
  2-core machine shared with other busy processes that made a Lite0 forward+backward 6–12× slower
  (1.2–2.5 s instead of 0.2 s, measured); 1000 spins costs nothing measurable when the machine is idle.

Entry points call `ensure_malloc_env()` first; it re-executes the interpreter once with what is missing.
"""
from __future__ import annotations

import os
import sys

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),  # serve big tensors from the heap, not fresh mmaps
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),  # and do not give that heap back after each step
    "MALLOC_TOP_PAD_": str(1 << 28),
    "MALLOC_ARENA_MAX": "1",                 # threads share that heap (see above)
    "GOMP_SPINCOUNT": "1000",
}
GUARD = "CARICATURES_REEXEC"


def missing_malloc_env(env: dict[str, str] | None = None) -> list[str]:
    """Return the variables of MALLOC_ENV not yet set in `env` (default: this process's environment)."""
    env = os.environ if env is None else env
    return [k for k in MALLOC_ENV if k not in env]


def ensure_malloc_env() -> None:
    """Re-exec this interpreter with MALLOC_ENV set (values already set win), unless it already tried."""
    if not missing_malloc_env() or os.environ.get(GUARD) or os.environ.get("CARICATURES_NO_REEXEC"):
        return
    env = {**MALLOC_ENV, **os.environ, GUARD: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
