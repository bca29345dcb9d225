"""--serve: serve the built site on 127.0.0.1 and rebuild when its sources change (mtime polling)."""
from __future__ import annotations

import functools
import http.server
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sitegen.config import BuildConfig

log = logging.getLogger("build")


def snapshot(config: BuildConfig) -> dict[Path, float]:
    """Return the mtimes of every file the page is built from (article, templates, assets, figure scripts)."""
    out = {}
    for folder in (config.article, config.templates, config.assets, config.figures):
        for p in folder.rglob("*") if folder.is_dir() else ():
            if p.is_file() and "__pycache__" not in p.parts:
                out[p] = p.stat().st_mtime_ns
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # one quiet line per request is noise while writing
        log.debug("serve: " + fmt, *args)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def serve(config: BuildConfig, rebuild: Callable[[], None], poll_s: float = 0.5,
          stop: threading.Event | None = None) -> None:
    """Serve config.out until stopped (Ctrl-C or `stop`), calling rebuild() after sources change."""
    handler = functools.partial(_Handler, directory=str(config.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", config.port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log.info("serving %s on http://127.0.0.1:%d/ (Ctrl-C stops)", config.out, server.server_address[1])
    stop = stop or threading.Event()
    seen = snapshot(config)
    try:
        while not stop.wait(poll_s):
            now = snapshot(config)
            if now != seen:
                changed = sorted({p.name for p in set(now) ^ set(seen)} |
                                 {p.name for p in now if p in seen and now[p] != seen[p]})
                log.info("changed: %s; rebuilding", ", ".join(changed))
                seen = now
                rebuild()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
