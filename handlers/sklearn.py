"""The scikit-learn handler: estimators and pipelines saved with joblib, pickle or skops.

model_fn loads the one model file in the model directory: `*.joblib`, `*.pkl` / `*.pickle`, or
`*.skops` (only with the types it holds listed in BYOC_SKOPS_TRUSTED_TYPES). BYOC_MODEL_FILE picks
one when there are several. Both are this handler's settings (Settings), read by the server's
config parser and handed over in the context.

Requests are decoded by the runtime's codecs. predict_fn checks each request against what the
estimator was fitted on (2-D rows, the number of features, numeric values), so that a wrong request
is a 400 saying what was expected, and returns a table with one row per input row:

    {"predictions": [...], "probabilities": [[...], ...], "classes": [...]}

with "probabilities" and "classes" only for estimators that have predict_proba. output_fn writes it:

    JSON        {"predictions": [...], "probabilities": [[...], ...], "classes": [...]}
    JSON Lines  one object per input row: {"prediction": p, "probabilities": [...]}
    CSV         one line per input row: prediction, then one column per class probability
    NPY         the predictions array alone

Anything else a user's predict_fn returns is written by the runtime's encoders.
"""

from __future__ import annotations

import io
import itertools
import pickle
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse

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
from container.errors import BadRequest, InferenceError, UnsupportedMediaType
from container.inference.batching import split

MODEL_FILE_ENV = "BYOC_MODEL_FILE"
SKOPS_TRUSTED_ENV = "BYOC_SKOPS_TRUSTED_TYPES"
# The request formats that decode to dense rows, for a model that refuses sparse ones.
DENSE_TYPES = (mediatypes.JSON, mediatypes.CSV, mediatypes.JSONLINES, mediatypes.NPY)
# The table's values with one entry per input row; "classes" is shared by every row.
ROW_KEYS = ("predictions", "probabilities")


@dataclass(frozen=True)
class Settings:
    # The model file to load when the model directory holds several.
    model_file: str | None = None
    # The types a .skops file may hold beyond skops' own trusted defaults.
    skops_trusted_types: tuple[str, ...] = ()


def read_settings(env: EnvReader) -> Settings:
    return Settings(model_file=env.raw(MODEL_FILE_ENV), skops_trusted_types=env.names(SKOPS_TRUSTED_ENV))


def model_fn(model_dir: str, context: Context | None = None) -> Any:
    settings = _settings(context)
    path = find_model_file(Path(model_dir), settings.model_file)
    model = LOADERS[path.suffix.lower()](path, settings)
    if not hasattr(model, "predict"):
        raise InferenceError(
            f"{path.name} holds a {type(model).__name__}, which has no predict method",
            code="not_an_estimator",
        )
    return model


def _settings(context: Context | None) -> Settings:
    config = context.config if context is not None else None
    if config is not None and isinstance(config.handler_settings, Settings):
        return config.handler_settings
    # Called directly (a notebook, a test, a user's model_fn that delegates here), or while another
    # handler serves: read from the same variables through the same parser.
    return read_settings(EnvReader((config or load_config()).environ))


def predict_fn(data: Any, model: Any) -> dict[str, Any]:
    rows = validate_rows(data, model)
    try:
        result = _predict(model, rows)
    except (ValueError, TypeError) as exc:
        if _holds_objects(rows):
            # Non-numeric input reached a pipeline that should have encoded it and could not:
            # the request's values are at fault, and the estimator's message says which.
            raise BadRequest(f"the model rejected the input: {exc}", code="invalid_value") from None
        present = _non_finite_kinds(rows)
        if present:
            # Missing values (an empty CSV cell, a JSON null) are documented input, and so are
            # inf and numbers too large for a float, but many estimators refuse them: the
            # request's values, not a server fault. When only one kind was there, it was the one
            # refused: remembered, so that check_rows refuses the next such request before it is
            # stacked with others.
            if len(present) == 1:
                _refusals(model).update(present)
            elif _nan_tag(model) is True:
                present = {INF}
            raise _non_finite_error(rows, present) from None
        if scipy.sparse.issparse(rows):
            # Many estimators take dense rows only (StandardScaler: "Cannot center sparse
            # matrices"): the format the client chose is at fault, and dense formats would work.
            raise UnsupportedMediaType(
                f"the model rejected the sparse (application/x-npz) input: {exc}; send dense rows",
                code="sparse_input_refused",
                supported=list(DENSE_TYPES),
            ) from None
        raise
    return result


