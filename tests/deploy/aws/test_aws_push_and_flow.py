"""build_and_push.sh for real (Docker engine, a registry that checks the ECR token), then the whole
path a user walks: push -> upload -> deploy -> invoke -> autoscale -> update (success, forced
failure, forced roll-back) -> metrics -> delete, checking the AWS side after every step.

AWS is moto in server mode (extended by moto_sagemaker.py); the registry is Debian's
docker-registry with htpasswd user AWS and moto's ECR token as the password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import moto_sagemaker
import pytest
from aws_helpers import ECR_PASSWORD, ROLE, pushed, run_script, script_env
from docker_helpers import docker, in_ci
from registry_server import Registry, missing_tools

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[3]
PAYLOADS = ROOT / "local_test" / "payloads"


class LocalEndpoint:
    """`byoc local up/down` (the local endpoint, deploy/local) in a subprocess, private state home."""

    def __init__(self, home: Path, name: str) -> None:
        self.name = name
        self.env = {**os.environ, "BYOC_LOCAL_HOME": str(home)}

    def _run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "byoc", "local", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT,
        )  # fmt: skip

    def up(self, image: str, archive: Path) -> str:
        result = self._run(
            "up", self.name, "--image", image, "--model-data", str(archive),
            "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=1",
        )  # fmt: skip
        assert result.returncode == 0, f"byoc local up failed:\n{result.stdout}{result.stderr}"
        return result.stdout.strip().splitlines()[-1]

    def down(self) -> None:
        self._run("down", self.name, timeout=120)


@pytest.fixture(scope="session")
def registry_tools(docker_engine: None) -> None:
    missing = missing_tools()
    if missing:
        message = (
            f"the registry tests need {', '.join(missing)} (apt-get install docker-registry apache2-utils)"
        )
        if in_ci():
            pytest.fail(f"CI=true but {message}; .ci/run installs them")
        pytest.skip(message)


@pytest.fixture(scope="session")
def registry(registry_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry"), "AWS", ECR_PASSWORD)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()
        # the tags the pushes left in the engine (REGISTRY/NAME:TAG); the layers stay cached
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
        tags = [tag for tag in listed if tag.startswith(f"{server.host}/")]
        if tags:
            docker("rmi", *tags, check=False)


@pytest.fixture
def env_for_script(aws, base_image: str, image: str, tmp_path: Path) -> dict[str, str]:
    # `image` first: the script's build then finds every layer in docker's cache.
    config = tmp_path / "docker-config"
    config.mkdir()
    return script_env(aws.env, config, BASE_IMAGE=base_image)


def _git_tag() -> str:
    root = Path(__file__).resolve().parents[3]
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def test_build_and_push_logs_in_with_the_ecr_token_and_reports_the_digest(
    registry: Registry, env_for_script: dict[str, str], tmp_path: Path
) -> None:
    result = run_script(
        "--registry", registry.host, "--network", "host", "byoc-push-test", "t1", env=env_for_script
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = pushed(result.stdout)
    assert out["image"] == f"{registry.host}/byoc-push-test:t1"
    assert out["digest"].startswith("sha256:")
    assert out["pinned"] == f"{registry.host}/byoc-push-test@{out['digest']}"
    assert "region us-east-1 (from AWS_REGION)" in result.stderr
    assert "creating ECR repository byoc-push-test (scan on push)" in result.stderr
    # the registry API (authenticated) has both tags, with the digest the script printed
    assert registry.tags("byoc-push-test") == ["latest", "t1"]
    assert registry.manifest_digest("byoc-push-test", "t1") == out["digest"]
    assert registry.manifest_digest("byoc-push-test", "latest") == out["digest"]
    with registry.http(auth=False) as anonymous:
        assert anonymous.get("/v2/byoc-push-test/tags/list").status_code == 401
    [repository] = boto3.client("ecr").describe_repositories(repositoryNames=["byoc-push-test"])[
        "repositories"
    ]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}

    # again, default tag: the repository is not created twice; the tag is the git commit
    again = run_script(
        "--registry", registry.host, "--network", "host", "--no-latest", "byoc-push-test", env=env_for_script
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "ECR repository byoc-push-test exists" in again.stderr
    tag = _git_tag()
    assert pushed(again.stdout)["image"] == f"{registry.host}/byoc-push-test:{tag}"
    assert registry.tags("byoc-push-test") == sorted(["latest", "t1", tag])


def test_a_registry_that_refuses_the_token_stops_the_script_before_the_build(
    registry_tools: None, aws, tmp_path: Path
) -> None:
    wrong = Registry(tmp_path / "wrong", "AWS", "not-the-ecr-token")
    try:
        wrong.wait_until_ready()
        env = script_env(aws.env, tmp_path, BASE_IMAGE="never-used:0")
        result = run_script(
            "--registry", wrong.host, "--network", "host", "byoc-push-test", "t1", env=env, timeout=120
        )
    finally:
        wrong.stop()
    assert result.returncode == 1
    assert f"docker login to {wrong.host} failed" in result.stderr
    assert "building" not in result.stderr


def test_without_a_region_the_script_says_so(tmp_path: Path, aws) -> None:
    env = script_env(aws.env, tmp_path)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name)
    result = run_script("byoc-push-test", "t1", env=env, timeout=60)
    assert result.returncode == 1
    assert "no AWS region" in result.stderr and "--region" in result.stderr
    bad = run_script("--region", "us-east-1", "Bad_Name", env=env, timeout=60)
    assert bad.returncode == 2 and "not a valid ECR repository name" in bad.stderr


# --- the whole path ------------------------------------------------------------------------------------


def _endpoint(name: str) -> tuple[dict, dict, dict]:
    sm = boto3.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=name)
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return described, config, model


def _names(kind: str) -> list[str]:
    sm = boto3.client("sagemaker")
    if kind == "configs":
        return sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"])
    return sorted(m["ModelName"] for m in sm.list_models()["Models"])


def _scalable_targets() -> list[dict]:
    client = boto3.client("application-autoscaling")
    return client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]


def test_push_deploy_invoke_scale_update_watch_delete(
    registry: Registry,
    env_for_script: dict[str, str],
    model_archive: Path,
    byoc,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = "byoc-flow"
    # push, with `byoc push` (which runs build_and_push.sh)
    result = subprocess.run(
        [sys.executable, "-m", "byoc", "push", "byoc-flow", "v1", "--registry", registry.host,
         "--network", "host"],
        env=env_for_script, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    image_uri = pushed(result.stdout)["image"]
    assert registry.manifest_digest("byoc-flow", "v1") == pushed(result.stdout)["digest"]

    # upload
    boto3.client("s3").create_bucket(Bucket="byoc-flow-models")
    uploaded = byoc("upload", str(model_archive), "s3://byoc-flow-models/v1/model.tar.gz")
    assert uploaded.code == 0, uploaded
    head = boto3.client("s3").head_object(Bucket="byoc-flow-models", Key="v1/model.tar.gz")
    assert head["ContentLength"] == model_archive.stat().st_size

    # deploy
    deployed = byoc(
        "deploy", endpoint, "--image", image_uri, "--model-data", "s3://byoc-flow-models/v1/model.tar.gz",
        "--role", ROLE, "--instance-type", "ml.m5.large", "--env", "SAGEMAKER_CONTAINER_LOG_LEVEL=20",
    )  # fmt: skip
    assert deployed.code == 0, deployed
    described, config, model = _endpoint(endpoint)
    assert described["EndpointStatus"] == "InService"
    assert model["PrimaryContainer"]["Image"] == image_uri
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://byoc-flow-models/v1/model.tar.gz"
    first_config = described["EndpointConfigName"]

    # invoke: the pushed image really serves the model, behind the local endpoint's front (the
    # SageMaker Runtime API on loopback), which sagemaker-runtime is pointed at
    local = LocalEndpoint(tmp_path / "local-home", endpoint)
    try:
        runtime_url = local.up(image_uri, model_archive)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)
        monkeypatch.setenv("BYOC_LOCAL_HOME", local.env["BYOC_LOCAL_HOME"])  # for byoc metrics --local
        rows_file = str(PAYLOADS / "three_rows.csv")
        invoked = byoc(
            "invoke", endpoint, "--content-type", "text/csv", "--file", rows_file, "--accept", "text/csv"
        )
        assert invoked.code == 0, invoked
        assert "status: 200" in invoked.out and "content-type: text/csv" in invoked.out
        predictions = [line.split(",")[0] for line in invoked.out.split("\n\n", 1)[1].splitlines()]
        assert [int(float(p)) for p in predictions] == [0, 1, 2]
        refused = byoc(
            "invoke", endpoint, "--content-type", "text/csv", "--file", str(PAYLOADS / "wrong_width.csv")
        )
        assert refused.code == 1
        assert "ModelError: the container answered 400" in refused.err
        assert "wrong_feature_count" in refused.err
        local_metrics = byoc("metrics", "--local", endpoint)
        assert local_metrics.code == 0, local_metrics
        rows = {line.split()[0]: line.split()[1:] for line in local_metrics.out.splitlines() if line.strip()}
        assert rows["Invocations"] == ["2"]
        assert rows["Invocation4XXErrors"] == ["1"]
    finally:
        local.down()
        monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)

    # autoscale
    assert byoc("autoscale", endpoint, "--min", "1", "--max", "3", "--target-invocations", "100").code == 0
    assert [t["ResourceId"] for t in _scalable_targets()] == [f"endpoint/{endpoint}/variant/AllTraffic"]

    # update: success, on a new instance type (auto scaling deregistered and registered again)
    updated = byoc("update", endpoint, "--model-data", str(model_archive), "--instance-type", "ml.c5.large")
    assert updated.code == 0, updated
    described, config, model = _endpoint(endpoint)
    second_config = described["EndpointConfigName"]
    assert second_config != first_config
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"
    assert model["PrimaryContainer"]["Image"] == image_uri
    assert model["PrimaryContainer"]["ModelDataUrl"].startswith("s3://sagemaker-us-east-1-123456789012/byoc/")
    assert _names("configs") == [second_config]
    assert len(_scalable_targets()) == 1

    # update: forced failure
    moto_sagemaker.script(endpoint, update="fail", reason="CannotStartContainerError: injected")
    failed = byoc("update", endpoint, "--model-data", str(model_archive))
    assert failed.code == 1
    assert "Failed: CannotStartContainerError: injected" in failed.err
    sm = boto3.client("sagemaker")
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Failed"
    # a Failed endpoint cannot be updated; in AWS it would be deleted and deployed again. Here the
    # harness puts it back InService on its config to go on.
    moto_sagemaker.recover(endpoint)

    # update: forced roll-back (canary with an alarm)
    moto_sagemaker.script(endpoint, update="rollback", reason="alarm byoc-flow-5xx in ALARM: rolled back")
    rolled = byoc(
        "update", endpoint, "--model-data", str(model_archive), "--traffic", "canary",
        "--traffic-percent", "20", "--rollback-alarm", "byoc-flow-5xx",
    )  # fmt: skip
    assert rolled.code == 1
    assert "rolled back" in rolled.err and "byoc-flow-5xx" in rolled.err
    described, _, _ = _endpoint(endpoint)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", second_config)

    # metrics (moto's CloudWatch produces no SageMaker data: the test puts some)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": dimensions,
                "Timestamp": two_minutes_ago,
                "Value": 7,
            },
            {
                "MetricName": "Invocation5XXErrors",
                "Dimensions": dimensions,
                "Timestamp": two_minutes_ago,
                "Value": 1,
            },
        ],
    )
    metrics = byoc("metrics", endpoint, "--since", "15m")
    assert metrics.code == 0, metrics
    rows = {line.split()[0]: line.split() for line in metrics.out.splitlines() if line.strip()}
    assert rows["Invocations"][2] == "7"
    assert rows["Invocation5XXErrors"][2] == "1"

    # status, then delete: nothing of the endpoint is left
    status = byoc("status", endpoint)
    assert "ml.c5.large" in status.out and "1-3, target 100/min" in status.out
    deleted = byoc("delete", endpoint, "--yes")
    assert deleted.code == 0, deleted
    assert sm.list_endpoints()["Endpoints"] == []
    assert _names("configs") == [] and _names("models") == []
    assert _scalable_targets() == []
