"""A CSV or JSON Lines body of any size, in pieces: decode a piece, predict it, encode it, next.

With SAGEMAKER_MAX_PAYLOAD_IN_MB=0 (a batch transform's MaxPayloadInMB=0) SageMaker sends a
payload "arbitrarily large ... using HTTP chunked encoding" (API reference, CreateTransformJob).
For the runtime's own decoders and a handler whose predict_fn and output_fn answer row by row
(`batchable`, `line_per_row`), with a line format in and out, such a body is cut into pieces of
whole lines (about PIECE_BYTES each) as it arrives; each piece goes through the runtime's decoder
and one predict_fn call, and its encoded rows are appended to the answer. Memory holds one piece,
not the body.

The answer is the concatenation of the pieces' answers, which is what the whole body would have
given, as output_fn writes one line per row. What a piece's decoder or predict_fn
says of its rows is said of the body's: the row (CSV) or line (JSON Lines) numbers in an error are
moved by the lines of the pieces before it, a header is only taken from the first piece, and every
piece must have the first one's width.

This module knows nothing of HTTP (see container.serving.streamed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from container.codecs import decode, mediatypes
from container.contract.functions import Handler
from container.errors import BadRequest, InferenceError
from container.inference import pipeline

STREAMABLE = frozenset({mediatypes.CSV, mediatypes.JSONLINES})
PIECE_BYTES = 1024 * 1024
# "row 12" / "line 12" in the decoders' and handlers' messages.
NUMBERING = re.compile(r"\b(row|line) (\d+)\b")


def streamable(handler: Handler, content_type: str | None, accept: str) -> mediatypes.MediaType | None:
    """The parsed Content-Type when this request can be served in pieces; None otherwise.

    Only when the pieces' answers, one after another, are the whole body's answer: the runtime
    decodes the body, predict_fn answers one entry per row (its layer promises `batchable`), and
    output_fn writes one line per row (the runtime's encoders, or a layer that promises
    `line_per_row`).
    """
    if handler.reads_own_input or handler.predict_fn is None or accept not in STREAMABLE:
        return None
    if not handler.predict_fn.options.batchable:
        return None
    if handler.writes_own_output and not (handler.output_fn and handler.output_fn.options.line_per_row):
        return None
    try:
        media_type = mediatypes.parse_content_type(content_type)
    except InferenceError:
        return None  # the whole-body path answers it (415 saying why)
    return media_type if media_type.essence in STREAMABLE else None


class LineChunker:
    """Cuts a stream of byte chunks into pieces of whole lines, each about `target` bytes or more."""

    def __init__(self, target: int = PIECE_BYTES) -> None:
        self.target = target
        self.pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.pending += data
        pieces = []
        while len(self.pending) >= self.target:
            cut = self.pending.rfind(b"\n")
            if cut < 0:
                break  # one long line so far: wait for its end
            pieces.append(bytes(self.pending[: cut + 1]))
            del self.pending[: cut + 1]
        return pieces

    def finish(self) -> bytes | None:
        rest, self.pending = bytes(self.pending), bytearray()
        return rest or None


@dataclass
class PieceDecoder:
    """Decodes the pieces of one body in order, keeping the body's row numbers and width."""

    media_type: mediatypes.MediaType
    header_row: bool = True  # may the body's first CSV row be a header (not in a batch transform job)
    lines_before: int = 0  # lines (counted as the decoders count them) in earlier pieces
    width: int | None = None
    rows: int = 0

    def decode(self, piece: bytes) -> np.ndarray | None:
        """The piece's rows; None for a piece with no rows (blank lines only)."""
        first = self.lines_before == 0
        offset = self.lines_before
        self.lines_before += piece.count(b"\n")
        if not piece.strip():
            return None
        try:
            # Only the body's first row may be a header: a later piece's first row is a record.
            rows = decode.decode_body(piece, self.media_type, header_row=self.header_row and first)
        except BadRequest as exc:
            if exc.code == "empty_input" and not first:
                return None
            raise self.rebase(exc, offset) from None
        self._check_width(rows, piece, offset)
        self.rows += len(rows)
        return rows

    def rebase(self, error: BaseException, offset: int) -> BaseException:
        """The same error with its row/line number counted from the start of the body."""
        if offset == 0 or not isinstance(error, InferenceError):
            return error
        details = dict(error.details)
        key = next((k for k in ("row", "line") if isinstance(details.get(k), int)), None)
        if key is None:
            return error
        number = details[key]
        details[key] = number + offset
        message = NUMBERING.sub(
            lambda m: f"{m.group(1)} {int(m.group(2)) + offset}" if int(m.group(2)) == number else m.group(0),
            error.message,
            count=1,
        )
        return type(error)(message, error.status_code, code=error.code, **details)

    def _check_width(self, rows: np.ndarray, piece: bytes, offset: int) -> None:
        width = rows.shape[1] if rows.ndim == 2 else None
        if self.width is None:
            self.width = width
            return
        if width == self.width:
            return
        index = next(i for i, line in enumerate(piece.split(b"\n")) if line.strip())
        number = offset + index + 1
        kind = "row" if self.media_type.essence == mediatypes.CSV else "line"
        source = "CSV" if kind == "row" else "JSON Lines"
        raise BadRequest(
            f"{source}: {kind} {number} has {width} values, expected {self.width} as in the rows before",
            code="ragged_rows",
            expected=self.width,
            found=width,
            **{kind: number},
        )


def predict_piece(
    handler: Handler,
    model: Any,
    rows: np.ndarray,
    item: pipeline.BatchItem,
    on_predict: pipeline.PredictObserver,
) -> tuple[bytes, float]:
    """predict_fn and output_fn on one piece's rows (on the model thread): its answer and model time."""
    ((ok, value),) = pipeline.predict_batch(
        handler, model, [pipeline.BatchItem(rows, item.accept, item.context)], on_predict
    )
    if not ok:
        raise value
    return value.body, value.model_seconds
