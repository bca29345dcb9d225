"""The training-data figures on the `build.py --quick` page, in Chromium: the caricature grid names both data
sets and each checkpoint and follows hover and keys; the CKA chart gives each point a tooltip with the
checkpoint's test accuracy and moves across series with the arrow keys; nothing scrolls sideways at 375 px.
Screenshots go to test-artifacts/article-training_*-<width>.png."""
from __future__ import annotations

import pytest

from tests.test_article import _check_mounted, _load, _shown
from tests.test_views import DESKTOP, PHONE, _focus_ring, _index, _no_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIGS = ["training_data", "training_drift"]


def test_training_data_grid_names_the_data_sets_and_follows_hover_and_keys(open_page, article_url):
    probe = open_page(article_url + "index.html", **DESKTOP)
    page = _load(probe)
    _check_mounted(page, FIGS, 1280)
    assert probe.errors == []
    data = _index(page, "training_data")["data"]
    labels = [r["label"] for r in data["rows"]]
    assert any("ImageNet (step 0)" in s for s in labels)
    assert any("Fashion-MNIST · step" in s for s in labels) and any("dead leaves · step" in s for s in labels)
    first = _shown(page, "training_data")
    page.locator("#fig-training_data tbody tr").nth(1).locator(".cv-cell").nth(0).hover()
    hovered = _shown(page, "training_data")
    assert hovered == f"{data['rows'][1]['key']}/{data['cols'][0]['key']}" != first
    page.mouse.move(2, 2)
    assert _shown(page, "training_data") == first
    page.locator("#fig-training_data .cv-cell[aria-selected=true]").focus()
    page.keyboard.press("ArrowUp")
    assert _shown(page, "training_data") not in (first, hovered) and _focus_ring(page)


def test_training_drift_chart_tooltips_give_cka_and_accuracy(open_page, article_url):
    page = _load(open_page(article_url + "index.html", **DESKTOP))
    series = _index(page, "training_drift")["data"]["panels"][0]["series"]
    assert {s["label"].split(" · ")[0] for s in series} == {"Fashion-MNIST", "dead leaves"}
    points = page.locator("#fig-training_drift circle.cv-pt")
    assert points.count() == sum(len(s["points"]) for s in series)
    points.nth(0).focus()
    tip = page.locator("#fig-training_drift .cv-tooltip")
    assert tip.is_visible() and tip.inner_text().startswith(series[0]["label"] + " · layer ")
    assert "CKA" in tip.inner_text() and "test accuracy" in tip.inner_text()
    page.keyboard.press("ArrowDown")
    assert tip.inner_text().startswith(series[1]["label"] + " · layer ")


def test_training_figures_fit_a_phone(open_page, article_url):
    page = _load(open_page(article_url + "index.html", **PHONE))
    assert _no_overflow(page)
    _check_mounted(page, FIGS, 375)
