"""Finding and preparing the user's code: SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY, requirements.txt,
and the failures that must stop the server at start instead of serving something else."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import CSV_ROWS, client, make_model_dir, run_until_exit, serving, write_code

pytestmark = pytest.mark.integration


def tagged(tag: str) -> str:
    """A user module whose answers say which module produced them."""
    return f"""
    TAG = {tag!r}


    def predict_fn(data, model):
        return {{"predictions": model.predict(data).tolist(), "module": TAG, "name": __name__}}
    """


def served_by(model_dir: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    with serving(model_dir, env=env) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == [0, 2]
        return body


@pytest.mark.parametrize("program", ["my_entry_point.py", "my_entry_point"])
def test_sagemaker_program_names_the_module(tmp_path: Path, model_file: Path, program: str) -> None:
    code = {"inference.py": tagged("inference"), "my_entry_point.py": tagged("entry point")}
    model_dir = make_model_dir(tmp_path, model_file, code)
    body = served_by(model_dir, {"SAGEMAKER_PROGRAM": program})
    assert body["module"] == "entry point"
    assert body["name"] == "my_entry_point"


def test_inference_py_is_the_default_program(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": tagged("inference")})
    assert served_by(model_dir)["module"] == "inference"


def test_a_missing_sagemaker_program_fails_loudly(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": tagged("inference")})
    status, output = run_until_exit(model_dir, {"SAGEMAKER_PROGRAM": "not_there.py"})
    assert status != 0
    assert "SAGEMAKER_PROGRAM" in output and "not_there.py" in output
    assert "inference.py" in output  # the message lists what the code directory does hold
    assert "Listening at" not in output


def test_sagemaker_submit_directory_as_a_local_dir(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": tagged("model code dir")})
    submit_dir = write_code(tmp_path / "elsewhere", {"serve_me.py": tagged("submit dir")})
    env = {"SAGEMAKER_SUBMIT_DIRECTORY": str(submit_dir), "SAGEMAKER_PROGRAM": "serve_me.py"}
    assert served_by(model_dir, env)["module"] == "submit dir"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def model_fn(model_dir:\n    return None\n", "SyntaxError"),
        ("import not_a_module_anyone_has\n", "not_a_module_anyone_has"),
        ("raise RuntimeError('configuration missing at import time')\n", "configuration missing"),
    ],
)
def test_a_module_that_fails_to_import_stops_the_server(
    tmp_path: Path, model_file: Path, source: str, expected: str
) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": source})
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert "failed to import" in output
    assert expected in output
    assert "Listening at" not in output  # no silent fall-back to the default handler


def test_transform_fn_with_predict_fn_refuses_to_start(tmp_path: Path, model_file: Path) -> None:
    source = """
    def transform_fn(model, input_data, content_type, accept):
        return "[]"


    def predict_fn(data, model):
        return model.predict(data)
    """
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": source})
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert "transform_fn together with predict_fn" in output
    assert "Listening at" not in output


def test_a_handler_function_with_the_wrong_signature_refuses_to_start(
    tmp_path: Path, model_file: Path
) -> None:
    source = """
    def predict_fn(data):
        return data
    """
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": source})
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert "predict_fn" in output and "takes 1 arguments" in output


# --- code/requirements.txt ----------------------------------------------------------------------


def test_requirements_that_install_are_installed_then_served(tmp_path: Path, model_file: Path) -> None:
    # Already satisfied in this environment: pip succeeds without the network.
    code = {"inference.py": tagged("with requirements"), "requirements.txt": "numpy\n"}
    model_dir = make_model_dir(tmp_path, model_file, code)
    with serving(model_dir) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        assert response.json()["module"] == "with requirements"
        log = server.log_text()
    assert "installed" in log and "requirements.txt" in log


@pytest.mark.parametrize(
    ("requirements", "pip_says"),
    [
        ("this is not a requirement!!\n", "Invalid requirement"),
        ("{missing}/pkg-1.0.tar.gz\n", "No such file or directory"),
    ],
)
def test_requirements_that_cannot_install_stop_the_server(
    tmp_path: Path, model_file: Path, requirements: str, pip_says: str
) -> None:
    code = {"inference.py": tagged("never served"), "requirements.txt": requirements.format(missing=tmp_path)}
    model_dir = make_model_dir(tmp_path, model_file, code)
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert "pip could not install" in output
    assert pip_says in output  # pip's own message is shown
    assert "Listening at" not in output


def test_an_unknown_handler_module_refuses_to_start(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file)
    status, output = run_until_exit(model_dir, {"BYOC_HANDLER": "no_such_framework"})
    assert status != 0
    assert "BYOC_HANDLER" in output and "sklearn" in output  # lists the handlers there are


@pytest.mark.parametrize("name", ["json", "sklearn"])
def test_a_user_module_named_like_an_installed_one_is_refused(
    tmp_path: Path, model_file: Path, name: str
) -> None:
    # Imported under that name, it would replace the real module for the whole server (the model's
    # own pickle needs the real sklearn): refused at start, with the reason.
    model_dir = make_model_dir(tmp_path, model_file, {f"{name}.py": tagged("shadow")})
    status, output = run_until_exit(model_dir, {"SAGEMAKER_PROGRAM": name})
    assert status != 0
    assert f"cannot be imported as {name!r}: that name is taken by" in output
    assert "rename the file" in output
    assert "Listening at" not in output


# --- the handler: which one, why, and its options --------------------------------------------


def test_the_log_says_which_handler_and_why(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file)
    with serving(model_dir) as server:
        log = server.log_text()
    assert f"handler: sklearn ({model_dir} holds model.joblib: model files of the sklearn handler" in log


def test_a_user_model_fn_serves_whatever_the_files(tmp_path: Path, model_file: Path) -> None:
    source = """
    import joblib


    def model_fn(model_dir):
        return joblib.load(model_dir + "/weights.bin")
    """
    model_dir = make_model_dir(tmp_path, None, {"inference.py": source})
    (model_dir / "weights.bin").write_bytes(model_file.read_bytes())
    with serving(model_dir) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200, response.text
        log = server.log_text()
    assert f"handler: sklearn (no file in {model_dir} is a handler's model file: the default handler)" in log


def test_a_misspelt_option_refuses_to_start_naming_it(tmp_path: Path, model_file: Path) -> None:
    source = """
    BYOC_HANDLER_OPTIONS = {"batchable": True, "prelaod": True}


    def predict_fn(data, model):
        return model.predict(data)
    """
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": source})
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert (
        "inference: unknown BYOC_HANDLER_OPTIONS key 'prelaod'; the valid keys are preload, batchable"
        in output
    )
    assert "Listening at" not in output


SETTINGS_HANDLER = """
from container import HandlerSpec


