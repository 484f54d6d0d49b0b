"""`byoc local` with the real image on a real Docker engine, driven by plain boto3 as a user's code is.

Every endpoint is started with `byoc local up` in a subprocess against a private BYOC_LOCAL_HOME,
and reached only through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME-style configuration of boto3. Request
loops are bounded in count and time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from docker_helpers import docker
from local_helpers import LocalCli, runtime_client

pytestmark = pytest.mark.docker

ROW = [5.1, 3.5, 1.4, 0.2]  # a setosa (class 0)
ROWS_CSV = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def status(url: str) -> dict:
    return httpx.get(f"{url}/_byoc/status", trust_env=False, timeout=5).json()


@pytest.fixture(scope="module")
def sample(local_cli: LocalCli, image: str, model_archive: Path) -> Iterator[str]:
    """The sample model behind a local endpoint `sample`; its runtime URL."""
    url = local_cli.up("sample", image, model_archive)
    yield url
    local_cli("down", "sample", check=False)


def test_up_prints_the_url_and_ls_shows_it_in_service(local_cli: LocalCli, sample: str) -> None:
    assert sample.startswith("http://127.0.0.1:")
    listed = json.loads(local_cli("ls", "--json").stdout)
    row = next(row for row in listed if row["name"] == "sample")
    assert row["status"] == "InService"
    assert row["url"] == sample


def test_boto3_json_and_csv(sample: str) -> None:
    client = runtime_client(sample)
    response = client.invoke_endpoint(
        EndpointName="sample", ContentType="application/json", Body=json.dumps([ROW])
    )
    assert response["ContentType"].startswith("application/json")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(response["Body"].read())["predictions"] == [0]

    response = client.invoke_endpoint(
        EndpointName="sample", ContentType="text/csv", Accept="text/csv", Body=ROWS_CSV
    )
    assert response["ContentType"].startswith("text/csv")
    lines = response["Body"].read().decode().splitlines()
    assert [int(float(line.split(",")[0])) for line in lines] == [0, 2]


def test_environment_variable_points_unchanged_code_at_the_endpoint(sample: str) -> None:
    """The user's code as written for SageMaker: boto3.client("sagemaker-runtime"), nothing else."""
    code = (
        "import boto3, json\n"
        "client = boto3.client('sagemaker-runtime')\n"
        "r = client.invoke_endpoint(EndpointName='sample', ContentType='text/csv', Body='5.1,3.5,1.4,0.2')\n"
        "print(json.loads(r['Body'].read())['predictions'])\n"
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sample,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0]"


def test_bad_payload_is_botocore_model_error_with_the_containers_status(sample: str) -> None:
    client = runtime_client(sample)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="sample", ContentType="text/csv", Body="1,2\n")
    error = caught.value.response
    assert error["OriginalStatusCode"] == 400
    original = json.loads(error["OriginalMessage"])
    assert original["code"] == "wrong_feature_count"
    assert "4 features" in original["message"]
    assert "Received client error (400)" in error["Error"]["Message"]

    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="sample", ContentType="application/x-unknown", Body=b"x")
    assert caught.value.response["OriginalStatusCode"] == 415


def test_unknown_endpoint_is_a_validation_error(sample: str) -> None:
    client = runtime_client(sample)
    with pytest.raises(client.exceptions.ValidationError, match="Endpoint nope of account"):
        client.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body="1,2,3,4")


