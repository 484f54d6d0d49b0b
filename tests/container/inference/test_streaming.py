"""A body in pieces (container.inference.streaming): whole lines per piece, and the body's own row
numbers, header and width kept across pieces. Pure."""

from __future__ import annotations

import numpy as np
import pytest

from container.codecs import mediatypes
from container.errors import BadRequest
from container.inference.streaming import LineChunker, PieceDecoder

CSV = mediatypes.parse_media_type("text/csv")
JSONLINES = mediatypes.parse_media_type("application/jsonlines")


def test_chunker_cuts_at_line_ends_only() -> None:
    chunker = LineChunker(target=10)
    assert chunker.feed(b"1,2\n3,") == []
    assert chunker.feed(b"4\n5,6\n7,8") == [b"1,2\n3,4\n5,6\n"]
    assert chunker.feed(b"xxxxxxxxxxxx") == []  # one long line: no line end to cut at yet
    assert chunker.feed(b"\n9\n") == [b"7,8xxxxxxxxxxxx\n9\n"]
    assert chunker.finish() is None
    chunker.feed(b"tail")
    assert chunker.finish() == b"tail"


def test_pieces_decode_to_the_rows_of_the_whole_body() -> None:
    body = b"a,b\n1,2\n\n3,4\n5,6\n7,8\n"
    decoder = PieceDecoder(CSV)
    pieces = [b"a,b\n1,2\n\n", b"3,4\n5,6\n", b"7,8\n"]
    rows = np.vstack([decoder.decode(piece) for piece in pieces])
    assert rows.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert decoder.rows == 4 and decoder.lines_before == body.count(b"\n")


def test_an_error_in_a_later_piece_names_the_body_row() -> None:
    decoder = PieceDecoder(CSV)
    decoder.decode(b"1,2\n3,4\n")
    with pytest.raises(BadRequest) as caught:
        decoder.decode(b"5,6\n7,x\n")
    assert caught.value.message == "CSV: row 4, column 2: 'x' is not a number"
    assert caught.value.details == {"row": 4, "column": 2}


def test_only_the_first_piece_may_hold_a_header() -> None:
    decoder = PieceDecoder(CSV)
    decoder.decode(b"f1,f2\n1,2\n")
    with pytest.raises(BadRequest) as caught:
        decoder.decode(b"\nname,2\n3,4\n")
    assert caught.value.message == "CSV: row 4, column 1: 'name' is not a number"


def test_every_piece_has_the_first_pieces_width() -> None:
    decoder = PieceDecoder(JSONLINES)
    decoder.decode(b"[1,2]\n[3,4]\n")
    with pytest.raises(BadRequest) as caught:
        decoder.decode(b"[1,2,3]\n")
    assert caught.value.code == "ragged_rows"
    assert caught.value.message == "JSON Lines: line 3 has 3 values, expected 2 as in the rows before"


def test_jsonlines_line_numbers_and_blank_pieces() -> None:
    decoder = PieceDecoder(JSONLINES)
    decoder.decode(b"[1]\n[2]\n")
    assert decoder.decode(b"\n  \n") is None
    with pytest.raises(BadRequest, match="line 5 is not valid JSON"):
        decoder.decode(b"[3\n")


def test_rebase_leaves_other_numbers_alone() -> None:
    decoder = PieceDecoder(CSV)
    error = BadRequest("row 2 has 3 columns, not row 2's 4 (row 2)", code="x", row=2)
    moved = decoder.rebase(error, 10)
    assert moved.message == "row 12 has 3 columns, not row 2's 4 (row 2)"
    assert moved.details == {"row": 12} and moved.code == "x"
    assert decoder.rebase(error, 0) is error


def test_served_in_pieces_only_when_the_answers_go_row_by_row() -> None:
    import types

    from container.contract.functions import resolve
    from container.inference.streaming import streamable
    from handlers import sklearn

    assert streamable(resolve(None, sklearn.HANDLER), "text/csv", "text/csv") == CSV
    assert streamable(resolve(None, sklearn.HANDLER), "text/csv", "application/json") is None  # one document
    assert streamable(resolve(None, sklearn.HANDLER), "application/x-npy", "text/csv") is None

    def output_fn(prediction, accept):
        return b"one answer for the whole body", accept

    user = types.ModuleType("inference")
    user.output_fn = output_fn  # no line_per_row promise: its answers may not be concatenated
    assert streamable(resolve(user, sklearn.HANDLER), "text/csv", "text/csv") is None
    user.BYOC_HANDLER_OPTIONS = {"line_per_row": True}
    assert streamable(resolve(user, sklearn.HANDLER), "text/csv", "text/csv") == CSV

    def predict_fn(data, model):
        return data.sum()

    aggregate = types.ModuleType("inference")
    aggregate.predict_fn = predict_fn  # not batchable: one answer per body, not per row
    assert streamable(resolve(aggregate, sklearn.HANDLER), "text/csv", "text/csv") is None
