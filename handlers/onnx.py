"""ONNX models with ONNX Runtime on the CPU: PyTorch, TensorFlow/Keras or scikit-learn models, exported.

model_fn loads the one `*.onnx` file of the model directory (BYOC_MODEL_FILE names it when there are
several) into an onnxruntime InferenceSession and reads each input's name, shape and element type from
the model. Every request is checked against them before the model runs, so a wrong width, rank or type
is a 400 that names the input and the shape it expects, instead of ONNX Runtime's INVALID_ARGUMENT.

Requests:
    one input     rows as the runtime decodes them: JSON, JSON Lines, CSV, NPY
    named inputs  JSON {"inputs": {"<name>": [...], ...}} or {"<name>": [...], ...}, one array per input
Responses, one entry per model output, by name:
    application/json      {"outputs": {"<name>": [...], ...}}
    application/jsonlines one object per row: {"<name>": <that row's value>, ...}
    text/csv              one line per row: each output's values for the row, in the model's output order
    application/x-npy     the output's array, for a model with one output

A dimension the model leaves open (None or a symbolic name such as "batch") takes any size; the first
axis, when open, is the batch axis: requests can be stacked along it, and each output is cut back along
it (split_rows). Values are cast to the input's type when nothing is lost: JSON numbers to float32, whole
numbers to int64; 0.5 for an int64 input is refused.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from container.codecs import decode, encode, mediatypes
from container.config import EnvReader, load_config
from container.contract import validation
from container.contract.context import Context
from container.contract.spec import (
    ArchiveContents,
    HandlerExamples,
    HandlerOptions,
    HandlerSpec,
    Review,
    Sample,
)
from container.errors import BadRequest, InferenceError, NotAcceptable, UnsupportedMediaType
from container.inference.batching import CannotSplit

SUFFIX = ".onnx"
OUTPUTS = "outputs"
ACCEPTS = [mediatypes.JSON, mediatypes.JSONLINES, mediatypes.CSV, mediatypes.NPY]
CONTENT_TYPES = (mediatypes.JSON, mediatypes.JSONLINES, mediatypes.CSV, mediatypes.NPY)
MODEL_FILE_ENV = "BYOC_MODEL_FILE"
# ONNX element types (as onnxruntime names them) to the NumPy dtype a request is cast to.
DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, its shape (an int per fixed dimension, None per open one), its type."""

    name: str
    shape: tuple[int | None, ...]
    onnx_type: str

    @property
    def dtype(self) -> Any:
        return DTYPES[self.onnx_type]

    def describe(self) -> str:
        dims = ", ".join(
            "N" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(self.shape)
        )
        return (
            f"[{dims}] of {self.onnx_type[7:-1] if self.onnx_type.startswith('tensor(') else self.onnx_type}"
        )


@dataclass(frozen=True)
class OnnxModel:
    session: Any  # onnxruntime.InferenceSession
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    file: str

    @property
    def batch_axis_open(self) -> bool:
        """Every input's first dimension is open: requests can be stacked along it."""
        return all(spec.shape and spec.shape[0] is None for spec in self.inputs)


@dataclass(frozen=True)
class Settings:
    # The .onnx file to load when the model directory holds several.
    model_file: str | None = None


def read_settings(env: EnvReader) -> Settings:
    return Settings(model_file=env.raw(MODEL_FILE_ENV))


# --- loading ------------------------------------------------------------------------------------


def model_fn(model_dir: str, context: Context | None = None) -> OnnxModel:
    # Imported here, not at the top: the handler's description must import without it.
    import onnxruntime

    path = find_model_file(Path(model_dir), _settings(context).model_file)
    options = onnxruntime.SessionOptions()
    # One thread per model call: the server runs a model thread per worker and a worker per core.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types are not importable by name
        raise InferenceError(
            f"{path.name} is not a model ONNX Runtime {onnxruntime.__version__} can load: {_first_line(exc)}",
            code="invalid_model_file",
        ) from None
    inputs = tuple(
        InputSpec(i.name, tuple(d if isinstance(d, int) else None for d in i.shape), i.type)
        for i in session.get_inputs()
    )
    unsupported = [spec for spec in inputs if spec.onnx_type not in DTYPES]
    if unsupported:
        names = ", ".join(f"{s.name} ({s.onnx_type})" for s in unsupported)
        raise InferenceError(
            f"{path.name} has inputs this handler cannot feed: {names}", code="unsupported_input"
        )
    return OnnxModel(session, inputs, tuple(o.name for o in session.get_outputs()), path.name)


