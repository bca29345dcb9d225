"""Malloc tuning: entry points re-exec once with the variables set; set variables are left alone."""
import os
import subprocess
import sys

from caricatures.runtime import GUARD, MALLOC_ENV, missing_malloc_env

SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from caricatures.runtime import ensure_malloc_env
print("start", flush=True)
ensure_malloc_env()
print(os.environ.get("MALLOC_MMAP_THRESHOLD_"), os.environ.get("MALLOC_TOP_PAD_"), sys.argv[1:])
"""


def test_missing_malloc_env():
    assert missing_malloc_env({}) == list(MALLOC_ENV)
    assert missing_malloc_env(dict(MALLOC_ENV)) == []


def test_reexec_sets_variables_once_and_keeps_arguments(tmp_path):
    script = tmp_path / "entry.py"
    script.write_text(SCRIPT.format(root=os.getcwd()))
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV and k != GUARD}
    out = subprocess.run([sys.executable, str(script), "a", "b"], env=env, capture_output=True, text=True, check=False,
                         timeout=60).stdout.split("\n")
    assert out[0] == "start" and out[1] == "start"  # ran twice: before and after the re-exec
    assert out[2] == f"{MALLOC_ENV['MALLOC_MMAP_THRESHOLD_']} {MALLOC_ENV['MALLOC_TOP_PAD_']} ['a', 'b']"
    env.update(MALLOC_MMAP_THRESHOLD_="1", MALLOC_TRIM_THRESHOLD_="2", MALLOC_TOP_PAD_="3", MALLOC_ARENA_MAX="2",
               GOMP_SPINCOUNT="4")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=False,
                         timeout=60).stdout.split("\n")
    assert out[:2] == ["start", "1 3 []"]
