"""`caricatures …` and `python -m caricatures …`: see caricatures/cli.py (re-executes once with malloc and
OpenMP tuned: runtime.py)."""
import sys

from caricatures.runtime import ensure_malloc_env


def run() -> int:
    """The console script's entry point."""
    ensure_malloc_env()
    from caricatures.cli import main  # imported after the re-exec, so nothing heavy is loaded twice
    return main()


if __name__ == "__main__":
    sys.exit(run())
