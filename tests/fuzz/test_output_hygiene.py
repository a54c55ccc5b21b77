"""Names from files are shown, never obeyed: terminal escapes, Markdown/HTML, CSV formulas."""

from __future__ import annotations

import csv
from dataclasses import dataclass

from qsnnsim._guard import escape_lines, escape_text, text_problem
from qsnnsim.report import columns as col
from qsnnsim.report.terminal import table


def test_escape_text_turns_control_characters_and_surrogates_into_escapes():
    assert escape_text("plain name") == "plain name"
    assert escape_text("\x1b[2Jx") == "\\x1b[2Jx"
    assert escape_text("a\ud800b") == "a\\ud800b"
    assert escape_text("bell\x07") == "bell\\x07"
    assert escape_text("zero\u200bwidth") == "zero\\u200bwidth"
    escape_text("\udcff").encode("utf-8")  # never a UnicodeEncodeError
    assert escape_lines("one\n\x1btwo") == "one\n\\x1btwo"


def test_text_problem_names_the_character():
    assert text_problem("fc1") == ""
    assert "U+001B" in text_problem("a\x1bb")
    assert "surrogate" in text_problem("\ud800")
    assert "at most 128" in text_problem("x" * 129)


def test_terminal_table_cells_are_escaped():
    text = table(["population", "n"], [["\x1b]0;pwned\x07", 3]])
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text


@dataclass
class _Row:
    name: str = col.column("text", "a name")
    value: int = col.column("count", "a number")


def test_csv_text_cells_starting_like_a_formula_are_neutralised_and_read_back(tmp_path):
    rows = [_Row("=HYPERLINK(\"http://x\")", -3), _Row("+1", 5), _Row("-x", -7), _Row("@SUM(A1)", 0),
            _Row("plain", 1)]
    path = tmp_path / "t.csv"
    col.write_csv(str(path), rows, _Row)
    with open(path, encoding="utf-8", newline="") as fh:
        cells = list(csv.reader(fh))[1:]
    assert [c[0] for c in cells] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-x", "'@SUM(A1)", "plain"]
    assert [c[1] for c in cells] == ["-3", "5", "-7", "0", "1"]  # numbers stay numbers
    back = col.read_csv(str(path), _Row)
    assert [r.name for r in back] == [r.name for r in rows]
    assert [r.value for r in back] == [-3, 5, -7, 0, 1]


def test_markdown_and_html_tables_escape_names():
    rows = [_Row("<script>alert(1)</script>|*x*", 1), _Row("\x1b[31m", 2)]
    md = col.markdown_table(rows, _Row)
    assert "<script>" not in md and "\\<script\\>" in md and "\\|" in md and "\x1b" not in md
    html = col.html_table(rows, _Row)
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html
