"""`python -m generate …`: see generate/cli.py (re-executes once with malloc and OpenMP tuned: runtime.py)."""
import sys

from generate.runtime import ensure_malloc_env

ensure_malloc_env()

# Imported after the re-exec, so nothing heavy is loaded twice.
from generate.cli import main

sys.exit(main())
