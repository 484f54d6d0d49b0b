"""Local endpoints: up, update and down in order, and what ls, status, metrics and logs read.

Every change holds the endpoint's lock. `up` records the endpoint's state before it starts
anything, so whatever it started can be found and removed: on failure, on Ctrl-C (or SIGTERM) it
tears everything down itself, and after a hard kill `byoc local down NAME` does. The parts: the
containers (deploy.local.containers), the front's process (front_process) and its API (front_api),
the state files (store).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from container.archives.extraction import ArchiveError, safe_extract
from container.serving.server_process import LOOPBACK, free_port, port_is_free
from deploy.endpoint_metrics import NAMES
from deploy.local import containers, docker, front_process
from deploy.local.errors import LocalEndpointError
from deploy.local.front_api import FrontClient
from deploy.local.interrupts import uninterruptible
from deploy.local.multimodel import CACHE_ENABLED, CACHE_SETTINGS
from deploy.local.state import EndpointState, InstanceRecord, StateError
from deploy.local.store import Store, home_id
from deploy.sagemaker_names import InvalidName, validate_name

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class LocalEndpoints:
    """The local endpoints of one state home ($BYOC_LOCAL_HOME)."""

    def __init__(self, store: Store | None = None, say: Say = _quiet) -> None:
        self.store = store or Store()
        self.say = say
        self._home_id = home_id(self.store.root) if self.store.root.exists() else None

    # --- changes ------------------------------------------------------------------------------

    def up(
        self,
        name: str,
        *,
        image: str,
        model_data: Path | None = None,
        instances: int = 1,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 300,
        async_config: dict | None = None,
        model_data_prefix: str | None = None,
        model_cache: str = CACHE_ENABLED,
    ) -> EndpointState:
        """Start an endpoint of one model (`model_data`), or of many (`model_data_prefix`: a
        multi-model endpoint, each invocation's TargetModel below it)."""
        _check_name(name)
        if instances < 1:
            raise LocalEndpointError("--instances must be at least 1")
        if (model_data is None) == (model_data_prefix is None):
            raise LocalEndpointError("give --model-data, or --multi-model with --model-data-prefix")
        if model_data_prefix is not None:
            model_data_prefix = _check_prefix(model_data_prefix)
        if model_cache not in CACHE_SETTINGS:
            raise LocalEndpointError(f"--model-cache {model_cache!r}: one of {', '.join(CACHE_SETTINGS)}")
        _check_docker(image)
        with self.store.lock(name):
            if self.store.exists(name):
                raise LocalEndpointError(
                    f"local endpoint {name} already exists: `byoc local update {name}` changes it, "
                    f"`byoc local down {name}` removes it"
                )
            if port is not None and not port_is_free(port):
                raise LocalEndpointError(f"port {port} on {LOOPBACK} is in use: choose another with --port")
            work = self.store.work_dir(name)
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True, mode=0o700)
            now = time.time()
            state = EndpointState(
                name=name,
                image=image,
                model_data=model_data_prefix or str(Path(model_data or "").resolve()),
                model_dir="",
                instance_count=instances,
                port=port or free_port(),
                token=secrets.token_hex(16),
                env=dict(env or {}),
                created=now,
                updated=now,
                async_config=async_config,
                multi_model=model_data_prefix is not None,
                model_data_prefix=model_data_prefix or "",
                model_cache=model_cache,
            )
            self.store.save(state)
            try:
                if model_data is not None:
                    state.model_dir = str(self._extract(Path(model_data), work / "models" / "gen-1"))
                else:  # models are extracted here on first use, by the front
                    models = work / "multi-model"
                    models.mkdir(mode=0o755)
                    state.model_dir = str(models)
                self.store.save(state)
                records = self._start_instances(state, 1, instances)
                self.say(f"waiting for {instances} instance(s) to answer /ping")
                containers.wait_healthy(records, startup_timeout, self.say)
                self._start_front(state)
            except BaseException:
                self.say(f"removing what was started for {name}")
                self._teardown(state)
                raise
            return state

    def update(
        self,
        name: str,
        *,
        model_data: Path | None = None,
        image: str | None = None,
        instances: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 300,
        drain_timeout: float = 60,
    ) -> EndpointState:
        """Blue/green: new instances, healthy, take the traffic; the old ones drain and stop."""
        _check_name(name)
        with self.store.lock(name):
            state = self.load(name)
            front = FrontClient(name, state.url)
            if front.status() is None:
                raise LocalEndpointError(
                    f"the front of {name} is not running: `byoc local down {name}`, "
                    "then `byoc local up` again"
                )
            if image:
                _check_docker(image)
            generation = state.generation + 1
            work = self.store.work_dir(name)
            new_dir = work / "models" / f"gen-{generation}"
            shutil.rmtree(new_dir, ignore_errors=True)
            old_records = list(state.instances)
            old_dir, old_state = state.model_dir, state.to_dict()
            count = instances or state.instance_count
            if count < 1:
                raise LocalEndpointError("--instances must be at least 1")
            state.image = image or state.image
            state.env = {**state.env, **(env or {})}
            if model_data is not None and state.multi_model:
                raise LocalEndpointError(
                    f"{name} is a multi-model endpoint: its models come from {state.model_data_prefix}"
                )
            if model_data is not None:
                state.model_dir = str(self._extract(Path(model_data), new_dir))
                state.model_data = str(Path(model_data).resolve())
            new_records: list[InstanceRecord] = []
            try:
                new_records = self._start_instances(state, generation, count)
                self.say(f"waiting for {count} new instance(s) to answer /ping")
                containers.wait_healthy(new_records, startup_timeout, self.say)
                self.say("switching traffic to the new instances; draining the old ones")
                result = front.swap(state.token, new_records, drain_timeout)
            except BaseException:
                with uninterruptible():
                    self.say("update abandoned: removing the new instances; the old ones keep serving")
                    # By label too: an interrupt may come between `docker run` and the record.
                    new_containers = {r.container for r in new_records}
                    new_containers.update(docker.labelled(containers.labels(name, self._home(), generation)))
                    docker.remove(sorted(new_containers))
                    if Path(state.model_dir) == new_dir:
                        shutil.rmtree(new_dir, ignore_errors=True)
                    self.store.save(EndpointState.from_dict(old_state))
                raise
            with uninterruptible():
                state.instances = new_records
                state.instance_count = count
                state.generation = generation
                state.updated = time.time()
                self.store.save(state)
                if not result.get("drained"):
                    self.say(
                        f"{result.get('in_flight')} request(s) still in flight after {drain_timeout:g} s"
                    )
                self.say(f"stopping the old instances: {', '.join(r.container[:12] for r in old_records)}")
                docker.stop([r.container for r in old_records])
                docker.remove([r.container for r in old_records])
                if old_dir != state.model_dir and _inside(Path(old_dir), work):
                    shutil.rmtree(old_dir, ignore_errors=True)
            return state

    def down(self, name: str) -> None:
        self.load(name)  # a clear error, before any lock file is made, when there is no such endpoint
        with self.store.lock(name):
            state = self.load(name)
            self.say(f"stopping {name}: front pid {state.front_pid}, {len(state.instances)} container(s)")
            self._teardown(state)
        with contextlib.suppress(FileNotFoundError):
            (self.store.root / f"{name}.lock").unlink()

    # --- reads --------------------------------------------------------------------------------

    def load(self, name: str) -> EndpointState:
        _check_name(name)
        try:
            return self.store.load(name)
        except FileNotFoundError:
            raise LocalEndpointError(
                f"there is no local endpoint {name} (byoc local ls lists them)"
            ) from None
        except StateError as exc:
            raise LocalEndpointError(str(exc)) from None

    def list(self) -> list[dict]:
        rows = []
        for name in self.store.names():
            try:
                state = self.store.load(name)
            except (StateError, FileNotFoundError) as exc:
                rows.append({"name": name, "status": f"Unreadable ({exc})"})
                continue
            status = FrontClient(name, state.url).status(timeout=1)
            healthy = status["healthy"] if status else 0
            if status is None:
                phase = "Failed (front not answering)" if state.front_pid else "Creating"
            elif healthy == state.instance_count:
                phase = "InService"
            else:
                phase = f"Degraded ({healthy}/{state.instance_count} healthy)"
            rows.append(
                {
                    "name": name,
                    "status": phase,
                    "url": state.url,
                    "instances": state.instance_count,
                    "healthy": healthy,
                    "image": state.image,
                    "model_data": state.model_data,
                    "containers": [record.container[:12] for record in state.instances],
                    "created": state.created,
                }
            )
        return rows

    def status(self, name: str) -> dict:
        state = self.load(name)
        status = FrontClient(name, state.url).status()
        if status is None:
            raise LocalEndpointError(f"the front of {name} does not answer at {state.url}")
        return status

    def metrics(self, name: str) -> dict[str, float]:
        """Everything the front counts (deploy.local.metrics), since it started."""
        state = self.load(name)
        return FrontClient(name, state.url).metrics()

    def cloudwatch_metrics(self, name: str) -> dict[str, float]:
        """Exactly the five metrics CloudWatch has for a SageMaker endpoint (deploy.endpoint_metrics)."""
        everything = self.metrics(name)
        return {key: everything[key] for key in NAMES}

    def logs(self, name: str, lines: int) -> list[tuple[InstanceRecord, str]]:
        """The last lines of each instance's container log."""
        return [(record, docker.log_tail(record.container, lines)) for record in self.load(name).instances]

    # --- parts --------------------------------------------------------------------------------

    def _home(self) -> str:
        self.store.ensure()
        if self._home_id is None:
            self._home_id = home_id(self.store.root)
        return self._home_id

    def _extract(self, model_data: Path, destination: Path) -> Path:
        """The model directory for `model_data`: an archive extracted safely, or a directory as is."""
        if model_data.is_dir():
            return model_data.resolve()
        if not model_data.is_file():
            raise LocalEndpointError(f"--model-data {model_data}: no such file or directory")
        self.say(f"extracting {model_data} into {destination}")
        try:
            safe_extract(model_data, destination)
        except (ArchiveError, OSError) as exc:
            raise LocalEndpointError(f"{model_data} cannot be used: {exc}") from None
        os.chmod(destination, 0o755)  # readable by the container's user, inside a 0700 home
        return destination

    def _start_instances(self, state: EndpointState, generation: int, count: int) -> list[InstanceRecord]:
        def started(record: InstanceRecord) -> None:
            state.instances.append(record)  # recorded at once: a teardown finds it
            self.store.save(state)

        return containers.start(state, generation, count, home=self._home(), started=started, say=self.say)

    def _start_front(self, state: EndpointState) -> None:
        work = self.store.work_dir(state.name)
        process = front_process.launch(self.store.state_path(state.name), work)
        state.front_pid = process.pid
        self.store.save(state)
        front_process.wait_ready(process, state, work)

    def _teardown(self, state: EndpointState) -> None:
        with uninterruptible():
            front_process.stop(state.front_pid)
            started = {record.container for record in state.instances}
            started.update(docker.labelled(containers.labels(state.name, self._home())))
            docker.remove(sorted(started))
            shutil.rmtree(self.store.work_dir(state.name), ignore_errors=True)
            self.store.delete(state.name)


def _check_name(name: str) -> None:
    try:
        validate_name(name)
    except InvalidName as exc:
        raise LocalEndpointError(str(exc)) from None


def _check_docker(image: str) -> None:
    problem = docker.available()
    if problem:
        raise LocalEndpointError(f"a local endpoint needs a Docker engine: {problem}")
    if not docker.image_exists(image):
        raise LocalEndpointError(
            f"image {image!r} is not on this machine: build it first "
            f"(docker build --network host -t {image} .)"
        )


def _check_prefix(prefix: str) -> str:
    """A multi-model endpoint's model prefix: an s3:// prefix, or a directory (made absolute)."""
    if prefix.startswith("s3://"):
        if len(prefix) <= len("s3://") or prefix[len("s3://") :].startswith("/"):
            raise LocalEndpointError(f"--model-data-prefix {prefix}: an S3 prefix names its bucket")
        return prefix
    path = Path(prefix)
    if not path.is_dir():
        raise LocalEndpointError(f"--model-data-prefix {prefix}: neither an s3:// prefix nor a directory")
    return str(path.resolve())


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True
