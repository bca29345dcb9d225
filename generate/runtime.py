"""Process set-up for entry points: glibc malloc tuning, which only takes effect if set before start-up.

Activation batches over ~32 MB otherwise get a fresh mmap and page faults on every allocation, which is
slow in this VM (a 2.5–3× slowdown of large elementwise ops, measured; see REFERENCE §5). Entry points call
`ensure_malloc_env()` first; it re-executes the interpreter once with the variables set.
"""
from __future__ import annotations

import os
import sys

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),  # serve big tensors from the heap, not fresh mmaps
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),  # and do not give that heap back after each step
    "MALLOC_TOP_PAD_": str(1 << 28),
}
GUARD = "CARICATURES_REEXEC"


def missing_malloc_env(env: dict[str, str] | None = None) -> list[str]:
    """Return the malloc variables not yet set in `env` (default: this process's environment)."""
    env = os.environ if env is None else env
    return [k for k in MALLOC_ENV if k not in env]


def ensure_malloc_env() -> None:
    """Re-exec this interpreter with the malloc variables set, unless they are set or it already tried."""
    if not missing_malloc_env() or os.environ.get(GUARD) or os.environ.get("CARICATURES_NO_REEXEC"):
        return
    env = {**MALLOC_ENV, **os.environ, GUARD: "1"}
    argv = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
