"""The pure parts of `byoc local`'s commands: the docker run line, /ping failure detection, the CLI."""

from __future__ import annotations

import signal

import pytest

from byoc import build_parser
from container.serving.server_process import model_load_failed
from deploy.local import docker


def test_instances_start_as_sagemaker_starts_them() -> None:
    command = docker.run_command(
        "img:1",
        name="byoc-local-ep-1",
        model_dir="/home/u/.byoc/local/ep/models/gen-1",
        port=41234,
        env={"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_BIND_TO_PORT": "9999"},
        labels={"byoc-local.endpoint": "ep"},
    )
    assert command[:2] == ["run", "-d"]
    assert command[-2:] == ["img:1", "serve"]
    joined = " ".join(command)
    assert "--network host" in joined
    assert "-v /home/u/.byoc/local/ep/models/gen-1:/opt/ml/model:ro" in joined
    assert "-e SAGEMAKER_BIND_TO_PORT=41234" in joined  # the instance's port wins over --env
    assert "SAGEMAKER_BIND_TO_PORT=9999" not in joined
    assert "-e SAGEMAKER_MODEL_SERVER_WORKERS=1" in joined
    assert "-e BYOC_BIND_HOST=127.0.0.1" in joined
    assert "--label byoc-local.endpoint=ep" in joined
    assert "-p" not in command


def test_multi_model_instances_mount_the_models_and_say_so() -> None:
    """SageMaker starts a multi-model container with SAGEMAKER_MULTI_MODEL=true and its models under
    /opt/ml/models (https://docs.aws.amazon.com/sagemaker/latest/dg/build-multi-model-build-container.html)."""
    command = docker.run_command(
        "img:1",
        name="n",
        model_dir="/home/u/.byoc/local/many/multi-model",
        port=41234,
        env={},
        labels={},
        multi_model=True,
    )
    joined = " ".join(command)
    assert "-v /home/u/.byoc/local/many/multi-model:/opt/ml/models:ro" in joined
    assert "-e SAGEMAKER_MULTI_MODEL=true" in joined
    assert ":/opt/ml/model:" not in joined


def test_multi_model_options_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for argv in (
        ["local", "up", "x", "--image", "i", "--multi-model"],
        ["local", "up", "x", "--image", "i", "--model-data-prefix", "/tmp"],
        [
            "local",
            "up",
            "x",
            "--image",
            "i",
            "--multi-model",
            "--model-data-prefix",
            "/tmp",
            "--model-data",
            "a",
        ],
        ["local", "up", "x", "--image", "i"],
    ):
        args = parser.parse_args(argv)
        assert args.run(args) == 2, argv
    assert "--multi-model goes with --model-data-prefix" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "failed"),
    [
        ('{"code": "model_not_ready", "state": "failed"}', True),
        ('{"code": "model_loading", "state": "loading"}', False),
        ("", False),
        ("[1]", False),
        ("not json", False),
    ],
)
def test_a_failed_model_load_is_recognised_from_ping(body: str, failed: bool) -> None:
    assert model_load_failed(body) is failed


def test_cli_registers_the_local_group() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["local", "up", "ep", "--image", "i", "--model-data", "m.tar.gz", "--instances", "2", "--env", "A=1"]
    )
    assert (args.name, args.image, args.instances, args.env) == ("ep", "i", 2, ["A=1"])
    assert parser.parse_args(["local", "down", "--all"]).all


def test_invalid_names_and_env_are_refused_before_anything_starts(tmp_path, capsys, monkeypatch) -> None:
    from byoc import main

    home = tmp_path / "home"
    monkeypatch.setenv("BYOC_LOCAL_HOME", str(home))
    for command in ("down", "update"):
        assert main(["local", command, "../escape"]) == 1
        assert "not a valid endpoint name" in capsys.readouterr().err
    assert not (tmp_path / "escape.lock").exists()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        status = main(
            ["local", "up", "ep", "--image", "i", "--model-data", str(tmp_path), "--env", "NOEQUALS"]
        )
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert status == 1
    assert "is not K=V" in capsys.readouterr().err
    assert not home.exists() or list(home.iterdir()) == []