def model_fn(model_dir):
    return "model"


def predict_fn(data, model, context):
    return [context.config.handler_settings] * len(data)


def read_settings(env):
    return env.integer("BYOC_UNIT_TREES", 10, low=1, high=100)


HANDLER = HandlerSpec(
    name="byoc_unit_lib.handler",
    model_fn=model_fn,
    predict_fn=predict_fn,
    settings=read_settings,
    default_accept="text/csv",
)
"""


def test_a_handlers_settings_and_default_response_type(tmp_path: Path, model_file: Path) -> None:
    write_code(tmp_path / "lib" / "byoc_unit_lib", {"__init__.py": "", "handler.py": SETTINGS_HANDLER})
    model_dir = make_model_dir(tmp_path, model_file)
    env = {
        "BYOC_HANDLER": "byoc_unit_lib.handler",
        "PYTHONPATH": str(tmp_path / "lib"),
        "BYOC_UNIT_TREES": "7",
    }
    with serving(model_dir, env=env) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")  # the handler's default: no Accept
        assert response.text == "7\n7\n"
    env["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] = "application/json"
    with serving(model_dir, env=env) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.headers["content-type"] == "application/json"  # the variable wins
        assert response.json() == [7, 7]
    env["BYOC_UNIT_TREES"] = "many"
    status, output = run_until_exit(model_dir, env)
    assert status != 0
    assert "BYOC_UNIT_TREES='many' is invalid: expected a whole number from 1 to 100" in output
    assert "Listening at" not in output


def test_a_handler_the_manifest_names_but_this_image_lacks_says_why_it_was_chosen(
    tmp_path: Path, model_file: Path
) -> None:
    from container.archives import manifest

    model_dir = make_model_dir(tmp_path, model_file)
    saved = manifest.build({}, {}, "byoc_unit_gone", None, "test", strict=())
    (model_dir / manifest.FILENAME).write_bytes(manifest.dumps(saved))
    status, output = run_until_exit(model_dir)
    assert status != 0
    assert "no such handler module" in output
    assert "(chosen because: named by the model's .byoc-manifest.json" in output