def test_metrics_count_invocations_latencies_and_errors(local_cli: LocalCli, sample: str) -> None:
    from deploy.local.endpoints import LocalEndpoints

    client = runtime_client(sample)
    before = json.loads(local_cli("metrics", "sample", "--json").stdout)
    for _ in range(3):
        client.invoke_endpoint(EndpointName="sample", ContentType="text/csv", Body="5.1,3.5,1.4,0.2")
    with pytest.raises(client.exceptions.ModelError):
        client.invoke_endpoint(EndpointName="sample", ContentType="text/csv", Body="1,2")
    after = json.loads(local_cli("metrics", "sample", "--json").stdout)
    assert after["Invocations"] - before["Invocations"] == 4
    assert after["Invocation4XXErrors"] - before["Invocation4XXErrors"] == 1
    assert after["Invocation5XXErrors"] == before["Invocation5XXErrors"]
    assert after["ModelLatency"] > 0 and after["OverheadLatency"] > 0

    os.environ["BYOC_LOCAL_HOME"] = str(local_cli.home)
    try:
        metrics = LocalEndpoints().cloudwatch_metrics("sample")
    finally:
        del os.environ["BYOC_LOCAL_HOME"]
    assert set(metrics) == {
        "Invocations",
        "ModelLatency",
        "OverheadLatency",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
    }
    assert metrics["Invocations"] == after["Invocations"]


def test_two_instances_share_traffic_and_survive_one_being_killed(
    local_cli: LocalCli, image: str, model_archive: Path, sample: str
) -> None:
    url = local_cli.up("pair", image, model_archive, "--instances", "2")
    try:
        # Two endpoints at once, each on its own front and ports; each front knows only its own.
        assert url != sample
        assert {"pair", "sample"} <= {row["name"] for row in json.loads(local_cli("ls", "--json").stdout)}
        with pytest.raises(runtime_client(url).exceptions.ValidationError):
            runtime_client(url).invoke_endpoint(EndpointName="sample", ContentType="text/csv", Body="1,2,3,4")
        client = runtime_client(url)
        for _ in range(10):
            client.invoke_endpoint(EndpointName="pair", ContentType="text/csv", Body="5.1,3.5,1.4,0.2")
        served = [instance["served"] for instance in status(url)["instances"]]
        assert served == [5, 5]

        victim = status(url)["instances"][0]["id"]
        docker("kill", victim)
        failures = []
        for _ in range(40):
            try:
                client.invoke_endpoint(EndpointName="pair", ContentType="text/csv", Body="5.1,3.5,1.4,0.2")
            except Exception as exc:  # every failure is a test failure; keep counting to report them
                failures.append(repr(exc))
        assert failures == []
        deadline = time.monotonic() + 10
        while status(url)["healthy"] != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        after = status(url)
        assert after["healthy"] == 1
        assert [i["healthy"] for i in after["instances"]] == [False, True]
        listed = json.loads(local_cli("ls", "--json").stdout)
        assert next(r for r in listed if r["name"] == "pair")["status"] == "Degraded (1/2 healthy)"
    finally:
        local_cli("down", "pair", check=False)


def test_blue_green_update_fails_no_request_and_switches_answers(
    local_cli: LocalCli, image: str, model_archive: Path, v2_archive: Path
) -> None:
    url = local_cli.up("bluegreen", image, model_archive, "--instances", "2")
    answers: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        client = runtime_client(url)
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline and len(answers) < 20_000:
            try:
                response = client.invoke_endpoint(
                    EndpointName="bluegreen", ContentType="application/json", Body=json.dumps([ROW])
                )
                document = json.loads(response["Body"].read())
                answers.append(document.get("model", "v1"))
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    try:
        old = {instance["id"] for instance in status(url)["instances"]}
        for thread in threads:
            thread.start()
        time.sleep(1)
        local_cli("update", "bluegreen", "--model-data", str(v2_archive))
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert failures == []
        counts = Counter(answers)
        assert counts["v1"] > 0 and counts["v2"] > 0
        assert answers[-1] == "v2"
        # Once v2 answered, v1 never did again: the switch is clean, not a mix.
        assert "v1" not in answers[answers.index("v2") + 3 :]
        new = {instance["id"] for instance in status(url)["instances"]}
        assert new.isdisjoint(old)
        running = docker("ps", "-q", "--no-trunc").stdout.split()
        assert not old & set(running)

        # The new model echoes custom attributes: the round trip through the front.
        client = runtime_client(url)
        response = client.invoke_endpoint(
            EndpointName="bluegreen",
            ContentType="text/csv",
            Body="5.1,3.5,1.4,0.2",
            CustomAttributes="trace=42",
        )
        assert response["CustomAttributes"] == "echo=trace=42"
        assert json.loads(response["Body"].read()) == {"model": "v2", "predictions": [0]}
    finally:
        stop.set()
        local_cli("down", "bluegreen", check=False)


