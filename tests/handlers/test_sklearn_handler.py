"""The scikit-learn handler (handlers/sklearn.py): finding and loading the model, checking requests."""

from __future__ import annotations

import collections
import importlib.abc
import pickle
import sys
import warnings

import joblib
import numpy as np
import orjson
import pytest
import scipy.sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from container.codecs import decode, encode
from container.config import load_config
from container.errors import BadRequest, InferenceError, UnsupportedMediaType
from handlers import sklearn as handler


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    monkeypatch.delenv(handler.MODEL_FILE_ENV, raising=False)
    monkeypatch.delenv(handler.SKOPS_TRUSTED_ENV, raising=False)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def classifier(iris):
    features, labels = iris
    return LogisticRegression(max_iter=500).fit(features, labels)


@pytest.fixture(scope="module")
def regressor(iris):
    features, labels = iris
    return LinearRegression().fit(features, labels.astype(float))


@pytest.fixture(scope="module")
def colour_pipeline():
    """A pipeline that takes strings: one categorical column and one numeric column."""
    rows = np.array([["red", 1.0], ["blue", 2.0], ["red", 3.0], ["green", 4.0]], dtype=object)
    encoder = ColumnTransformer([("colour", OneHotEncoder(), [0])], remainder="passthrough")
    return make_pipeline(encoder, LogisticRegression()).fit(rows, [0, 1, 0, 1])


def settings(environ: dict[str, str]) -> handler.Settings:
    """The handler's settings as the server reads them: through the config's parser."""
    return load_config(environ).for_handler("sklearn", None, handler.read_settings).handler_settings


class NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")
        return None


# --- finding the model file -------------------------------------------------------------------


def test_missing_model_directory(tmp_path):
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path / "nope")
    assert caught.value.code == "no_model_dir"
    assert str(tmp_path / "nope") in caught.value.message


def test_no_model_file_lists_what_is_there(tmp_path):
    (tmp_path / "README.txt").write_text("hello")
    (tmp_path / "model.onnx").write_bytes(b"")
    (tmp_path / "code").mkdir()
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path)
    assert caught.value.code == "no_model_file"
    assert caught.value.message == (
        f"no model file in {tmp_path}: expected one file ending in .joblib, .pkl, .pickle, .skops"
        "; it holds: README.txt, code/, model.onnx"
    )


def test_empty_model_directory_says_it_holds_nothing(tmp_path):
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path)
    assert caught.value.message.endswith("; it holds: nothing")


def test_long_listing_is_cut_at_twenty(tmp_path):
    for index in range(25):
        (tmp_path / f"file{index:02d}.txt").write_text("")
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path)
    assert caught.value.message.endswith("file19.txt, ...")


def test_one_model_file_is_found_whatever_the_suffix_case(tmp_path):
    (tmp_path / "Model.JOBLIB").write_bytes(b"")
    (tmp_path / "notes.md").write_text("")
    (tmp_path / "dir.pkl").mkdir()  # a directory is not a model file
    assert handler.find_model_file(tmp_path) == tmp_path / "Model.JOBLIB"


def test_several_model_files_are_ambiguous(tmp_path):
    (tmp_path / "b.pkl").write_bytes(b"")
    (tmp_path / "a.joblib").write_bytes(b"")
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path)
    assert caught.value.code == "ambiguous_model_file"
    assert caught.value.message == (
        f"several model files in {tmp_path} (a.joblib, b.pkl): keep one, or name it in BYOC_MODEL_FILE"
    )


def test_model_file_env_picks_one(tmp_path):
    (tmp_path / "a.joblib").write_bytes(b"")
    (tmp_path / "b.pkl").write_bytes(b"")
    chosen = settings({"BYOC_MODEL_FILE": " b.pkl "}).model_file
    assert handler.find_model_file(tmp_path, chosen) == tmp_path / "b.pkl"


