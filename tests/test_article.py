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
         "preprocessing", "branches", "relatives"]
COMPARE = ["cossim_sweep", "models", "preprocessing", "branches", "relatives"]   # options side by side ("row")
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


def check_marks(page, fig: str) -> None:
    """Assert hovering an option's card marks it, leaving marks the selected one again, and arrow keys select."""
    data = _index(page, fig)["data"]
    keys = [o["key"] for o in data["options"]]
    options = _options(page, fig)
    assert options.count() == len(keys) >= 2
    i = keys.index(data["initial"]["option"])
    j, key = (i + 1, "ArrowRight") if i + 1 < len(keys) else (i - 1, "ArrowLeft")
    shown = lambda: [k for n, k in enumerate(keys) if "is-shown" in options.nth(n).get_attribute("class")]
    assert shown() == [keys[i]] and options.nth(i).get_attribute("aria-checked") == "true"
    options.nth(j).hover()
    assert shown() == [keys[j]]
    page.mouse.move(2, 2)
    assert shown() == [keys[i]]
    options.nth(i).focus()
    page.keyboard.press(key)
    assert options.nth(j).get_attribute("aria-checked") == "true" and _focus_ring(page)


@pytest.mark.parametrize("fig", COMPARE)
def test_compare_figures_mark_options_by_hover_and_keys(open_page, article_url, fig):
    probe = open_page(article_url + "index.html", **DESKTOP)
    check_marks(_load(probe), fig)
    assert probe.errors == []


def check_row(page, fig: str) -> None:
    """Assert a side-by-side compare figure shows the photo and every option's own tile for the shown photo and
    layer, and follows a click on another layer."""
    index = _index(page, fig)
    data = index["data"]
    assert data["arrange"] == "row" and page.locator(f"#fig-{fig} .cv-inspector").count() == 0
    layers = [lay["key"] for lay in data["layers"]]
    first = data["initial"]["layer"]
    for layer in [first] + [k for k in layers if k != first][:1]:
        if len(layers) > 1:
            page.locator(f"#fig-{fig} [aria-label='{data['layer_label']}'] [role=radio]").nth(layers.index(layer)).click()
        cells = data["cells"][data["initial"]["photo"]][layer]
        assert _shows(page.locator(f"#fig-{fig} .cv-card-photo .cv-tile"), index, f"photo/{data['initial']['photo']}")
        for option in data["options"]:
            card = page.locator(f"#fig-{fig} .cv-option[data-key='{option['key']}']")
            assert _shows(card.locator(".cv-tile"), index, cells[option["key"]]["tile"]), (fig, option)
            assert option["label"] in card.inner_text() and card.locator(".cv-card-metrics").inner_text().strip()
    boxes = [_options(page, fig).nth(i).bounding_box() for i in range(2)]
    photo = page.locator(f"#fig-{fig} .cv-card-photo").bounding_box()
    assert abs(boxes[0]["y"] - photo["y"]) < 5 and abs(boxes[1]["y"] - photo["y"]) < 5     # one row


@pytest.mark.parametrize("fig", COMPARE)
def test_compare_figures_show_their_options_side_by_side(open_page, article_url, fig):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    check_row(page, fig)
    assert probe.errors == []


def _pct(value: float) -> str:
    """Return a share as the page prints it: whole percent, true minus sign."""
    return f"{100 * value:.0f}%".replace("-", "\u2212")


def test_models_figure_shows_the_transfer_numbers_the_text_quotes(open_page, article_url):
    """The cross-network averages of the text ("between the Lite sizes … %") are in the figure's table."""
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    index = _index(page, "models")
    metrics, fig = index["metrics"], page.locator("#fig-models")
    depths = [lay["key"] for lay in index["data"]["layers"]]
    for i, depth in enumerate(depths):
        fig.locator("[aria-label=Depth] [role=radio]").nth(i).click()
        groups = fig.locator(".cv-matrix-groups").inner_text()
        for name in ("lite_family", "lite_mnv2", "random_in_trained"):
            assert _pct(metrics["transfer"][depth][name]) in groups, (depth, name, groups)
        row = fig.locator("table.cv-matrix tbody tr").nth(0).locator("td").all_inner_texts()
        assert row[0] == "100%" and row[1] == _pct(metrics["cross"][depth]["lite0"]["lite1"])


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


def test_travel_chart_names_each_series_and_block_in_its_tooltip(open_page, article_url):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    index = _index(page, "travel")
    panels = index["data"]["panels"]
    assert [s["label"] for s in panels[0]["series"]] == ["caricature", "visualization", "other photo"]
    points = page.locator("#fig-travel circle.cv-pt")
    assert points.count() == sum(len(s["points"]) for p in panels for s in p["series"])
    points.nth(4).focus()
    tip = page.locator("#fig-travel .cv-tooltip")
    assert tip.is_visible() and tip.inner_text().startswith("caricature · block output 4: ")
    page.keyboard.press("ArrowDown")
    assert tip.inner_text().startswith("visualization · block output 4: ")


def test_relatives_cards_say_what_each_variant_is_seen_as_and_follow_the_photo(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    data = _index(page, "relatives")["data"]
    fig = page.locator("#fig-relatives")
    assert [o["key"] for o in data["options"]] == ["p0", "p1", "p2", "truecos", "dotpow", "accent", "orth", "maco"]
    cells = data["cells"][data["initial"]["photo"]][data["initial"]["layer"]]
    labels = {k: c["label"] for k, c in cells.items()}
    for key, label in labels.items():     # a class all variants share is said once, in the title
        where = fig.locator(".cv-title") if len(set(labels.values())) == 1 else fig.locator(f".cv-option[data-key='{key}']")
        assert label.startswith("seen as: ") and label in where.inner_text(), key
    card = fig.locator(".cv-option[data-key='accent']")
    assert [line.split()[0] for line in card.locator(".cv-card-metrics").inner_text().splitlines()] == \
        ["cosine", "gain", "pixel", "seed"]
    card.hover()
    assert "is-shown" in card.get_attribute("class")
    page.keyboard.press("Tab")
    assert probe.errors == []


def test_phone_taps_change_figures_and_nothing_scrolls_sideways(open_page, article_url):
    probe = open_page(article_url + "index.html", **PHONE)
    page = _load(probe)
    assert _no_overflow(page)
    before = _shown(page, "in_context")
    page.locator("#fig-in_context tbody tr").nth(1).locator(".cv-cell").nth(1).tap()
    assert _shown(page, "in_context") != before
    for fig in COMPARE:                                       # the options beside the photo, not far below it
        photo = page.locator(f"#fig-{fig} .cv-card-photo").bounding_box()
        options = _options(page, fig)
        first = options.nth(0).bounding_box()
        assert abs(first["y"] - photo["y"]) < 5 and first["width"] >= 90, fig
        n = 0 if options.nth(0).get_attribute("aria-checked") != "true" else 1
        options.nth(n).tap()
        assert options.nth(n).get_attribute("aria-checked") == "true", fig
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
    check_row(page, "debugging")
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
