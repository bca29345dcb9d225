#!/usr/bin/env python3
"""Build the article site into public/: `python build.py --help` lists the options.

    python build.py            # regenerate stale figures, render public/index.html
    python build.py --quick    # same pipeline, small figures (tests, drafts)
    python build.py --plan     # what a build would compute, and how long it would take here
    python build.py --freeze   # build, then write frozen/ (the committed figures) from the result
    python build.py --verify 5 # recompute 5 frozen runs here and compare their metrics
"""
from __future__ import annotations

import logging
import sys

from caricatures.runtime import ensure_malloc_env
from sitegen.config import parse_args
from sitegen.errors import BuildError
from sitegen.pipeline import build, show_plan
from sitegen.serve import serve


def run(argv: list[str] | None = None) -> int:
    """Build (and with --serve, keep serving and rebuilding); return the process exit code."""
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="build: %(message)s", stream=sys.stderr)
    try:
        if config.plan:
            print(show_plan(config))
            return 0
        if config.verify:
            from sitegen.verify import verify
            return verify(config)
        build(config)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        if not config.serve:
            return 2
    except KeyboardInterrupt:
        print("interrupted: public/ and the cache are as they were before this build", file=sys.stderr)
        return 130
    if config.serve:
        def rebuild() -> None:
            try:
                build(config)
            except BuildError as e:
                print(f"error: {e}", file=sys.stderr)
        serve(config, rebuild)
    return 0


if __name__ == "__main__":
    ensure_malloc_env()   # the driver and the workers it spawns run with glibc malloc tuned
    sys.exit(run())
