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

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from container.codecs import decode, mediatypes
from container.contract.context import Context
from container.contract.functions import Handler
from container.errors import DECODE, ENCODE, PREDICT
from container.inference import batching
from container.inference.autobatch import BatchChecker, Check, Shape
from container.inference.sameness import first_difference
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
        # In a batch transform job every CSV line is a record: none may be taken for a header.
        header_row = not (context.config is not None and context.config.batch_transform)
        try:
            return decode.decode_body(
                body, mediatypes.parse_content_type(context.content_type), header_row=header_row
            )
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
    handler: Handler,
    model: Any,
    items: Sequence[BatchItem],
    known_to_fail: bool = False,
    may_stack: Callable[[int], bool] | None = None,
) -> list[tuple[bool, Any]]:
    """Outcomes for `items` predicted together, or, if that fails, halved until the culprits stand alone.

    `known_to_fail`: a group whose failure is already known (its sibling half succeeded, so the
    culprit is here) is halved at once, without a call to see it fail again. `may_stack(rows)`: whether
    a group of that many rows may be predicted together (checked batching: only sizes checked).
    """
    assert handler.predict_fn is not None
    if len(items) == 1:
        return [_predict_alone(handler, model, items[0], _uncounted)]
    if may_stack is not None and not may_stack(sum(len(item.data) for item in items)):
        return [_predict_alone(handler, model, item, _uncounted) for item in items]
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
    first = _predict_group(handler, model, items[:middle], may_stack=may_stack)
    # Every request of the first half went through: the culprit is in the second.
    first_all_ok = all(ok for ok, _ in first)
    return first + _predict_group(
        handler, model, items[middle:], known_to_fail=first_all_ok, may_stack=may_stack
    )


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


# --- batches of a predict_fn under checks (container.inference.autobatch) ---------------------


def predict_batch_checked(
    handler: Handler,
    model: Any,
    items: Sequence[BatchItem],
    on_predict: PredictObserver,
    checker: BatchChecker,
) -> list[tuple[bool, Any]]:
    """predict_batch for a predict_fn that never said it may batch: as its checker says.

    While the kind of request is being checked every request gets its answer alone; once on, the
    batch's, with one request in a while predicted alone beside it; once off, each is predicted alone.
    """
    if len(items) == 1:
        return [_predict_alone(handler, model, items[0], on_predict)]
    sizes = [len(item.data) for item in items]
    shape = Shape.of(sizes[0])  # one batch key, one kind of request
    check = checker.plan(shape, sum(sizes), lambda: _all_alike(items))
    if check is Check.ALONE:
        return [_predict_alone(handler, model, item, on_predict) for item in items]
    on_predict(len(items))
    try:
        parts, model_seconds = _batched_parts(handler, model, items, sizes)
    except batching.CannotSplit as exc:
        if check is Check.FULL:
            checker.differed(
                shape, f"its prediction for {len(items)} requests cannot be cut per request: {exc}"
            )
        return [_predict_alone(handler, model, item, _uncounted) for item in items]
    except (Exception, SystemExit) as exc:
        if check is not Check.FULL:
            # A bad request among them: halved until it stands alone, in batches of sizes checked.
            return _predict_group(
                handler, model, items, known_to_fail=True, may_stack=lambda rows: checker.checked(shape, rows)
            )
        alone = [_predict_alone(handler, model, item, _uncounted) for item in items]
        if all(ok for ok, _ in alone):
            checker.differed(
                shape,
                f"predict_fn raised {type(exc).__name__} ({exc}) on {len(items)} requests stacked, "
                "which it answers one by one",
            )
        else:
            checker.inconclusive(shape)  # a bad request among them: no telling what the batch did
        return alone
    if check is Check.FULL:
        return _check_every_request(handler, model, items, parts, model_seconds, checker, shape)
    if check is not Check.NONE:
        chosen = checker.sampled(shape, check, len(items))
        return _check_some_requests(handler, model, items, parts, model_seconds, checker, shape, chosen)
    return [
        _encode_outcome(handler, part, item, model_seconds) for part, item in zip(parts, items, strict=True)
    ]


def _all_alike(items: Sequence[BatchItem]) -> bool:
    first = items[0].data
    return all(item.data.shape == first.shape and item.data.tobytes() == first.tobytes() for item in items)


def _batched_parts(
    handler: Handler, model: Any, items: Sequence[BatchItem], sizes: list[int]
) -> tuple[list[Any], float]:
    """The batch's prediction cut per request (raises what predict_fn or the cut raises)."""
    assert handler.predict_fn is not None
    stacked, _ = batching.stack([item.data for item in items])
    started = time.perf_counter()
    prediction = handler.predict_fn(stacked, model, context=items[0].context)
    model_seconds = time.perf_counter() - started
    if handler.split_prediction is not None:
        # The handler's cut, for a predict_fn that answers in the handler's shape; a prediction of
        # another shape may still have one entry per row under the generic rule.
        try:
            return handler.split_prediction(prediction, sizes), model_seconds
        except batching.CannotSplit:
            pass
    return batching.split_rows(prediction, sizes), model_seconds


