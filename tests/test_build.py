"""The build on the fixture site: output, provenance, caching, bad input (exit 2, one line, old site kept)."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import build as build_cli
from sitegen import cache
from sitegen.errors import BuildError
from sitegen.pipeline import build
from tests.conftest import FIXTURE_SITE, ROOT, build_site, copy_site, site_config

FIG_JSON_RE = re.compile(r'<figure class="figure ([\w-]+)" id="fig-(\w+)" data-figure="\2" data-view="(\w+)">.*?'
                         r'<script type="application/json" class="figure-data">(.*?)</script>', re.DOTALL)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    config = build_site(tmp)
    return config, (config.out / "index.html").read_text()


def _figures(page: str) -> dict:
    return {m.group(2): (m.group(1), m.group(3), json.loads(m.group(4).replace("<\\/", "</")))
            for m in FIG_JSON_RE.finditer(page)}


def test_page_has_figures_sheets_and_provenance(built):
    config, page = built
    figs = _figures(page)
    assert list(figs) == ["tiles", "bands"]
    assert figs["tiles"][:2] == ("l-page", "grid") and figs["bands"][:2] == ("l-body", "grid")
    for fig_id, (_, _, index) in figs.items():
        for sheet in index["sheets"]:
            path = config.out / sheet["file"]
            assert sheet["file"].startswith(f"figures/{fig_id}/") and path.is_file()
            with open(path, "rb") as f:
                assert f.read(12)[8:] == b"WEBP"
        for s, x, y, w, h in index["tiles"].values():
            assert x + w <= index["sheets"][s]["width"] and y + h <= index["sheets"][s]["height"]
        p = index["provenance"]
        assert {"script", "command", "spec", "seed", "models", "packages", "device", "wall_time_s", "content_hash",
                "engine_version", "generated"} <= set(p)
        assert p["script"] == f"tests/fixtures/site/figures/{fig_id}.py"
        assert p["command"].startswith(f"python build.py --only {fig_id} --figures ")
        assert set(p["packages"]) == {"python", "torch", "numpy", "pillow"} and p["device"] == "cpu"
        h = hashlib.sha256()                                   # the content hash, recomputed independently
        for sheet in index["sheets"]:
            h.update((config.out / sheet["file"]).read_bytes())
        h.update(json.dumps([index["tiles"], index["data"], index["metrics"]], sort_keys=True).encode())
        assert p["content_hash"] == h.hexdigest()
    assert figs["tiles"][2]["provenance"]["models"] == {"none": "0" * 64}
    assert figs["tiles"][2]["provenance"]["seed"] == 3


def test_text_numbers_come_from_figure_metrics(built):
    _, page = built
    metrics = _figures(page)["tiles"][2]["metrics"]
    assert f"The mean brightness is {metrics['mean_brightness']:.3f} over\n{metrics['count']} tiles" in page
    assert '<a class="figure-anchor" href="#fig-tiles">Figure 1</a>' in page
    assert '<a class="figure-anchor" href="#fig-bands">Figure 2</a>: Colour bands' in page


def test_citations_footnotes_toc_and_appendix(built):
    _, page = built
    labels = re.findall(r'class="citation-link" href="#ref-(\w+)" aria-label="[^"]*">\[([\d, ]+)\]', page)
    assert labels[:3] == [("olah2017feature", "1"), ("mahendran2015understanding", "1, 2"),
                          ("olah2017feature", "1")]
    refs = re.findall(r'<li id="ref-(\w+)" value="(\d+)">', page)
    assert refs == [("olah2017feature", "1"), ("mahendran2015understanding", "2"), ("accents", "3")]
    assert "Größe, J., François, É. and Google Brain Team" in page
    assert 'href="#fn:note"' in page and page.index('id="fn:note"') > page.index('class="d-appendix"')
    assert re.search(r'<nav class="toc.*href="#introduction".*href="#math".*href="#bands"', page, re.DOTALL)
    toc = page[page.index('<nav class="toc'):page.index("</nav>")]
    assert toc.rstrip().endswith("</ol>") and toc.count('href="#methods"') == 1    # the appendix's Methods too
    assert toc.index('href="#bands"') < toc.index('href="#methods"') and 'id="methods"' in page
    appendix = page[page.index('class="d-appendix"'):]
    assert "Tiles are synthetic; see" in appendix and '<aside class="l-gutter">' in page
    credits = json.loads((ROOT / "images" / "credits.json").read_text())
    for name in ("animals/cat.jpg", "animals/panda.jpg"):
        row = next(c for c in credits if c["file"] == name)
        assert f"<td>{row['author']}</td><td>{row['license']}</td>" in appendix
    assert "@article{lovelace2026fixture," in appendix and "author = {Lovelace, Ada and Zola, Émile}" in appendix
    assert 'id="reproduce-tiles"' in appendix and "<code>python build.py --only tiles" in appendix


def test_page_is_self_contained(built):
    config, page = built
    assert (config.out / "favicon.ico").is_file() and 'rel="icon" href="favicon.ico"' in page
    for attr in re.findall(r'<(?:link|script|img|source|iframe)\b[^>]*\b(?:href|src)="([^"]+)"', page):
        assert not re.match(r"^(?:[a-z]+:)?//|^/", attr), attr
        assert (config.out / attr).is_file(), attr
    css = "".join(p.read_text() for p in (config.out / "assets" / "css").glob("*.css"))
    assert "@import" not in css and not re.search(r"url\((?!['\"]?data:)['\"]?(?:https?:)?//", css)


def test_second_build_regenerates_nothing_and_is_fast(tmp_path):
    config = site_config(tmp_path)
    first = build(config)
    assert sorted(first.regenerated) == ["bands", "tiles"]
    t0 = time.perf_counter()
    second = build(config)
    assert second.regenerated == [] and time.perf_counter() - t0 < 10
    assert second.html == first.html


def _copy_site(tmp_path: Path) -> Path:
    return copy_site(tmp_path)


def test_only_edited_figures_regenerate_and_only_selects(tmp_path):
    site = _copy_site(tmp_path)
    config = site_config(tmp_path, site)
    build(config)
    script = site / "figures" / "bands.py"
    script.write_text(script.read_text() + "\n# an edit\n")
    assert build(config).regenerated == ["bands"]
    script.write_text(script.read_text() + "# another\n")
    (site / "figures" / "tiles.py").write_text((site / "figures" / "tiles.py").read_text() + "# edit\n")
    from dataclasses import replace
    s = build(replace(config, only=("tiles",)))
    assert s.regenerated == ["tiles"] and s.figures["bands"]["metrics"]["bands"] == 6   # stale bands shown
    assert build(replace(config, only=("bands",), force=True)).regenerated == ["bands"]


def test_editing_a_shared_helper_regenerates_the_figures_beside_it(tmp_path):
    site = _copy_site(tmp_path)
    helper = site / "figures" / "_shared.py"
    helper.write_text("SCALE = 1\n")
    config = site_config(tmp_path, site)
    build(config)
    assert build(config).regenerated == []
    helper.write_text("SCALE = 2\n")
    assert sorted(build(config).regenerated) == ["bands", "tiles"]


def test_only_with_a_never_built_figure_shows_a_placeholder(tmp_path):
    from dataclasses import replace
    site = build(replace(site_config(tmp_path), only=("bands",)))
    assert site.regenerated == ["bands"] and site.figures["tiles"]["missing"]
    assert "The mean brightness is nan" in site.html and 'class="figure l-page figure-missing"' in site.html


def test_corrupted_cache_entry_is_detected_and_regenerated(tmp_path, caplog):
    config = site_config(tmp_path)
    first = build(config)
    sheet = next(first.entries["tiles"].glob("*.webp"))
    data = bytearray(sheet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sheet.write_bytes(bytes(data))
    second = build(config)
    assert second.regenerated == ["tiles"] and "corrupted" in caplog.text
    assert cache.read_entry(second.entries["tiles"]) is not None
    (second.entries["bands"] / "index.json").unlink()
    assert build(config).regenerated == ["bands"]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = build_cli.run(argv)
    return code, capsys.readouterr().err


def _argv(tmp_path: Path, site: Path, *extra: str) -> list[str]:
    return ["--article", str(site / "article"), "--figures", str(site / "figures"), "--out", str(tmp_path / "public"),
            "--cache", str(tmp_path / "cache"), "--jobs", "0", "--no-progress", *extra]


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _break(site: Path, which: str) -> tuple[str, str]:
    """Introduce one kind of bad input into a copied site; return (expected file, expected text)."""
    md = site / "article" / "index.md"
    text = md.read_text()
    if which == "figure id":
        md.write_text(text.replace('figure("bands")', 'figure("bandz")'))
        return f"index.md:{_line(md, 'bandz')}", "unknown figure id 'bandz'"
    if which == "citation":
        md.write_text(text.replace("[@mahendran2015understanding;", "[@mahendran2051;"))
        return f"index.md:{_line(md, 'mahendran2051')}", "unknown citation key 'mahendran2051'"
    if which == "front matter":
        md.write_text(text.replace("date: 2026-01-15", "date: [2026"))
        return "index.md:", "malformed front matter"
    if which == "missing number":
        md.write_text(text.replace("metrics.count", "metrics.cuont"))
        return f"index.md:{_line(md, 'cuont')}", "cuont"
    if which == "figure raises":
        script = site / "figures" / "bands.py"
        script.write_text(script.read_text().replace("    groups = {}\n", "    groups = {}\n    raise ValueError('boom')\n"))
        return f"bands.py:{_line(script, 'boom')}", "figure 'bands' failed: ValueError: boom"
    if which == "script syntax":
        script = site / "figures" / "tiles.py"
        script.write_text(script.read_text().replace("    size = spec.params", "    size = (spec.params"))
        return f"tiles.py:{_line(script, 'size = (spec')}", "importing the figure script failed: SyntaxError"
    raise AssertionError(which)


@pytest.mark.parametrize("which", ["figure id", "citation", "front matter", "missing number", "figure raises",
                                   "script syntax"])
def test_bad_input_exits_2_with_one_line_and_keeps_the_old_site(tmp_path, capsys, which):
    site = _copy_site(tmp_path)
    assert _run(_argv(tmp_path, site), capsys)[0] == 0
    before = (tmp_path / "public" / "index.html").read_bytes()
    where, what = _break(site, which)
    code, err = _run(_argv(tmp_path, site, "--force"), capsys)
    message = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(message) == 1, err
    assert where in message[0] and what in message[0], message[0]
    assert (tmp_path / "public" / "index.html").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("public")] == ["public"]


def test_unknown_only_and_missing_template_exit_2(tmp_path, capsys):
    code, err = _run(_argv(tmp_path, FIXTURE_SITE, "--only", "nope"), capsys)
    assert code == 2 and "--only nope: unknown figure id; known: bands, tiles" in err
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "base.html").unlink()
    code, err = _run(_argv(tmp_path, FIXTURE_SITE, "--templates", str(templates)), capsys)
    assert code == 2 and "article.html:1: template 'base.html' not found" in err
    (templates / "partials" / "macros.html").unlink()
    code, err = _run(_argv(tmp_path, FIXTURE_SITE, "--templates", str(templates)), capsys)
    assert code == 2 and "partials/macros.html: template 'partials/macros.html' not found" in err
    assert not (tmp_path / "public").exists()


def test_photo_without_credits_and_unplaced_figure(tmp_path, caplog):
    credits = json.loads((ROOT / "images" / "credits.json").read_text())
    images = tmp_path / "root" / "images"
    (images / "animals").mkdir(parents=True)
    for name in ("cat", "panda"):
        shutil.copy(ROOT / "images" / "animals" / f"{name}.jpg", images / "animals")
    (images / "credits.json").write_text(json.dumps([c for c in credits if c["file"] != "animals/panda.jpg"]))
    with pytest.raises(BuildError) as e:
        build(site_config(tmp_path, root=tmp_path / "root", credits=images / "credits.json"))
    assert "figure 'tiles': input images/animals/panda.jpg has no entry in" in str(e.value)
    site = _copy_site(tmp_path)
    md = site / "article" / "index.md"
    md.write_text(md.read_text().replace('{{ figure("bands") }}', "").replace("{{ fig.bands.ref }}", "it"))
    build(site_config(tmp_path, site))
    assert "figure bands is not placed in the article" in caplog.text


def test_interrupt_inside_a_figure_leaves_the_cache_consistent(tmp_path):
    site = _copy_site(tmp_path)
    config = site_config(tmp_path, site)
    first = build(config)
    script = site / "figures" / "bands.py"
    script.write_text(script.read_text().replace(
        "    groups = {}\n", "    groups = {}  # edited\n    raise KeyboardInterrupt\n"))
    with pytest.raises(KeyboardInterrupt):
        build(config)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.name.startswith((".tmp-", "."))]
    assert leftovers == [] and [p.name for p in tmp_path.iterdir() if p.name.startswith("public")] == ["public"]
    for fig_id in ("tiles", "bands"):
        assert cache.read_entry(first.entries[fig_id]) is not None
    script.write_text(script.read_text().replace("    raise KeyboardInterrupt\n", ""))
    assert build(config).regenerated == ["bands"]


@pytest.mark.slow
def test_sigint_to_a_running_build_leaves_cache_and_site_consistent(tmp_path):
    site = _copy_site(tmp_path)
    build(site_config(tmp_path, site))
    script = site / "figures" / "bands.py"
    flag = tmp_path / "started"
    script.write_text(script.read_text().replace(
        "    groups = {}\n", f"    groups = {{}}\n    open({str(flag)!r}, 'w').close()\n    import time\n"
                            "    time.sleep(60)\n"))
    before = (tmp_path / "public" / "index.html").read_bytes()
    proc = subprocess.Popen([sys.executable, "build.py", *_argv(tmp_path, site)[:-3]], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    for _ in range(200):
        if flag.exists():
            break
        time.sleep(0.05)
    assert flag.exists()
    import os
    os.killpg(proc.pid, signal.SIGINT)                       # as Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    assert not [p for p in (tmp_path / "cache").rglob(".tmp-*")]
    assert (tmp_path / "public" / "index.html").read_bytes() == before
    assert all(cache.read_entry(e) is not None for e in (tmp_path / "cache" / "figures").glob("*/full-*"))


@pytest.mark.slow
def test_serve_serves_and_rebuilds_on_change(tmp_path):
    site = _copy_site(tmp_path)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "build.py", *_argv(tmp_path, site), "--serve", "--port", str(port)],
                            cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        page = _poll(lambda: urllib.request.urlopen(url, timeout=2).read().decode())
        assert "Fixture: Caricatures of Tiles" in page
        md = site / "article" / "index.md"
        md.write_text(md.read_text().replace("## Bands", "## Stripes"))
        assert "Stripes" in _poll(lambda: _require(urllib.request.urlopen(url, timeout=2).read().decode(), "Stripes"))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:  # never leave the server behind, even when it did not stop in time
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _require(text: str, needle: str) -> str:
    if needle not in text:
        raise ValueError("not yet")
    return text


def _poll(fn, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (OSError, ValueError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_help_explains_itself():
    out = subprocess.run([sys.executable, "build.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    for flag in ("--quick", "--only FIG", "--force", "--serve", "--port", "--jobs N", "--cluster", "--plan", "--threads", "--precision", "--device", "--seed"):
        assert flag in out.stdout


def test_citation_cff_agrees_with_the_article():
    from sitegen.frontmatter import parse
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    meta, _, _ = parse((ROOT / "article" / "index.md").read_text(), ROOT / "article" / "index.md")
    assert cff["cff-version"] == "1.2.0" and cff["title"] == meta.title
    names = [a.get("name") or f"{a['given-names']} {a['family-names']}" for a in cff["authors"]]
    assert names == [a.name for a in meta.authors]
    assert cff["date-released"] == meta.date.isoformat() and cff["license"] == meta.licence


def test_real_article_reads(tmp_path):
    from sitegen.pipeline import Site, read_article
    site = Site(stage=tmp_path)
    read_article(site, site_config(tmp_path, article=ROOT / "article"))
    keys = set(re.findall(r"@([\w:.-]+)", site.article.text.split("---", 2)[2]))
    assert keys <= set(site.article.refs)


@pytest.mark.slow
def test_a_figures_reproduce_command_works_before_anything_is_cached(tmp_path):
    """Every figure script says 'Reproduce: python build.py --only <id>'. On a fresh checkout the other
    figures are placeholders, and the real article's text, which indexes their metrics and provenance,
    must still render (their numbers read nan)."""
    from sitegen.config import BuildConfig
    config = BuildConfig(quick=True, only=("progress",), cache=tmp_path / "cache", out=tmp_path / "public",
                         progress=False, jobs=0)
    site = build(config)
    assert site.regenerated == ["progress"]
    missing = [i for i, f in site.figures.items() if f.get("missing")]
    assert len(missing) == len(site.figures) - 1 and "progress" not in missing
    assert "figure-missing" in site.html and " nan" in site.html
