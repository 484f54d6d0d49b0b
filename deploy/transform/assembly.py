"""Writing a file's outputs one after another, as TransformOutput.AssembleWith says. Pure.

SageMaker API reference, TransformOutput.AssembleWith: `None` concatenates the results "in binary
format"; `Line` adds "a newline character at the end of every transformed record".

A transformed record is one answer (one request's response), or, with DataProcessing, one record's
output cut from it. With Line, an answer that already ends with a newline gets no second one: a
container's CSV or JSON Lines answer ends its last line itself, and a blank line after every request
would break the file's one-line-per-record shape (AWS does not document this case; see the README).

A record that failed under --keep-going is written as the placeholder text followed by a newline,
whatever AssembleWith says, so it takes one line of the output as its record's output would have.
"""

from __future__ import annotations

ASSEMBLE_WITH = ("None", "Line")
NEWLINE = b"\n"


def piece(output: bytes, assemble_with: str) -> bytes:
    """The bytes written for one transformed record."""
    if assemble_with == "Line" and not output.endswith(NEWLINE):
        return output + NEWLINE
    return output


def placeholder(text: str) -> bytes:
    """The bytes written for a record that failed, when the run keeps going (--keep-going)."""
    return text.encode("utf-8") + NEWLINE
