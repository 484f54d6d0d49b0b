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