def _settings(context: Context | None) -> Settings:
    config = context.config if context is not None else None
    if config is not None and isinstance(config.handler_settings, Settings):
        return config.handler_settings
    return read_settings(EnvReader((config or load_config()).environ))


def model_warmup_fn(model_dir: str, model: OnnxModel) -> None:
    # The first run allocates ONNX Runtime's buffers: do it before the first request, when every input
    # has a shape a zero-filled example can take.
    if all(spec.onnx_type != "tensor(string)" for spec in model.inputs):
        model.session.run(
            None, {s.name: np.zeros([d or 1 for d in s.shape], dtype=s.dtype) for s in model.inputs}
        )


def find_model_file(model_dir: Path, chosen: str | None) -> Path:
    if not model_dir.is_dir():
        raise InferenceError(f"the model directory {model_dir} does not exist", code="no_model_dir")
    if chosen:
        path = model_dir / chosen
        if not path.is_file():
            raise InferenceError(
                f"BYOC_MODEL_FILE={chosen!r}, but {path} is not a file", code="no_model_file"
            )
        return path
    candidates = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix.lower() == SUFFIX)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InferenceError(f"no {SUFFIX} file in {model_dir}", code="no_model_file")
    names = ", ".join(p.name for p in candidates)
    raise InferenceError(
        f"several {SUFFIX} files in {model_dir} ({names}): keep one, or name it in BYOC_MODEL_FILE",
        code="ambiguous_model_file",
    )


# --- requests -----------------------------------------------------------------------------------


def input_fn(input_data: bytes | str, content_type: str | None) -> Any:
    """Named inputs from a JSON object of arrays; anything else as the runtime decodes rows."""
    if content_type not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported; send one of {', '.join(CONTENT_TYPES)}",
            supported=list(CONTENT_TYPES),
        )
    if content_type == mediatypes.JSON:
        raw = input_data.encode("utf-8") if isinstance(input_data, str) else input_data
        document = _load_json(raw)
        named = _named_arrays(document)
        if named is not None:
            return named
    return decode.decode(input_data, content_type)


def _load_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # decode.decode says what is wrong with it


@dataclass(frozen=True)
class JsonObject:
    """A JSON object whose keys may name inputs or be the runtime's row keys ("features", ...).

    Which, only the model can say: predict_fn resolves it (see _resolve).
    """

    document: dict[str, Any]


def _named_arrays(document: Any) -> Any:
    if not isinstance(document, dict):
        return None
    columns = document.get("inputs")
    if isinstance(columns, dict):
        return {str(name): _array(value, str(name)) for name, value in columns.items()}
    return JsonObject(document)


def _resolve(data: Any, model: OnnxModel) -> Any:
    if not isinstance(data, JsonObject):
        return data
    keys = set(data.document)
    # Keys that name inputs win over the runtime's row keys ("features" may be an input's name).
    if keys & {spec.name for spec in model.inputs} or not keys & set(decode.ROW_KEYS):
        return {str(name): _array(value, str(name)) for name, value in data.document.items()}
    return decode.rows_to_array(decode.unwrap_rows(data.document), source="JSON")


def _array(value: Any, name: str) -> np.ndarray:
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    try:
        array = np.array(value, dtype=object)
    except ValueError as exc:
        raise BadRequest(f"input {name!r}: {exc}", code="invalid_shape", input=name) from None
    if array.dtype == object and any(isinstance(item, list) for item in array.flat):
        raise BadRequest(f"input {name!r}: the rows have different lengths", code="invalid_shape", input=name)
    return array


# --- prediction ---------------------------------------------------------------------------------


def predict_fn(data: Any, model: OnnxModel) -> dict[str, Any]:
    feed = validate_inputs(data, model)
    try:
        results = model.session.run(None, feed)
    except Exception as exc:  # what the checks above cannot see: a value the model itself refuses
        raise BadRequest(f"the model refused the input: {_first_line(exc)}", code="invalid_input") from None
    return {OUTPUTS: dict(zip(model.outputs, results, strict=True))}


def check_input(data: Any, model: OnnxModel) -> Any:
    """Before a request may share a batch: validated and cast. A model with one input and an open
    batch axis gets the array back (requests stack along its first axis); others get the feed, which
    is predicted alone."""
    feed = validate_inputs(data, model)
    if len(model.inputs) == 1 and model.batch_axis_open:
        return feed[model.inputs[0].name]
    return feed


