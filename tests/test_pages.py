"""Figure numbering across included section files (sitegen/pages.py)."""
from sitegen.pages import number_figures, with_includes


def test_numbers_follow_included_sections_in_order(tmp_path):
    (tmp_path / "a.md").write_text('{{ figure("second") }}\n{% include "b.md" %}\n')
    (tmp_path / "b.md").write_text('{{ figure("third") }}\n')
    text = '{{ figure("first") }}\n{% include "a.md" %}\n{%- include "missing.md" -%}\n'
    expanded = with_includes(text, tmp_path)
    assert number_figures(expanded, ["third", "second", "first", "unplaced"]) == {
        "first": 1, "second": 2, "third": 3, "unplaced": 4}


def test_missing_value_survives_what_the_article_does_with_numbers():
    import jinja2

    from sitegen.pages import Missing
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = ('{{ "%.2f"|format(m.a.b["c"]) }} {{ (100 * m.p)|round(1, "floor") }} {{ m.layers|join(", ") }}'
            '{% for k, v in m.items() %}x{% endfor %} {{ m.n - 1 }} {{ m.xs|length }}')
    assert env.from_string(text).render(m=Missing()) == "nan nan  nan 0"
