"""The servers under test: how each is prepared and started, and how it is asked for predictions.

Each stack runs with the same model file and the same rows, on a free loopback port, with its
project's default worker settings for this machine. `command` is the exact command line as it is
written into the results.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import setup_env
from container.serving.server_process import LOOPBACK, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVERS_DIR = HERE / "servers"
CUSTOM_SCRIPT = SERVERS_DIR / "inference.py"
CPUS = os.cpu_count() or 1


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]  # only what the harness sets; the rest is a clean copy of its own
    cwd: Path
    ping_path: str
    invoke_path: str
    protocol: str  # "sagemaker": /invocations with CSV/JSON; "v2": Open Inference Protocol JSON
    workers: str
    command: str  # how to start it by hand, for the results
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stack:
    name: str
    label: str
    family: str  # "byoc" or "baseline"
    venv: str | None  # the bench virtualenv it runs in; None: the project's own
    prepare: Callable[[StackContext], Launch]
    batching: bool | None = None
    custom_script: bool = False
    version_packages: tuple[str, ...] = ()
    max_port: int | None = None  # MMS parses ports as a Java short: at most 32767


@dataclass
class StackContext:
    model_file: Path
    work_dir: Path  # a private directory for this server
    port: int
    venv: Path | None
    batch_env: dict[str, str]
    workers: int | None = None  # None: the stack's own default


def clean_env(extra_path: Path | None = None) -> dict[str, str]:
    """The harness's environment without SageMaker/BYOC settings or proxies, which would change servers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAGEMAKER_", "BYOC_", "MMS_", "MLSERVER_")) and not k.lower().endswith("_proxy")
    }
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    if extra_path is not None:
        env["PATH"] = f"{extra_path}:{env.get('PATH', '')}"
    return env


def _model_dir(ctx: StackContext, with_code: bool) -> Path:
    model_dir = ctx.work_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ctx.model_file, model_dir / "model.joblib")
    if with_code:
        (model_dir / "code").mkdir(exist_ok=True)
        shutil.copy2(CUSTOM_SCRIPT, model_dir / "code" / "inference.py")
    return model_dir


def _env_text(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


# --- this project ------------------------------------------------------------------------------


def _byoc(custom: bool, batching: bool) -> Callable[[StackContext], Launch]:
    def prepare(ctx: StackContext) -> Launch:
        model_dir = _model_dir(ctx, with_code=custom)
        env = {
            "BYOC_MODEL_DIR": str(model_dir),
            "BYOC_BIND_HOST": LOOPBACK,
            "SAGEMAKER_BIND_TO_PORT": str(ctx.port),
            "BYOC_BATCHING": "on" if batching else "off",
        }
        if batching:
            env.update(ctx.batch_env)
        if ctx.workers is not None:
            env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(ctx.workers)
        notes = ["model.joblib plus code/inference.py" if custom else "model.joblib, default sklearn handler"]
        return Launch(
            argv=[sys.executable, "-m", "container.serving.server", "serve"],
            env=env,
            cwd=ROOT,
            ping_path="/ping",
            invoke_path="/invocations",
            protocol="sagemaker",
            workers=str(ctx.workers or f"{CPUS} (SAGEMAKER_MODEL_SERVER_WORKERS unset: one per CPU)"),
            command=f"{_env_text(env)} .venv/bin/serve",
            notes=notes,
        )

    return prepare


# --- AWS sagemaker-inference on multi-model-server ---------------------------------------------


def _mms(ctx: StackContext) -> Launch:
    assert ctx.venv is not None
    base = ctx.work_dir / "ml"
    model_dir = base / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ctx.model_file, model_dir / "model.joblib")
    (model_dir / "code").mkdir(exist_ok=True)
    shutil.copy2(CUSTOM_SCRIPT, model_dir / "code" / "inference.py")
    tmp = ctx.work_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    config = ctx.work_dir / "sagemaker-mms.properties"
    env = {
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_BIND_TO_PORT": str(ctx.port),
        "BENCH_MMS_CONFIG": str(config),
        "TMPDIR": str(tmp),
    }
    if ctx.workers is not None:
        env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(ctx.workers)
    python = ctx.venv / "bin" / "python"
    return Launch(
        argv=[str(python), str(SERVERS_DIR / "mms_serve.py")],
        env=env,
        cwd=ctx.work_dir,
        ping_path="/ping",
        invoke_path="/invocations",
        protocol="sagemaker",
        workers=str(ctx.workers or f"{CPUS} (MMS default_workers_per_model: one per CPU)"),
        command=(
            f"{_env_text(env)} {python} bench/servers/mms_serve.py  # = sagemaker_inference.model_server"
            f".start_model_server() -> multi-model-server --start --model-store / --mms-config {config} "
            "--log-config <sagemaker_inference>/etc/log4j2.xml --models model=<base>/model"
        ),
        notes=[
            "handler: sagemaker_inference.default_handler_service with code/inference.py as the user module",
            "MMS config: the toolkit's default-mms.properties plus its generated settings, "
            "addresses 127.0.0.1 instead of 0.0.0.0",
            "/ping answers 200 before the model is loaded (MMS): see first_prediction_s for readiness",
            "port below 32768: MMS refuses larger port numbers (Invalid port number)",
        ],
    )


