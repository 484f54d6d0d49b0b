"""Server settings from the environment (SAGEMAKER_* and the toolkit's own BYOC_*). Pure parsing.

The one door for settings: every variable the runtime (and its handlers) reads is parsed here, into
one frozen ServerConfig that is passed down; nothing else reads the environment for a setting.
Every variable is validated at start: an invalid value stops the server with a message naming the
variable, what it holds and what it should hold, instead of surfacing as a strange failure later.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from container.archives import code_source
from container.archives.code_source import CodeSource, CodeSourceError
from container.archives.extraction import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_MEMBERS,
    MAX_BYTES_ENV,
    MAX_MEMBERS_ENV,
    Limits,
)
from container.codecs import mediatypes

MIB = 1024 * 1024
DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PROGRAM = "inference.py"
# The handler served with when BYOC_HANDLER is unset and the model directory does not say which
# (container.contract.registry): written here, and only here.
DEFAULT_HANDLER = "sklearn"
DEFAULT_ACCEPT = "application/json"
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
# SageMaker's containers listen on every interface; tests and `byoc serve --host` narrow it.
DEFAULT_BIND_HOST = "0.0.0.0"
# The header section of a request (request line and headers). What InvokeEndpoint forwards fits many
# times over: Content-Type, Accept, CustomAttributes and TargetModel of up to 1024 characters each and
# seven more headers of up to 256, about 5 KiB in all (botocore's sagemaker-runtime service model,
# InvokeEndpointInput), with the platform's own few headers besides.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
# A request must arrive whole within this long of its first byte (or of the connection opening).
# SageMaker's front end forwards requests it already holds, in far less; real-time invocations time
# out after 60 s in all.
DEFAULT_REQUEST_READ_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000  # per worker process
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


class ConfigError(ValueError):
    """An environment variable holds a value the server cannot use."""

    def __init__(self, variable: str, value: str, expected: str) -> None:
        super().__init__(f"{variable}={value!r} is invalid: expected {expected}")
        self.variable = variable


@dataclass(frozen=True)
class ServerConfig:
    port: int = 8080
    bind_host: str = DEFAULT_BIND_HOST
    workers: int = 1
    timeout_seconds: float = 60.0
    # None: SAGEMAKER_MAX_PAYLOAD_IN_MB=0, SageMaker's "arbitrarily large, sent with HTTP chunked
    # encoding" (batch transform): no cap, CSV and JSON Lines bodies handled in pieces as they arrive.
    max_payload_bytes: int | None = 6 * MIB
    log_level: int = logging.INFO
    # The response type when Accept is missing or */*: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT when set,
    # else the handler's own default (see for_handler), else JSON.
    default_accept: str = DEFAULT_ACCEPT
    default_accept_is_explicit: bool = False
    model_dir: Path = Path(DEFAULT_MODEL_DIR)
    code_dir: Path = Path(DEFAULT_MODEL_DIR) / "code"
    # SAGEMAKER_SUBMIT_DIRECTORY when it names code to fetch at start (an S3 URI or an archive):
    # code_dir is then replaced by the private directory it is extracted into.
    code_source: CodeSource | None = None
    # Caps on what extracting that code may unpack (BYOC_ARCHIVE_MAX_*).
    archive_limits: Limits = field(default_factory=Limits)
    program: str = DEFAULT_PROGRAM
    program_is_explicit: bool = False
    # BYOC_HANDLER; when unset, the handler is chosen from the model directory (handler_is_explicit
    # False) and this is the fallback.
    handler: str = DEFAULT_HANDLER
    handler_is_explicit: bool = False
    max_concurrent_transforms: int | None = None
    batch_strategy: str | None = None
    # SAGEMAKER_BATCH: SageMaker sets it to "true" in a batch transform job. Handlers may read it
    # (as AWS's XGBoost container does); the runtime's own output is already one line per record.
    batch_transform: bool = False
    startup_timeout_seconds: float = 600.0
    access_log_pings: bool = False
    allow_version_mismatch: bool = False
    batching: bool = True
    preload: bool = True
    max_batch_size: int = 32
    max_batch_delay_seconds: float = 0.0
    # Limits on what a connection may cost a worker: header section size and count (a 431 beyond),
    # time to deliver a request whole (a 408 and the connection closed beyond), and open connections
    # (beyond, the stalest idle or incomplete one is closed to make room).
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    request_read_timeout_seconds: float = DEFAULT_REQUEST_READ_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # The serving handler's own settings, read by its spec through this module's parser once the
    # handler is chosen (for_handler); None before that, or for a handler without settings.
    handler_settings: Any = None
    # Multi-model mode (container.multimodel): SageMaker sets SAGEMAKER_MULTI_MODEL=true when it starts
    # the image for a multi-model endpoint. Models are then loaded through POST /models, each in its
    # own process tree with `workers` processes (None: one per model, as AWS's toolkit configures
    # multi-model-server); the front takes `front_workers` processes.
    multi_model: bool = False
    model_workers: int | None = None
    front_workers: int = 1
    # The memory a new model may use: the container's limit (the cgroup's, or BYOC_MEMORY_LIMIT_MB),
    # less the headroom kept free (BYOC_MEMORY_HEADROOM_MB; None: a tenth of the limit).
    memory_limit_bytes: int | None = None
    memory_headroom_bytes: int | None = None
    # Set by `byoc serve` (not by any variable): a model that fails to load stops the server at once
    # instead of answering /ping 503 with the reason, as a container under SageMaker must.
    exit_on_load_failure: bool = False
    # The variables this config was read from, kept (read-only, never printed) for the handler's own
    # settings, which are read once the handler is known.
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def for_handler(
        self, name: str, default_accept: str | None, read_settings: Callable[[EnvReader], Any] | None
    ) -> ServerConfig:
        """This config for serving with the chosen handler: its name, its default response type
        (unless SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT chose one), and its own settings, read from the
        same variables by the same parser (ConfigError naming the variable)."""
        accept = self.default_accept
        if default_accept is not None and not self.default_accept_is_explicit:
            accept = default_accept
        settings = read_settings(EnvReader(self.environ)) if read_settings is not None else None
        return dataclasses.replace(self, handler=name, default_accept=accept, handler_settings=settings)

    def execution_parameters(self) -> dict[str, object]:
        """The answer to GET /execution-parameters (batch transform)."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms or self.workers,
            "BatchStrategy": self.batch_strategy or "MULTI_RECORD",
            "MaxPayloadInMB": 0 if self.max_payload_bytes is None else self.max_payload_bytes // MIB,
        }


