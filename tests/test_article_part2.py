"""The real article's part-2 figures (attribution_classes … debugging) on the `build.py --quick` page, in Chromium.

Each figure mounts without console errors; attribution_classes shows its remedies (a row at block 10 and 14, a
table), and in it hovering, focusing (arrow keys) or tapping a class switches the caricature, and hovering the
caricature lays that class's attribution map over the photo; the compare figures follow clicks. Screenshots:
test-artifacts/article-<id>-<width>.png.
"""
from __future__ import annotations

import pytest

from tests.test_article import _check_mounted, _load
from tests.test_views import DESKTOP, PHONE, _car, _index, _no_overflow, _shows

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PART2 = ["attribution_classes", "attribution_hidden", "iterated", "debugging"]
FIG = "#fig-attribution_classes"


def _ambiguous(data: dict) -> tuple[int, str, list[dict]]:
    """Return (index, key, items) of the first photo with several classes."""
    for i, photo in enumerate(data["photos"]):
        items = data["panels"][photo["key"]]["items"]
        if len(items) > 1:
            return i, photo["key"], items
    raise AssertionError("no photo with several classes in attribution_classes")


def _open_ambiguous(page):
    """Pick the ambiguous photo; return (index JSON, the layer key shown, its class items)."""
    index = _index(page, "attribution_classes")
    i, _, items = _ambiguous(index["data"])
    page.locator(f"{FIG} .cv-choice-thumbs .cv-option").nth(i).click()
    layer = index["data"]["initial"]["layer"]
    return index, layer, items


def test_part2_figures_mount_offline_without_errors_at_two_widths(open_page, article_url):
    for width, options in ((1280, DESKTOP), (375, PHONE)):
        probe = open_page(article_url + "index.html", **options)
        page = _load(probe)
        _check_mounted(page, PART2, width)
        assert _no_overflow(page), width
        assert probe.errors == [] and probe.outside == []


