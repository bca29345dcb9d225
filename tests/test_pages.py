"""Figure numbering across included section files (sitegen/pages.py)."""
from sitegen.pages import number_figures, with_includes


def test_numbers_follow_included_sections_in_order(tmp_path):
    (tmp_path / "a.md").write_text('{{ figure("second") }}\n{% include "b.md" %}\n')
    (tmp_path / "b.md").write_text('{{ figure("third") }}\n')
    text = '{{ figure("first") }}\n{% include "a.md" %}\n{%- include "missing.md" -%}\n'
    expanded = with_includes(text, tmp_path)
    assert number_figures(expanded, ["third", "second", "first", "unplaced"]) == {
        "first": 1, "second": 2, "third": 3, "unplaced": 4}
