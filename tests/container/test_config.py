"""Environment parsing (container.config): defaults, accepted spellings, and errors naming the variable."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from container.config import MIB, SUBMIT_DIRECTORY_EXPECTED, ConfigError, ServerConfig, load_config


def test_defaults():
    config = load_config({})
    assert config.port == 8080
    assert config.workers == (os.cpu_count() or 1)
    assert config.timeout_seconds == 60.0
    assert config.max_payload_bytes == 6 * MIB
    assert config.log_level == logging.INFO
    assert config.default_accept == "application/json"
    assert config.model_dir == Path("/opt/ml/model")
    assert config.code_dir == Path("/opt/ml/model/code")
    assert config.program == "inference.py"
    assert config.program_is_explicit is False
    assert config.handler == "sklearn"
    assert config.max_concurrent_transforms is None
    assert config.batch_strategy is None
    assert config.batch_transform is False
    assert config.startup_timeout_seconds == 600.0
    assert config.access_log_pings is False
    assert config == ServerConfig(workers=os.cpu_count() or 1, front_workers=os.cpu_count() or 1)


def test_blank_values_mean_the_default():
    assert load_config({"SAGEMAKER_BIND_TO_PORT": "  ", "BYOC_HANDLER": ""}) == load_config({})


def test_values_are_read(tmp_path):
    config = load_config(
        {
            "SAGEMAKER_BIND_TO_PORT": " 9090 ",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "2.5",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "warning",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "Text/CSV; charset=utf-8",
            "BYOC_MODEL_DIR": str(tmp_path),
            "SAGEMAKER_PROGRAM": "serve_me",
            "BYOC_HANDLER": "mypackage.handler",
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4",
            "SAGEMAKER_BATCH_STRATEGY": "single_record",
            "SAGEMAKER_STARTUP_TIMEOUT": "30",
            "BYOC_ACCESS_LOG_PINGS": "yes",
        }
    )
    assert config.port == 9090
    assert config.workers == 3
    assert config.timeout_seconds == 2.5
    assert config.max_payload_bytes == 100 * MIB
    assert config.log_level == logging.WARNING
    assert config.default_accept == "text/csv"
    assert config.model_dir == tmp_path
    assert config.code_dir == tmp_path / "code"
    assert config.program == "serve_me.py"
    assert config.program_is_explicit is True
    assert config.handler == "mypackage.handler"
    assert config.max_concurrent_transforms == 4
    assert config.batch_strategy == "SINGLE_RECORD"
    assert config.startup_timeout_seconds == 30.0
    assert config.access_log_pings is True
    assert config.execution_parameters() == {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 100,
    }


def test_execution_parameters_defaults():
    assert load_config({"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}).execution_parameters() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_max_payload_zero_means_no_limit():
    # CreateTransformJob.MaxPayloadInMB: "For cases where the payload might be arbitrarily large and
    # is transmitted using HTTP chunked encoding, set the value to 0" (SageMaker API reference); the
    # container learns it from SAGEMAKER_MAX_PAYLOAD_IN_MB, and /execution-parameters says it back.
    config = load_config({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    assert config.max_payload_bytes is None
    assert config.execution_parameters()["MaxPayloadInMB"] == 0


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("True", True), ("false", False), ("", False)])
def test_sagemaker_batch(raw, value):
    # SageMaker sets "true" in a batch transform job (your-algorithms-batch-code); the SDK's local
    # mode sets "True".
    assert load_config({"SAGEMAKER_BATCH": raw}).batch_transform is value


@pytest.mark.parametrize(("raw", "level"), [("10", 10), ("debug", 10), ("ERROR", 40), ("WARN", 30), ("0", 0)])
def test_log_level_number_or_name(raw, level):
    assert load_config({"SAGEMAKER_CONTAINER_LOG_LEVEL": raw}).log_level == level


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("application/x-ndjson", "application/jsonlines"),  # aliases become the canonical name
        ("image/png", "image/png"),  # a custom output_fn may write it
        ("APPLICATION/JSON", "application/json"),
    ],
)
def test_default_accept_spellings(raw, expected):
    assert load_config({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": raw}).default_accept == expected


def test_submit_directory(tmp_path):
    assert load_config({"SAGEMAKER_SUBMIT_DIRECTORY": str(tmp_path)}).code_dir == tmp_path
    # Fetched at start (container.archives.code_source); until then code_dir is the model's code/.
    s3 = load_config({"SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/key/source.tar.gz", "BYOC_MODEL_DIR": "/m"})
    assert s3.code_source is not None and (s3.code_source.bucket, s3.code_source.key) == (
        "bucket",
        "key/source.tar.gz",
    )
    archive = tmp_path / "sourcedir.tar.gz"
    archive.write_bytes(b"")
    assert load_config({"SAGEMAKER_SUBMIT_DIRECTORY": f"file://{archive}"}).code_source.path == archive
    assert load_config({"SAGEMAKER_SUBMIT_DIRECTORY": f"file://{tmp_path}"}).code_source is None


@pytest.mark.parametrize("raw", ["inference", "inference.py", " inference.py "])
def test_program_gets_its_suffix(raw):
    assert load_config({"SAGEMAKER_PROGRAM": raw}).program == "inference.py"


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False)]
)
def test_boolean_spellings(raw, value):
    assert load_config({"BYOC_ACCESS_LOG_PINGS": raw}).access_log_pings is value


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("SAGEMAKER_BIND_TO_PORT", "http", "a whole number from 1 to 65535"),
        ("SAGEMAKER_BIND_TO_PORT", "0", "a whole number from 1 to 65535"),
        ("SAGEMAKER_BIND_TO_PORT", "65536", "a whole number from 1 to 65535"),
        ("SAGEMAKER_BIND_TO_PORT", "80.5", "a whole number from 1 to 65535"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "a whole number from 1 to 256"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "many", "a whole number from 1 to 256"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0", "a number of seconds from 0.001 to 3600"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "soon", "a number of seconds from 0.001 to 3600"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "nan", "a number of seconds from 0.001 to 3600"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "inf", "a number of seconds from 0.001 to 3600"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "101", "a whole number from 0 to 100"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "-1", "a whole number from 0 to 100"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6MB", "a whole number from 0 to 100"),
        ("SAGEMAKER_BATCH", "sometimes", "true or false"),
        ("SAGEMAKER_CONTAINER_LOG_LEVEL", "LOUD", "a logging level number (10, 20, ...) or name (INFO)"),
        ("SAGEMAKER_CONTAINER_LOG_LEVEL", "-10", "a logging level number (10, 20, ...) or name (INFO)"),
        ("SAGEMAKER_CONTAINER_LOG_LEVEL", "²", "a logging level number (10, 20, ...) or name (INFO)"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "*/*", "a concrete media type"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/*", "a concrete media type"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "json", "a concrete media type"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text /csv", "a concrete media type"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv, application/json", "a concrete media type"),
        ("SAGEMAKER_SUBMIT_DIRECTORY", "/no/such/directory", f"{SUBMIT_DIRECTORY_EXPECTED} that exists"),
        ("SAGEMAKER_SUBMIT_DIRECTORY", "https://host/code.tar.gz", SUBMIT_DIRECTORY_EXPECTED),
        ("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "0", "a whole number from 1 to 1000"),
        ("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "lots", "a whole number from 1 to 1000"),
        ("SAGEMAKER_BATCH_STRATEGY", "ALL_AT_ONCE", "MULTI_RECORD or SINGLE_RECORD"),
        ("SAGEMAKER_STARTUP_TIMEOUT", "0.5", "a number of seconds from 1 to 86400"),
        ("SAGEMAKER_STARTUP_TIMEOUT", "86401", "a number of seconds from 1 to 86400"),
        ("BYOC_ACCESS_LOG_PINGS", "maybe", "true or false"),
        ("BYOC_MAX_HEADER_BYTES", "100", "a whole number from 1024 to 16777216"),
        ("BYOC_MAX_HEADERS", "big", "a whole number from 8 to 10000"),
        ("BYOC_REQUEST_READ_TIMEOUT", "0", "a number of seconds from 0.1 to 3600"),
        ("BYOC_MAX_CONNECTIONS", "1", "a whole number from 16 to 1000000"),
    ],
)
def test_invalid_value_is_a_config_error_naming_the_variable(variable, raw, expected):
    with pytest.raises(ConfigError) as caught:
        load_config({variable: raw})
    assert caught.value.variable == variable
    assert str(caught.value) == f"{variable}={raw!r} is invalid: expected {expected}"


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_reads_os_environ_when_given_nothing(monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "8123")
    assert load_config().port == 8123


# --- the handler's part: chosen after the config is read -------------------------------------


def test_byoc_handler_set_or_not():
    assert load_config({}).handler_is_explicit is False
    assert load_config({"BYOC_HANDLER": " xgboost "}).handler_is_explicit is True


def test_the_handlers_default_response_type_unless_the_variable_chose_one():
    assert load_config({}).for_handler("xgboost", "text/csv", None).default_accept == "text/csv"
    assert load_config({}).for_handler("sklearn", None, None).default_accept == "application/json"
    chosen = load_config({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"})
    assert chosen.for_handler("xgboost", "text/csv", None).default_accept == "application/json"
    assert chosen.for_handler("xgboost", "text/csv", None).handler == "xgboost"


def test_the_handlers_settings_are_read_through_the_same_door():
    def read(env):
        return (env.integer("BYOC_UNIT_TREES", 10, low=1, high=100), env.names("BYOC_UNIT_NAMES"))

    config = load_config({"BYOC_UNIT_TREES": "7", "BYOC_UNIT_NAMES": "a, b"}).for_handler("x", None, read)
    assert config.handler_settings == (7, ("a", "b"))
    with pytest.raises(ConfigError) as caught:
        load_config({"BYOC_UNIT_TREES": "many"}).for_handler("x", None, read)
    assert str(caught.value) == "BYOC_UNIT_TREES='many' is invalid: expected a whole number from 1 to 100"


def test_the_kept_variables_are_never_printed():
    config = load_config({"BYOC_UNIT_SECRET": "hunter2"})
    assert config.environ["BYOC_UNIT_SECRET"] == "hunter2"
    assert "hunter2" not in repr(config)


def test_connection_limits_default_to_what_fits_sagemaker_and_can_be_set():
    # InvokeEndpoint forwards about 5 KiB of headers at most (botocore's sagemaker-runtime model):
    # the defaults hold that many times over; a request must arrive whole well within 60 s.
    config = load_config({})
    assert (config.max_header_bytes, config.max_headers) == (65536, 100)
    assert config.request_read_timeout_seconds <= 60
    assert config.max_connections == 1000
    tuned = load_config(
        {
            "BYOC_MAX_HEADER_BYTES": "8192",
            "BYOC_MAX_HEADERS": "20",
            "BYOC_REQUEST_READ_TIMEOUT": "2.5",
            "BYOC_MAX_CONNECTIONS": "64",
        }
    )
    assert (tuned.max_header_bytes, tuned.max_headers, tuned.request_read_timeout_seconds) == (8192, 20, 2.5)
    assert tuned.max_connections == 64