def test_remedy_table_and_row_show_each_objective_with_its_numbers(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    table = _index(page, "attribution_classes")["data"]["table"]
    strip, box = page.locator(f"{FIG} .cv-remedies"), page.locator(f"{FIG} .cv-remedy-table")
    page.locator(f"{FIG} .cv-option[data-key=head]").click()
    assert strip.is_hidden() and box.is_hidden()                             # no remedies at the head
    page.locator(f"{FIG} .cv-option[data-key=block10]").click()
    rows = page.locator(f"{FIG} .cv-matrix tbody tr")                        # the table follows the layer:
    assert rows.count() == len(table["rows"]) == 5                           # p and cos at block 10 only
    assert [t.strip() for t in page.locator(f"{FIG} .cv-matrix thead th").all_inner_texts()][1:] == [
        "p · block 10", "cos · block 10"]
    accent = rows.nth(4).locator("td")
    assert rows.nth(4).locator("th").inner_text() == table["rows"][4]["label"]
    assert accent.nth(1).inner_text() == f"{table['rows'][4]['values']['cos/block10']:.2f}"
    page.locator(f"{FIG} .cv-option[data-key=block14]").click()
    assert page.locator(f"{FIG} .cv-matrix thead th").nth(1).inner_text().strip() == "p · block 14"
    page.locator(f"{FIG} .cv-option[data-key=block10]").click()
    photo = _index(page, "attribution_classes")["data"]["photos"][0]["key"]
    page.locator(f"{FIG} .cv-choice-thumbs .cv-option").nth(0).click()
    cells = _index(page, "attribution_classes")["data"]["remedy_cells"][photo]["block10"]
    cards = strip.locator(".cv-remedy")
    assert cards.count() == len(cells) == 4
    assert [cards.nth(i).get_attribute("data-objective") for i in range(4)] == list(cells)
    assert cards.nth(3).locator(".cv-tile").get_attribute("data-tile") == cells["accent"]["tile"]
    assert probe.errors == []


def test_class_hover_and_arrow_keys_switch_the_caricature(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    index, layer, items = _open_ambiguous(page)
    car, classes = _car(page, "attribution_classes"), page.locator(f"{FIG} .cv-class")
    assert classes.count() == len(items)
    assert _shows(car, index, items[0]["cells"][layer]["tile"])
    classes.nth(1).hover()
    assert _shows(car, index, items[1]["cells"][layer]["tile"])
    assert items[1]["label"] in page.locator(f"{FIG} .cv-title").inner_text()
    page.mouse.move(2, 2)                                                    # leaving restores the selection
    assert _shows(car, index, items[0]["cells"][layer]["tile"])
    classes.nth(0).focus()
    page.keyboard.press("ArrowDown")                                         # focus selects the next class
    assert classes.nth(1).get_attribute("aria-selected") == "true"
    assert _shows(car, index, items[1]["cells"][layer]["tile"])
    assert probe.errors == []


def test_hovering_the_caricature_overlays_its_attribution_map(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    index, layer, items = _open_ambiguous(page)
    overlay = page.locator(f"{FIG} .cv-overlay")
    assert not overlay.is_visible()
    page.locator(f"{FIG} .cv-class").nth(1).click()
    _car(page, "attribution_classes").hover()
    assert overlay.is_visible() and _shows(overlay, index, items[1]["cells"][layer]["attribution"])
    page.mouse.move(2, 2)
    assert not overlay.is_visible()
    page.locator(f"{FIG} .cv-checkbox").check()                              # kept on across a layer switch
    other = next(lay["key"] for lay in index["data"]["layers"] if lay["key"] != layer)
    page.locator(f"{FIG} .cv-choice:not(.cv-choice-thumbs) .cv-option[data-key='{other}']").click()
    assert overlay.is_visible() and _shows(overlay, index, items[1]["cells"][other]["attribution"])
    assert _shows(_car(page, "attribution_classes"), index, items[1]["cells"][other]["tile"])
    assert probe.errors == []


def test_tapping_a_class_selects_it_and_tapping_the_caricature_toggles_the_map(open_page, article_url):
    probe = open_page(article_url + "index.html", **PHONE)
    page = _load(probe)
    index = _index(page, "attribution_classes")
    i, _, items = _ambiguous(index["data"])
    page.locator(f"{FIG} .cv-choice-thumbs .cv-option").nth(i).tap()
    layer = index["data"]["initial"]["layer"]
    page.locator(f"{FIG} .cv-class").nth(1).tap()
    assert page.locator(f"{FIG} .cv-class").nth(1).get_attribute("aria-selected") == "true"
    car, overlay = _car(page, "attribution_classes"), page.locator(f"{FIG} .cv-overlay")
    assert _shows(car, index, items[1]["cells"][layer]["tile"]) and not overlay.is_visible()
    car.tap()
    assert overlay.is_visible()
    car.tap()
    assert not overlay.is_visible()
    assert _no_overflow(page) and probe.errors == []


@pytest.mark.parametrize("fig", ["attribution_hidden", "iterated", "debugging"])
def test_compare_figures_show_options_side_by_side_and_mark_them(open_page, article_url, fig):
    from tests.test_article import check_marks, check_row
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    check_row(page, fig)
    check_marks(page, fig)
    assert probe.errors == []



def test_the_remedy_table_fits_a_phone(open_page, article_url):
    """On a phone the remedies table shows the chosen layer's two numbers beside wrapped row labels, with
    nothing to scroll (it showed one of four numeric columns)."""
    page = _load(open_page(article_url + "index.html", **PHONE))
    page.locator(f"{FIG} .cv-option[data-key=block10]").click()
    sizes = page.evaluate(f"() => {{ const s = document.querySelector('{FIG} .cv-matrix-scroll');"
                          " return [s.scrollWidth, s.clientWidth]; }")
    assert sizes[0] <= sizes[1] + 1, sizes
    assert page.locator(f"{FIG} .cv-matrix thead th").count() == 3
