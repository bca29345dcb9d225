"""The built fixture page in headless Chromium: no errors, previews on hover and focus, phones, offline."""
from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _no_overflow(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_page_loads_clean_and_stays_inside_its_folder(open_page, site_url):
    probe = open_page(site_url + "index.html", viewport={"width": 1280, "height": 900})
    page = probe.page
    page.wait_for_function("document.querySelectorAll('[data-mounted=ok]').length === 2")
    assert probe.errors == []
    assert probe.outside == []
    assert all(u.startswith(site_url) for u in probe.requests), probe.requests
    asked = {u[len(site_url):] for u in probe.requests}
    assert {"assets/css/article.css", "assets/js/page.js", "figures/tiles/default-0.webp"} <= asked
    assert page.locator("math").count() >= 3
    assert _no_overflow(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-desktop.png"), full_page=True)


BOX = "(s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.right]; }"


@pytest.mark.parametrize("width", [1280, 1100, 900])
def test_layout_columns_at_desktop_widths(open_page, site_url, width):
    page = open_page(site_url + "index.html", viewport={"width": width, "height": 900}).page
    text = page.evaluate(BOX, ".d-article > p")
    wide = page.evaluate(BOX, "figure.l-page")
    body = page.evaluate(BOX, "figure.l-body")
    aside = page.evaluate(BOX, ".d-article > aside")
    assert wide[1] > text[1] and (wide[0] < text[0] if width >= 1000 else wide[0] == text[0])  # Distill's grid
    assert abs(body[0] - text[0]) < 1 and abs(body[1] - text[1]) < 1    # l-body is the text column
    assert aside[0] >= text[1] and aside[1] <= width                    # the aside sits in the right gutter
    assert 450 <= text[1] - text[0] <= 720                              # a readable measure


def test_print_hides_previews_and_toc(open_page, site_url):
    page = open_page(site_url + "index.html", viewport={"width": 1000, "height": 800}).page
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    ARTIFACTS.mkdir(exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "page.pdf"))
    assert (ARTIFACTS / "page.pdf").stat().st_size > 10_000


def test_citation_preview_on_hover_and_focus(open_page, site_url):
    page = open_page(site_url + "index.html", viewport={"width": 1280, "height": 900}).page
    card = page.locator("#hover-card")
    first = page.locator(".citation-link").first
    first.hover()
    card.wait_for(state="visible")
    assert "Feature Visualization" in card.inner_text()
    assert first.get_attribute("aria-describedby") == "hover-card"
    page.mouse.move(5, 5)
    card.wait_for(state="hidden")
    second = page.locator(".citation-link").nth(1)      # [@mahendran2015understanding; @olah2017feature]
    second.focus()
    card.wait_for(state="visible")
    text = card.inner_text()
    assert "Understanding Deep Image Representations" in text and "Feature Visualization" in text
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")


def test_footnote_preview_on_hover_and_focus(open_page, site_url):
    page = open_page(site_url + "index.html", viewport={"width": 1280, "height": 900}).page
    card = page.locator("#hover-card")
    ref = page.locator("a.footnote-ref").first
    ref.hover()
    card.wait_for(state="visible")
    assert "A footnote with math" in card.inner_text()
    assert card.locator("math").count() == 1 and card.locator(".footnote-backref").count() == 0
    page.mouse.move(5, 5)
    card.wait_for(state="hidden")
    page.keyboard.press("Tab")          # focus reaches the footnote link by keyboard
    for _ in range(40):
        if page.evaluate("document.activeElement.classList.contains('footnote-ref')"):
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('footnote-ref')")
    card.wait_for(state="visible")
    assert "A footnote with math" in card.inner_text()


def test_phone_has_no_horizontal_overflow_and_tap_previews(open_page, site_url):
    probe = open_page(site_url + "index.html", **PHONE)
    page = probe.page
    assert not page.evaluate("matchMedia('(hover: hover)').matches")
    page.wait_for_function("document.querySelectorAll('[data-mounted]').length === 2")
    assert _no_overflow(page), page.evaluate("document.scrollingElement.scrollWidth")
    page.locator(".citation-link").first.tap()
    page.locator("#hover-card").wait_for(state="visible")
    assert _no_overflow(page)
    box = page.locator("#hover-card").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert probe.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-phone.png"), full_page=True)


def test_works_from_file_url_in_dark_mode(open_page, built_site):
    url = (built_site / "index.html").as_uri()
    probe = open_page(url, inside=built_site.as_uri() + "/", color_scheme="dark",
                      viewport={"width": 1000, "height": 800})
    page = probe.page
    page.wait_for_function("document.querySelectorAll('[data-mounted=ok]').length === 2")
    assert probe.errors == [] and probe.outside == []
    assert all(u.startswith(built_site.as_uri() + "/") for u in probe.requests), probe.requests
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(22, 22, 22)"
    page.locator(".citation-link").first.hover()
    page.locator("#hover-card").wait_for(state="visible")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-dark-file.png"), full_page=False)
