"""Numbers in the article text (sitegen/numbers.py): true minus signs, no negative zero, powers of ten, counts."""
from __future__ import annotations

import pytest

from sitegen.markdown import expand
from sitegen.numbers import count_of, format_number, typographic


@pytest.mark.parametrize(("fmt", "value", "want"), [
    ("%.2f", 0.5, "0.50"),
    ("%.2f", -0.5, "−0.50"),              # U+2212, as the figures write it
    ("%.2f", -0.001, "0.00"),             # rounds to zero: no sign
    ("%.0f", -0.4, "0"),
    ("%.0f%%", -12.0, "−12%"),
    ("%.2f", -12.345, "−12.35"),
    ("%.1e", 4.2e-08, "4.2 × 10<sup>−8</sup>"),
    ("%.0e", 3e-05, "3 × 10<sup>−5</sup>"),
    ("%.1e", 2.5e+03, "2.5 × 10<sup>3</sup>"),
    ("%.2f to %.2f", (-0.004, -0.25), "0.00 to −0.25"),
])
def test_format_prints_numbers_as_the_figures_do(fmt, value, want):
    args = value if isinstance(value, tuple) else (value,)
    assert format_number(fmt, *args) == want


def test_typographic_leaves_words_and_ranges_alone():
    assert typographic("top-1, block-10, x-0") == "top-1, block-10, x-0"
    assert typographic("0–255") == "0–255"


def test_the_article_environment_uses_them(tmp_path):
    page = tmp_path / "a.md"
    page.write_text('{{ "%.2f"|format(x) }} and {{ "%.2f"|format(z) }}; {{ n|of(3) }}; {{ 2|of(3) }}\n')
    assert expand(page, {"x": -0.25, "z": -0.0001, "n": 3}) == "−0.25 and 0.00; all 3 photos; 2 of the 3 photos\n"


def test_and_list_joins_as_prose():
    from sitegen.numbers import and_list
    assert [and_list(x) for x in ([], ["2"], ["2", "4"], [2, 4, 7])] == ["", "2", "2 and 4", "2, 4 and 7"]


def test_count_of_says_all_both_none_and_of_the():
    assert count_of(3, 3) == "all 3 photos"
    assert count_of(2, 2) == "both photos"
    assert count_of(2, 3) == "2 of the 3 photos"
    assert count_of(0, 3, "spans") == "none of the 3 spans"
    assert count_of(1, 1) == "the photo" and count_of(0, 1) == "not the photo"
    assert count_of(float("nan"), 3) == "nan photos"          # a figure not built yet
    with pytest.raises(ValueError):
        count_of(4, 3)
