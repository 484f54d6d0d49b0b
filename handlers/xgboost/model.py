"""Loading `xgboost-model` files as AWS's built-in XGBoost container does, and predicting with them.

What AWS's container loads (aws/sagemaker-xgboost-container 1.7-1, algorithm_mode/serve_utils.py,
get_loaded_booster): every regular, non-hidden file at the top of the model directory is a model (the
name `xgboost-model` is only the convention; subdirectories such as code/ are ignored); with several,
they are an ensemble unless SAGEMAKER_INFERENCE_ENSEMBLE is false, in which case only the first serves.
Each file is a pickled Booster (images up to 1.2-x) or anything Booster.load_model reads: the legacy
binary format (`Booster.save_model` without an extension, images 1.3-1 to 1.7-1), JSON or UBJSON (3.0-5).

Differences, deliberate: the files are taken in name order (AWS: the directory's listing order, which
the file system decides); this toolkit's own manifest is not a model; and pickles are read with an
unpickler that builds nothing but an xgboost Booster, where AWS unpickles whatever the file holds.

xgboost 3.0.x is the newest release that reads every one of these: 3.1 dropped the legacy binary format
and the pickles of xgboost 1.0 to 1.5 (see the handler's README section).
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import xgboost as xgb

from container.errors import BadRequest, InferenceError

log = logging.getLogger(__name__)

PICKLE = "pickle"
XGBOOST = "xgboost"
# Not models: this toolkit's metadata, which `byoc package` may write beside them.
NOT_MODELS = frozenset({"byoc-manifest.json"})
# The objectives whose ensemble is a vote rather than a mean (serve_utils.predict).
VOTING_OBJECTIVES = frozenset({"multi:softmax", "binary:hinge"})
# What a pickled Booster refers to: the class, and the types its state is made of.
PICKLE_GLOBALS = frozenset(
    {
        ("xgboost.core", "Booster"),
        ("builtins", "bytearray"),
        ("builtins", "object"),
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
    }
)


@dataclass(frozen=True)
class Member:
    """One model file of the directory, loaded."""

    name: str
    booster: xgb.Booster
    format: str  # PICKLE or XGBOOST
    num_features: int
    # Trees per iteration limit from early stopping, as AWS's 1.5-1 and 1.7-1 images predict with it;
    # 0 predicts with every tree.
    iterations: int


@dataclass(frozen=True)
class XGBoostModel:
    members: tuple[Member, ...]
    objective: str
    num_class: int
    num_features: int

    @property
    def votes(self) -> bool:
        return len(self.members) > 1 and self.objective in VOTING_OBJECTIVES

    def describe(self) -> str:
        files = ", ".join(f"{m.name} ({m.format})" for m in self.members)
        kind = "an ensemble of " if len(self.members) > 1 else ""
        return f"{kind}{files}: objective {self.objective}, {self.num_features} features"


# --- loading ----------------------------------------------------------------------------------


def model_files(model_dir: Path, ensemble: bool) -> list[Path]:
    if not model_dir.is_dir():
        raise InferenceError(f"the model directory {model_dir} does not exist", code="no_model_dir")
    files = sorted(
        path
        for path in model_dir.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.name not in NOT_MODELS
    )
    if not files:
        raise InferenceError(
            f"no model file in {model_dir}: expected xgboost-model (a file Booster.save_model wrote, or a "
            "pickled Booster) at the top of model.tar.gz",
            code="no_model_file",
        )
    return files if ensemble else files[:1]


def load(model_dir: Path, ensemble: bool = True) -> XGBoostModel:
    _skip_pandas_probe()
    members = tuple(load_member(path) for path in model_files(model_dir, ensemble))
    config = json.loads(members[0].booster.save_config())
    learner = config["learner"]
    model = XGBoostModel(
        members=members,
        objective=learner["objective"]["name"],
        num_class=int(learner["learner_model_param"].get("num_class") or 0),
        num_features=min(m.num_features for m in members),
    )
    log.info("xgboost %s serves %s", xgb.__version__, model.describe())
    return model


def load_member(path: Path) -> Member:
    data = path.read_bytes()
    if data[:1] == b"\x80":  # a pickle (protocol 2 or later): what the 0.90-x to 1.2-x images wrote
        booster, model_format = _unpickle(path, data), PICKLE
    else:
        booster, model_format = _load_saved(path, data), XGBOOST
    # One thread per predict call, as AWS's container sets it: the server runs one model thread per
    # worker, and the workers already use every core.
    booster.set_param("nthread", 1)
    return Member(path.name, booster, model_format, booster.num_features(), _best_iterations(booster))


def _load_saved(path: Path, data: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    try:
        # From memory, so that xgboost sniffs the format instead of trusting the file's extension.
        booster.load_model(bytearray(data))
        return booster
    except xgb.core.XGBoostError as exc:
        saved_error = _first_line(exc)
    try:
        return _unpickle(path, data)  # protocol 0 or 1 pickles start with an opcode, not 0x80
    except InferenceError:
        pass
    raise InferenceError(
        f"{path.name} is not an XGBoost model: xgboost {xgb.__version__} cannot load it ({saved_error}), "
        "and it is not a pickled Booster",
        code="invalid_model_file",
        file=path.name,
    )


class _BoosterUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it holds {module}.{name}")


def _unpickle(path: Path, data: bytes) -> xgb.Booster:
    try:
        booster = _BoosterUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # any failure to unpickle: say what, never run more of it
        raise InferenceError(
            f"{path.name} is a pickle that is not a plain xgboost Booster ({_first_line(exc)}): save the "
            "model with Booster.save_model, or pickle the Booster itself (XGBModel.get_booster())",
            code="invalid_model_file",
            file=path.name,
        ) from None
    if not isinstance(booster, xgb.Booster):
        raise InferenceError(
            f"{path.name} holds a pickled {type(booster).__name__}, not an xgboost Booster",
            code="invalid_model_file",
            file=path.name,
        )
    return booster


def _best_iterations(booster: xgb.Booster) -> int:
    """The iterations AWS's 1.5-1 and 1.7-1 images predict with: those of best_ntree_limit.

    Their serving code passes `ntree_limit=getattr(booster, "best_ntree_limit", 0)`, and xgboost 1.x set
    that attribute from the model's saved `best_ntree_limit` attribute (early stopping writes it) or kept
    it from a pickled Booster's state. xgboost 1.7 turned ntree_limit into iteration_range=(0,
    ntree_limit // num_parallel_tree); xgboost 3 has no ntree_limit, so the same range is passed.
    """
    limit = getattr(booster, "best_ntree_limit", None) or booster.attr("best_ntree_limit")
    try:
        trees = int(limit or 0)
    except (TypeError, ValueError):
        return 0
    if trees <= 0:
        return 0
    return max(trees // _parallel_trees(booster), 0)


def _parallel_trees(booster: xgb.Booster) -> int:
    gradient_booster = json.loads(booster.save_config())["learner"]["gradient_booster"]
    params = gradient_booster.get("gbtree_model_param") or gradient_booster.get("gbtree", {}).get(
        "gbtree_model_param", {}
    )
    return max(int(params.get("num_parallel_tree", 1) or 1), 1)


def _skip_pandas_probe() -> None:
    # xgboost asks, on every predict call, whether the input is a pandas object by importing pandas
    # (xgboost.data._is_pandas_df and _is_pandas_series). Without pandas installed, each of those
    # failed imports searches sys.path again: a few hundred microseconds per call, as much as the
    # prediction. Where pandas is not installed, their answer is always False: give it at once. Only
    # xgboost's own two checks change; `import pandas` still fails as before for everyone else.
    if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
        return
    import xgboost.data

    for name in ("_is_pandas_df", "_is_pandas_series"):
        if callable(getattr(xgboost.data, name, None)):
            setattr(xgboost.data, name, _never)


def _never(data: Any) -> bool:
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# --- predicting ---------------------------------------------------------------------------------


def predict(model: XGBoostModel, rows: np.ndarray | scipy.sparse.csr_matrix) -> np.ndarray:
    """One prediction row per input row: float32, 1-D, or 2-D for multi:softprob and multi-output."""
    outputs = [
        member.booster.inplace_predict(
            _fit_width(rows, member.num_features),
            iteration_range=(0, member.iterations),
            validate_features=False,
        )
        for member in model.members
    ]
    if len(outputs) == 1:
        return outputs[0]
    stacked = np.stack(outputs)
    if model.votes:
        return _vote(stacked)
    return np.mean(stacked, axis=0, dtype=np.float64).astype(np.float32)


def _fit_width(rows: np.ndarray | scipy.sparse.csr_matrix, num_features: int) -> Any:
    """Rows as wide as the model: fewer columns are missing values, more are the client's mistake.

    AWS's container hands xgboost a DMatrix of the request's width: fewer columns than the model has
    are missing values, more are refused (xgboost's "Number of columns does not match"), a 400 there
    as here. inplace_predict needs the model's width, so narrower rows are widened with missing values.
    """
    width = rows.shape[1]
    check_width(width, num_features)
    if width == num_features:
        return rows
    if scipy.sparse.issparse(rows):
        return scipy.sparse.csr_matrix(
            (rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], num_features)
        )
    padding = np.full((rows.shape[0], num_features - width), np.nan)
    return np.hstack([rows, padding])


def check_width(width: int, num_features: int) -> None:
    """More columns than the model's features: the client's mistake, a 400 with both numbers."""
    if width > num_features:
        raise BadRequest(
            f"each row may have at most {num_features} features, the model's; got {width}",
            code="wrong_feature_count",
            expected=num_features,
            found=width,
        )


def _vote(stacked: np.ndarray) -> np.ndarray:
    """The most common prediction per row across the ensemble; the smallest value wins a tie.

    AWS votes with scipy.stats.mode over the models' axis, which breaks ties the same way.
    """
    flat = stacked.reshape(stacked.shape[0], -1)
    winners = np.empty(flat.shape[1], dtype=stacked.dtype)
    for column in range(flat.shape[1]):
        values, counts = np.unique(flat[:, column], return_counts=True)
        winners[column] = values[np.argmax(counts)]
    return winners.reshape(stacked.shape[1:])
