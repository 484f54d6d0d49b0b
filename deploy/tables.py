"""Tables for people: plain text for the terminal, Markdown for reports (pure).

Every table the command line and the benchmark print goes through here, so they look alike.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Aligned columns: text to the left, numbers to the right (with thousands separators), a rule
    under the header, "-" for a missing value."""
    cells = [[_text_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), "  ".join("-" * width for width in widths), *map(line, cells)])


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Collection[int] = ()
) -> str:
    """A GitHub Markdown table; the columns numbered in `right` are right-aligned."""
    rule = "|" + "".join("---:|" if index in right else "---|" for index in range(len(headers)))
    lines = [_markdown_row(headers), rule, *(_markdown_row(row) for row in rows)]
    return "\n".join(lines) + "\n"


def _markdown_row(values: Sequence[object]) -> str:
    return "| " + " | ".join(str(value) for value in values) + " |"


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None


def _text_cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
