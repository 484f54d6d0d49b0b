"""`byoc local up --multi-model`: boto3's invoke_endpoint(..., TargetModel=...) routed as SageMaker does.

"Invoke a Multi-Model Endpoint" (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html):
TargetModel is the archive's path below the model's S3 prefix; the model is loaded on its first
invocation, and when the container has no memory left (507) SageMaker unloads models it has not used
lately. Here the prefix is a directory, the container the real image on a real Docker engine.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import httpx
import pytest
from local_helpers import LocalCli, runtime_client
from mme_helpers import code_model, padded_model

pytestmark = pytest.mark.docker

ROW = json.dumps([[5.1, 3.5, 1.4, 0.2]])


def archive(model_dir: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz", compresslevel=1) as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(model_dir)))
    return destination


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory, model_archive: Path, trained_model: object) -> Path:
    """The model prefix: the sample archive, two with their own code, three of 80 MiB."""
    root = tmp_path_factory.mktemp("prefix")
    work = tmp_path_factory.mktemp("dirs")
    (root / "sample.tar.gz").write_bytes(model_archive.read_bytes())
    for tag in ("a", "b"):
        archive(code_model(work / tag, tag), root / "customers" / f"{tag}.tar.gz")
    for index in range(3):
        archive(padded_model(work / f"big{index}", trained_model, 80), root / f"big{index}.tar.gz")
    return root


@pytest.fixture(scope="module")
def endpoint(local_cli: LocalCli, image: str, prefix: Path) -> Iterator[str]:
    result = local_cli(
        "up",
        "many",
        "--image",
        image,
        "--multi-model",
        "--model-data-prefix",
        str(prefix),
        # Room for about two of the 80 MiB models beside the server itself (docs/environment.md).
        "--env",
        "BYOC_MEMORY_LIMIT_MB=420",
        "--env",
        "BYOC_MEMORY_HEADROOM_MB=0",
        "--env",
        "BYOC_FRONT_WORKERS=1",
        "--env",
        "SAGEMAKER_MODEL_SERVER_WORKERS=1",
    )
    yield result.stdout.strip().splitlines()[-1]
    local_cli("down", "many", check=False)


def invoke(url: str, target: str, body: str = "x", content_type: str = "text/plain") -> dict:
    response = runtime_client(url).invoke_endpoint(
        EndpointName="many", ContentType=content_type, Body=body, TargetModel=target
    )
    return json.loads(response["Body"].read())


def test_target_model_routes_each_request_to_its_model(endpoint: str) -> None:
    assert invoke(endpoint, "sample.tar.gz", ROW, "application/json")["predictions"] == [0]
    for tag in ("a", "b", "a"):
        answer = invoke(endpoint, f"customers/{tag}.tar.gz")
        assert answer["model"] == tag
        assert answer["target_model"] == f"customers/{tag}.tar.gz"  # the header reached the handler


def test_a_missing_or_unknown_target_model_is_a_validation_error(endpoint: str) -> None:
    client = runtime_client(endpoint)
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        client.invoke_endpoint(EndpointName="many", ContentType="text/plain", Body="x")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as unknown:
        invoke(endpoint, "nobody.tar.gz")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
    assert "nobody.tar.gz" in unknown.value.response["Error"]["Message"]


def test_memory_full_unloads_the_least_recently_used_model(endpoint: str) -> None:
    """Three 80 MiB models do not fit together: each first use past the limit gets 507 from the
    container, and the front unloads the least recently used model and loads again."""
    for index in (0, 1, 2, 0, 1):
        assert invoke(endpoint, f"big{index}.tar.gz", ROW, "application/json")["predictions"] == [0]
    metrics = httpx.get(f"{endpoint}/_byoc/metrics", trust_env=False, timeout=10).json()["metrics"]
    assert metrics["ModelUnloadingTimeSampleCount"] >= 1
    assert 0 < metrics["ModelCacheHit"] < 1
    assert metrics["LoadedModelCount"] >= 1
    assert metrics["ModelLoadingTime"] > 0


def test_archives_are_extracted_safely(endpoint: str, prefix: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (prefix / "evil.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        invoke(endpoint, "evil.tar.gz")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert not (prefix.parent / "escape.txt").exists()
