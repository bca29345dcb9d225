"""Front matter: fields, authors and affiliations, and file:line errors for each kind of bad input."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sitegen.errors import BuildError
from sitegen.frontmatter import parse

P = Path("article/index.md")
GOOD = """---
title: A title
description: What it is about.
authors:
  - name: Ada King Lovelace
    url: https://example.org/ada
    affiliations:
      - Analytical Engines
      - {name: Royal Society, url: https://example.org/rs}
  - name: Émile Zola
    affiliation: Université de Test
date: 2026-01-15
licence: CC-BY-4.0
bibtex_key: king2026title
acknowledgements: Thanks.
---

## Body
"""


def test_parses_fields_authors_and_body_line():
    fm, body, line = parse(GOOD, P)
    assert fm.title == "A title" and fm.date == dt.date(2026, 1, 15) and fm.licence == "CC-BY-4.0"
    assert [a.name for a in fm.authors] == ["Ada King Lovelace", "Émile Zola"]
    assert fm.authors[0].url == "https://example.org/ada"
    assert [(f.name, f.url) for f in fm.authors[0].affiliations] == [("Analytical Engines", None),
                                                                     ("Royal Society", "https://example.org/rs")]
    assert fm.authors[1].affiliations[0].name == "Université de Test"
    assert fm.authors[0].last_first == "Lovelace, Ada King" and fm.authors[0].bibtex == "Lovelace, Ada King"
    assert fm.acknowledgements == "Thanks." and fm.contributions == ""
    assert body.lstrip().startswith("## Body")
    assert GOOD.splitlines()[line - 1] == "" and GOOD.splitlines()[line] == "## Body"


def _error(text: str) -> BuildError:
    with pytest.raises(BuildError) as e:
        parse(text, P)
    assert "\n" not in str(e.value)
    return e.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_missing_front_matter_is_an_error_at_line_1():
    e = _error("# Just Markdown\n")
    assert e.line == 1 and "front matter" in e.message and str(e).startswith("article/index.md:1: ")


def test_malformed_yaml_names_its_line():
    bad = GOOD.replace("licence: CC-BY-4.0", "licence: [CC-BY-4.0")
    e = _error(bad)
    assert "malformed front matter" in e.message
    assert e.line in (_line_of(bad, "licence"), _line_of(bad, "bibtex_key"))


def test_unknown_field_names_its_line_and_the_valid_fields():
    bad = GOOD.replace("licence:", "license:")
    e = _error(bad)
    assert e.line == _line_of(bad, "license:") and "'license'" in e.message and "licence" in e.message


def test_missing_required_field():
    e = _error(GOOD.replace("description: What it is about.\n", ""))
    assert "missing field 'description'" in e.message


@pytest.mark.parametrize("date", ["2026-13-01", "soon", "15/01/2026"])
def test_bad_date_names_its_line(date):
    bad = GOOD.replace("date: 2026-01-15", f"date: {date}")
    e = _error(bad)
    assert e.line == _line_of(bad, "date:") and "YYYY-MM-DD" in e.message


def test_bad_author_entry():
    bad = GOOD.replace("    affiliation: Université de Test", "    affil: Université de Test")
    e = _error(bad)
    assert e.line == _line_of(bad, "authors:") and "affiliations" in e.message


def test_family_names_and_groups():
    text = GOOD.replace("  - name: Émile Zola\n", "  - name: Ludwig van Beethoven\n    family: van Beethoven\n"
                        "  - name: The Caricatures Authors\n  - name: Émile Zola\n")
    fm, _, _ = parse(text, P)
    ludwig, group = fm.authors[1], fm.authors[2]
    assert (ludwig.last, ludwig.last_first) == ("van Beethoven", "van Beethoven, Ludwig")
    assert (group.last, group.last_first, group.bibtex) == ("The Caricatures Authors",) * 2 + (
        "{The Caricatures Authors}",)
    assert _error(text.replace("family: van Beethoven", "family: Bach")).line == _line_of(text, "authors:")


def test_unclosed_block_and_non_mapping():
    assert _error("---\ntitle: x\n").line == 1
    assert "mapping" in _error("---\n- a\n- b\n---\nbody\n").message


def test_authors_can_come_from_citation_cff(tmp_path):
    """`authors: ../CITATION.cff` takes the article's authors from the citation file: one source for both."""
    (tmp_path / "CITATION.cff").write_text(
        "cff-version: 1.2.0\nauthors:\n  - given-names: Ada King\n    family-names: Lovelace\n"
        "    affiliation: Analytical Engines\n    website: https://example.org/ada\n"
        "  - name: The Lucid Authors\n")
    (tmp_path / "article").mkdir()
    text = GOOD.replace(GOOD[GOOD.index("authors:"):GOOD.index("date:")], "authors: ../CITATION.cff\n")
    fm, _, _ = parse(text, tmp_path / "article" / "index.md")
    assert [a.name for a in fm.authors] == ["Ada King Lovelace", "The Lucid Authors"]
    ada, group = fm.authors
    assert ada.last_first == "Lovelace, Ada King" and ada.url == "https://example.org/ada"
    assert [f.name for f in ada.affiliations] == ["Analytical Engines"]
    assert group.is_group and group.bibtex == "{The Lucid Authors}" and group.affiliations == ()
    with pytest.raises(BuildError, match="cannot read"):
        parse(text.replace("../CITATION.cff", "../MISSING.cff"), tmp_path / "article" / "index.md")