# --- Flask on gunicorn -------------------------------------------------------------------------


def _flask(worker_class: str) -> Callable[[StackContext], Launch]:
    def prepare(ctx: StackContext) -> Launch:
        assert ctx.venv is not None
        model_dir = _model_dir(ctx, with_code=False)
        workers = ctx.workers or CPUS
        argv = [
            str(ctx.venv / "bin" / "gunicorn"),
            "-k",
            worker_class,
            "-w",
            str(workers),
            "--timeout",
            "60",
            "-b",
            f"{LOOPBACK}:{ctx.port}",
            "--chdir",
            str(SERVERS_DIR),
            "flask_app:app",
        ]
        env = {"BENCH_MODEL_DIR": str(model_dir)}
        return Launch(
            argv=argv,
            env=env,
            cwd=SERVERS_DIR,
            ping_path="/ping",
            invoke_path="/invocations",
            protocol="sagemaker",
            workers=f"{workers} (one per CPU, as AWS's stacks set it)",
            command=f"{_env_text(env)} gunicorn {' '.join(argv[1:])}",
            notes=[
                "bench/servers/flask_app.py calling bench/servers/inference.py; each worker loads the model",
                "no nginx in front (AWS's stacks have one)",
            ],
        )

    return prepare


# --- MLServer ----------------------------------------------------------------------------------


def _mlserver(ctx: StackContext) -> Launch:
    assert ctx.venv is not None
    model_dir = ctx.work_dir / "models"
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ctx.model_file, model_dir / "model.joblib")
    settings: dict[str, Any] = {
        "host": LOOPBACK,
        "http_port": ctx.port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
    }
    if ctx.workers is not None:
        settings["parallel_workers"] = ctx.workers
    (model_dir / "settings.json").write_text(json.dumps(settings, indent=2))
    model_settings = {
        "name": "bench",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    mlserver = ctx.venv / "bin" / "mlserver"
    return Launch(
        argv=[str(mlserver), "start", str(model_dir)],
        env={},
        cwd=ctx.work_dir,
        ping_path="/v2/health/ready",
        invoke_path="/v2/models/bench/infer",
        protocol="v2",
        workers=str(ctx.workers or "1 inference worker (parallel_workers default) + the HTTP process"),
        command=(
            f"mlserver start {model_dir}  # settings.json {json.dumps(settings)}; "
            f"model-settings.json {json.dumps(model_settings)}"
        ),
        notes=[
            "V2 JSON requests for every workload (MLServer has no CSV input), with outputs "
            "predict and predict_proba requested",
        ],
    )


STACKS: list[Stack] = [
    Stack("byoc-default", "byoc default handler, batching off", "byoc", None, _byoc(False, False), False),
    Stack(
        "byoc-default-batching", "byoc default handler, batching on", "byoc", None, _byoc(False, True), True
    ),
    Stack(
        "byoc-custom", "byoc custom inference.py, batching off", "byoc", None, _byoc(True, False), False, True
    ),
    Stack(
        "byoc-custom-batching",
        "byoc custom inference.py, batching on",
        "byoc",
        None,
        _byoc(True, True),
        True,
        True,
    ),
    Stack(
        "mms",
        "sagemaker-inference on multi-model-server",
        "baseline",
        "mms",
        _mms,
        custom_script=True,
        max_port=32767,
        version_packages=("sagemaker-inference", "multi-model-server", "scikit-learn"),
    ),
    Stack(
        "flask-sync",
        "Flask on gunicorn sync",
        "baseline",
        "flask",
        _flask("sync"),
        custom_script=True,
        version_packages=("flask", "gunicorn", "scikit-learn"),
    ),
    Stack(
        "flask-gevent",
        "Flask on gunicorn gevent",
        "baseline",
        "flask",
        _flask("gevent"),
        custom_script=True,
        version_packages=("flask", "gunicorn", "gevent", "scikit-learn"),
    ),
    Stack(
        "mlserver",
        "MLServer sklearn runtime",
        "baseline",
        "mlserver",
        _mlserver,
        version_packages=("mlserver", "mlserver-sklearn", "scikit-learn"),
    ),
]
BY_NAME = {stack.name: stack for stack in STACKS}


def venv_for(stack: Stack, installer: setup_env.Installer) -> Path | None:
    return installer.ensure_venv(stack.venv) if stack.venv else None
