"""Article Markdown: Jinja variables, footnotes, ToC, blocks (aside, methods) and their file:line errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from sitegen.errors import BuildError
from sitegen.markdown import convert, convert_inline, expand

P = Path("article/index.md")


def test_footnotes_are_split_off_with_their_refs_in_the_body():
    c = convert("Text.[^a] More.[^b]\n\n[^a]: First *note*.\n[^b]: Second.\n", P, set())
    assert c.html.count('class="footnote-ref"') == 2 and 'href="#fn:a"' in c.html
    assert "First <em>note</em>." not in c.html
    assert c.footnotes.startswith('<div class="footnote">') and 'id="fn:a"' in c.footnotes
    assert "First <em>note</em>." in c.footnotes


def test_toc_lists_h2_and_h3():
    c = convert("## One\n\ntext\n\n### One a\n\n## Two & more\n\n#### deep\n", P, set())
    assert [(t["name"], t["id"], [ch["name"] for ch in t["children"]]) for t in c.toc] == [
        ("One", "one", ["One a"]), ("Two &amp; more", "two-more", [])]
    from markupsafe import escape
    assert escape(c.toc[1]["name"]) == "Two &amp; more"          # escaped once, not twice


def test_aside_and_methods_blocks():
    c = convert("Para.\n\n::: aside\nA *note*.\n:::\n\n::: methods\nHow we did it.\n:::\n\nEnd.\n", P, set())
    assert '<aside class="l-gutter">\n<p>A <em>note</em>.</p>\n</aside>' in c.html
    assert "How we did it" not in c.html and "%%" not in c.html
    assert c.slots["methods"].strip() == "<p>How we did it.</p>"
    assert c.html.index("Para.") < c.html.index("<aside") < c.html.index("End.")


def test_fences_inside_code_are_left_alone():
    c = convert("```\n::: aside\n:::\n```\n", P, set())
    assert "::: aside" in c.html and "<aside" not in c.html


@pytest.mark.parametrize("text, line, words", [
    ("One.\n\n::: sidebar\nx\n:::\n", 7, "unknown block"),
    ("One.\n\n::: aside\nx\n", 7, "never closed"),
    ("::: aside\n::: methods\n:::\n", 6, "do not nest"),
])
def test_block_errors_name_the_line(text, line, words):
    with pytest.raises(BuildError) as e:
        convert(text, P, set(), first_line=5)
    assert e.value.line == line and words in e.value.message and e.value.file == P


def test_convert_inline_drops_the_paragraph():
    assert convert_inline("A *b* c.", P, set()) == "A <em>b</em> c."


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "index.md"
    p.write_text(text)
    return p


def test_expand_fills_figure_numbers_and_functions(tmp_path):
    p = _write(tmp_path, 'Gain {{ "%.2f"|format(fig.scale.metrics.median_gain) }} {{ shout("x") }}\n')
    out = expand(p, {"fig": {"scale": {"metrics": {"median_gain": 1.23456}}}}, {"shout": str.upper})
    assert out == "Gain 1.23 X\n"


def test_expand_missing_number_names_file_and_line(tmp_path):
    p = _write(tmp_path, "---\ntitle: t\n---\n\nline five\n{{ fig.scale.metrics.nope }}\n")
    with pytest.raises(BuildError) as e:
        expand(p, {"fig": {"scale": {"metrics": {}}}})
    assert e.value.line == 6 and e.value.file == p and "nope" in e.value.message and "\n" not in str(e.value)


def test_expand_syntax_error_and_function_error_name_the_line(tmp_path):
    with pytest.raises(BuildError) as e:
        expand(_write(tmp_path, "a\nb {{ fig.x \n"), {"fig": {}})
    assert e.value.line == 2

    def boom(name):
        raise BuildError(f"unknown figure id {name!r}")

    with pytest.raises(BuildError) as e:
        expand(_write(tmp_path, "a\n\nc {{ figure('zzz') }}\n"), {}, {"figure": boom})
    assert e.value.line == 3 and "zzz" in e.value.message
