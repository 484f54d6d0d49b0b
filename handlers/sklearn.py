"""The default handler: scikit-learn estimators and pipelines.

model_fn loads the one model file in the model directory: `*.joblib`, `*.pkl` / `*.pickle`, or
`*.skops` (only with the types it holds listed in BYOC_SKOPS_TRUSTED_TYPES). BYOC_MODEL_FILE picks
one when there are several. Both settings come from the server's config (container.config), handed
over in the context.

predict_fn checks each request against what the estimator was fitted on (2-D rows, the number of
features, numeric values) so that a wrong request is a 400 saying what was expected, and returns

    {"predictions": [...], "probabilities": [[...], ...], "classes": [...]}

with "probabilities" and "classes" only for estimators that have predict_proba. See
container.codecs.encode for how that is written as JSON, JSON Lines, CSV and NPY.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse

from container.codecs import mediatypes
from container.config import ServerConfig, load_config
from container.contract.context import Context
from container.errors import BadRequest, InferenceError, UnsupportedMediaType

# preload: a fitted estimator is plain data, safe to load before the workers fork and share.
# batchable: predict_fn takes any number of rows, so concurrent requests can share one call.
BYOC_HANDLER_OPTIONS = {"preload": True, "batchable": True}

MODEL_FILE_ENV = "BYOC_MODEL_FILE"
SKOPS_TRUSTED_ENV = "BYOC_SKOPS_TRUSTED_TYPES"
# dtype kinds that are not numbers: Python objects, str and bytes.
NON_NUMERIC_KINDS = "OUS"
# The request formats that decode to dense rows, for a model that refuses sparse ones.
DENSE_TYPES = (mediatypes.JSON, mediatypes.CSV, mediatypes.JSONLINES, mediatypes.NPY)


def model_fn(model_dir: str, context: Context | None = None) -> Any:
    # Called by the runtime with its context; called directly (a notebook, a test), it reads the
    # settings from the environment through the same parser.
    config = context.config if context is not None and context.config is not None else load_config()
    path = find_model_file(Path(model_dir), config.model_file)
    model = LOADERS[path.suffix.lower()](path, config)
    if not hasattr(model, "predict"):
        raise InferenceError(
            f"{path.name} holds a {type(model).__name__}, which has no predict method",
            code="not_an_estimator",
        )
    return model


def predict_fn(data: Any, model: Any) -> dict[str, Any]:
    rows = validate_rows(data, model)
    try:
        result = _predict(model, rows)
    except (ValueError, TypeError) as exc:
        if _holds_objects(rows):
            # Non-numeric input reached a pipeline that should have encoded it and could not:
            # the request's values are at fault, and the estimator's message says which.
            raise BadRequest(f"the model rejected the input: {exc}", code="invalid_value") from None
        missing = _first_missing(rows)
        if missing is not None:
            # Missing values (an empty CSV cell, a JSON null) are documented input, but most
            # estimators refuse NaN: the request's gap, not a server fault.
            row, column = missing
            raise BadRequest(
                f"the model rejected the input, which has missing values (the first at row {row}, "
                f"column {column}): {exc}",
                code="missing_value",
                row=row,
                column=column,
            ) from None
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


def load_joblib(path: Path, config: ServerConfig) -> Any:
    return joblib.load(path)


def load_pickle(path: Path, config: ServerConfig) -> Any:
    with path.open("rb") as file:
        return pickle.load(file)


def load_skops(path: Path, config: ServerConfig) -> Any:
    trusted = config.skops_trusted_types
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


LOADERS: dict[str, Callable[[Path, ServerConfig], Any]] = {
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


def validate_rows(data: Any, model: Any) -> Any:
    """Check rows against the fitted estimator; BadRequest saying what was expected otherwise."""
    expected = getattr(model, "n_features_in_", None)
    if scipy.sparse.issparse(data):
        _check_width(data.shape[1], expected)
        return data
    if not isinstance(data, np.ndarray):
        return data  # a custom input_fn's own structure (a DataFrame, a list of texts): pass it on
    if data.ndim == 1 and expected is not None:
        data = data.reshape(1, -1)
    if data.ndim != 2 and expected is not None:
        raise BadRequest(
            f"expected rows of {expected} features (a 2-D array), got an array of shape {data.shape}",
            code="invalid_shape",
            expected=[None, expected],
            found=list(data.shape),
        )
    if data.ndim == 2:
        _check_width(data.shape[1], expected)
    # Object arrays (JSON with strings) and string arrays (NPY) alike: scikit-learn refuses both
    # for numeric estimators, even when every string is a number.
    if data.dtype.kind in NON_NUMERIC_KINDS and not _accepts_objects(model):
        data = _as_numbers(data)
    feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is not None and data.ndim == 2:
        data = _with_column_names(data, feature_names)
    return data


def _check_width(width: int, expected: int | None) -> None:
    if expected is not None and width != expected:
        raise BadRequest(
            f"each row must have {expected} features; got {width}",
            code="wrong_feature_count",
            expected=int(expected),
            found=int(width),
        )


def _as_numbers(data: np.ndarray) -> np.ndarray:
    try:
        return data.astype(np.float64)
    except (ValueError, TypeError):
        pass
    numbers = np.empty(data.shape, dtype=np.float64)
    for index, value in np.ndenumerate(data):
        if value is None:
            numbers[index] = np.nan  # JSON null beside strings: still a missing value
            continue
        try:
            numbers[index] = float(value)
        except (ValueError, TypeError):
            # Rows without n_features_in_ to check against need not be 2-D.
            where = {"row": index[0] + 1, "column": index[1] + 1} if data.ndim == 2 else {}
            place = f"row {index[0] + 1}, column {index[1] + 1}" if where else f"position {list(index)}"
            shown = value.item() if isinstance(value, np.generic) else value  # 'x', not np.str_('x')
            raise BadRequest(f"{place}: {shown!r} is not a number", code="invalid_value", **where) from None
    return numbers


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
    return dtype is not None and np.dtype(dtype).kind in NON_NUMERIC_KINDS


def _first_missing(rows: Any) -> tuple[int, int] | None:
    """1-based row and column of the first NaN in a 2-D float array (dense or sparse), else None."""
    if scipy.sparse.issparse(rows):
        rows = rows.tocoo()
        positions = np.flatnonzero(np.isnan(rows.data))
        if positions.size == 0:
            return None
        # COO order is not row-major: pick the first in reading order.
        first = min(zip(rows.row[positions], rows.col[positions], strict=True))
        return int(first[0]) + 1, int(first[1]) + 1
    if hasattr(rows, "to_numpy"):
        rows = rows.to_numpy()  # the DataFrame _with_column_names made
    if not isinstance(rows, np.ndarray) or rows.ndim != 2 or rows.dtype.kind != "f":
        return None
    found = np.argwhere(np.isnan(rows))
    if found.size == 0:
        return None
    return int(found[0][0]) + 1, int(found[0][1]) + 1
