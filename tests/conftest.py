"""Shared fixtures: the fixture site built once per session, a local server for it, and headless Chromium.

For browser tests of other parts (e.g. the figure views), reuse them:

    @pytest.mark.browser
    def test_something(open_page, site_url):
        probe = open_page(site_url + "index.html")              # or open_page(url, viewport=..., has_touch=True)
        probe.page.hover("[data-figure=tiles] .cv-cell")
        assert probe.errors == [] and probe.outside == []

- `built_site` (session): Path of the fixture site's public/ (tests/fixtures/site: 2 synthetic figures, no
  torch), built in-process with --jobs 0 into a temporary folder. `build_site(tmp, site_dir, **overrides)`
  builds any other fixture site the same way and returns its BuildConfig.
- `site_url` (session): "http://127.0.0.1:PORT/" serving `built_site`.
- `chromium` (session): a Playwright Browser on Debian's /usr/bin/chromium (skipped when it is absent, failed
  when CI=true). `open_page(url, **context_options)` opens a page in a fresh context and returns a Probe whose
  `errors` lists console errors and page errors, `requests` every URL asked for, and `outside` those not
  under the served/public folder (they are aborted, so a page that reaches out fails visibly).
- `quick_article` (session): Path of the real article's public/, built with --quick in two workers (figure
  cache kept in /tmp/caricatures-quick-cache, or $CARICATURES_QUICK_CACHE); `article_url` serves it.
- `ARTIFACTS`: test-artifacts/ for screenshots.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from sitegen.config import BuildConfig

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_SITE = Path(__file__).parent / "fixtures" / "site"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def site_config(tmp: Path, site: Path = FIXTURE_SITE, **overrides) -> BuildConfig:
    """Return a BuildConfig that builds `site` (article/ + figures/) into tmp/public with its cache in tmp/."""
    base = BuildConfig(article=site / "article", figures=site / "figures", out=tmp / "public", cache=tmp / "cache",
                       jobs=0, progress=False)
    return replace(base, **overrides)


def copy_site(tmp: Path, site: Path = FIXTURE_SITE, name: str = "site") -> Path:
    """Copy a fixture site (article/ + figures/) to tmp/name, to edit it in a test; return the copy."""
    import shutil
    shutil.copytree(site, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp / name


def build_site(tmp: Path, site: Path = FIXTURE_SITE, **overrides) -> BuildConfig:
    """Build `site` into tmp/public (see site_config) and return its config."""
    from sitegen.pipeline import build

    config = site_config(tmp, site, **overrides)
    build(config)
    return config


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Return the public/ folder of the fixture site, built once per session."""
    return build_site(tmp_path_factory.mktemp("fixture-site")).out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    """Serve `directory` on 127.0.0.1 until the generator is closed; yield its base URL (ending in '/')."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def site_url(built_site):
    """Serve the fixture site on 127.0.0.1 for the session; yield its base URL (ending in '/')."""
    yield from _serve(built_site)


@pytest.fixture(scope="session")
def chromium():
    """Launch Debian's Chromium through Playwright once per session."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: setup.sh --test installs it")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Probe:
    page: object
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(chromium):
    """Return open_page(url, **context_options) → Probe; contexts close after the test."""
    contexts = []

    def _open(url: str, inside: str | None = None, **options) -> Probe:
        inside = inside or url.rsplit("/", 1)[0] + "/"
        context = chromium.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        probe = Probe(page)
        page.on("console", lambda m: probe.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: probe.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: probe.requests.append(r.url))

        def route(r):
            u = r.request.url
            if u.startswith((inside, "data:")):
                r.continue_()
            else:
                probe.outside.append(u)
                r.abort()

        context.route("**/*", route)
        page.goto(url, wait_until="load")
        return probe

    yield _open
    for c in contexts:
        c.close()


QUICK_CACHE = Path(os.environ.get("CARICATURES_QUICK_CACHE", "/tmp/caricatures-quick-cache"))


@pytest.fixture(scope="session")
def quick_article(tmp_path_factory) -> Path:
    """Return the public/ folder of the real article built with --quick, once per session.

    Figures run in two 1-thread workers; their cache lives in QUICK_CACHE (under /tmp, kept between
    sessions: a figure is remade only when its script, spec or inputs change).
    """
    from sitegen.pipeline import build

    out = tmp_path_factory.mktemp("quick-article") / "public"
    build(BuildConfig(out=out, cache=QUICK_CACHE, quick=True, progress=False))
    return out


@pytest.fixture(scope="session")
def article_url(quick_article):
    """Serve the quick article on 127.0.0.1 for the session; yield its base URL (ending in '/')."""
    yield from _serve(quick_article)
