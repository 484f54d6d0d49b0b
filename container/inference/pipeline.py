"""Inference requests through the handler functions: decode, predict, encode.

Knows nothing of HTTP: it takes the body and the negotiated types, and returns the response bytes,
or raises StageFailure saying which stage failed, which decides whose fault it was (see
container.errors.error_response). `invoke` runs a whole request on the model thread;
`decode_request` + `predict_batch` are the same stages split for micro-batching, where several
requests' rows go through predict_fn in one call.

Every function that calls predict_fn reports how many requests that one call served to `on_predict`
(the batching policy's and the metrics' view of batch sizes); a request that failed before
predict_fn is not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from container.codecs import decode, mediatypes
from container.contract.context import Context
from container.contract.functions import Handler
from container.errors import DECODE, ENCODE, PREDICT
from container.inference import batching
from container.types import Outcome

# The types sagemaker-inference hands to input_fn as text rather than bytes; we do the same, with
# the request's charset applied, so modules written for it keep working.
TEXT_TYPES = frozenset({mediatypes.JSON, mediatypes.CSV})

# Called with the number of requests one predict_fn call served.
PredictObserver = Callable[[int], None]


class StageFailure(Exception):
    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage} failed: {error!r}")
        self.stage = stage
        self.error = error


def invoke(
    handler: Handler, model: Any, body: bytes, accept: str, context: Context, on_predict: PredictObserver
) -> Outcome:
    """Run the request through transform_fn, or input_fn -> predict_fn -> output_fn."""
    if handler.transform_fn is not None:
        content_type, input_data = _prepare_input(body, context.content_type)
        # transform_fn mixes decoding and prediction, so its failures count as the model's.
        on_predict(1)
        started = time.perf_counter()
        result = _stage(
            PREDICT, handler.transform_fn, model, input_data, content_type, accept, context=context
        )
        model_seconds = time.perf_counter() - started
    else:
        assert handler.predict_fn and handler.output_fn
        data = decode_request(handler, body, context)
        on_predict(1)
        started = time.perf_counter()
        prediction = _stage(PREDICT, handler.predict_fn, data, model, context=context)
        model_seconds = time.perf_counter() - started
        result = _stage(ENCODE, handler.output_fn, prediction, accept, context=context)
    try:
        response_body, response_type = _normalise_output(result, accept)
    except TypeError as exc:
        raise StageFailure(ENCODE, exc) from exc
    return Outcome(response_body, response_type, model_seconds)


def decode_request(handler: Handler, body: bytes, context: Context) -> Any:
    """The DECODE stage alone: input_fn on the request body."""
    assert handler.input_fn is not None
    if not handler.reads_own_input:
        # The runtime's own codecs take the bytes and the parsed type: no detour through text.
        # parse_content_type is cached per header value, and a bad header is a 415 saying why.
        try:
            return decode.decode_body(body, mediatypes.parse_content_type(context.content_type))
        except Exception as exc:
            raise StageFailure(DECODE, exc) from exc
    content_type, input_data = _prepare_input(body, context.content_type)
    return _stage(DECODE, handler.input_fn, input_data, content_type, context=context)


def validate_request(handler: Handler, model: Any, data: Any) -> Any:
    """The handler's check of one request's decoded input (HandlerSpec.validate_input), if any.

    Before a request joins a batch: a request the model cannot take fails alone, with its own 400,
    and the rest share rows of one width and type. (A request served alone goes to predict_fn,
    which checks what it is given itself.)
    """
    if handler.validate_input is None:
        return data
    try:
        return handler.validate_input(data, model)
    except Exception as exc:
        raise StageFailure(PREDICT, exc) from exc


@dataclass(frozen=True)
class BatchItem:
    """A decoded request waiting for its share of a batched predict_fn call."""

    data: Any
    accept: str
    context: Context


def predict_batch(
    handler: Handler, model: Any, items: Sequence[BatchItem], on_predict: PredictObserver
) -> list[tuple[bool, Any]]:
    """predict_fn once on every item's rows, then output_fn per item; an outcome per item.

    One bad request must cost about its own share, not fail or slow down the requests that happened
    to share its batch. The handler's validate_input has refused what it can before the batch was
    formed (validate_request); should the call still fail, the batch is halved until the culprits
    stand alone (at most 2 log2(n) + 1 calls for one culprit among n, where predicting each alone
    took n + 1), and a prediction that cannot be split back by rows is predicted item by item.
    """
    assert handler.predict_fn is not None
    # Counted once, as the call it was; the smaller calls that find a culprit are not counted.
    on_predict(len(items))
    return _predict_group(handler, model, items)


def _predict_group(
    handler: Handler, model: Any, items: Sequence[BatchItem], known_to_fail: bool = False
) -> list[tuple[bool, Any]]:
    """Outcomes for `items` predicted together, or, if that fails, halved until the culprits stand alone.

    `known_to_fail`: a group whose failure is already known (its sibling half succeeded, so the
    culprit is here) is halved at once, without a call to see it fail again.
    """
    assert handler.predict_fn is not None
    if len(items) == 1:
        return [_predict_alone(handler, model, items[0], _uncounted)]
    if not known_to_fail:
        stacked, sizes = batching.stack([item.data for item in items])
        started = time.perf_counter()
        try:
            prediction = handler.predict_fn(stacked, model, context=items[0].context)
        except (Exception, SystemExit):
            pass
        else:
            model_seconds = time.perf_counter() - started
            try:
                parts = (handler.split_prediction or batching.split)(prediction, sizes)
            except Exception:
                # Not one row out per row in: no smaller batch would split either.
                return [_predict_alone(handler, model, item, _uncounted) for item in items]
            return [
                _encode_outcome(handler, part, item, model_seconds)
                for part, item in zip(parts, items, strict=True)
            ]
    middle = len(items) // 2
    first = _predict_group(handler, model, items[:middle])
    # Every request of the first half went through: the culprit is in the second.
    first_all_ok = all(ok for ok, _ in first)
    return first + _predict_group(handler, model, items[middle:], known_to_fail=first_all_ok)


def _predict_alone(
    handler: Handler, model: Any, item: BatchItem, on_predict: PredictObserver
) -> tuple[bool, Any]:
    assert handler.predict_fn is not None
    on_predict(1)
    started = time.perf_counter()
    try:
        prediction = _stage(PREDICT, handler.predict_fn, item.data, model, context=item.context)
    except StageFailure as failure:
        return False, failure
    return _encode_outcome(handler, prediction, item, time.perf_counter() - started)


def _uncounted(size: int) -> None:
    pass


def _encode_outcome(
    handler: Handler, prediction: Any, item: BatchItem, model_seconds: float
) -> tuple[bool, Any]:
    assert handler.output_fn is not None
    try:
        result = _stage(ENCODE, handler.output_fn, prediction, item.accept, context=item.context)
        body, content_type = _normalise_output(result, item.accept)
    except StageFailure as failure:
        return False, failure
    except TypeError as exc:
        return False, StageFailure(ENCODE, exc)
    return True, Outcome(body, content_type, model_seconds)


def _prepare_input(body: bytes, header: str | None) -> tuple[str | None, bytes | str]:
    """What a handler's own input_fn (or transform_fn) sees: the content type, and the body.

    The type is lower-case without parameters; JSON and CSV bodies are text, with the request's
    charset applied, as AWS's toolkits hand them over.
    """
    if header is None:
        return None, body
    try:
        media_type = mediatypes.parse_media_type(header)
    except ValueError:
        return header, body  # not ours to judge: a custom input_fn may understand it
    if media_type.essence in TEXT_TYPES:
        try:
            text = mediatypes.decode_text(body, media_type)
        except Exception as exc:
            raise StageFailure(DECODE, exc) from exc
        return media_type.essence, text
    return media_type.essence, body


def _stage(stage: str, function: Any, *args: Any, context: Context) -> Any:
    try:
        return function(*args, context=context)
    # SystemExit too: user code (argparse, a library's fatal-error path) may call sys.exit(). On the
    # model thread it cannot stop the server anyway, so it is a fault like any other, not a crash.
    except (Exception, SystemExit) as exc:
        raise StageFailure(stage, exc) from exc


def _normalise_output(result: Any, accept: str) -> tuple[bytes, str]:
    body, content_type = result if isinstance(result, tuple) and len(result) == 2 else (result, accept)
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, bytearray | memoryview):
        body = bytes(body)
    if not isinstance(body, bytes):
        raise TypeError(
            f"output_fn (or transform_fn) returned {type(body).__name__}; it must return bytes, str, "
            "or a (body, content_type) tuple"
        )
    return body, str(content_type)
