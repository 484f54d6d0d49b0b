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

import math
import pickle
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
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
# dtype kinds that are no feature values at all: complex numbers, dates, durations, records.
UNSUPPORTED_KINDS = "cMmV"
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
        present = _non_finite_kinds(rows)
        if present:
            # Missing values (an empty CSV cell, a JSON null) are documented input, and so are
            # inf and numbers too large for a float, but many estimators refuse them: the
            # request's values, not a server fault. When only one kind was there, it was the one
            # refused: remembered, so that check_rows refuses the next such request before it is
            # stacked with others.
            if len(present) == 1:
                _refusals(model).update(present)
            elif _takes_nan(model):
                present = {"inf"}
            found = _first_non_finite(rows, present)
            assert found is not None
            raise found.error() from None
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
        _check_dtype(data.dtype)
        _check_finite(data, model)
        return data
    if not isinstance(data, np.ndarray):
        return data  # a custom input_fn's own structure (a DataFrame, a list of texts): pass it on
    _check_dtype(data.dtype)
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
    _check_finite(data, model)
    feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is not None and data.ndim == 2:
        data = _with_column_names(data, feature_names)
    return data


def check_rows(data: Any, model: Any) -> None:
    """The checks of one request's rows that need no prediction: shape, type, and values this model
    is known to refuse (NaN, inf). BadRequest naming the row and column.

    The runtime calls it on each request before stacking requests into one batch, so that a bad
    request is refused on its own and its neighbours' batch is not failed by it. predict_fn
    makes the same checks through validate_rows, which also converts what it must.
    """
    if not (isinstance(data, np.ndarray) or scipy.sparse.issparse(data)):
        return
    _check_dtype(data.dtype)
    if data.ndim == 2:
        _check_width(data.shape[1], getattr(model, "n_features_in_", None))
    _check_finite(data, model)


# The hook by which the runtime checks each request before batching (see check_rows).
BYOC_HANDLER_OPTIONS["check_rows"] = check_rows


def _check_dtype(dtype: np.dtype) -> None:
    # Complex numbers, dates, durations and records (an NPY body can hold any of them) are not
    # feature values: NumPy would turn dates into integers silently, and scikit-learn fails on
    # complex numbers with a ValueError that would otherwise be a 500.
    if dtype.kind in UNSUPPORTED_KINDS:
        raise BadRequest(
            f"the rows are of type {dtype}, which is not a feature value: send real numbers "
            "(integers, floats or booleans) or text",
            code="unsupported_dtype",
            dtype=str(dtype),
        )


def _check_finite(data: Any, model: Any) -> None:
    """Refuse NaN or inf where this model is known to refuse them, naming the first."""
    values = data.data if scipy.sparse.issparse(data) else data
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f" or np.isfinite(values).all():
        return
    refused = _refusals(model)
    if not refused:
        return
    found = _first_non_finite(data, refused)
    if found is not None:
        raise found.error()


# Models known to refuse NaN or inf (by their tags, or because they refused one): model -> kinds.
_REFUSALS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _refusals(model: Any) -> set[str]:
    """What this model is known to refuse, of "nan" and "inf"; learned as it refuses them."""
    try:
        return _REFUSALS[model]
    except KeyError:
        pass
    except TypeError:  # an object that cannot be weakly referenced: nothing is remembered
        return set()
    # An estimator's tags say whether it takes NaN; one that does not validates its input with
    # scikit-learn's check for finite values, which refuses inf too.
    known = {"nan", "inf"} if _nan_tag(model) is False else set()
    _REFUSALS[model] = known
    return known


def _takes_nan(model: Any) -> bool:
    return _nan_tag(model) is True


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


@dataclass(frozen=True)
class _NonFinite:
    kind: str  # "nan" or "inf"
    row: int  # 1-based
    column: int

    def error(self) -> BadRequest:
        where = f"row {self.row}, column {self.column}"
        if self.kind == "nan":
            return BadRequest(
                f"{where} is missing (an empty cell, null or NaN), and this model does not accept "
                "missing values: fill them in, or serve a model that imputes them",
                code="missing_value",
                row=self.row,
                column=self.column,
            )
        return BadRequest(
            f"{where} is infinite (inf, -inf, or a number too large for a 64-bit float), and this "
            "model takes finite numbers only",
            code="non_finite_value",
            row=self.row,
            column=self.column,
        )


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


def _non_finite_kinds(rows: Any) -> set[str]:
    """Which of "nan" and "inf" the float rows (dense, sparse or a DataFrame) hold."""
    values = rows.data if scipy.sparse.issparse(rows) else rows
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        return set()
    return {kind for kind, test in (("nan", np.isnan), ("inf", np.isinf)) if test(values).any()}


def _first_non_finite(rows: Any, kinds: Collection[str]) -> _NonFinite | None:
    """The first NaN or inf (of `kinds`) in reading order in 2-D float rows (dense or sparse), else None."""
    if scipy.sparse.issparse(rows):
        rows = rows.tocoo()
        bad = _non_finite_mask(rows.data, kinds)
        if bad is None:
            return None
        positions = np.flatnonzero(bad)
        # COO order is not row-major: pick the first in reading order.
        row, column = min(zip(rows.row[positions], rows.col[positions], strict=True))
        kind = "nan" if np.isnan(rows.tocsr()[row, column]) else "inf"
        return _NonFinite(kind, int(row) + 1, int(column) + 1)
    if hasattr(rows, "to_numpy"):
        rows = rows.to_numpy()  # the DataFrame _with_column_names made
    if not isinstance(rows, np.ndarray) or rows.ndim != 2:
        return None
    bad = _non_finite_mask(rows, kinds)
    if bad is None:
        return None
    first = int(bad.argmax())  # the first True, in reading order
    row, column = divmod(first, rows.shape[1])
    kind = "nan" if math.isnan(rows.flat[first]) else "inf"
    return _NonFinite(kind, row + 1, column + 1)


def _non_finite_mask(values: np.ndarray, kinds: Collection[str]) -> np.ndarray | None:
    if values.dtype.kind != "f":
        return None
    if "nan" in kinds and "inf" in kinds:
        mask = ~np.isfinite(values)
    elif "nan" in kinds:
        mask = np.isnan(values)
    else:
        mask = np.isinf(values)
    return mask if mask.any() else None
