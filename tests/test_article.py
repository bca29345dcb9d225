"""The real article's part-1 figures (in_context … branches) on the `build.py --quick` page, in Chromium.

Each figure must mount without console errors; hover, keyboard and touch must change what the grid,
compare and strip figures show; the explorer must ask for a layer's sprites only once that layer is
picked; nothing may scroll sideways at 375 px. Screenshots go to test-artifacts/article-<id>-<width>.png.
"""
from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.test_views import DESKTOP, PHONE, _car, _focus_ring, _index, _no_overflow, _shows

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PART1 = ["in_context", "progress", "cossim_sweep", "convergence", "scale", "models", "randomization",
         "preprocessing", "branches"]
COMPARE = ["cossim_sweep", "models", "preprocessing", "branches"]
STRIP = ["progress", "randomization"]


def _load(probe, open_all: bool = True):
    """Wait until no figure on the page is still mounting; return the page. open_all lets every figure load its
    sprite sheets now, as scrolling past it would (test_sheets_load_as_figures_near_the_viewport checks that
    far figures wait)."""
    probe.page.wait_for_function("document.querySelectorAll('[data-figure]').length > 0"
                                 " && !document.querySelector('[data-mounted=pending]')")
    if open_all:
        probe.page.evaluate("window.Caricatures.openAll()")
    return probe.page


def _check_mounted(page, figs: list[str], width: int) -> None:
    """Assert each figure mounted without an error; save its screenshot at this width."""
    ARTIFACTS.mkdir(exist_ok=True)
    for fig in figs:
        assert page.get_attribute(f"#fig-{fig}", "data-mounted") == "ok", fig
        assert page.locator(f"#fig-{fig} .cv-error").count() == 0, fig
        assert "nan" not in page.locator(f"#fig-{fig} figcaption").inner_text(), fig
        page.locator(f"#fig-{fig}").screenshot(path=str(ARTIFACTS / f"article-{fig}-{width}.png"))


def _shown(page, fig: str) -> str:
    """Return the tile key the figure's inspector caricature shows (by matching its CSS to the tile table)."""
    index, car = _index(page, fig), _car(page, fig)
    return next(k for k in index["tiles"] if _shows(car, index, k))


def _options(page, fig: str):
    """Return the buttons of the compare figure's option control (not its photo or layer control)."""
    label = _index(page, fig)["data"]["option_label"]
    return page.locator(f'#fig-{fig} [role=radiogroup][aria-label="{label}"] [role=radio]')


