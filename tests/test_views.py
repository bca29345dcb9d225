"""The figure views (assets/js/views) on the fixture article tests/fixtures/views, in headless Chromium.

Each view is driven by mouse, keyboard and touch. What a tile box shows is checked against the figure's
tile table (the CSS position a tile at [sheet, x, y, w, h] must get, computed here) and, for the teaser, by
comparing the rendered pixels with the synthetic tiles themselves.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import re
import threading

import numpy as np
import pytest
from PIL import Image

from sitegen.contract import FigureConfig
from tests.conftest import ARTIFACTS, ROOT, build_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SITE = ROOT / "tests" / "fixtures" / "views"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
FIGURES = ["fx_grid", "fx_compare", "fx_row", "fx_explorer", "fx_strip", "fx_classes", "fx_chart", "fx_dist"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def views_url(tmp_path_factory):
    """Build the views fixture article once and serve it on 127.0.0.1; yield its page URL."""
    out = build_site(tmp_path_factory.mktemp("views-site"), SITE).out
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def _load(probe, open_all: bool = True):
    """Wait until every figure is mounted; return the page. Figures far below the fold load their sprite sheets
    only when they near the viewport: open_all lets every figure load them now, as scrolling past it would."""
    probe.page.wait_for_function("document.querySelectorAll('[data-figure]:not([data-mounted=pending])').length"
                                 f" === {len(FIGURES) + 2} && !document.querySelector('[data-mounted=pending]')")
    if open_all:
        probe.page.evaluate("window.Caricatures.openAll()")
    return probe.page


def _index(page, fig: str) -> dict:
    return page.evaluate("id => JSON.parse(document.querySelector('#fig-' + id + ' .figure-data').textContent)", fig)


def _expected_css(index: dict, key: str) -> tuple[float, float, str]:
    """Return the background-position percentages and sheet file that show tile `key` filling its box."""
    s, x, y, w, h = index["tiles"][key]
    sheet = index["sheets"][s]
    px = 100 * x / (sheet["width"] - w) if sheet["width"] > w else 0.0
    py = 100 * y / (sheet["height"] - h) if sheet["height"] > h else 0.0
    return px, py, sheet["file"]


def _shows(locator, index: dict, key: str) -> bool:
    """Return True if the element's computed background shows tile `key` of `index`."""
    style = locator.evaluate("n => { const s = getComputedStyle(n); return [s.backgroundPosition, "
                             "s.backgroundImage, s.backgroundSize, n.offsetWidth, n.offsetHeight]; }")
    pos, image, size, width, height = style
    nums = [float(v) for v in re.findall(r"(-?[\d.]+)%", pos)]
    px, py, file = _expected_css(index, key)
    s, _, _, w, h = index["tiles"][key]
    sheet = index["sheets"][s]
    scale = [float(v) for v in re.findall(r"([\d.]+)%", size)]
    return (len(nums) == 2 and abs(nums[0] - px) < 1e-3 and abs(nums[1] - py) < 1e-3 and image.endswith(f'{file}")')
            and abs(scale[0] - 100 * sheet["width"] / w) < 1e-3 and abs(scale[1] - 100 * sheet["height"] / h) < 1e-3
            and abs(width * h - height * w) <= max(w, h))