def test_model_file_env_naming_a_missing_file(tmp_path):
    (tmp_path / "a.joblib").write_bytes(b"")
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path, settings({"BYOC_MODEL_FILE": "c.joblib"}).model_file)
    assert caught.value.code == "no_model_file"
    assert caught.value.message == (
        f"BYOC_MODEL_FILE='c.joblib', but {tmp_path / 'c.joblib'} is not a file; it holds: a.joblib"
    )


def test_model_file_env_with_an_unknown_format(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(InferenceError) as caught:
        handler.find_model_file(tmp_path, settings({"BYOC_MODEL_FILE": "model.onnx"}).model_file)
    assert caught.value.code == "unknown_model_format"
    assert ".onnx" in caught.value.message and ".joblib, .pkl, .pickle, .skops" in caught.value.message


# --- loading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.pickle"])
def test_model_fn_loads_joblib_and_pickle(tmp_path, classifier, name):
    if name.endswith(".joblib"):
        joblib.dump(classifier, tmp_path / name)
    else:
        (tmp_path / name).write_bytes(pickle.dumps(classifier))
    model = handler.model_fn(str(tmp_path))
    assert isinstance(model, LogisticRegression)
    np.testing.assert_array_equal(model.coef_, classifier.coef_)


def test_model_fn_refuses_an_object_without_predict(tmp_path):
    joblib.dump({"weights": [1, 2]}, tmp_path / "model.joblib")
    with pytest.raises(InferenceError) as caught:
        handler.model_fn(str(tmp_path))
    assert caught.value.code == "not_an_estimator"
    assert caught.value.message == "model.joblib holds a dict, which has no predict method"


def test_skops_model_with_only_trusted_sklearn_types_loads(tmp_path, classifier):
    import skops.io

    skops.io.dump(classifier, tmp_path / "model.skops")
    model = handler.model_fn(str(tmp_path))
    np.testing.assert_array_equal(model.coef_, classifier.coef_)


@pytest.fixture()
def skops_with_a_counter(tmp_path, iris):
    import skops.io

    model = LogisticRegression(max_iter=500).fit(*iris)
    model.extra_ = collections.Counter(a=1)
    skops.io.dump(model, tmp_path / "model.skops")
    return tmp_path


def test_skops_untrusted_types_are_refused_and_listed(skops_with_a_counter):
    with pytest.raises(InferenceError) as caught:
        handler.model_fn(str(skops_with_a_counter))
    assert caught.value.code == "untrusted_types"
    assert caught.value.details == {"untrusted_types": ["collections.Counter"]}
    assert "BYOC_SKOPS_TRUSTED_TYPES" in caught.value.message


def test_skops_trusted_types_from_the_environment(skops_with_a_counter, monkeypatch):
    monkeypatch.setenv("BYOC_SKOPS_TRUSTED_TYPES", " numpy.float64 , collections.Counter ,")
    model = handler.model_fn(str(skops_with_a_counter))
    assert model.extra_ == collections.Counter(a=1)


def test_skops_file_without_skops_installed(tmp_path, monkeypatch):
    (tmp_path / "model.skops").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "skops.io", None)  # import skops.io raises ImportError
    with pytest.raises(InferenceError) as caught:
        handler.model_fn(str(tmp_path))
    assert caught.value.code == "skops_missing"


# --- predict_fn -------------------------------------------------------------------------------


def test_classifier_predictions_probabilities_and_classes(classifier, iris):
    features, _ = iris
    result = handler.predict_fn(features[[0, 100]], classifier)
    assert set(result) == {"predictions", "probabilities", "classes"}
    np.testing.assert_array_equal(result["predictions"], [0, 2])
    assert result["probabilities"].shape == (2, 3)
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), [1.0, 1.0])
    np.testing.assert_array_equal(result["classes"], [0, 1, 2])


def test_regressor_has_predictions_only(regressor, iris):
    result = handler.predict_fn(iris[0][:3], regressor)
    assert set(result) == {"predictions"}
    assert result["predictions"].shape == (3,)


def test_estimator_whose_predict_proba_is_unavailable(iris):
    # hasattr(SVC(), "predict_proba") is False: the attribute itself raises.
    model = SVC().fit(*iris)
    assert set(handler.predict_fn(iris[0][:2], model)) == {"predictions"}