def test_part1_figures_mount_offline_without_errors(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    _check_mounted(page, PART1, 1280)
    assert probe.errors == [] and probe.outside == []
    # The page's text without code blocks (the BibTeX of "cite this article" braces group authors: {{…}}).
    text = page.evaluate("() => { const c = document.body.cloneNode(true); "
                         "c.querySelectorAll('pre, code').forEach(e => e.remove()); return c.innerText; }")
    assert " nan" not in text and "{{" not in text


def test_in_context_grid_follows_hover_and_keys(open_page, article_url):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    data = _index(page, "in_context")["data"]
    first = _shown(page, "in_context")
    page.locator("#fig-in_context tbody tr").nth(1).locator(".cv-cell").nth(0).hover()
    hovered = _shown(page, "in_context")
    assert hovered == f"{data['rows'][1]['key']}/{data['cols'][0]['key']}" != first
    page.mouse.move(2, 2)
    assert _shown(page, "in_context") == first                       # leaving restores the selection
    page.locator("#fig-in_context .cv-cell[aria-selected=true]").focus()
    page.keyboard.press("ArrowRight")
    assert _shown(page, "in_context") not in (first, hovered) and _focus_ring(page)


@pytest.mark.parametrize("fig", COMPARE)
def test_compare_figures_switch_options_by_hover_and_keys(open_page, article_url, fig):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    keys = [o["key"] for o in _index(page, fig)["data"]["options"]]
    options = _options(page, fig)
    assert options.count() == len(keys) >= 2
    start = _shown(page, fig)                                 # tile keys are <photo>/<layer>/<option>
    prefix, current = start.rsplit("/", 1)
    i = keys.index(current)
    j, key = (i + 1, "ArrowRight") if i + 1 < len(keys) else (i - 1, "ArrowLeft")
    options.nth(j).hover()
    assert _shown(page, fig) == f"{prefix}/{keys[j]}"         # same photo and layer, the hovered option
    page.mouse.move(2, 2)
    assert _shown(page, fig) == start
    options.nth(i).focus()
    page.keyboard.press(key)
    assert _shown(page, fig) == f"{prefix}/{keys[j]}" and _focus_ring(page)
    assert options.nth(j).get_attribute("aria-checked") == "true"


@pytest.mark.parametrize("fig", STRIP)
def test_strip_figures_follow_hover_and_slider(open_page, article_url, fig):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    items = page.locator(f"#fig-{fig} .cv-strip-item")
    start = _shown(page, fig)
    items.nth(1).hover()
    assert _shown(page, fig) != start
    page.mouse.move(2, 2)
    slider = page.locator(f"#fig-{fig} input[type=range]")
    slider.focus()
    page.keyboard.press("End")
    last = _shown(page, fig)
    page.keyboard.press("Home")
    assert _shown(page, fig) != last and slider.input_value() == "0"


def test_scale_explorer_requests_a_layer_only_when_picked(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    page.wait_for_function("() => !document.querySelector('#fig-scale .cv-pending')")
    index = _index(page, "scale")
    initial = index["data"]["initial"]["layer"]
    other = next(layer["key"] for layer in index["data"]["layers"] if layer["key"] != initial)
    files = [s["file"] for s in index["sheets"] if s["group"] == f"layer-{other}"]
    assert files and not any(u.endswith(f) for u in probe.requests for f in files)
    page.locator("#fig-scale [aria-label=Layer] [role=radio]").nth(
        [layer["key"] for layer in index["data"]["layers"]].index(other)).click()
    page.wait_for_function("() => !document.querySelector('#fig-scale .cv-pending')")
    assert all(any(u.endswith(f) for u in probe.requests) for f in files)
    page.locator("#fig-scale .cv-item").nth(1).hover()
    assert _shown(page, "scale").startswith(f"{other}/")


def test_convergence_chart_shows_a_tooltip(open_page, article_url):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    points = page.locator("#fig-convergence circle.cv-pt")
    points.nth(1).hover(force=True)  # quick runs are short: neighbouring points may overlap
    tip = page.locator("#fig-convergence .cv-tooltip")
    assert tip.is_visible() and "steps" in tip.inner_text()


def test_phone_taps_change_figures_and_nothing_scrolls_sideways(open_page, article_url):
    probe = open_page(article_url + "index.html", **PHONE)
    page = _load(probe)
    assert _no_overflow(page)
    before = _shown(page, "in_context")
    page.locator("#fig-in_context tbody tr").nth(1).locator(".cv-cell").nth(1).tap()
    assert _shown(page, "in_context") != before
    for fig in COMPARE:
        before = _shown(page, fig)
        options = _options(page, fig)
        options.nth(0 if options.nth(0).get_attribute("aria-checked") != "true" else 1).tap()
        assert _shown(page, fig) != before, fig
    for fig in STRIP:
        before = _shown(page, fig)
        page.locator(f"#fig-{fig} .cv-strip-item").nth(1).tap()
        assert _shown(page, fig) != before, fig
    assert _no_overflow(page) and probe.errors == []
    for fig in PART1:
        page.locator(f"#fig-{fig}").screenshot(path=str(ARTIFACTS / f"article-{fig}-375.png"))
    # Full-size runs write longer numbers than --quick: a table in the text or the appendix that gets wider
    # must scroll in its own box, not the page.
    widened = page.evaluate("""() => { const cells = document.querySelectorAll('.d-article td, .d-appendix td');
        cells.forEach(td => { td.textContent += ' wide-cell-content-from-a-full-size-run'; });
        return cells.length; }""")
    assert widened > 0 and _no_overflow(page)


def _requested(probe, files) -> bool:
    return any(u.endswith(f) for u in probe.requests for f in files)


def _wait_for_requests(page, probe, files, timeout_s: float = 10) -> None:
    """Wait until the page has asked for every file (file:// loads leave no resource-timing entries)."""
    for _ in range(int(timeout_s * 20)):
        if all(any(u.endswith(f) for u in probe.requests) for f in files):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never requested: {[f for f in files if not _requested(probe, [f])]}")


def test_sheets_load_as_figures_near_the_viewport(open_page, quick_article):
    """From file://, the first figure's sheets load at once; a figure far below the fold asks for none of its
    sheets until the reader scrolls towards it, and no request ever leaves the page's folder."""
    url = (quick_article / "index.html").as_uri()
    probe = open_page(url, inside=quick_article.as_uri() + "/", **DESKTOP)
    page = _load(probe, open_all=False)
    first = [s["file"] for s in _index(page, "in_context")["sheets"]]
    _wait_for_requests(page, probe, first)
    far = [s["file"] for s in _index(page, "debugging")["sheets"]]
    assert page.evaluate("() => document.querySelector('#fig-debugging').getBoundingClientRect().top") > 3 * 900
    page.wait_for_timeout(300)
    assert not _requested(probe, far)
    assert page.get_attribute("#fig-debugging", "data-sheets") == "waiting"
    page.locator("#fig-debugging").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#fig-debugging').dataset.sheets === 'open'")
    _wait_for_requests(page, probe, far)
    assert probe.errors == [] and probe.outside == []


def test_wide_math_and_tables_scroll_with_a_visible_cue_on_a_phone(open_page, article_url):
    """At 375 px the attribution equation and the methods tables are wider than the text: they scroll in their
    own box, with a shadow at the edge that hides more (and a visible scrollbar)."""
    page = _load(open_page(article_url + "index.html", **PHONE))
    boxes = page.evaluate("""() => [...document.querySelectorAll('.math-display, .d-article table, .d-appendix table')]
        .filter(n => n.scrollWidth > n.clientWidth + 1)
        .map(n => { const s = getComputedStyle(n);
                    return [n.className || n.tagName, s.overflowX, s.backgroundImage.includes('radial-gradient')]; })""")
    kinds = {k for k, _, _ in boxes}
    assert any("math-display" in k for k in kinds) and "TABLE" in kinds, boxes
    assert all(o == "auto" and cue for _, o, cue in boxes), boxes
    assert _no_overflow(page)
