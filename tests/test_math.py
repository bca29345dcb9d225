"""Math: LaTeX → MathML (checked as XML), protection from Markdown, and errors naming file and line."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sitegen.errors import BuildError
from sitegen.markdown import convert
from sitegen.math import MathError, to_mathml

M = "{http://www.w3.org/1998/Math/MathML}"
P = Path("article/index.md")


def _tags(mathml: str) -> list[str]:
    return [el.tag.replace(M, "") for el in ET.fromstring(mathml).iter()]


def test_fraction_and_subscript_structure():
    root = ET.fromstring(to_mathml(r"\frac{a}{b_1}"))
    assert root.tag == M + "math" and root.get("display") == "inline"
    frac = root.find(f".//{M}mfrac")
    num, den = list(frac)
    assert [e.text for e in num.iter(M + "mi")] == ["a"]
    sub = den.find(f".//{M}msub")
    assert [e.text for e in sub] == ["b", "1"]


def test_display_math_is_a_scrollable_block():
    out = to_mathml(r"\sum_i x_i", display=True)
    assert out.startswith('<span class="math-display">') and 'display="block"' in out
    assert "munder" in "".join(_tags(out[len('<span class="math-display">'):-len("</span>")]))


def test_bad_latex_raises_naming_it():
    with pytest.raises(MathError) as e:
        to_mathml(r"\frac{a}{")
    assert e.value.latex == r"\frac{a}{" and r"\frac{a}{" in str(e.value)


def _html(md: str) -> str:
    return convert(md, P, set()).html


def test_markdown_does_not_touch_math():
    html = _html(r"Here $a_1 * b_2 * c_3$ and $x_i^2$ stay math.")
    assert "<em>" not in html and html.count("<math") == 2
    root = ET.fromstring(html[html.index("<math"):html.index("</math>") + 7])
    assert [e.text for e in root.iter(M + "mi")] == ["a", "b", "c"]


def test_dollars_that_are_not_math():
    html = _html(r"It costs $5 and $10; escaped \$x\$ too; and `$code$` stays code.")
    assert "<math" not in html
    assert "$5 and $10" in html and "$x$" in html and "<code>$code$</code>" in html


def test_display_math_across_lines():
    html = _html("Text:\n\n$$a +\nb$$\n")
    assert html.count('<span class="math-display">') == 1
    assert [e.text for e in ET.fromstring(html[html.index("<math"):html.index("</math>") + 7]).iter(M + "mi")] == ["a", "b"]


def test_bad_math_in_article_names_file_and_line():
    with pytest.raises(BuildError) as e:
        convert("Intro.\n\nFine $x$.\n\nBroken $\\frac{a}{$ here.\n", P, set(), first_line=10)
    assert e.value.line == 14 and str(e.value).startswith("article/index.md:14: cannot render math")