def validate_inputs(data: Any, model: OnnxModel) -> dict[str, np.ndarray]:
    """The feed for session.run: each input present, of the model's rank and fixed sizes, cast to its type."""
    data = _resolve(data, model)
    if not isinstance(data, Mapping):
        if len(model.inputs) != 1:
            raise BadRequest(
                f"the model has {len(model.inputs)} inputs ({_input_list(model)}): send a JSON object "
                '{"inputs": {"<name>": [...], ...}} with one array per input',
                code="named_inputs_required",
                inputs=[spec.name for spec in model.inputs],
            )
        data = {model.inputs[0].name: data}
    expected = {spec.name for spec in model.inputs}
    unknown = sorted(set(data) - expected)
    missing = [spec.name for spec in model.inputs if spec.name not in data]
    if unknown or missing:
        raise BadRequest(
            "the inputs do not match the model's "
            + "; ".join(
                part
                for part in (
                    f"missing: {', '.join(missing)}" if missing else "",
                    f"unknown: {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            + f" (the model takes {_input_list(model)})",
            code="wrong_inputs",
            missing=missing,
            unknown=unknown,
        )
    feed = {spec.name: _conform(np.asarray(data[spec.name]), spec) for spec in model.inputs}
    _check_batch_sizes(feed, model)
    return feed


def _conform(array: Any, spec: InputSpec) -> np.ndarray:
    if len(spec.shape) == len(array.shape) + 1 and array.ndim >= 1 and spec.shape[0] is None:
        array = array.reshape(1, *array.shape)  # one example without its batch axis
    if array.ndim != len(spec.shape) or any(
        want is not None and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise BadRequest(
            f"input {spec.name!r} must have shape {spec.describe()}; got {list(array.shape)}",
            code="wrong_shape",
            input=spec.name,
            expected=[d for d in spec.shape],
            found=list(array.shape),
        )
    return _cast(array, spec)


def _cast(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    if target == np.object_:
        return array.astype(str).astype(object)
    if array.dtype.kind in "OUS":
        # Numbers written as text become numbers; anything else is a 400 naming the input and place.
        array = validation.as_numbers(array, name=spec.name)
    whole = target.kind in "iub"
    if (
        whole
        and array.dtype.kind == "f"
        and not (np.all(np.isfinite(array)) and np.all(array == np.round(array)))
    ):
        raise BadRequest(
            f"input {spec.name!r} takes whole numbers ({spec.describe()}); the request holds fractions "
            "or missing values",
            code="wrong_type",
            input=spec.name,
        )
    return array.astype(target)


def _check_batch_sizes(feed: Mapping[str, np.ndarray], model: OnnxModel) -> None:
    sizes = {name: array.shape[0] for name, array in feed.items() if array.ndim}
    open_batch = [spec.name for spec in model.inputs if spec.shape and spec.shape[0] is None]
    counts = {sizes[name] for name in open_batch}
    if len(counts) > 1:
        shown = ", ".join(f"{name}: {sizes[name]}" for name in open_batch)
        raise BadRequest(f"the inputs have different numbers of rows ({shown})", code="wrong_shape")


def _input_list(model: OnnxModel) -> str:
    return ", ".join(f"{spec.name} {spec.describe()}" for spec in model.inputs)


def split_rows(prediction: Mapping[str, Any], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Cut a stacked prediction into one per request, along every output's first axis."""
    outputs = prediction[OUTPUTS]
    total = sum(sizes)
    for name, value in outputs.items():
        if len(value) != total:
            raise CannotSplit(f"output {name!r} has {len(value)} rows for {total} input rows")
    bounds = list(itertools.pairwise(itertools.accumulate(sizes, initial=0)))
    return [{OUTPUTS: {name: value[start:end] for name, value in outputs.items()}} for start, end in bounds]


# --- responses ----------------------------------------------------------------------------------


def output_fn(prediction: Mapping[str, Any], accept: str) -> tuple[bytes, str]:
    outputs: Mapping[str, Any] = prediction[OUTPUTS]
    if accept == mediatypes.JSON:
        return encode.encode_json({OUTPUTS: outputs}), accept
    if accept == mediatypes.JSONLINES:
        rows = _rows(outputs)
        return b"".join(encode.encode_json(row) + b"\n" for row in rows), accept
    if accept == mediatypes.CSV:
        return _csv(outputs), accept
    if accept == mediatypes.NPY:
        if len(outputs) != 1:
            raise NotAcceptable(
                f"NPY holds one array, and the model has {len(outputs)} outputs ({', '.join(outputs)})",
                supported=[mediatypes.JSON, mediatypes.JSONLINES, mediatypes.CSV],
            )
        return encode.encode_npy(next(iter(outputs.values()))), accept
    raise NotAcceptable(f"cannot write {accept!r}", supported=ACCEPTS)


def _rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    columns = {name: (v.tolist() if isinstance(v, np.ndarray) else list(v)) for name, v in outputs.items()}
    count = len(next(iter(columns.values()))) if columns else 0
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def _csv(outputs: Mapping[str, Any]) -> bytes:
    arrays = []
    for name, value in outputs.items():
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            value = [list(item.values()) for item in value]  # skl2onnx's ZipMap: one dict per row
        array = np.asarray(value)
        if array.ndim > 2 or array.dtype == object:
            raise NotAcceptable(
                f"output {name!r} of shape {list(array.shape)} has no CSV form (1-D or 2-D numbers)",
                supported=[mediatypes.JSON, mediatypes.JSONLINES],
            )
        arrays.append(array.reshape(len(array), -1).tolist())
    buffer = io.StringIO()
    for parts in zip(*arrays, strict=True):
        buffer.write(",".join(str(v) for v in itertools.chain.from_iterable(parts)) + "\n")
    return buffer.getvalue().encode()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


# --- packaging ----------------------------------------------------------------------------------


def inspect_archive(contents: ArchiveContents) -> Review:
    """`byoc inspect`: model_fn here loads exactly one .onnx file at the root (or BYOC_MODEL_FILE's)."""
    if contents.has_code:
        return Review()
    models = [name for name in contents.root_files if HANDLER.claims(name)]
    if len(models) == 1:
        return Review()
    if not models:
        return Review(problems=(f"no {SUFFIX} file at the root of the archive",))
    return Review(
        warnings=(f"several {SUFFIX} files at the root ({', '.join(models)}): name one in {MODEL_FILE_ENV}",)
    )


def examples(directory: Path) -> HandlerExamples:
    """For the contract suite: y = x @ W + b (4 features, 2 outputs) as an ONNX graph, and requests."""
    import onnx
    from onnx import TensorProto, helper

    weights = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [4, 2], weights.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [2], [0.5, -0.5]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    model_dir = directory / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "model.onnx").write_bytes(model.SerializeToString())
    rows = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    return HandlerExamples(
        model_dir=model_dir,
        requests=(
            Sample(encode.encode_json({"instances": rows}), mediatypes.JSON, rows=3),
            Sample(b'{"inputs": {"x": [[1, 2, 3, 4]]}}', mediatypes.JSON, rows=1),
            Sample(encode.encode_jsonlines(rows), mediatypes.JSONLINES, rows=3),
            Sample(b"1,2,3,4\n0.5,-1,0,2\n", mediatypes.CSV, rows=2),
            Sample(buffer.getvalue(), mediatypes.NPY, rows=3),
        ),
        bad_requests=(
            Sample(b"1,2,3\n", mediatypes.CSV, why="three features where input x takes four"),
            Sample(b'[[1, "x", 3, 4]]', mediatypes.JSON, why="a value that is not a number"),
            Sample(
                b'{"inputs": {"z": [[1, 2, 3, 4]]}}', mediatypes.JSON, why="an input the model does not have"
            ),
            Sample(b"[[1, 2, 3", mediatypes.JSON, why="truncated JSON"),
        ),
    )


HANDLER = HandlerSpec(
    name="onnx",
    model_fn=model_fn,
    model_warmup_fn=model_warmup_fn,
    input_fn=input_fn,
    predict_fn=predict_fn,
    output_fn=output_fn,
    # preload off: an InferenceSession owns thread pools, which do not survive a fork. batchable:
    # requests of a one-input model with an open first axis are stacked along it (check_input).
    options=HandlerOptions(preload=False, batchable=True),
    model_files=(f"*{SUFFIX}",),
    packages=("onnxruntime",),
    input_types=CONTENT_TYPES,
    output_types=tuple(ACCEPTS),
    validate_input=check_input,
    split_prediction=split_rows,
    inspect=inspect_archive,
    settings=read_settings,
    examples=examples,
)
