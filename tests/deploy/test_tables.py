"""Tables for people: the terminal's text tables and the benchmark's Markdown tables."""

from __future__ import annotations

from deploy.tables import markdown_table, text_table


def test_table_aligns_text_left_and_numbers_right() -> None:
    text = text_table(["name", "count"], [["a", 1], ["bbb", 12345], ["c", None]])
    assert text.splitlines() == [
        "name   count",
        "----  ------",
        "a          1",
        "bbb   12,345",
        "c          -",
    ]


def test_an_empty_text_table_is_its_header() -> None:
    assert text_table(["a", "b"], []).splitlines() == ["a  b", "-  -"]


def test_markdown_table_aligns_the_columns_it_is_told_to() -> None:
    text = markdown_table(
        ["server", "req/s", "p99"], [["byoc", "1,200", 3.5], ["mms", "-", ""]], right={1, 2}
    )
    assert text == "| server | req/s | p99 |\n|---|---:|---:|\n| byoc | 1,200 | 3.5 |\n| mms | - |  |\n"
