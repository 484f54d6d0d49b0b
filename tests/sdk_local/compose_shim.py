"""`docker-compose` for the SageMaker SDK's local mode in tests: the SDK's compose file on host networking.

The SDK (sagemaker/local/image.py, _SageMakerContainer._generate_compose_file) puts each container
on a bridge network (`networks: sagemaker-local`) and publishes the serving port (`ports:
PORT:8080`); neither may ever run on these machines. Installed first on PATH as `docker-compose`
for the test's SDK process only, this rewrites that file before handing the command to the real
docker-compose: networks and ports removed, `network_mode: host`, the server bound to 127.0.0.1 on
the port the SDK polls (SAGEMAKER_BIND_TO_PORT, BYOC_BIND_HOST), and the test session's labels so
that leftovers are removed. Image, command, environment and volumes stay exactly as the SDK wrote
them. Every rewritten file is copied to BYOC_TEST_COMPOSE_LOG for the test to check.

Run by the SDK venv's python (which has PyYAML, a dependency of the SDK).
"""

import os
import shutil
import sys
import time

import yaml


def rewrite(path: str) -> None:
    with open(path) as source:
        document = yaml.safe_load(source)
    document.pop("networks", None)
    labels = dict(item.split("=", 1) for item in os.environ.get("BYOC_TEST_LABELS", "").split(",") if item)
    for service in document.get("services", {}).values():
        service.pop("networks", None)
        ports = service.pop("ports", None) or []
        service["network_mode"] = "host"
        service["labels"] = {**labels, "byoc-test.started": str(int(time.time()))}
        environment = service.setdefault("environment", [])
        if ports:  # serving: "PORT:8080" -> the server listens on loopback PORT itself
            host_port = str(ports[0]).split(":")[0]
            environment += [f"SAGEMAKER_BIND_TO_PORT={host_port}", "BYOC_BIND_HOST=127.0.0.1"]
    with open(path, "w") as target:
        yaml.safe_dump(document, target, default_flow_style=False)
    log_dir = os.environ.get("BYOC_TEST_COMPOSE_LOG")
    if log_dir:
        shutil.copy(path, os.path.join(log_dir, f"compose-{time.monotonic_ns()}.yaml"))


def main(argv: list[str]) -> None:
    if "-f" in argv:
        rewrite(argv[argv.index("-f") + 1])
    real = os.environ["BYOC_TEST_REAL_COMPOSE"]
    os.execv(real, [real, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