# Classifiers whose predict() is, by definition, the class of the highest predict_proba() column
# (the same argmax on a monotonic transform of the same scores). For them one predict_proba call
# gives both answers, instead of two passes of input validation and model arithmetic. SVC is not
# here: its probabilities come from a separate calibration and can disagree with predict().
ARGMAX_OF_PROBA = frozenset(
    {
        "LogisticRegression",
        "LogisticRegressionCV",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "GradientBoostingClassifier",
        "HistGradientBoostingClassifier",
        "GaussianNB",
    }
)


def _predict(model: Any, rows: Any) -> dict[str, Any]:
    if not _has_predict_proba(model):
        return {"predictions": model.predict(rows)}
    classes = getattr(model, "classes_", None)
    probabilities = model.predict_proba(rows)
    if classes is not None and _predict_is_argmax_of_proba(model) and probabilities.ndim == 2:
        predictions = np.asarray(classes)[np.argmax(probabilities, axis=1)]
    else:
        predictions = model.predict(rows)
    result = {"predictions": predictions, "probabilities": probabilities}
    if classes is not None:
        result["classes"] = classes
    return result


def _predict_is_argmax_of_proba(model: Any) -> bool:
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    # Exact type names, not isinstance: a subclass may redefine predict.
    return type(final).__name__ in ARGMAX_OF_PROBA and type(final).__module__.startswith("sklearn.")


# --- loading ----------------------------------------------------------------------------------


