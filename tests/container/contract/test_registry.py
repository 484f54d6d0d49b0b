"""Choosing the handler (container.contract.registry): BYOC_HANDLER, manifest, model files, default."""

from __future__ import annotations

import re

import pytest

from container.archives import manifest
from container.config import load_config
from container.contract import registry
from container.contract.spec import HandlerSpec
from container.errors import StartupError
from handlers.sklearn import HANDLER as SKLEARN

# Stand-ins with the model files the XGBoost and ONNX handlers declare (issue 12), for the choice alone.
XGBOOST = HandlerSpec(name="xgboost", model_files=("xgboost-model", "*.ubj"))
ONNX = HandlerSpec(name="onnx", model_files=("*.onnx",))
SPECS = [SKLEARN, XGBOOST, ONNX]


@pytest.mark.parametrize(
    ("files", "chosen"),
    [
        (["model.joblib"], "sklearn"),
        (["Model.PKL", "README.md"], "sklearn"),
        (["model.skops"], "sklearn"),
        (["xgboost-model"], "xgboost"),
        (["model.ubj", "notes.txt"], "xgboost"),
        (["model.onnx"], "onnx"),
    ],
)
def test_the_handler_whose_model_files_are_there(files, chosen):
    choice = registry.choose_by_files(files, SPECS, where="/opt/ml/model", default="sklearn")
    assert choice.name == chosen


def test_the_reason_names_the_files_and_the_patterns():
    choice = registry.choose_by_files(["model.ubj"], SPECS, where="/opt/ml/model", default="sklearn")
    assert (
        choice.reason
        == "/opt/ml/model holds model.ubj: model files of the xgboost handler (xgboost-model, *.ubj)"
    )


def test_no_model_file_means_the_default_handler():
    choice = registry.choose_by_files(["README.md"], SPECS, where="/m", default="sklearn")
    assert choice == registry.Choice(
        "sklearn", "no file in /m is a handler's model file: the default handler"
    )


def test_hidden_files_and_manifests_are_nobodys_model():
    greedy = HandlerSpec(name="greedy", model_files=("*",))
    files = [".byoc-manifest.json", "byoc-manifest.json", ".DS_Store"]
    assert registry.claims(files, [greedy]) == {}


def test_model_files_of_several_handlers_are_an_error_listing_them():
    with pytest.raises(registry.AmbiguousModelFiles) as caught:
        registry.choose_by_files(
            ["xgboost-model", "model.joblib", "a.onnx"], SPECS, where="/m", default="sklearn"
        )
    assert str(caught.value) == (
        "/m holds model files of several handlers: a.onnx (onnx); model.joblib (sklearn); xgboost-model "
        "(xgboost). Keep one handler's model files, or name the handler to serve with in BYOC_HANDLER"
    )
    assert caught.value.claimed == {
        "onnx": ["a.onnx"],
        "sklearn": ["model.joblib"],
        "xgboost": ["xgboost-model"],
    }
    assert isinstance(caught.value, StartupError)


def test_a_user_model_fn_keeps_working_whatever_the_files():
    choice = registry.choose_by_files(
        ["xgboost-model", "model.joblib"], SPECS, where="/m", default="sklearn", user_model_fn=True
    )
    assert choice.name == "sklearn"
    assert "the user module defines model_fn" in choice.reason


# --- choose(): the order of the sources ---------------------------------------------------------


def test_byoc_handler_wins(tmp_path):
    (tmp_path / "model.joblib").write_bytes(b"")
    config = load_config({"BYOC_MODEL_DIR": str(tmp_path), "BYOC_HANDLER": "mypackage.handler"})
    assert registry.choose(config, user_model_fn=False) == registry.Choice(
        "mypackage.handler", "BYOC_HANDLER=mypackage.handler", explicit=True
    )


@pytest.mark.parametrize("name", [manifest.FILENAME, *manifest.LEGACY_FILENAMES])
def test_then_the_handler_the_manifest_names(tmp_path, name):
    saved = manifest.build({}, {}, "byoc_unit.handler", None, "test", strict=())
    (tmp_path / name).write_bytes(manifest.dumps(saved))
    (tmp_path / "model.joblib").write_bytes(b"")
    choice = registry.choose(load_config({"BYOC_MODEL_DIR": str(tmp_path)}), user_model_fn=False)
    assert choice.name == "byoc_unit.handler"
    assert "named by the model's .byoc-manifest.json" in choice.reason


def test_then_the_model_files(tmp_path):
    (tmp_path / "model.joblib").write_bytes(b"")
    (tmp_path / manifest.FILENAME).write_bytes(b"not json")  # unreadable: names no handler
    choice = registry.choose(load_config({"BYOC_MODEL_DIR": str(tmp_path)}), user_model_fn=False)
    assert choice.name == "sklearn"
    assert re.fullmatch(
        rf"{re.escape(str(tmp_path))} holds model.joblib: model files of the sklearn handler .*",
        choice.reason,
    )


def test_a_missing_model_directory_means_the_default(tmp_path):
    choice = registry.choose(load_config({"BYOC_MODEL_DIR": str(tmp_path / "nope")}), user_model_fn=False)
    assert choice.name == "sklearn"


def test_a_handler_that_fails_to_load_is_reported_not_fatal(monkeypatch):
    monkeypatch.setattr(registry, "available_handlers", lambda: ["byoc_unit_missing", "sklearn"])
    specs, failures = registry.discover()
    assert [s.name for s in specs] == ["sklearn"]
    assert "no such handler module" in failures["byoc_unit_missing"]


# --- packages ---------------------------------------------------------------------------------


def test_a_handler_whose_packages_are_missing_cannot_start():
    assert registry.missing_packages(SKLEARN) == []
    spec = HandlerSpec(name="tf", packages=("numpy", "byoc-unit-not-installed"))
    with pytest.raises(StartupError) as caught:
        registry.require_packages(spec)
    assert str(caught.value).startswith(
        "the tf handler needs byoc-unit-not-installed, which this environment does not have"
    )