def test_down_removes_containers_and_files(local_cli: LocalCli, image: str, model_archive: Path) -> None:
    url = local_cli.up("short", image, model_archive)
    containers = [instance["id"] for instance in status(url)["instances"]]
    pid = status(url)["pid"]
    local_cli("down", "short")
    assert not (local_cli.home / "short").exists()
    assert not (local_cli.home / "short.json").exists()
    assert not set(containers) & set(docker("ps", "-a", "-q", "--no-trunc").stdout.split())
    assert not Path(f"/proc/{pid}").exists()
    missing = local_cli("down", "short", check=False)
    assert missing.returncode == 1 and "no local endpoint short" in missing.stderr


def interrupt_when(local_cli: LocalCli, args: list[str], progress: str) -> tuple[int, str, str]:
    """Run `byoc local ARGS` and press Ctrl-C once its progress (stderr) shows `progress`.

    (exit status, the progress read before the interrupt, everything it wrote after it).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "byoc", "local", *args],
        env=local_cli.env,
        cwd=local_cli.home,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            seen.append(line)
            if progress in line or not line:
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, "".join(seen), rest


def test_ctrl_c_during_up_removes_everything(local_cli: LocalCli, image: str, model_archive: Path) -> None:
    command = ["up", "interrupted", "--image", image, "--model-data", str(model_archive), "--instances", "2"]
    returncode, seen, rest = interrupt_when(local_cli, command, "started instance 2/2")
    assert returncode == 130, seen + rest
    assert "interrupted" in rest
    labelled = docker("ps", "-a", "-q", "--filter", "label=byoc-local.endpoint=interrupted").stdout.split()
    assert labelled == []
    assert not (local_cli.home / "interrupted").exists()
    assert not (local_cli.home / "interrupted.json").exists()


def test_ctrl_c_during_update_keeps_the_old_instances_serving(
    local_cli: LocalCli, image: str, model_archive: Path, v2_archive: Path
) -> None:
    url = local_cli.up("kept", image, model_archive)
    try:
        old = [instance["id"] for instance in status(url)["instances"]]
        command = ["update", "kept", "--model-data", str(v2_archive)]
        returncode, _, rest = interrupt_when(local_cli, command, "started instance 1/1")
        assert returncode == 130, rest
        assert [instance["id"] for instance in status(url)["instances"]] == old
        labelled = docker(
            "ps", "-a", "-q", "--no-trunc", "--filter", "label=byoc-local.endpoint=kept"
        ).stdout.split()
        assert labelled == old
        assert not (local_cli.home / "kept" / "models" / "gen-2").exists()
        response = runtime_client(url).invoke_endpoint(
            EndpointName="kept", ContentType="text/csv", Body="5.1,3.5,1.4,0.2"
        )
        assert "model" not in json.loads(response["Body"].read())  # still the first model
        listed = json.loads(local_cli("ls", "--json").stdout)
        assert next(row for row in listed if row["name"] == "kept")["status"] == "InService"
    finally:
        local_cli("down", "kept", check=False)


def test_refusals_name_the_problem_and_leave_nothing(local_cli: LocalCli, image: str, tmp_path: Path) -> None:
    import io
    import tarfile

    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 2
        tar.addfile(member, io.BytesIO(b"hi"))
    result = local_cli("up", "hostile", "--image", image, "--model-data", str(hostile), check=False)
    assert result.returncode == 1
    assert "hostile.tar.gz cannot be used" in result.stderr and "../escaped.txt" in result.stderr
    assert not (local_cli.home / "escaped.txt").exists()
    assert not (local_cli.home / "hostile").exists() and not (local_cli.home / "hostile.json").exists()

    missing = local_cli(
        "up", "noimage", "--image", "byoc-no-such-image:0", "--model-data", str(hostile), check=False
    )
    assert missing.returncode == 1 and "is not on this machine" in missing.stderr
