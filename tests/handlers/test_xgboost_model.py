"""The XGBoost handler's model loading and prediction, on real artifacts of the xgboost versions AWS ran.

The fixtures (tests/handlers/fixtures/xgboost, made by make_fixtures.py there) are `xgboost-model` files
written by xgboost 1.7.4 (AWS image 1.7-1) and 1.5.2 (1.5-1) with Booster.save_model, as their training
jobs save them (legacy binary, no extension), and pickled Boosters of 1.2.1 (images 1.2-x pickled), 1.5.2
and 1.7.4. Each comes with what that version predicted for the same rows through the call AWS's serving
code makes (aws/sagemaker-xgboost-container 1.7-1, algorithm_mode/serve_utils.py, predict), so these tests
compare this handler's predictions with AWS's, not with its own.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import xgboost as xgb

from container.errors import BadRequest, InferenceError
from handlers.xgboost import model as xgb_model

FIXTURES = Path(__file__).parent / "fixtures" / "xgboost"
VERSIONS = ("1.7.4", "1.5.2", "1.2.1")


def expected_of(version: str) -> dict[str, Any]:
    return json.loads((FIXTURES / version / "expected.json").read_text())


def dense_rows(expected: dict[str, Any]) -> np.ndarray:
    return np.array(expected["dense_rows"], dtype=np.float64)


def sparse_rows(expected: dict[str, Any], width: int | None = None) -> scipy.sparse.csr_matrix:
    rows, cols, values = [], [], []
    for row, pairs in enumerate(expected["sparse_rows"]):
        for col, value in pairs:
            rows.append(row)
            cols.append(col)
            values.append(value)
    shape = None if width is None else (len(expected["sparse_rows"]), width)
    return scipy.sparse.csr_matrix((values, (rows, cols)), shape=shape)


def copy_model(source: Path, directory: Path, name: str = "xgboost-model") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, directory / name)
    return directory


CASES = [(version, case) for version in VERSIONS for case in expected_of(version)["cases"]]


@pytest.mark.parametrize(("version", "case"), CASES, ids=[f"{v}-{c}" for v, c in CASES])
def test_real_artifacts_predict_what_aws_predicted(version: str, case: str, tmp_path: Path) -> None:
    """Every artifact loads in the handler's xgboost and predicts what the version that wrote it did.

    Legacy binaries of 1.5.2 and 1.7.4 match to the bit. The pickles of 1.2.1 match to float32's last
    place: xgboost 1.2 added the trees' leaf values in another order.
    """
    expected = expected_of(version)
    described = expected["cases"][case]
    model_dir = copy_model(FIXTURES / version / case / "xgboost-model", tmp_path / "model")
    model = xgb_model.load(model_dir)
    assert model.objective == described["objective"]
    assert model.num_class == described["num_class"]
    assert model.members[0].format == ("pickle" if described["format"] == "pickle" else "xgboost")
    dense = xgb_model.predict(model, dense_rows(expected)).tolist()
    sparse = xgb_model.predict(model, sparse_rows(expected)).tolist()
    if version.startswith("1.2"):
        np.testing.assert_allclose(dense, described["dense_predictions"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sparse, described["sparse_predictions"], rtol=1e-6, atol=1e-6)
    else:
        assert dense == described["dense_predictions"]
        assert sparse == described["sparse_predictions"]


@pytest.mark.parametrize("version", ["1.7.4", "1.5.2"])
def test_early_stopped_models_predict_with_best_ntree_limit_as_aws_1_x_images_do(
    version: str, tmp_path: Path
) -> None:
    """AWS's 1.5-1 and 1.7-1 images pass ntree_limit=best_ntree_limit (serve_utils.py, predict), which
    xgboost 1.x read from the saved model's attributes: an early-stopped model predicts with its best
    iterations, not with every tree saved. xgboost 3's own predict() would use every tree."""
    described = expected_of(version)["cases"]["binary-logistic-early-stop"]
    assert described["best_ntree_limit"] < described["trees_saved"]  # the fixture did stop early
    model_dir = copy_model(FIXTURES / version / "binary-logistic-early-stop" / "xgboost-model", tmp_path)
    model = xgb_model.load(model_dir)
    assert model.members[0].iterations == described["best_ntree_limit"]
    rows = dense_rows(expected_of(version))
    assert xgb_model.predict(model, rows).tolist() == described["dense_predictions"]
    every_tree = model.members[0].booster.inplace_predict(rows, validate_features=False).tolist()
    assert every_tree != described["dense_predictions"]