def test_csv_request_to_csv_response(classifier):
    rows = decode.decode(b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n", "text/csv")
    body, _ = handler.output_fn(handler.predict_fn(rows, classifier), "text/csv")
    cells = body.decode().strip().split(",")
    assert cells[0] == "0"  # an integer label, then one probability per class
    assert len(cells) == 4
    assert abs(sum(float(c) for c in cells[1:]) - 1.0) < 1e-9


def test_json_request_to_json_response(classifier):
    rows = decode.decode(b'{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}', "application/json")
    response = orjson.loads(encode.encode(handler.predict_fn(rows, classifier), "application/json"))
    assert response["predictions"] == [0, 2]
    assert response["classes"] == [0, 1, 2]
    assert len(response["probabilities"]) == 2


def test_wrong_feature_count_is_400_with_expected_and_found(classifier):
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(np.ones((2, 3)), classifier)
    assert caught.value.code == "wrong_feature_count"
    assert caught.value.details == {"expected": 4, "found": 3}
    assert caught.value.message == "each row must have 4 features; got 3"


def test_wrong_feature_count_in_a_sparse_request(classifier):
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(scipy.sparse.csr_matrix(np.ones((1, 5))), classifier)
    assert caught.value.details == {"expected": 4, "found": 5}


def test_sparse_request_of_the_right_width(classifier):
    result = handler.predict_fn(scipy.sparse.csr_matrix([[5.1, 3.5, 1.4, 0.2]]), classifier)
    np.testing.assert_array_equal(result["predictions"], [0])


def test_sparse_request_to_a_dense_only_model_is_415(iris):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(*iris)
    with pytest.raises(UnsupportedMediaType) as caught:
        handler.predict_fn(scipy.sparse.csr_matrix([[5.1, 3.5, 1.4, 0.2]]), model)
    assert caught.value.status_code == 415
    assert caught.value.code == "sparse_input_refused"
    assert caught.value.details == {
        "supported": ["application/json", "text/csv", "application/jsonlines", "application/x-npy"]
    }
    assert "Cannot center sparse matrices" in caught.value.message


def test_one_dimensional_input_is_one_row(classifier):
    np.testing.assert_array_equal(
        handler.predict_fn(np.array([5.1, 3.5, 1.4, 0.2]), classifier)["predictions"], [0]
    )


def test_three_dimensional_input_is_400(classifier):
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(np.ones((1, 2, 4)), classifier)
    assert caught.value.code == "invalid_shape"
    assert caught.value.details == {"expected": [None, 4], "found": [1, 2, 4]}


def test_non_numeric_cell_is_400_naming_row_and_column(classifier):
    rows = decode.decode(b'[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, "wide", 2.3]]', "application/json")
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.code == "invalid_value"
    assert caught.value.details == {"row": 2, "column": 3}
    assert caught.value.message == "row 2, column 3: 'wide' is not a number"


def test_numeric_strings_in_json_are_numbers(classifier):
    rows = np.array([["5.1", 3.5, "1.4", 0.2]], dtype=object)
    np.testing.assert_array_equal(handler.predict_fn(rows, classifier)["predictions"], [0])


def test_npy_string_arrays_are_checked_like_json_strings(classifier):
    np.testing.assert_array_equal(
        handler.predict_fn(np.array([["5.1", "3.5", "1.4", "0.2"]]), classifier)["predictions"], [0]
    )
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(np.array([[b"5.1", b"3.5", b"x", b"0.2"]]), classifier)
    assert caught.value.details == {"row": 1, "column": 3}


def test_null_beside_a_string_is_a_missing_value_not_the_culprit(classifier):
    rows = np.array([[None, 3.5, "oops", 0.2]], dtype=object)
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.details == {"row": 1, "column": 3}


def test_missing_value_for_a_model_without_nan_support_is_400(classifier):
    rows = decode.decode(b"5.1,3.5,1.4,0.2\n6.7,,5.2,2.3\n", "text/csv")
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.code == "missing_value"
    assert caught.value.details == {"row": 2, "column": 2}
    assert "NaN" in caught.value.message


def test_missing_value_in_a_sparse_request_is_400(classifier):
    rows = scipy.sparse.csr_matrix(np.array([[5.1, 3.5, 1.4, 0.2], [0.0, 6.7, 0.0, np.nan]]))
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.code == "missing_value"
    assert caught.value.details == {"row": 2, "column": 4}


@pytest.mark.parametrize(
    ("body", "column"),
    [
        (b"inf,3.5,1.4,0.2", 1),
        (b"5.1,-inf,1.4,0.2", 2),
        (b"5.1,3.5,1e309,0.2", 3),
        (b"5.1,3.5,1.4," + b"9" * 200_000, 4),
    ],
    ids=["inf", "-inf", "1e309", "200,000 digits"],
)
def test_infinite_values_are_400_naming_row_and_column(classifier, body, column):
    rows = decode.decode(body, "text/csv")
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.code == "non_finite_value"
    assert caught.value.details == {"row": 1, "column": column}
    assert f"row 1, column {column} is infinite" in caught.value.message


def test_the_missing_value_message_is_ours_not_scikit_learns(classifier):
    rows = decode.decode(b"5.1,3.5,1.4,0.2\n6.7,,5.2,2.3\n", "text/csv")
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    message = caught.value.message
    assert message.startswith("row 2, column 2 is missing")
    assert "LogisticRegression" not in message and "http" not in message and "\n" not in message


@pytest.mark.parametrize("dtype", ["complex128", "datetime64[s]", "timedelta64[ms]", "i4,f8"])
def test_arrays_that_hold_no_feature_values_are_400_naming_the_dtype(classifier, dtype):
    rows = np.zeros((1, 4), dtype=dtype)
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, classifier)
    assert caught.value.code == "unsupported_dtype"
    assert caught.value.details == {"dtype": str(np.dtype(dtype))}
    with pytest.raises(BadRequest):
        handler.check_rows(rows, classifier)