def find_model_file(model_dir: Path, chosen: str | None = None) -> Path:
    """The model file to load (`chosen`, or the only one); a clear error listing the directory."""
    if not model_dir.is_dir():
        raise InferenceError(f"the model directory {model_dir} does not exist", code="no_model_dir")
    if chosen:
        path = model_dir / chosen
        if not path.is_file():
            raise InferenceError(
                f"{MODEL_FILE_ENV}={chosen!r}, but {path} is not a file{_listing(model_dir)}",
                code="no_model_file",
            )
        if path.suffix.lower() not in LOADERS:
            raise InferenceError(
                f"{MODEL_FILE_ENV}={chosen!r}: cannot load {path.suffix or 'a file without suffix'}; "
                f"expected one of {', '.join(LOADERS)}",
                code="unknown_model_format",
            )
        return path
    candidates = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix.lower() in LOADERS)
    if not candidates:
        raise InferenceError(
            f"no model file in {model_dir}: expected one file ending in {', '.join(LOADERS)}"
            + _listing(model_dir),
            code="no_model_file",
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise InferenceError(
            f"several model files in {model_dir} ({names}): keep one, or name it in {MODEL_FILE_ENV}",
            code="ambiguous_model_file",
        )
    return candidates[0]


def load_joblib(path: Path, settings: Settings) -> Any:
    return joblib.load(path)


def load_pickle(path: Path, settings: Settings) -> Any:
    with path.open("rb") as file:
        return pickle.load(file)


def load_skops(path: Path, settings: Settings) -> Any:
    trusted = settings.skops_trusted_types
    try:
        import skops.io as sio
    except ImportError:
        raise InferenceError(
            f"{path.name} is a skops file, but skops is not installed: add skops to "
            "code/requirements.txt or install byoc-toolkit[skops]",
            code="skops_missing",
        ) from None
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        raise InferenceError(
            f"{path.name} holds types that are not trusted: {', '.join(untrusted)}. Check that they "
            f"are what you expect, then list them in {SKOPS_TRUSTED_ENV} (comma-separated)",
            code="untrusted_types",
            untrusted_types=untrusted,
        )
    return sio.load(path, trusted=list(trusted))


LOADERS: dict[str, Callable[[Path, Settings], Any]] = {
    ".joblib": load_joblib,
    ".pkl": load_pickle,
    ".pickle": load_pickle,
    ".skops": load_skops,
}


def _listing(directory: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"; it holds: {shown or 'nothing'}"


# --- validation -------------------------------------------------------------------------------


def check_rows(data: Any, model: Any) -> Any:
    """One request's rows checked against the fitted estimator (the spec's validate_input).

    Shape, type, and the values this model is known to refuse (NaN, inf: from its tags, or learned
    as it refuses them): a request that fails here fails alone, before it can fail a batch.
    """
    validation.check_dtype(data)
    expected = getattr(model, "n_features_in_", None)
    rows = validation.validate_rows(data, expected, numeric=not _accepts_objects(model))
    _check_finite(rows, model)
    return rows


def validate_rows(data: Any, model: Any) -> Any:
    """check_rows, then the column names back for an estimator fitted on a DataFrame."""
    data = check_rows(data, model)
    feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is not None and isinstance(data, np.ndarray) and data.ndim == 2:
        data = _with_column_names(data, feature_names)
    return data


# --- NaN and infinity: refused up front once the model is known to refuse them ----------------

NAN, INF = "nan", "inf"
# Models known to refuse NaN or inf (by their tags, or because they refused one): model -> kinds.
_REFUSALS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _check_finite(rows: Any, model: Any) -> None:
    values = rows.data if scipy.sparse.issparse(rows) else rows
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f" or np.isfinite(values).all():
        return
    refused = _refusals(model) & _non_finite_kinds(rows)
    if refused:
        raise _non_finite_error(rows, refused)


def _refusals(model: Any) -> set[str]:
    """What this model is known to refuse, of NAN and INF; learned as it refuses them."""
    try:
        return _REFUSALS[model]
    except KeyError:
        pass
    except TypeError:  # an object that cannot be weakly referenced: nothing is remembered
        return set()
    # An estimator's tags say whether it takes NaN; one that does not validates its input with
    # scikit-learn's check for finite values, which refuses inf too.
    known = {NAN, INF} if _nan_tag(model) is False else set()
    _REFUSALS[model] = known
    return known


def _nan_tag(model: Any) -> bool | None:
    """The estimator's own word on NaN; None for pipelines and anything without scikit-learn tags.

    A pipeline's tags are those of its first step, which says nothing of what an imputer after it
    does: whether a pipeline refuses NaN is learned as it refuses one.
    """
    if _accepts_objects(model):
        return None
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(model).input_tags.allow_nan)
    except Exception:  # not a scikit-learn estimator, or a version without get_tags
        return None


def _non_finite_kinds(rows: Any) -> set[str]:
    """Which of NAN and INF the float rows (dense, sparse or a DataFrame) hold."""
    values = rows.data if scipy.sparse.issparse(rows) else rows
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        return set()
    return {kind for kind, test in ((NAN, np.isnan), (INF, np.isinf)) if test(values).any()}


def _non_finite_error(rows: Any, kinds: set[str]) -> BadRequest:
    """A 400 naming the first value of `kinds` in reading order, said in our own words."""
    first = {NAN: validation.first_missing, INF: validation.first_infinite}
    found = sorted(place for kind in kinds if (place := first[kind](rows)) is not None)
    assert found, "the rows hold no value of the kinds named"
    row, column = found[0]
    if NAN in kinds and validation.first_missing(rows) == (row, column):
        return BadRequest(
            f"row {row}, column {column} is missing (an empty cell, null or NaN), and this model does "
            "not accept missing values: fill them in, or serve a model that imputes them",
            code="missing_value",
            row=row,
            column=column,
        )
    return BadRequest(
        f"row {row}, column {column} is infinite (inf, -inf, or a number too large for a 64-bit "
        "float), and this model takes finite numbers only",
        code="non_finite_value",
        row=row,
        column=column,
    )


def _accepts_objects(model: Any) -> bool:
    # Pipelines and column transformers encode strings and categories themselves.
    return hasattr(model, "steps") or hasattr(model, "transformers")


def _with_column_names(data: np.ndarray, names: np.ndarray) -> Any:
    # Fitted on a DataFrame: column-selecting steps need the names back. pandas is only imported
    # for such models.
    try:
        import pandas
    except ImportError:
        # pandas is not a dependency of the runtime. Estimators that do not select columns by name
        # predict on the array alike (scikit-learn warns); those that do fail with a message
        # saying so, instead of every request failing on the import.
        return data
    return pandas.DataFrame(data, columns=list(names))


def _has_predict_proba(model: Any) -> bool:
    # hasattr, not callable(getattr(...)): for SVC(probability=False) the attribute itself raises.
    return hasattr(model, "predict_proba")


def _holds_objects(rows: Any) -> bool:
    dtype = getattr(rows, "dtype", None)
    if dtype is None and hasattr(rows, "dtypes"):
        return any(d.kind == "O" for d in rows.dtypes)
    return dtype is not None and np.dtype(dtype).kind in validation.NON_NUMERIC_KINDS


# --- the table: batches and responses ---------------------------------------------------------


def is_table(prediction: Any) -> bool:
    return isinstance(prediction, Mapping) and "predictions" in prediction


def split_rows(prediction: Any, sizes: Sequence[int]) -> list[Any]:
    """A batch's prediction cut per request: the table by its per-row values, arrays by rows."""
    return split(prediction, sizes, row_keys=ROW_KEYS)


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    writer = TABLE_WRITERS.get(accept) if is_table(prediction) else None
    return (writer(prediction) if writer else encode.encode(prediction, accept)), accept


def _table_jsonlines(table: Mapping[str, Any]) -> bytes:
    predictions = encode.to_list(table["predictions"])
    probabilities = table.get("probabilities")
    if probabilities is None:
        return encode.jsonlines({"prediction": p} for p in predictions)
    rows = zip(predictions, encode.to_list(probabilities), strict=True)
    return encode.jsonlines({"prediction": p, "probabilities": row} for p, row in rows)


def _table_csv(table: Mapping[str, Any]) -> bytes:
    columns = [np.asarray(table["predictions"])]
    if table.get("probabilities") is not None:
        columns.append(np.asarray(table["probabilities"]))
    columns = [c.reshape(len(c), -1) if c.ndim != 2 else c for c in columns]
    # Column by column, so integer labels stay integers beside float probabilities.
    per_column_rows = [c.tolist() for c in columns]
    return encode.csv_lines(
        list(itertools.chain.from_iterable(parts)) for parts in zip(*per_column_rows, strict=True)
    )


def _table_npy(table: Mapping[str, Any]) -> bytes:
    return encode.encode_npy(table["predictions"])


TABLE_WRITERS: dict[str, Callable[[Mapping[str, Any]], bytes]] = {
    mediatypes.JSONLINES: _table_jsonlines,
    mediatypes.CSV: _table_csv,
    mediatypes.NPY: _table_npy,
}


# --- packaging --------------------------------------------------------------------------------


def inspect_archive(contents: ArchiveContents) -> Review:
    """`byoc inspect`: without code/, model_fn here loads exactly one model file at the root."""
    if contents.has_code:
        return Review()
    models = [name for name in contents.root_files if HANDLER.claims(name)]
    if len(models) == 1:
        return Review()
    found = ", ".join(models) or "none"
    return Review(
        warnings=(f"the scikit-learn handler loads exactly one model file at the root; found {found}",)
    )


def examples(directory: Path) -> HandlerExamples:
    """For the contract suite: a logistic regression on iris (it takes sparse rows too), and requests."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model_dir = directory / "model"
    model_dir.mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), model_dir / "model.joblib")
    rows = features[[0, 75, 149]]
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    sparse = io.BytesIO()
    scipy.sparse.save_npz(sparse, scipy.sparse.csr_matrix(rows))
    csv_body = "\n".join(",".join(repr(v) for v in row) for row in rows.tolist()) + "\n"
    return HandlerExamples(
        model_dir=model_dir,
        requests=(
            Sample(csv_body.encode(), mediatypes.CSV, rows=3),
            Sample(b"5.1,3.5,1.4,0.2\n", mediatypes.CSV, rows=1),
            Sample(encode.encode_json({"instances": rows}), mediatypes.JSON, rows=3),
            Sample(encode.encode_jsonlines(rows), mediatypes.JSONLINES, rows=3),
            Sample(buffer.getvalue(), mediatypes.NPY, rows=3),
            Sample(sparse.getvalue(), mediatypes.NPZ, rows=3),
        ),
        bad_requests=(
            Sample(b"5.1,3.5,1.4\n", mediatypes.CSV, why="three features where the model takes four"),
            Sample(b'[[5.1, 3.5, "wide", 0.2]]', mediatypes.JSON, why="a value that is not a number"),
            Sample(b"[[5.1, 3.5", mediatypes.JSON, why="truncated JSON"),
            Sample(b"", mediatypes.CSV, why="an empty body"),
        ),
    )


HANDLER = HandlerSpec(
    name="sklearn",
    model_fn=model_fn,
    predict_fn=predict_fn,
    output_fn=output_fn,
    # A fitted estimator is plain data, safe to load before the workers fork and share; predict_fn
    # takes any number of rows, so concurrent requests can share one call.
    options=HandlerOptions(preload=True, batchable=True),
    model_files=tuple(f"*{suffix}" for suffix in LOADERS),
    packages=("scikit-learn", "numpy", "scipy", "joblib"),
    # scikit-learn does not promise that a pickle loads, or predicts the same, across minor versions.
    strict_packages=("scikit-learn",),
    input_types=tuple(decode.DECODERS),
    output_types=tuple(encode.ENCODERS),
    validate_input=check_rows,
    split_prediction=split_rows,
    inspect=inspect_archive,
    settings=read_settings,
    examples=examples,
)
