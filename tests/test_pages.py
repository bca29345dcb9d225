"""Figure numbering across included section files, missing values, and figure JSON inlined in the page
(sitegen/pages.py)."""
import json

from sitegen.pages import number_figures, with_includes


def test_numbers_follow_included_sections_in_order(tmp_path):
    (tmp_path / "a.md").write_text('{{ figure("second") }}\n{% include "b.md" %}\n')
    (tmp_path / "b.md").write_text('{{ figure("third") }}\n')
    text = '{{ figure("first") }}\n{% include "a.md" %}\n{%- include "missing.md" -%}\n'
    expanded = with_includes(text, tmp_path)
    assert number_figures(expanded, ["third", "second", "first", "unplaced"]) == {
        "first": 1, "second": 2, "third": 3, "unplaced": 4}


def test_figures_in_methods_blocks_are_numbered_after_the_body():
    """A figure placed in `::: methods` is shown in the appendix, after every body figure: numbers follow
    reading order, not the order of the source."""
    text = ('{{ figure("a") }}\n\n::: methods\n**M.** text\n\n{{ figure("study") }}\n:::\n\n'
            '{{ figure("b") }}\n\n::: aside\n{{ figure("c") }}\n:::\n')
    assert number_figures(text, ["a", "b", "c", "study"]) == {"a": 1, "b": 2, "c": 3, "study": 4}


def test_missing_value_survives_what_the_article_does_with_numbers():
    import jinja2

    from sitegen.pages import Missing
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = ('{{ "%.2f"|format(m.a.b["c"]) }} {{ (100 * m.p)|round(1, "floor") }} {{ m.layers|join(", ") }}'
            '{% for k, v in m.items() %}x{% endfor %} {{ m.n - 1 }} {{ m.xs|length }}')
    assert env.from_string(text).render(m=Missing()) == "nan nan  nan 0"


def test_cossim_text_follows_what_the_gain_did():
    """The sentence about the gain across powers p is chosen from the numbers, never typed."""
    from pathlib import Path

    import jinja2

    from sitegen.pages import FigureVars
    section = (Path(__file__).resolve().parents[1] / "article" / "sections" / "10-making.md").read_text()
    start = section.index('{% set s = fig.cossim_sweep.metrics %}')
    text = section[start:section.index("default $p = 0$", start)]

    def render(p0, p2):
        metrics = {"cases": 4, "photos": 2, "cosine": {"p0": 0.7, "p2": 0.9}, "gain": {"p0": p0, "p2": p2}}
        fig = {"cossim_sweep": FigureVars("cossim_sweep", 3, metrics, {}, {})}
        return " ".join(jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(
            fig=fig).split())

    assert "stays about where it was (1.03 and 0.99)" in render(1.03, 0.99)
    assert "on 2 photos at an early and a middle layer. On them, higher powers" in render(1.03, 0.99)
    assert "gain falls from 1.20 to 0.90" in render(1.2, 0.9) and "without giving up" not in render(1.2, 0.9)
    assert "gain rises too, from 1.00 to 1.30" in render(1.0, 1.3)


def test_figure_json_inlined_in_the_page_cannot_end_its_script_element(tmp_path):
    """A figure's JSON sits inside <script type="application/json">, where any `</script` ends the element
    (HTML's script data state): data holding one must come back whole through an HTML parser."""
    from html.parser import HTMLParser

    from sitegen.config import BuildConfig
    from sitegen.frontmatter import parse
    from sitegen.pages import render_page
    from sitegen.pipeline import Article

    path = tmp_path / "index.md"
    path.write_text("---\ntitle: T\ndescription: D\nauthors:\n  - name: A B\ndate: 2026-01-15\nlicence: CC-BY-4.0\n"
                    "bibtex_key: b2026\n---\n\nText.\n\n{{ figure(\"x\") }}\n")
    meta, _, _ = parse(path.read_text(), path)
    data = {"label": "a </script><script>alert(1)</script> b", "upper": "</SCRIPT >", "more": "<\\/ and </"}
    index = {"title": "X", "caption": "C.", "layout": "l-body", "view": "grid", "sheets": [], "tiles": {},
             "data": data, "metrics": {}}
    page = render_page(Article(path, path.read_text(), meta, {}), {"x": index}, {}, BuildConfig(),
                       {"scripts": [], "styles": []})

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside, self.texts = False, []

        def handle_starttag(self, tag, attrs):
            if tag == "script" and ("class", "figure-data") in attrs:
                self.inside = True
                self.texts.append("")

        def handle_endtag(self, tag):
            self.inside = self.inside and tag != "script"

        def handle_data(self, text):
            if self.inside:
                self.texts[-1] += text

    parser = Scripts()
    parser.feed(page)
    assert len(parser.texts) == 1
    assert json.loads(parser.texts[0]) == index


def test_compute_seconds_counts_a_shared_run_once_and_every_assembly():
    from sitegen.pages import compute_seconds

    run = lambda key, s: {"key": key, "provenance": {"seconds": s}}
    a = {"provenance": {"assemble_s": 1.0, "runs": [run("x", 10.0), run("y", 5.0)]}}
    b = {"provenance": {"assemble_s": 2.0, "runs": [run("x", 10.0)]}}
    assert compute_seconds([a, b]) == 18.0 and compute_seconds([b]) == 12.0 and compute_seconds([]) == 0