def test_check_rows_refuses_what_the_estimator_refuses_before_any_prediction(classifier):
    good = np.array([[5.1, 3.5, 1.4, 0.2]])
    handler.check_rows(good, classifier)
    with pytest.raises(BadRequest) as caught:
        handler.check_rows(np.array([[5.1, np.nan, 1.4, 0.2]]), classifier)
    assert (caught.value.code, caught.value.details) == ("missing_value", {"row": 1, "column": 2})
    with pytest.raises(BadRequest) as caught:
        handler.check_rows(np.array([[5.1, 3.5, 1.4]]), classifier)
    assert caught.value.code == "wrong_feature_count"


def test_a_pipeline_that_imputes_takes_nan_although_its_tags_say_otherwise(iris):
    from sklearn.impute import SimpleImputer

    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(*iris)
    rows = np.array([[5.1, np.nan, 1.4, 0.2]])
    handler.check_rows(rows, model)
    assert handler.predict_fn(rows, model)["predictions"].shape == (1,)


def test_a_pipeline_refusing_nan_is_remembered_for_check_rows(iris):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(*iris)
    rows = np.array([[5.1, np.nan, 1.4, 0.2]])
    handler.check_rows(rows, model)  # not known yet: a pipeline's tags do not tell
    with pytest.raises(BadRequest):
        handler.predict_fn(rows, model)
    with pytest.raises(BadRequest) as caught:
        handler.check_rows(rows, model)
    assert caught.value.code == "missing_value"
    handler.check_rows(np.array([[5.1, np.inf, 1.4, 0.2]]), model)  # inf was not what it refused


def test_a_model_taking_nan_but_not_inf_is_told_about_the_inf(iris):
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(*iris)
    rows = np.array([[np.nan, np.inf, 1.4, 0.2]])
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, model)
    assert (caught.value.code, caught.value.details) == ("non_finite_value", {"row": 1, "column": 2})
    assert handler.predict_fn(np.array([[np.nan, 3.5, 1.4, 0.2]]), model)["predictions"].shape == (1,)


