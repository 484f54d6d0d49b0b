"""A real registry for `docker push` in tests: Debian's docker-registry (distribution v2) on loopback.

It requires basic auth (htpasswd, bcrypt) for the user AWS with moto's ECR token as the password,
so a push only works when build_and_push.sh really logged in with `aws ecr get-login-password`.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from container.serving.server_process import LOOPBACK, free_port

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def missing_tools() -> list[str]:
    return [tool for tool in ("docker-registry", "htpasswd") if shutil.which(tool) is None]


class Registry:
    def __init__(self, workdir: Path, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.port = free_port()
        self.host = f"{LOOPBACK}:{self.port}"
        self.url = f"http://{self.host}"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        (workdir / "htpasswd").write_text(htpasswd)
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
            f"auth:\n  htpasswd:\n    realm: byoc-test\n    path: {workdir / 'htpasswd'}\n"
        )
        self.log = workdir / "registry.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
                try:
                    if http.get(f"{self.url}/v2/").status_code == 401:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def http(self, *, auth: bool = True) -> httpx.Client:
        headers = {}
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return httpx.Client(base_url=self.url, headers=headers, trust_env=False, timeout=10)

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        with self.http() as http:
            response = http.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None

    def tags(self, repository: str) -> list[str]:
        with self.http() as http:
            response = http.get(f"/v2/{repository}/tags/list")
        return sorted(response.json().get("tags") or []) if response.status_code == 200 else []

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log_file.close()
