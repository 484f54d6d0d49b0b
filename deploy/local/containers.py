"""The containers of a local endpoint (its instances): started as SageMaker starts them, and
waited for on /ping.

Each instance is `docker run IMAGE serve` with host networking on its own loopback port, the
model mounted read-only; labels name its endpoint, state home and generation, so whatever was
started can be found and removed even when the state file missed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from container.serving.server_process import free_port, model_load_failed
from deploy.local import docker
from deploy.local.errors import LocalEndpointError
from deploy.local.front_api import http_client
from deploy.local.state import EndpointState, InstanceRecord

PROGRESS_EVERY_SECONDS = 3.0

Say = Callable[[str], None]


def labels(endpoint: str, home: str, generation: int | None = None) -> dict[str, str]:
    """The labels of an endpoint's containers (of one generation, or every one)."""
    found = {docker.LABEL: "1", f"{docker.LABEL}.endpoint": endpoint, f"{docker.LABEL}.home": home}
    if generation is not None:
        found[f"{docker.LABEL}.generation"] = str(generation)
    return found


def start(
    state: EndpointState,
    generation: int,
    count: int,
    *,
    home: str,
    started: Callable[[InstanceRecord], None],
    say: Say,
) -> list[InstanceRecord]:
    """Start `count` containers of `state`'s image and model; `started` records each at once, so a
    teardown finds it even when a later one fails."""
    records: list[InstanceRecord] = []
    for index in range(count):
        port = free_port()
        name = f"byoc-local-{state.name}-{home}-g{generation}-{index + 1}"
        docker.remove([name])  # a leftover of a run that was killed hard
        arguments = docker.run_command(
            state.image,
            name=name,
            model_dir=state.model_dir,
            port=port,
            env=state.env,
            labels=labels(state.name, home, generation),
            multi_model=state.multi_model,
        )
        record = InstanceRecord(container=docker.run(arguments), name=name, port=port, generation=generation)
        records.append(record)
        started(record)
        say(f"started instance {index + 1}/{count}: container {record.container[:12]} on port {port}")
    return records


def wait_healthy(records: list[InstanceRecord], timeout: float, say: Say) -> None:
    """Poll each instance's /ping until 200; LocalEndpointError with the log tail otherwise (at
    once when the container exited or the runtime says the model failed to load)."""
    began = time.monotonic()
    ready: set[str] = set()
    last: dict[str, str] = {}
    next_progress = began + PROGRESS_EVERY_SECONDS
    with http_client(timeout=2) as http:
        while True:
            for record in records:
                if record.container not in ready and _ping(http, record, last):
                    ready.add(record.container)
                    say(f"instance {record.container[:12]} is healthy ({time.monotonic() - began:.1f} s)")
            if len(ready) == len(records):
                return
            now = time.monotonic()
            if now - began > timeout:
                pending = [r for r in records if r.container not in ready]
                details = "\n\n".join(
                    f"container {r.container[:12]}: last {last.get(r.container, 'no answer')}; "
                    f"its log ends with:\n{docker.log_tail(r.container)}"
                    for r in pending
                )
                raise LocalEndpointError(
                    f"{len(pending)} of {len(records)} instances not healthy after {timeout:g} s\n{details}"
                )
            if now >= next_progress:
                latest = next((last[r.container] for r in records if r.container in last), "")
                say(
                    f"waiting for /ping: {len(ready)}/{len(records)} healthy ({now - began:.0f} s)"
                    + (f"; last: {latest[:120]}" if latest else "")
                )
                next_progress = now + PROGRESS_EVERY_SECONDS
            time.sleep(0.25)


def _ping(http: httpx.Client, record: InstanceRecord, last: dict[str, str]) -> bool:
    """Whether the instance answers /ping 200; what it said otherwise goes into `last`."""
    try:
        response = http.get(f"{record.url}/ping")
        if response.status_code == 200:
            return True
        last[record.container] = f"/ping answered {response.status_code}: {response.text[:300]}"
        if model_load_failed(response.text):  # this runtime's /ping: it will never be ready
            raise LocalEndpointError(
                f"the model failed to load in container {record.container[:12]}: {response.text[:500]}\n"
                f"Its log ends with:\n{docker.log_tail(record.container)}"
            )
    except httpx.HTTPError as exc:
        last[record.container] = f"/ping: {exc!r}"
    is_running, exit_code = docker.running(record.container)
    if not is_running:
        raise LocalEndpointError(
            f"container {record.container[:12]} exited (status {exit_code}) before /ping "
            f"answered 200. Its log ends with:\n{docker.log_tail(record.container)}"
        )
    return False