def _tiles_of(fig: str) -> dict[str, np.ndarray]:
    """Run the fixture figure script and return all its tiles by key."""
    path = SITE / "figures" / f"{fig}.py"
    spec = importlib.util.spec_from_file_location(f"views_{fig}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result = mod.make(mod.SPEC, FigureConfig())
    return {k: v for group in result.tiles.values() for k, v in group.items()}


def _closest_tile(locator, tiles: dict[str, np.ndarray]) -> tuple[str, float]:
    """Screenshot the element and return the tile it looks most like, with the mean absolute error (0–255)."""
    shot = Image.open(__import__("io").BytesIO(locator.screenshot())).convert("RGB")
    got = np.asarray(shot, np.float32)
    errors = {k: float(np.abs(np.asarray(Image.fromarray(t).resize(shot.size, Image.BILINEAR), np.float32) - got).mean())
              for k, t in tiles.items()}
    best = min(errors, key=errors.get)
    return best, errors[best]


def _car(page, fig: str):
    return page.locator(f"#fig-{fig} .cv-inspector .cv-panel:last-child .cv-tile")


def _no_overflow(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def _tab_into(page, selector: str, limit: int = 80):
    """Press Tab until focus is inside `selector`; return the focused element's handle."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement.closest(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _focus_ring(page) -> bool:
    return page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                         " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 })()")


def test_page_mounts_every_view_offline_and_reports_bad_data_once(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    for fig in FIGURES:
        assert page.get_attribute(f"#fig-{fig}", "data-mounted") == "ok", fig
        assert page.locator(f"#fig-{fig} .cv").count() == 1 and page.locator(f"#fig-{fig} .cv-error").count() == 0
    box = page.locator("#fig-fx_broken .cv-error")
    assert box.is_visible() and "nope/missing" in box.inner_text()
    assert page.locator("#fig-fx_broken .cv-cell").count() == 2          # the rest of the figure still works
    malformed = page.locator("#fig-fx_malformed")
    assert malformed.get_attribute("data-mounted") == "error"
    assert "compare: data.options must be a non-empty list" in malformed.locator(".cv-error").inner_text()
    assert sorted(e.split('"')[1] for e in probe.errors) == ["fx_broken", "fx_malformed"]   # one log each
    assert "nope/missing" in " ".join(probe.errors)
    page.locator("#fig-fx_broken .cv-cell").nth(1).hover()                # the missing tile again: no new log
    assert len(probe.errors) == 2
    assert probe.outside == []
    ARTIFACTS.mkdir(exist_ok=True)
    for fig in FIGURES:
        page.locator(f"#fig-{fig}").screenshot(path=str(ARTIFACTS / f"view-{fig}-desktop.png"))


def test_eager_sheets_load_up_front_and_hover_requests_nothing(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    eager = set()
    for fig in FIGURES:
        for sheet in _index(page, fig)["sheets"]:
            if fig != "fx_explorer" or sheet["group"] in ("photos", "layer-stem"):
                eager.add(sheet["file"])
    page.wait_for_function("files => files.every(f => performance.getEntriesByType('resource')"
                           ".some(e => e.name.endsWith(f)))", arg=list(eager))
    before = list(probe.requests)
    assert not any("layer-block7" in u for u in before)
    for selector in ["#fig-fx_grid .cv-cell", "#fig-fx_grid .cv-rowhead", "#fig-fx_grid .cv-colhead",
                     "#fig-fx_compare .cv-option", "#fig-fx_strip .cv-strip-item", "#fig-fx_classes .cv-class",
                     "#fig-fx_explorer .cv-item >> nth=5"]:
        items = page.locator(selector)
        for i in range(items.count()):
            items.nth(i).hover()
    _car(page, "fx_classes").hover()
    assert page.locator("#fig-fx_classes .cv-overlay").is_visible()
    page.wait_for_timeout(100)
    assert probe.requests == before


def test_grid_follows_hover_focus_and_arrow_keys(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index, tiles = _index(page, "fx_grid"), _tiles_of("fx_grid")
    cars = {k: v for k, v in tiles.items() if not k.startswith("photo/")}
    car, title = _car(page, "fx_grid"), page.locator("#fig-fx_grid .cv-title")
    assert _shows(car, index, "bus/block5") and title.inner_text() == "Photo bus · Layer block5"
    page.locator("#fig-fx_grid tbody tr").nth(0).locator(".cv-cell").nth(1).hover()
    assert _shows(car, index, "cat/block2") and title.inner_text() == "Photo cat · Layer block2"
    best, error = _closest_tile(car, cars)                          # the pixels, not only the CSS
    assert best == "cat/block2" and error < 8
    page.locator("#fig-fx_grid .cv-rowhead").nth(2).hover()                # row header: keeps the column
    assert _shows(car, index, "lake/block2")
    assert _shows(page.locator("#fig-fx_grid .cv-inspector .cv-panel:first-child .cv-tile"), index, "photo/lake")
    page.locator("#fig-fx_grid .cv-colhead").nth(0).hover()                # column header: keeps the row
    assert _shows(car, index, "lake/stem") and "cos" in page.locator("#fig-fx_grid .cv-metrics").inner_text()
    page.locator("#fig-fx_grid .cv-colhead").nth(3).hover()                # a cell that was not computed
    assert page.locator("#fig-fx_grid .cv-metrics").inner_text() == "not computed"
    page.mouse.move(2, 2)                                                  # leaving restores the selection
    assert _shows(car, index, "bus/block5")

    _tab_into(page, "#fig-fx_grid")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Photo bus, Layer block5"
    assert _focus_ring(page)
    page.keyboard.press("ArrowRight")
    assert _shows(car, index, "bus/block9") and _focus_ring(page)
    page.keyboard.press("ArrowUp")
    assert _shows(car, index, "cat/block9")
    page.keyboard.press("ArrowUp")                                         # onto the column header
    assert page.evaluate("document.activeElement.classList.contains('cv-colhead')")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert _shows(car, index, "cat/block5")
    assert page.locator("#fig-fx_grid .cv-cell[aria-selected=true]").get_attribute("aria-label") == \
        "Photo cat, Layer block5"


def test_compare_switches_models_and_keeps_photo_and_layer(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index = _index(page, "fx_compare")
    car = _car(page, "fx_compare")
    models = page.locator("#fig-fx_compare [role=radiogroup][aria-label=Model] [role=radio]")
    assert _shows(car, index, "cat/early/A")
    models.nth(1).hover()
    assert _shows(car, index, "cat/early/B")
    assert _shows(models.nth(2).locator(".cv-tile"), index, "cat/early/C")   # options preview their tile
    page.locator("#fig-fx_compare [aria-label=Photo] [role=radio]").nth(1).click()
    assert _shows(car, index, "bus/early/A")                                 # model A kept, photo switched
    models.nth(2).click()
    page.locator("#fig-fx_compare [aria-label=Layer] [role=radio]").nth(1).click()
    assert models.nth(2).get_attribute("aria-disabled") == "true"             # C has no "late" layer
    assert "not available" in page.locator("#fig-fx_compare .cv-metrics").inner_text()
    models.nth(0).focus()
    assert _shows(car, index, "bus/late/A")
    page.keyboard.press("ArrowRight")
    assert _shows(car, index, "bus/late/B") and _focus_ring(page)
    page.keyboard.press("ArrowRight")                                         # C is skipped: stays on B
    assert _shows(car, index, "bus/late/B") and models.nth(1).get_attribute("aria-checked") == "true"
    assert page.locator("#fig-fx_compare .cv-title").inner_text() == "Bus · late of B · Model B"


def _card(page, fig: str, key: str):
    return page.locator(f"#fig-{fig} .cv-option[data-key='{key}']")


def test_compare_row_shows_every_option_side_by_side_with_its_metrics_and_the_matrix(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index = _index(page, "fx_row")
    cells, fig = index["data"]["cells"], page.locator("#fig-fx_row")
    assert fig.locator(".cv-inspector").count() == 0
    photo = fig.locator(".cv-card-photo .cv-tile")
    assert _shows(photo, index, "photo/cat") and "Cat" in fig.locator(".cv-card-photo").inner_text()
    for m in "ABC":                                             # each option its own tile, label and metrics
        card = _card(page, "fx_row", m)
        assert _shows(card.locator(".cv-tile"), index, f"cat/early/{m}")
        text = card.inner_text()
        assert f"Model {m}" in text and f"early of {m}" in text and "cos " in text and "gain " in text
    boxes = [_card(page, "fx_row", m).bounding_box() for m in "ABC"] + [photo.bounding_box()]
    assert len({round(b["y"]) for b in boxes[:3]}) == 1 and boxes[0]["width"] >= 120    # one row, big tiles
    assert _card(page, "fx_row", "B").get_attribute("aria-checked") == "true"
    table = fig.locator("table.cv-matrix")
    assert table.locator("tbody tr").nth(0).locator("td").all_inner_texts() == ["100%", "50%", "33%"]
    assert table.locator("tbody tr.is-shown th").inner_text() == "B"
    assert fig.locator(".cv-matrix-groups").inner_text() == "A ↔ B 125%"
    _card(page, "fx_row", "C").hover()                          # hover marks the card and the matrix row
    assert table.locator("tbody tr.is-shown th").inner_text() == "C"
    page.mouse.move(2, 2)
    assert table.locator("tbody tr.is-shown th").inner_text() == "B"
    fig.locator("[aria-label=Layer] [role=radio]").nth(1).click()  # another layer: every card and the matrix follow
    for m in "AB":
        assert _shows(_card(page, "fx_row", m).locator(".cv-tile"), index, f"cat/late/{m}")
    assert _card(page, "fx_row", "C").get_attribute("aria-disabled") == "true"
    assert "not available" in _card(page, "fx_row", "C").inner_text()
    assert table.locator("tbody tr").nth(0).locator("td").all_inner_texts() == ["50%", "25%", "17%"]
    fig.locator("[aria-label=Photo] [role=radio]").nth(1).click()
    assert _shows(photo, index, "photo/bus") and _shows(_card(page, "fx_row", "A").locator(".cv-tile"), index,
                                                      "bus/late/A")
    assert cells["bus"]["late"]["A"]["label"] in _card(page, "fx_row", "A").inner_text()
    _card(page, "fx_row", "A").focus()                          # keyboard: arrows select the next card
    page.keyboard.press("ArrowRight")
    assert _card(page, "fx_row", "B").get_attribute("aria-checked") == "true" and _focus_ring(page)
    assert all("fx_broken" in e or "fx_malformed" in e for e in probe.errors), probe.errors


def test_compare_row_fits_a_phone(open_page, views_url):
    probe = open_page(views_url, **PHONE)
    page = _load(probe)
    fig = page.locator("#fig-fx_row")
    fig.scroll_into_view_if_needed()
    photo = fig.locator(".cv-card-photo").bounding_box()
    first = _card(page, "fx_row", "A").bounding_box()
    assert abs(first["y"] - photo["y"]) < 5 and first["width"] >= 90      # beside the photo, not far below it
    assert _no_overflow(page)
    fig.screenshot(path=str(ARTIFACTS / "view-fx_row-phone.png"))


def test_explorer_set_without_the_selected_photo_selects_its_first(open_page, views_url):
    """Choosing a set that hides the selected photo selects that set's first photo: the inspector never empties."""
    page = _load(open_page(views_url, **DESKTOP))
    index, fig = _index(page, "fx_explorer"), "#fig-fx_explorer"
    page.locator(f"{fig} .cv-item").nth(2).click()                      # an animal
    page.locator(f"{fig} [aria-label=Set] [role=radio]", has_text="Places").click()
    page.wait_for_function("() => !document.querySelector('#fig-fx_explorer .cv-pending')")
    selected = page.locator(f"{fig} .cv-item[aria-selected=true]")
    assert selected.count() == 1 and selected.get_attribute("data-key") == "p00"
    assert _shows(_car(page, "fx_explorer"), index, "stem/p00")
    assert page.locator(f"{fig} .cv-title").inner_text().startswith("p00")
    page.mouse.move(2, 2)                                               # leaving keeps it
    assert _shows(_car(page, "fx_explorer"), index, "stem/p00")


def test_explorer_chart_labels_clear_the_tick_labels(open_page, views_url):
    """Each panel's label sits on a line of its own above the panel: a longer label ("cosine") would otherwise
    run into the top tick label."""
    page = _load(open_page(views_url, **DESKTOP))
    overlaps = page.evaluate("""() => {
        const svg = document.querySelector('#fig-fx_explorer svg.cv-chart');
        const box = n => n.getBoundingClientRect();
        const cut = (a, b) => a.top < b.bottom && b.top < a.bottom;   // a label has a line of its own
        const labels = [...svg.querySelectorAll('text.cv-axis-label')].map(box);
        const ticks = [...svg.querySelectorAll('text.cv-tick')].map(box);
        return [labels.length, labels.filter(l => ticks.some(t => cut(l, t))).length]; }""")
    assert overlaps == [2, 0]


def test_explorer_loads_a_layer_only_when_picked_and_filters_sets(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index = _index(page, "fx_explorer")
    page.wait_for_function("() => !document.querySelector('#fig-fx_explorer .cv-pending')")
    sheet = next(s["file"] for s in index["sheets"] if s["group"] == "layer-block7")
    items = page.locator("#fig-fx_explorer .cv-item")
    assert items.count() == 120
    assert not any(u.endswith(sheet) for u in probe.requests)
    items.nth(41).hover()
    assert _shows(_car(page, "fx_explorer"), index, "stem/o01")
    page.locator("#fig-fx_explorer [aria-label=Layer] [role=radio]").nth(2).click()
    page.wait_for_function("() => !document.querySelector('#fig-fx_explorer .cv-pending')")
    assert sum(u.endswith(sheet) for u in probe.requests) == 1
    assert _shows(items.nth(41).locator(".cv-tile").nth(1), index, "block7/o01")
    assert not any(u.endswith(next(s["file"] for s in index["sheets"] if s["group"] == "layer-block12"))
                   for u in probe.requests)
    page.locator("#fig-fx_explorer [aria-label=Set] [role=radio]", has_text="Objects").click()
    visible = page.locator("#fig-fx_explorer .cv-item:visible")
    assert visible.count() == 40 and visible.first.get_attribute("data-key") == "o00"
    # Keyboard: Tab reaches the list, arrows walk it, the inspector follows.
    page.locator("#fig-fx_explorer .cv-item:visible").nth(3).click()
    page.keyboard.press("ArrowRight")
    assert _shows(_car(page, "fx_explorer"), index, "block7/o04") and _focus_ring(page)
    page.keyboard.press("ArrowDown")
    key = page.evaluate("document.activeElement.dataset.key")
    assert key > "o04" and _shows(_car(page, "fx_explorer"), index, f"block7/{key}")
    assert page.locator("#fig-fx_explorer .cv-trace").first.get_attribute("points").count(",") == 4


def test_strip_highlights_on_hover_keys_and_slider(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index = _index(page, "fx_strip")
    car, items = _car(page, "fx_strip"), page.locator("#fig-fx_strip .cv-strip-item")
    assert _shows(car, index, "step/512")
    items.nth(3).hover()
    assert _shows(car, index, "step/4") and page.locator("#fig-fx_strip .cv-title").inner_text() == "step 4"
    page.mouse.move(2, 2)
    assert _shows(car, index, "step/512")
    slider = page.locator("#fig-fx_strip input[type=range]")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert _shows(car, index, "step/128") and slider.get_attribute("aria-valuetext") == "step 128"
    assert items.nth(8).get_attribute("aria-selected") == "true"
    items.nth(8).focus()
    page.keyboard.press("Home")
    assert _shows(car, index, "step/0") and slider.input_value() == "0"


def test_classes_show_attribution_caricature_and_map(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    index = _index(page, "fx_classes")
    car, overlay = _car(page, "fx_classes"), page.locator("#fig-fx_classes .cv-overlay")
    classes = page.locator("#fig-fx_classes .cv-class")
    assert _shows(car, index, "car/0") and not overlay.is_visible()
    classes.nth(2).hover()
    assert _shows(car, index, "car/2") and "desk" in page.locator("#fig-fx_classes .cv-title").inner_text()
    car.hover()                                                   # hovering the caricature overlays its map
    assert overlay.is_visible() and _shows(overlay, index, "attr/2")
    page.mouse.move(2, 2)
    assert not overlay.is_visible()
    classes.nth(5).click()                                        # the logit difference item
    assert _shows(car, index, "car/5") and "bookcase − library" in page.locator("#fig-fx_classes .cv-title").inner_text()
    page.locator("#fig-fx_classes input[type=checkbox]").check()
    assert overlay.is_visible() and _shows(overlay, index, "attr/5")
    assert overlay.evaluate("n => getComputedStyle(n).opacity") == "0.6"
    classes.nth(5).focus()
    page.keyboard.press("ArrowUp")
    assert _shows(car, index, "car/4") and _shows(overlay, index, "attr/4") and _focus_ring(page)
    checkbox = page.locator("#fig-fx_classes input[type=checkbox]")
    checkbox.uncheck()
    assert not overlay.is_visible()
    classes.nth(4).focus()
    page.keyboard.press("Shift+Tab")                              # keyboard focus on the caricature peeks …
    assert page.evaluate("document.activeElement.classList.contains('cv-hot')") and overlay.is_visible()
    page.keyboard.press("Enter")                                  # … and Enter keeps the map on
    page.keyboard.press("Tab")
    assert checkbox.is_checked() and overlay.is_visible()


def test_chart_tooltips_on_hover_and_keyboard(open_page, views_url):
    probe = open_page(views_url, **DESKTOP)
    page = _load(probe)
    tip = page.locator("#fig-fx_chart .cv-tooltip")
    points = page.locator("#fig-fx_chart circle.cv-pt")
    assert points.count() == 24 and not tip.is_visible()
    points.nth(3).hover()                                         # panel 1, series A, step 128
    assert tip.is_visible() and tip.inner_text() == "Model A · steps 128: objective 0.750"
    page.mouse.move(2, 2)
    assert not tip.is_visible()
    points.nth(0).focus()
    page.keyboard.press("ArrowRight")
    assert tip.inner_text() == "Model A · steps 32: objective 0.293"
    assert page.evaluate("document.activeElement.matches('circle:focus-visible')")
    page.keyboard.press("ArrowDown")                               # next series, same step
    assert tip.inner_text() == "Model B · steps 32: objective 0.234"
    strip = page.locator("#fig-fx_dist circle.cv-pt")
    assert strip.count() == 48
    strip.nth(23).hover()                                          # drawn last in its column: on top
    assert page.locator("#fig-fx_dist .cv-tooltip").inner_text().startswith("cosine · layer block3: cosine ")


def test_phone_taps_work_and_the_page_never_scrolls_sideways(open_page, views_url):
    probe = open_page(views_url, **PHONE)
    page = _load(probe)
    assert _no_overflow(page)
    grid = _index(page, "fx_grid")
    page.locator("#fig-fx_grid tbody tr").nth(2).locator(".cv-cell").nth(0).tap()
    assert _shows(_car(page, "fx_grid"), grid, "lake/stem")
    cars = {k: v for k, v in _tiles_of("fx_grid").items() if not k.startswith("photo/")}
    assert _closest_tile(_car(page, "fx_grid"), cars)[0] == "lake/stem"        # scaled down, still the tile
    compare = _index(page, "fx_compare")
    page.locator("#fig-fx_compare [aria-label=Model] [role=radio]").nth(2).tap()
    assert _shows(_car(page, "fx_compare"), compare, "cat/early/C")
    explorer = _index(page, "fx_explorer")
    page.locator("#fig-fx_explorer .cv-item").nth(7).tap()
    assert _shows(_car(page, "fx_explorer"), explorer, "stem/a07")
    strip = _index(page, "fx_strip")
    page.locator("#fig-fx_strip .cv-strip-item").nth(1).tap()
    assert _shows(_car(page, "fx_strip"), strip, "step/1")
    classes = _index(page, "fx_classes")
    page.locator("#fig-fx_classes .cv-class").nth(1).tap()
    assert _shows(_car(page, "fx_classes"), classes, "car/1")
    overlay = page.locator("#fig-fx_classes .cv-overlay")
    _car(page, "fx_classes").tap()                                 # a tap toggles the map on …
    assert overlay.is_visible()
    _car(page, "fx_classes").tap()                                 # … and off again
    assert not overlay.is_visible()
    page.locator("#fig-fx_chart circle.cv-pt").nth(2).tap()
    assert page.locator("#fig-fx_chart .cv-tooltip").is_visible()
    assert _no_overflow(page)
    assert len(probe.errors) == 2 and probe.outside == []
    big = _car(page, "fx_grid").bounding_box()
    assert 100 <= big["width"] <= 224                              # a 224 px tile shown smaller by CSS
    ARTIFACTS.mkdir(exist_ok=True)
    for fig in FIGURES:
        page.locator(f"#fig-{fig}").screenshot(path=str(ARTIFACTS / f"view-{fig}-phone.png"))


def test_dark_mode_uses_the_page_colours(open_page, views_url):
    probe = open_page(views_url, color_scheme="dark", **DESKTOP)
    page = _load(probe)
    text = page.evaluate("getComputedStyle(document.querySelector('#fig-fx_grid .cv')).color")
    body = page.evaluate("getComputedStyle(document.body).color")
    assert text == body and text != "rgb(0, 0, 0)"
    page.locator("#fig-fx_explorer").screenshot(path=str(ARTIFACTS / "view-fx_explorer-dark.png"))
    page.locator("#fig-fx_classes").screenshot(path=str(ARTIFACTS / "view-fx_classes-dark.png"))


def test_percentages_strictly_between_0_and_1_never_read_as_0_or_100(open_page, views_url):
    page = _load(open_page(views_url, **DESKTOP))
    fmt = "([v, s]) => window.Caricatures.lib.fmt(v, s)"
    cases = {(0.9996, ".0%"): "99.96%", (0.97, ".0%"): "97%", (1.0, ".0%"): "100%", (0.0002, ".0%"): "0.02%",
             (0.0, ".0%"): "0%", (0.99999999, ".0%"): ">99.99%", (0.00000001, ".0%"): "<0.01%",
             (0.474, ".1%"): "47.4%", (-0.5, ".0%"): "−50%",
             (-0.001, ".2f"): "0.00", (-0.004, ".0%"): "0%", (-0.5, ".2f"): "−0.50", (2.5e-8, ".1e"): "2.5e−8"}
    for (value, spec), want in cases.items():
        assert page.evaluate(fmt, [value, spec]) == want, (value, spec)


def test_tick_labels_never_repeat(open_page, views_url):
    """A narrow range at a coarse format gets more digits (the drift chart read "1.00" at every tick); every
    axis of every chart on the page has distinct tick labels."""
    page = _load(open_page(views_url, **DESKTOP))
    assert page.evaluate("Caricatures.lib.tickLabels([0.998, 0.999, 1.0], '.2f')") == ["0.998", "0.999", "1.000"]
    assert page.evaluate("Caricatures.lib.tickLabels([0, 0.5, 1], '.2f')") == ["0.00", "0.50", "1.00"]
    repeats = page.evaluate("""() => [...document.querySelectorAll('svg')].flatMap(svg => {
        const axes = [];   // x ticks by their row; y ticks by panel (a panel's ticks climb up the page)
        let last = null;
        for (const t of svg.querySelectorAll('text.cv-tick')) {
          const y = Number(t.getAttribute('y')), key = t.getAttribute('text-anchor') + ':' +
            (t.getAttribute('text-anchor') === 'end' ? t.getAttribute('x') : t.getAttribute('y'));
          if (!last || last.key !== key || (key.startsWith('end') && y > last.y)) axes.push([]);
          axes[axes.length - 1].push(t.textContent);
          last = {key, y};
        }
        return axes.filter(l => new Set(l).size !== l.length); })""")
    assert repeats == []


def test_explorer_axes_stay_put_across_sets_and_mark_their_references(open_page, views_url):
    """Switching the set keeps each panel's scale (the hundred-photo chart rescaled on every switch); the
    gain panel draws its reference line (1×, as extreme as the photo) and the picked photo's line has a key."""
    page = _load(open_page(views_url, **DESKTOP))
    ticks = "() => [...document.querySelectorAll('#fig-fx_explorer text.cv-tick')].map(t => t.textContent + '@' + t.getAttribute('y'))"
    before = page.evaluate(ticks)
    for name in ("Objects", "Places", "All"):
        page.locator("#fig-fx_explorer [aria-label=Set] [role=radio]", has_text=name).click()
        assert page.evaluate(ticks) == before, name
    refs = page.locator("#fig-fx_explorer line.cv-ref-line")
    assert refs.count() == 1 and page.locator("#fig-fx_explorer text.cv-ref-label").text_content() == "1×"
    assert page.locator("#fig-fx_explorer text.cv-trace-label").text_content() == "picked photo"
    page.locator("#fig-fx_explorer [aria-label=Set] [role=radio]", has_text="Objects").click()
    page.wait_for_function("() => document.querySelector('#fig-fx_explorer .cv-status').textContent.startsWith('40 photos · ')")


def test_chart_series_take_a_declared_hue_and_lightness(open_page, views_url):
    """Hue for what a series is (a data set), lightness for which of its kind (a checkpoint): the drift chart
    drew four unrelated hues for 2 data sets × 2 checkpoints."""
    page = _load(open_page(views_url, **DESKTOP))
    classes = page.evaluate("""() => ({
        lines: [...document.querySelectorAll('#fig-fx_chart polyline.cv-line')].map(l => l.getAttribute('class')),
        legend: [...document.querySelectorAll('#fig-fx_chart .cv-legend-item')].map(e => e.className),
        opacity: [...document.querySelectorAll('#fig-fx_chart polyline.cv-line')].map(l => getComputedStyle(l).opacity)})""")
    assert classes["lines"] == ["cv-line cv-s2", "cv-line cv-s2 cv-light"] * 2
    assert classes["legend"] == ["cv-legend-item cv-s2", "cv-legend-item cv-s2 cv-light"]
    assert classes["opacity"] == ["1", "0.45"] * 2