@pytest.mark.parametrize("extension", ["", ".json", ".ubj"])
def test_models_saved_by_this_xgboost_in_any_format_load(extension: str, tmp_path: Path) -> None:
    """Booster.save_model writes JSON (.json), UBJSON (.ubj, and no extension since xgboost 2.1): AWS's
    3.0-5 image writes UBJSON `xgboost-model`. The handler sniffs the bytes, whatever the name."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(100, 4))
    booster = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 2},
        xgb.DMatrix(features, label=features[:, 0]),
        num_boost_round=3,
    )
    saved = tmp_path / f"saved{extension}"
    booster.save_model(saved)
    model_dir = copy_model(saved, tmp_path / "model")
    model = xgb_model.load(model_dir)
    assert (
        xgb_model.predict(model, features[:5]).tolist() == booster.predict(xgb.DMatrix(features[:5])).tolist()
    )


# --- the directory, as AWS's container reads it ----------------------------------------------------


def test_every_top_level_file_but_hidden_ones_and_the_manifest_is_a_model(tmp_path: Path) -> None:
    """AWS (serve_utils.py, _get_full_model_paths): every regular, non-hidden file at the top is a model;
    subdirectories (code/) are not. byoc's own manifest is not a model either."""
    model_dir = copy_model(FIXTURES / "1.7.4" / "binary-logistic" / "xgboost-model", tmp_path)
    (model_dir / ".hidden").write_text("not a model")
    (model_dir / "byoc-manifest.json").write_text("{}")
    (model_dir / "code").mkdir()
    (model_dir / "code" / "inference.py").write_text("")
    model = xgb_model.load(model_dir)
    assert [m.name for m in model.members] == ["xgboost-model"]


def test_a_file_that_is_no_model_is_a_load_error_naming_it(tmp_path: Path) -> None:
    model_dir = copy_model(FIXTURES / "1.7.4" / "binary-logistic" / "xgboost-model", tmp_path)
    (model_dir / "README.txt").write_text("notes about the model")
    with pytest.raises(InferenceError, match=r"README\.txt is not an XGBoost model") as raised:
        xgb_model.load(model_dir)
    assert raised.value.code == "invalid_model_file"


def test_an_empty_directory_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(InferenceError, match="expected xgboost-model"):
        xgb_model.load(tmp_path)


def test_pickles_of_anything_but_a_booster_are_refused_without_running_them(tmp_path: Path) -> None:
    """AWS unpickles whatever the file holds; the handler builds nothing but a Booster."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(pickle.dumps(Payload(), protocol=4))
    with pytest.raises(InferenceError, match=r"not a plain xgboost Booster \(it holds posix\.mkdir\)"):
        xgb_model.load(model_dir)
    assert not marker.exists()


def test_a_pickled_scikit_learn_wrapper_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """AWS's container unpickles an XGBClassifier, then fails on set_param (a 500 at every request)."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 3))
    classifier = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(features, features[:, 0] > 0)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(pickle.dumps(classifier, protocol=4))
    with pytest.raises(InferenceError, match=r"get_booster\(\)"):
        xgb_model.load(model_dir)


# --- ensembles -------------------------------------------------------------------------------------