def _check_every_request(
    handler: Handler,
    model: Any,
    items: Sequence[BatchItem],
    parts: list[Any],
    model_seconds: float,
    checker: BatchChecker,
    shape: Shape,
) -> list[tuple[bool, Any]]:
    """Each request both ways; each gets its answer alone, and the checker hears whether they agreed."""
    # Copies and answers of the batch's parts first: predict_fn may reuse its output buffers, and
    # output_fn may change what it is given.
    copies = [_copied(part) for part in parts]
    batched = [
        _encode_outcome(handler, part, item, model_seconds) for part, item in zip(parts, items, strict=True)
    ]
    answers = []
    difference = None
    for index, (item, batched_copy, batched_outcome) in enumerate(zip(items, copies, batched, strict=True)):
        alone, outcome = _alone_both(handler, model, item)
        answers.append(outcome)
        if difference is None:
            difference = _difference(alone, outcome, batched_copy, batched_outcome, index, len(items))
    if difference is None:
        checker.agreed(shape, len(items), sum(len(item.data) for item in items))
    else:
        checker.differed(shape, difference)
    return answers


def _check_some_requests(
    handler: Handler,
    model: Any,
    items: Sequence[BatchItem],
    parts: list[Any],
    model_seconds: float,
    checker: BatchChecker,
    shape: Shape,
    chosen: list[int],
) -> list[tuple[bool, Any]]:
    """The batch's answers, with the `chosen` requests also predicted alone; every request alone if
    any of them differs."""
    copies = {index: _copied(parts[index]) for index in chosen}
    batched = [
        _encode_outcome(handler, part, item, model_seconds) for part, item in zip(parts, items, strict=True)
    ]
    alone_outcomes: dict[int, tuple[bool, Any]] = {}
    for index in chosen:
        alone, alone_outcomes[index] = _alone_both(handler, model, items[index])
        difference = _difference(
            alone, alone_outcomes[index], copies[index], batched[index], index, len(items)
        )
        if difference is not None:
            checker.differed(shape, difference)
            return [
                alone_outcomes[i] if i in alone_outcomes else _predict_alone(handler, model, item, _uncounted)
                for i, item in enumerate(items)
            ]
    checker.agreed(shape, len(items), sum(len(item.data) for item in items))
    return batched


def _alone_both(handler: Handler, model: Any, item: BatchItem) -> tuple[Any, tuple[bool, Any]]:
    """A request predicted alone: its prediction (a StageFailure if predict_fn failed), and its answer."""
    assert handler.predict_fn is not None
    started = time.perf_counter()
    try:
        prediction = _stage(PREDICT, handler.predict_fn, item.data, model, context=item.context)
    except StageFailure as failure:
        return failure, (False, failure)
    # Compared before output_fn, which may change what it is given.
    kept = _copied(prediction)
    return kept, _encode_outcome(handler, prediction, item, time.perf_counter() - started)


class _Uncopied:
    """A prediction that could not be copied to be compared (and so cannot be shown the same)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _copied(prediction: Any) -> Any:
    try:
        return copy.deepcopy(prediction)
    except Exception as exc:  # objects that refuse a copy (tensors still attached to a graph...)
        return _Uncopied(exc)


def _difference(
    alone: Any,
    alone_outcome: tuple[bool, Any],
    batched: Any,
    batched_outcome: tuple[bool, Any],
    index: int,
    count: int,
) -> str | None:
    """How request `index`'s answer in the batch differs from its answer alone; None if it does not."""
    request = f"request {index + 1} of {count}"
    if isinstance(alone, StageFailure):
        return f"{request} fails alone ({alone.error!r}) but not in the batch"
    for copied in (alone, batched):
        if isinstance(copied, _Uncopied):
            return f"{request}: its prediction cannot be copied to be compared ({copied.error!r})"
    try:
        found = first_difference(batched, alone)
    except Exception as exc:  # a value whose comparison raises cannot be shown to be the same
        found = f"its prediction cannot be compared ({exc!r})"
    if found:
        return f"{request}: {found}"
    (ok_alone, alone_value), (ok_batched, batched_value) = alone_outcome, batched_outcome
    if ok_alone != ok_batched:
        failed = alone_value if not ok_alone else batched_value
        where = "alone" if not ok_alone else "in the batch"
        return f"{request}: output_fn fails {where} only ({failed.error!r})"
    if not ok_alone:
        same = repr(alone_value.error) == repr(batched_value.error)
        return None if same else f"{request}: output_fn fails differently alone and in the batch"
    if (alone_value.body, alone_value.content_type) != (batched_value.body, batched_value.content_type):
        return f"{request}: output_fn writes different bytes for the same prediction alone and in the batch"
    return None


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
