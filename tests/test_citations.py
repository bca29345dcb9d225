"""Citations: BibTeX formatting (accents, case), numbering by first use, and file:line errors."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from pybtex.database.input.bibtex import Parser

from sitegen import citations
from sitegen.citations import Citer, format_entry, latex_to_html
from sitegen.errors import BuildError
from sitegen.markdown import convert

ROOT = Path(__file__).resolve().parents[1]
BIB = r"""
@article{olah2017feature,
  author = {Olah, Chris and Mordvintsev, Alexander and Schubert, Ludwig},
  title = {Feature Visualization}, journal = {Distill}, year = {2017}, volume = {2}, number = {11},
  doi = {10.23915/distill.00007}, url = {https://distill.pub/2017/feature-visualization}
}
@inproceedings{acc,
  author = {Gr{\"o}{\ss}e, J{\"u}rgen and Chen, Liang-Chieh and {Google Brain Team}},
  title = {{EfficientNet} and {ReLU6}: Caf{\'e} \emph{Notes}}, booktitle = {Proc. {CVPR}},
  pages = {10--20}, year = {2020}, url = {https://example.org/a_b~c%20d}
}
"""


def _refs(tmp_path: Path, text: str = BIB) -> dict:
    p = tmp_path / "references.bib"
    p.write_text(text)
    return citations.load(p)


def test_accents_become_unicode_and_case_is_kept():
    out = latex_to_html(r"{EfficientNet} f{\"u}r Caf{\'e} {\c{c}}a \& {ReLU6}")
    assert out == "EfficientNet für Café ça &amp; ReLU6"
    assert unicodedata.name(out[14]) == "LATIN SMALL LETTER U WITH DIAERESIS"
    assert latex_to_html(r"\emph{Notes}") == "<em>Notes</em>"


def test_format_entry_authors_venue_and_raw_url(tmp_path):
    refs = _refs(tmp_path)
    a = refs["olah2017feature"]
    assert a.authors == "Olah, C., Mordvintsev, A. and Schubert, L."
    assert a.venue == "Distill, Vol 2(11). DOI: 10.23915/distill.00007" and a.year == "2017"
    b = refs["acc"]
    assert b.authors == "Größe, J., Chen, L.-C. and Google Brain Team"
    assert b.title == "EfficientNet and ReLU6: Café <em>Notes</em>"
    assert b.venue == "Proc. CVPR, pp. 10–20"
    assert b.url == "https://example.org/a_b~c%20d"
    assert f'href="{b.url}"' in b.html


def test_format_entry_with_arxiv_and_github():
    data = Parser().parse_string(r"""
@misc{lucid, author = {{The Lucid Authors}}, title = {Lucid}, year = {2017}, url = {https://github.com/tensorflow/lucid}}
@inproceedings{s, author = {Simonyan, Karen}, title = {T}, booktitle = {ICLR Workshop}, year = {2014},
  eprint = {1312.6034}, archiveprefix = {arXiv}}""")
    assert format_entry("lucid", data.entries["lucid"]).venue == "GitHub"
    assert format_entry("s", data.entries["s"]).venue == "ICLR Workshop. arXiv:1312.6034"


def test_bib_syntax_error_and_duplicate_name_their_line(tmp_path):
    with pytest.raises(BuildError) as e:
        _refs(tmp_path, "@article{a, title = {x}}\n\n@article{b,\n  title = {y\n}\n")
    assert e.value.file.name == "references.bib" and e.value.line is not None and e.value.line >= 4
    with pytest.raises(BuildError) as e:
        _refs(tmp_path, "@article{a, title = {x}}\n@misc{b, title={y}}\n@misc{a, title = {z}}\n")
    assert e.value.line == 3 and "repeated" in e.value.message


def test_citer_numbers_by_first_use_across_pieces(tmp_path):
    refs = {k: citations.Reference(k, k, "", "2020", "", "") for k in "abc"}
    citer = Citer(refs)
    cite = '<d-cite data-keys="{}"></d-cite>'
    body = citer.sub(cite.format("b") + cite.format("c,b") + cite.format("b"))
    appendix = citer.sub(cite.format("a"))
    assert [r.key for r in citer.cited] == ["b", "c", "a"]
    assert re.findall(r">\[([\d, ]+)\]<", body) == ["1", "1, 2", "1"]
    assert ">[3]<" in appendix and 'href="#ref-a"' in appendix
    assert 'data-refs="ref-c ref-b"' in body


def test_markdown_citations_and_unknown_key_line():
    html = convert("See [@a; @b] and [@b].\n", Path("x.md"), {"a", "b"}).html
    assert html.count("<d-cite") == 2 and 'data-keys="a,b"' in html
    with pytest.raises(BuildError) as e:
        convert("Line one.\n\nLine [@a] three [@nope].\n", Path("article/index.md"), {"a"}, first_line=20)
    assert str(e.value).startswith("article/index.md:22: unknown citation key 'nope'")


@pytest.mark.parametrize("tag", ['<d-cite key="nope"></d-cite>', '<d-cite data-keys="a,nope"></d-cite>',
                                 "<d-cite key='a, nope'>\n</d-cite>"])
def test_raw_d_cite_with_an_unknown_key_names_file_line_and_key(tag):
    with pytest.raises(BuildError) as e:
        convert(f"Line one.\n\nLine *three* {tag} [@a].\n", Path("article/index.md"), {"a"}, first_line=20)
    assert str(e.value).startswith("article/index.md:22: unknown citation key 'nope'")
    with pytest.raises(BuildError) as e:
        convert("One.\n\nThree: [^n]\n\n[^n]: A note <d-cite key=\"zz\"></d-cite>.\n", Path("x.md"), set())
    assert e.value.line == 5 and "'zz'" in e.value.message
    with pytest.raises(BuildError, match="names no citation key") as e:
        convert("One.\n<d-cite></d-cite>\n", Path("x.md"), {"a"})
    assert e.value.line == 2


def test_raw_d_cite_with_known_keys_is_numbered_like_brackets():
    refs = {k: citations.Reference(k, k, "", "2020", "", "") for k in "ab"}
    html = convert('See <d-cite key="b, a"></d-cite>, [@a] and `<d-cite key="nope">` in code.\n', Path("x.md"),
                   set(refs)).html
    page = Citer(refs).sub(html)
    assert re.findall(r">\[([\d, ]+)\]<", page) == ["1, 2", "2"]
    assert "<code>&lt;d-cite key=\"nope\"&gt;</code>" in page and "<d-cite" not in page


def test_real_bibliography_has_the_required_entries():
    refs = citations.load(ROOT / "article" / "references.bib")
    expected = {"olah2017feature": "2017", "mahendran2015understanding": "2015", "olah2018building": "2018",
                "carter2019activation": "2019", "adebayo2018sanity": "2018", "tan2019efficientnet": "2019",
                "sandler2018mobilenetv2": "2018", "lucid": "2017", "mordvintsev2018differentiable": "2018",
                "simonyan2014deep": "2014"}
    assert {k: refs[k].year for k in expected} == expected
    assert refs["tan2019efficientnet"].title.startswith("EfficientNet: Rethinking Model Scaling")
    assert refs["lucid"].url == "https://github.com/tensorflow/lucid"


def test_unknown_key_in_an_included_section_names_that_file_and_its_source_line(tmp_path):
    """Figure expansion, `{% include %}` and `{%- … %}` move lines; the error still names the source line."""
    from sitegen.pages import render_body
    from sitegen.pipeline import Article
    (tmp_path / "sections").mkdir()
    index = tmp_path / "index.md"
    index.write_text('---\ntitle: T\n---\n\nIntro [@a].\n\n{{ figure("one") }}\n\n'
                     '{% include "sections/50-attribution.md" %}\n', encoding="utf-8")
    section = tmp_path / "sections" / "50-attribution.md"
    section.write_text('## Attribution\n\n{{ figure("two") }}\n\n{% set m = fig.two.metrics %}\n'
                       '{%- set n = m.count %}\nThere are {{ n }} [@a].\n\nA bad key [@nope] here.\n',
                       encoding="utf-8")
    figures = {i: {"title": i, "caption": "c", "layout": "l-body", "view": "v", "metrics": {"count": 3}}
               for i in ("one", "two")}
    article = Article(index, index.read_text(encoding="utf-8"), None, {"a": None})
    with pytest.raises(BuildError) as e:
        render_body(article, figures, None)
    assert e.value.file == section and e.value.line == 9, str(e.value)
    assert "unknown citation key 'nope'" in e.value.message
    index.write_text(index.read_text(encoding="utf-8").replace("Intro [@a]", "Intro [@zz]"), encoding="utf-8")
    with pytest.raises(BuildError) as e:   # the same key in the article file itself
        render_body(Article(index, index.read_text(encoding="utf-8"), None, {"a": None}), figures, None)
    assert (e.value.file, e.value.line) == (index, 5)