def test_several_files_are_an_ensemble_averaged(tmp_path: Path) -> None:
    """AWS (serve_utils.py, predict): np.mean over the models, unless the objective votes."""
    expected = expected_of("1.7.4")
    model_dir = copy_model(FIXTURES / "1.7.4" / "binary-logistic" / "xgboost-model", tmp_path, "a-model")
    copy_model(FIXTURES / "1.7.4" / "binary-logistic-early-stop" / "xgboost-model", tmp_path, "b-model")
    model = xgb_model.load(model_dir)
    assert [m.name for m in model.members] == ["a-model", "b-model"]
    mean = np.mean(
        [
            expected["cases"]["binary-logistic"]["dense_predictions"],
            expected["cases"]["binary-logistic-early-stop"]["dense_predictions"],
        ],
        axis=0,
    )
    np.testing.assert_allclose(xgb_model.predict(model, dense_rows(expected)), mean, rtol=1e-6)


def test_a_softmax_ensemble_votes_and_ties_go_to_the_smallest_class(tmp_path: Path) -> None:
    """AWS: scipy.stats.mode over the models for multi:softmax and binary:hinge; mode picks the smallest
    of equally common values."""
    stacked = np.array([[0.0, 2.0, 1.0], [2.0, 2.0, 0.0], [2.0, 1.0, 1.0], [0.0, 0.0, 2.0]], dtype=np.float32)
    assert xgb_model._vote(stacked).tolist() == [0.0, 2.0, 1.0]
    model_dir = copy_model(FIXTURES / "1.7.4" / "multi-softmax" / "xgboost-model", tmp_path, "one")
    copy_model(FIXTURES / "1.5.2" / "multi-softmax" / "xgboost-model", tmp_path, "two")
    model = xgb_model.load(model_dir)
    assert model.votes
    expected = expected_of("1.7.4")["cases"]["multi-softmax"]["dense_predictions"]
    assert xgb_model.predict(model, dense_rows(expected_of("1.7.4"))).tolist() == expected


def test_ensemble_off_serves_the_first_file_only(tmp_path: Path) -> None:
    """SAGEMAKER_INFERENCE_ENSEMBLE=false: AWS serves the first file of the directory listing (the
    handler: the first by name, a listing order that does not depend on the file system)."""
    model_dir = copy_model(FIXTURES / "1.7.4" / "binary-logistic" / "xgboost-model", tmp_path, "a-model")
    copy_model(FIXTURES / "1.7.4" / "reg-squarederror" / "xgboost-model", tmp_path, "b-model")
    model = xgb_model.load(model_dir, ensemble=False)
    assert [m.name for m in model.members] == ["a-model"]


# --- request width ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def softprob() -> xgb_model.XGBoostModel:
    model_dir = FIXTURES / "1.7.4" / "multi-softprob"
    return xgb_model.load(model_dir)


def test_more_columns_than_the_model_has_are_a_400_with_the_width(softprob: xgb_model.XGBoostModel) -> None:
    """AWS: xgboost refuses the DMatrix ("Number of columns does not match"), which serve.py answers 400."""
    with pytest.raises(BadRequest) as raised:
        xgb_model.predict(softprob, np.zeros((2, 7)))
    assert raised.value.details == {"expected": 6, "found": 7}


def test_fewer_columns_are_missing_values_as_in_aws_dmatrix(softprob: xgb_model.XGBoostModel) -> None:
    """AWS's DMatrix of a narrower request treats the absent columns as missing: so does the handler,
    for dense and sparse rows alike."""
    expected = expected_of("1.7.4")
    narrow = dense_rows(expected)[:, :4]
    padded = np.hstack([narrow, np.full((len(narrow), 2), np.nan)])
    booster = softprob.members[0].booster
    assert xgb_model.predict(softprob, narrow).tolist() == booster.predict(xgb.DMatrix(padded)).tolist()
    sparse = sparse_rows(expected)[:, :4].tocsr()
    assert sparse.shape[1] == 4
    reference = booster.predict(xgb.DMatrix(sparse_rows(expected)[:, :4].tocsr())).tolist()
    assert xgb_model.predict(softprob, sparse).tolist() == reference