def load_config(environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Read and validate every setting; raise ConfigError for the first invalid one."""
    environ = os.environ if environ is None else environ
    env = EnvReader(environ)
    model_dir = Path(env.text("BYOC_MODEL_DIR", DEFAULT_MODEL_DIR))
    program_raw = env.raw("SAGEMAKER_PROGRAM")
    code_dir, code_from = _code_location(env, model_dir)
    return ServerConfig(
        port=env.integer("SAGEMAKER_BIND_TO_PORT", 8080, low=1, high=65535),
        bind_host=_bind_host(env),
        workers=env.integer("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, low=1, high=256),
        timeout_seconds=env.number("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60.0, low=0.001, high=3600),
        max_payload_bytes=_max_payload_bytes(env),
        log_level=_log_level(env),
        default_accept=_default_accept(env),
        default_accept_is_explicit=env.raw("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") is not None,
        model_dir=model_dir,
        code_dir=code_dir,
        code_source=code_from,
        archive_limits=load_archive_limits(environ),
        program=_program(program_raw),
        program_is_explicit=bool(program_raw and program_raw.strip()),
        handler=env.text("BYOC_HANDLER", DEFAULT_HANDLER),
        handler_is_explicit=env.raw("BYOC_HANDLER") is not None,
        max_concurrent_transforms=env.optional_integer(
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", low=1, high=1000
        ),
        batch_strategy=_batch_strategy(env),
        batch_transform=env.boolean("SAGEMAKER_BATCH", False),
        startup_timeout_seconds=env.number("SAGEMAKER_STARTUP_TIMEOUT", 600.0, low=1, high=86400),
        access_log_pings=env.boolean("BYOC_ACCESS_LOG_PINGS", False),
        allow_version_mismatch=env.boolean("BYOC_ALLOW_VERSION_MISMATCH", False),
        batching=env.boolean("BYOC_BATCHING", True),
        preload=env.boolean("BYOC_PRELOAD", True),
        max_batch_size=env.integer("BYOC_MAX_BATCH_SIZE", 32, low=1, high=1024),
        max_batch_delay_seconds=env.integer("BYOC_MAX_BATCH_DELAY_MS", 0, low=0, high=1000) / 1000,
        multi_model=_multi_model(env),
        model_workers=env.optional_integer("SAGEMAKER_MODEL_SERVER_WORKERS", low=1, high=256),
        front_workers=env.integer("BYOC_FRONT_WORKERS", os.cpu_count() or 1, low=1, high=256),
        memory_limit_bytes=_optional_mib(env, "BYOC_MEMORY_LIMIT_MB"),
        memory_headroom_bytes=_optional_mib(env, "BYOC_MEMORY_HEADROOM_MB", low=0),
        max_header_bytes=env.integer(
            "BYOC_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, low=1024, high=MIB * 16
        ),
        max_headers=env.integer("BYOC_MAX_HEADERS", DEFAULT_MAX_HEADERS, low=8, high=10_000),
        request_read_timeout_seconds=env.number(
            "BYOC_REQUEST_READ_TIMEOUT", DEFAULT_REQUEST_READ_TIMEOUT, low=0.1, high=3600
        ),
        max_connections=env.integer("BYOC_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, low=16, high=1_000_000),
        environ=MappingProxyType(dict(environ)),
    )


def load_archive_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """The caps on what extracting a model archive may unpack (BYOC_ARCHIVE_MAX_*)."""
    env = EnvReader(os.environ if environ is None else environ)
    return Limits(
        max_bytes=env.integer(MAX_BYTES_ENV, DEFAULT_MAX_BYTES, low=1, high=2**63 - 1),
        max_members=env.integer(MAX_MEMBERS_ENV, DEFAULT_MAX_MEMBERS, low=1, high=2**63 - 1),
    )


DEFAULT_ML_DIR = "/opt/ml"
DEFAULT_STOP_GRACE_SECONDS = 100.0


@dataclass(frozen=True)
class TrainingConfig:
    """What `train` reads from the environment; the job's own settings are in ML_DIR/input/config.

    ml_dir: /opt/ml, or SAGEMAKER_BASE_DIR (the variable AWS's training toolkit reads for the same).
    program / submit_directory: SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY, used where the
    hyperparameters do not say (container.training.job decides).
    stop_grace_seconds: after SIGTERM, how long the script may take to stop before it is killed;
    SageMaker kills the container 120 s after its SIGTERM.
    """

    ml_dir: Path = Path(DEFAULT_ML_DIR)
    program: str | None = None
    submit_directory: CodeSource | None = None
    job_name: str = ""
    log_level: int | None = None
    framework_module: str | None = None
    region: str = ""
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
    archive_limits: Limits = field(default_factory=Limits)


def load_training_config(environ: Mapping[str, str] | None = None) -> TrainingConfig:
    """Read and validate `train`'s settings; ConfigError for the first invalid one."""
    environ = os.environ if environ is None else environ
    env = EnvReader(environ)
    submit_raw = env.raw("SAGEMAKER_SUBMIT_DIRECTORY")
    return TrainingConfig(
        ml_dir=training_ml_dir(environ),
        program=env.raw("SAGEMAKER_PROGRAM"),
        submit_directory=(
            None if submit_raw is None else submit_directory("SAGEMAKER_SUBMIT_DIRECTORY", submit_raw)
        ),
        job_name=env.text("TRAINING_JOB_NAME", ""),
        log_level=_log_level(env) if env.raw("SAGEMAKER_CONTAINER_LOG_LEVEL") else None,
        framework_module=env.raw("SAGEMAKER_TRAINING_MODULE"),
        region=env.raw("AWS_REGION") or env.text("AWS_DEFAULT_REGION", ""),
        stop_grace_seconds=env.number("BYOC_STOP_GRACE_SECONDS", DEFAULT_STOP_GRACE_SECONDS, low=1, high=115),
        archive_limits=load_archive_limits(environ),
    )


def training_ml_dir(environ: Mapping[str, str] | None = None) -> Path:
    """/opt/ml or SAGEMAKER_BASE_DIR: where `train` writes its failure file even when the rest is invalid."""
    env = EnvReader(os.environ if environ is None else environ)
    return Path(env.text("SAGEMAKER_BASE_DIR", DEFAULT_ML_DIR))


class EnvReader:
    """Typed reads of environment variables, each invalid value a ConfigError naming the variable.

    Handlers read their own settings with it (HandlerSpec.settings), so that they too enter through
    this one door.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None or not value.strip() else value.strip()

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.optional_integer(name, low=low, high=high)
        return default if value is None else value

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        raw = self.raw(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, raw, f"a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ConfigError(name, raw, f"a whole number from {low} to {high}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, raw, f"a number of seconds from {low:g} to {high:g}") from None
        if not low <= value <= high:
            raise ConfigError(name, raw, f"a number of seconds from {low:g} to {high:g}")
        return value

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list; blanks around and between the names are ignored."""
        raw = self.raw(name) or ""
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, raw, "true or false")


def _log_level(env: EnvReader) -> int:
    raw = env.raw("SAGEMAKER_CONTAINER_LOG_LEVEL")
    if raw is None:
        return logging.INFO
    # isascii: str.isdigit is also true for digits int() refuses, such as superscripts ("²").
    if raw.isascii() and raw.isdigit():
        return int(raw)
    level = logging.getLevelName(raw.upper())
    if isinstance(level, int):
        return level
    raise ConfigError(
        "SAGEMAKER_CONTAINER_LOG_LEVEL", raw, "a logging level number (10, 20, ...) or name (INFO)"
    )


def _bind_host(env: EnvReader) -> str:
    raw = env.text("BYOC_BIND_HOST", DEFAULT_BIND_HOST)
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(raw):
        return raw
    raise ConfigError("BYOC_BIND_HOST", raw, "an IP address (0.0.0.0, 127.0.0.1, ::1) or a host name")


def _default_accept(env: EnvReader) -> str:
    raw = env.text("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", DEFAULT_ACCEPT)
    # Parsed as Accept and Content-Type are: "text /csv" is refused, and an alias such as
    # application/x-ndjson becomes the canonical name the encoders are keyed by.
    try:
        essence = mediatypes.parse_media_type(raw).essence
    except ValueError:
        essence = "*"
    if "*" in essence:
        raise ConfigError("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", raw, "a concrete media type")
    return essence


SUBMIT_DIRECTORY_EXPECTED = "a directory, a tar.gz archive, or an s3:// or file:// URI of one"


def _code_location(env: EnvReader, model_dir: Path) -> tuple[Path, CodeSource | None]:
    """The code directory, and the source to fetch it from at start when it is not a directory here.

    Without SAGEMAKER_SUBMIT_DIRECTORY the code is model.tar.gz's code/. The SageMaker Python SDK
    sets it to the S3 URI of the sourcedir.tar.gz it uploaded (a real endpoint), to a directory it
    mounted (local mode, network isolation), or to file://DIR.
    """
    raw = env.raw("SAGEMAKER_SUBMIT_DIRECTORY")
    if raw is None:
        return model_dir / "code", None
    source = submit_directory("SAGEMAKER_SUBMIT_DIRECTORY", raw)
    if source.is_local_directory:
        assert source.path is not None
        return source.path, None
    return model_dir / "code", source


def submit_directory(variable: str, raw: str) -> CodeSource:
    """Parse a submit directory value; ConfigError naming `variable` when it cannot name code."""
    try:
        source = code_source.parse(raw)
    except CodeSourceError:
        raise ConfigError(variable, raw, SUBMIT_DIRECTORY_EXPECTED) from None
    if source.kind == code_source.LOCAL and source.path is not None and not source.path.exists():
        raise ConfigError(variable, raw, SUBMIT_DIRECTORY_EXPECTED + " that exists")
    return source


def _program(raw: str | None) -> str:
    name = raw or DEFAULT_PROGRAM
    return name if name.endswith(".py") else f"{name}.py"


def _max_payload_bytes(env: EnvReader) -> int | None:
    megabytes = env.integer("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, low=0, high=100)
    return None if megabytes == 0 else megabytes * MIB


def _multi_model(env: EnvReader) -> bool:
    # SageMaker sets SAGEMAKER_MULTI_MODEL=true for a multi-model endpoint, and AWS's inference
    # toolkit compares it with "true" exactly (sagemaker_inference/model_server.py, ENABLE_MULTI_MODEL);
    # the usual spellings of a boolean are read here as for every other switch.
    return env.boolean("SAGEMAKER_MULTI_MODEL", False)


def _optional_mib(env: EnvReader, name: str, low: int = 1) -> int | None:
    value = env.optional_integer(name, low=low, high=2**40)
    return None if value is None else value * MIB


def _batch_strategy(env: EnvReader) -> str | None:
    raw = env.raw("SAGEMAKER_BATCH_STRATEGY")
    if raw is None:
        return None
    if raw.upper() not in BATCH_STRATEGIES:
        raise ConfigError("SAGEMAKER_BATCH_STRATEGY", raw, " or ".join(BATCH_STRATEGIES))
    return raw.upper()