def test_missing_value_for_a_model_with_nan_support_is_predicted(iris):
    model = HistGradientBoostingClassifier(max_iter=5).fit(*iris)
    rows = decode.decode(b"[[5.1, null, 1.4, 0.2]]", "application/json")
    assert handler.predict_fn(rows, model)["predictions"].shape == (1,)


def test_pipelines_take_strings(colour_pipeline):
    rows = decode.decode(b'[["red", 1.5], ["green", 3.5]]', "application/json")
    result = handler.predict_fn(rows, colour_pipeline)
    assert result["predictions"].shape == (2,)
    assert result["probabilities"].shape == (2, 2)


def test_pipeline_rejecting_a_value_is_400(colour_pipeline):
    rows = decode.decode(b'[["red", "heavy"]]', "application/json")
    with pytest.raises(BadRequest) as caught:
        handler.predict_fn(rows, colour_pipeline)
    assert caught.value.code == "invalid_value"
    assert caught.value.message.startswith("the model rejected the input: ")


def test_server_side_failures_stay_exceptions(classifier):
    class Broken:
        n_features_in_ = 2

        def predict(self, rows):
            raise ValueError("internal state is corrupt")

    with pytest.raises(ValueError, match="internal state is corrupt"):
        handler.predict_fn(np.ones((1, 2)), Broken())


def test_validate_rows_passes_other_structures_on(classifier):
    texts = ["a document", "another"]
    assert handler.validate_rows(texts, classifier) is texts


def test_validate_rows_without_n_features_in():
    class Anything:
        def predict(self, rows):
            return rows

    rows = np.ones((2, 7))
    assert handler.validate_rows(rows, Anything()) is rows
    with pytest.raises(BadRequest) as caught:
        handler.validate_rows(np.array([[["x"]]], dtype=object), Anything())
    assert caught.value.code == "invalid_value"
    assert caught.value.message == "position [0, 0, 0]: 'x' is not a number"


def test_model_fitted_on_a_dataframe_without_pandas_installed(iris, monkeypatch):
    model = LogisticRegression(max_iter=500).fit(*iris)
    model.feature_names_in_ = np.array(["a", "b", "c", "d"], dtype=object)
    # `import pandas` fails, installed or not; scikit-learn still sees no pandas in sys.modules.
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPandas(), *sys.meta_path])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
        result = handler.predict_fn(iris[0][:1], model)
    np.testing.assert_array_equal(result["predictions"], [0])


@pytest.mark.parametrize(
    ("make_estimator", "n_classes"),
    [
        (lambda: LogisticRegression(max_iter=500), 3),
        (lambda: LogisticRegression(max_iter=500), 2),
        (lambda: RandomForestClassifier(n_estimators=5, random_state=0), 3),
        (lambda: ExtraTreesClassifier(n_estimators=5, random_state=0), 3),
        (lambda: DecisionTreeClassifier(random_state=0), 3),
        (lambda: GradientBoostingClassifier(n_estimators=5, random_state=0), 3),
        (lambda: HistGradientBoostingClassifier(max_iter=5), 2),
        (lambda: GaussianNB(), 3),
        (lambda: CalibratedClassifierCV(SVC(), ensemble=False), 3),  # not on the list: predict() itself
    ],
)
def test_predictions_taken_from_probabilities_equal_predict(make_estimator, n_classes):
    features, labels = make_classification(
        n_samples=400, n_features=8, n_informative=5, n_classes=n_classes, random_state=1
    )
    labels = np.array(["cat", "dog", "eel"])[labels]  # string labels: classes_ must map back
    for model in (make_estimator(), make_pipeline(StandardScaler(), make_estimator())):
        model.fit(features[:300], labels[:300])
        result = handler.predict_fn(features[300:], model)
        assert result["predictions"].tolist() == model.predict(features[300:]).tolist()
        assert result["probabilities"].shape == (100, n_classes)
        assert result["classes"].tolist() == model.classes_.tolist()
