"""`byoc push`: build the image and push it to ECR, by running the checkout's build_and_push.sh."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.aws.errors import UsageError
from deploy.aws.output import say

SCRIPT = Path(__file__).resolve().parents[3] / "build_and_push.sh"


@dataclass(frozen=True)
class PushRequest:
    image_name: str  # the ECR repository
    tag: str | None = None  # default: the git commit (and latest)
    region: str | None = None
    registry: str | None = None
    build_args: tuple[str, ...] = ()
    platform: str | None = None
    network: str | None = None
    dockerfile: str | None = None
    context: str | None = None
    latest: bool = True

    def script_arguments(self) -> list[str]:
        """build_and_push.sh's arguments for this request."""
        options: list[str] = []
        for flag, value in (
            ("--region", self.region),
            ("--registry", self.registry),
            ("--platform", self.platform),
            ("--network", self.network),
            ("--file", self.dockerfile),
            ("--context", self.context),
        ):
            if value:
                options += [flag, value]
        for build_arg in self.build_args:
            options += ["--build-arg", build_arg]
        if not self.latest:
            options.append("--no-latest")
        return [*options, "--", self.image_name, *([self.tag] if self.tag else [])]


def run(request: PushRequest) -> int:
    if not SCRIPT.is_file():
        raise UsageError(f"{SCRIPT} is not there: byoc push runs from a checkout of the project")
    command = ["bash", str(SCRIPT), *request.script_arguments()]
    say(f"running {' '.join(command)}")
    return subprocess.run(command, check=False).returncode
