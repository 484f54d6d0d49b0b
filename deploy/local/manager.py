"""up, update, down, ls and metrics of local endpoints: containers, the front daemon, the state file.

Every command holds the endpoint's lock. `up` records the endpoint's state before it starts
anything, so whatever it started can be found and removed: on failure, on Ctrl-C (or SIGTERM) it
tears everything down itself, and after a hard kill `byoc local down NAME` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from container.archives.extraction import ArchiveError, safe_extract
from container.serving.server_process import LOOPBACK, free_port
from deploy.local import docker
from deploy.local.front import TOKEN_HEADER
from deploy.local.metrics import METRIC_NAMES
from deploy.local.state import EndpointState, InstanceRecord, StateError, Store, home_id
from deploy.local.wire import valid_endpoint_name

Say = Callable[[str], None]
FRONT_READY_SECONDS = 30
PROGRESS_EVERY_SECONDS = 3.0


class LocalEndpointError(RuntimeError):
    """A failure to report to the user as is (the message says what to do)."""


def _quiet(_: str) -> None:
    pass


def _http(timeout: float = 5) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Defer Ctrl-C while a teardown or a swap's bookkeeping runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class Manager:
    def __init__(self, store: Store | None = None, say: Say = _quiet) -> None:
        self.store = store or Store()
        self.say = say
        self.home_id = home_id(self.store.root) if self.store.root.exists() else None

    # --- helpers ----------------------------------------------------------------------------
    def _labels(self, name: str, generation: int) -> dict[str, str]:
        return {
            docker.LABEL: "1",
            f"{docker.LABEL}.endpoint": name,
            f"{docker.LABEL}.home": self._home(),
            f"{docker.LABEL}.generation": str(generation),
        }

    def _home(self) -> str:
        self.store.ensure()
        if self.home_id is None:
            self.home_id = home_id(self.store.root)
        return self.home_id

    def _check_name(self, name: str) -> None:
        if not valid_endpoint_name(name):
            raise LocalEndpointError(
                f"{name!r} is not a valid endpoint name: letters, digits and hyphens, at most 63, "
                "starting and ending with a letter or digit"
            )

    def _check_docker(self, image: str) -> None:
        problem = docker.available()
        if problem:
            raise LocalEndpointError(f"a local endpoint needs a Docker engine: {problem}")
        if docker.docker("image", "inspect", image, check=False, timeout=30).returncode != 0:
            raise LocalEndpointError(
                f"image {image!r} is not on this machine: build it first "
                f"(docker build --network host -t {image} .)"
            )

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
        started: list[InstanceRecord] = []
        for index in range(count):
            port = free_port()
            container_name = f"byoc-local-{state.name}-{self._home()}-g{generation}-{index + 1}"
            docker.remove([container_name])  # a leftover of a run that was killed hard
            arguments = docker.run_command(
                state.image,
                name=container_name,
                model_dir=state.model_dir,
                port=port,
                env=state.env,
                labels=self._labels(state.name, generation),
            )
            container = docker.run(arguments)
            record = InstanceRecord(
                container=container, name=container_name, port=port, generation=generation
            )
            started.append(record)
            state.instances.append(record)  # recorded at once: a teardown finds it
            self.store.save(state)
            self.say(f"started instance {index + 1}/{count}: container {container[:12]} on port {port}")
        return started

    def _wait_healthy(self, records: list[InstanceRecord], timeout: float) -> None:
        """Poll each instance's /ping until 200; LocalEndpointError with the log tail otherwise."""
        started = time.monotonic()
        ready: set[str] = set()
        last: dict[str, str] = {}
        next_progress = started + PROGRESS_EVERY_SECONDS
        with _http(timeout=2) as http:
            while len(ready) < len(records):
                for record in records:
                    if record.container in ready:
                        continue
                    try:
                        response = http.get(f"{record.url}/ping")
                        if response.status_code == 200:
                            ready.add(record.container)
                            self.say(
                                f"instance {record.container[:12]} is healthy "
                                f"({time.monotonic() - started:.1f} s)"
                            )
                            continue
                        last[record.container] = (
                            f"/ping answered {response.status_code}: {response.text[:300]}"
                        )
                        if _load_failed(response.text):  # this runtime's /ping: it will never be ready
                            raise LocalEndpointError(
                                f"the model failed to load in container {record.container[:12]}: "
                                f"{response.text[:500]}\n"
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
                if len(ready) == len(records):
                    break
                now = time.monotonic()
                if now - started > timeout:
                    pending = [r for r in records if r.container not in ready]
                    details = "\n\n".join(
                        f"container {r.container[:12]}: last {last.get(r.container, 'no answer')}; "
                        f"its log ends with:\n{docker.log_tail(r.container)}"
                        for r in pending
                    )
                    raise LocalEndpointError(
                        f"{len(pending)} of {len(records)} instances not healthy "
                        f"after {timeout:g} s\n{details}"
                    )
                if now >= next_progress:
                    latest = next((last[r.container] for r in records if r.container in last), "")
                    self.say(
                        f"waiting for /ping: {len(ready)}/{len(records)} healthy ({now - started:.0f} s)"
                        + (f"; last: {latest[:120]}" if latest else "")
                    )
                    next_progress = now + PROGRESS_EVERY_SECONDS
                time.sleep(0.25)

    def _start_front(self, state: EndpointState) -> int:
        work = self.store.work_dir(state.name)
        log_path = work / "front.log"
        environment = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, environment.get("PYTHONPATH", "")) if part
        )
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "deploy.local.front", str(self.store.state_path(state.name))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(work),
                env=environment,
                start_new_session=True,  # outlives this command; Ctrl-C in the terminal does not reach it
                close_fds=True,
            )
        state.front_pid = process.pid
        self.store.save(state)
        deadline = time.monotonic() + FRONT_READY_SECONDS
        with _http(timeout=2) as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise LocalEndpointError(
                        f"the front exited with status {process.returncode}:\n{_tail(log_path)}"
                    )
                try:
                    status = http.get(f"{state.url}/_byoc/status").json()
                    if status.get("healthy") == len(state.instances):
                        return process.pid
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.2)
        raise LocalEndpointError(f"the front did not come up in {FRONT_READY_SECONDS} s:\n{_tail(log_path)}")

    def _stop_front(self, pid: int | None) -> None:
        if not pid or not _is_front(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _teardown(self, state: EndpointState) -> None:
        with uninterruptible():
            self._stop_front(state.front_pid)
            containers = {record.container for record in state.instances}
            containers.update(
                docker.labelled(
                    {f"{docker.LABEL}.endpoint": state.name, f"{docker.LABEL}.home": self._home()}
                )
            )
            docker.remove(sorted(containers))
            shutil.rmtree(self.store.work_dir(state.name), ignore_errors=True)
            self.store.delete(state.name)

    def _status(self, state: EndpointState, timeout: float = 2) -> dict | None:
        try:
            with _http(timeout=timeout) as http:
                response = http.get(f"{state.url}/_byoc/status")
                document = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return document if document.get("name") == state.name else None

    # --- commands ---------------------------------------------------------------------------
    def up(
        self,
        name: str,
        *,
        image: str,
        model_data: Path,
        instances: int = 1,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 300,
    ) -> EndpointState:
        self._check_name(name)
        if instances < 1:
            raise LocalEndpointError("--instances must be at least 1")
        self._check_docker(image)
        with self.store.lock(name):
            if self.store.exists(name):
                raise LocalEndpointError(
                    f"local endpoint {name} already exists: `byoc local update {name}` changes it, "
                    f"`byoc local down {name}` removes it"
                )
            if port is not None and not _port_free(port):
                raise LocalEndpointError(f"port {port} on {LOOPBACK} is in use: choose another with --port")
            now = time.time()
            work = self.store.work_dir(name)
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True, mode=0o700)
            state = EndpointState(
                name=name,
                image=image,
                model_data=str(Path(model_data).resolve()),
                model_dir="",
                instance_count=instances,
                port=port or free_port(),
                token=secrets.token_hex(16),
                env=dict(env or {}),
                created=now,
                updated=now,
            )
            self.store.save(state)
            try:
                state.model_dir = str(self._extract(Path(model_data), work / "models" / "gen-1"))
                self.store.save(state)
                records = self._start_instances(state, 1, instances)
                self.say(f"waiting for {instances} instance(s) to answer /ping")
                self._wait_healthy(records, startup_timeout)
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
        self._check_name(name)
        with self.store.lock(name):
            state = self._load(name)
            if self._status(state) is None:
                raise LocalEndpointError(
                    f"the front of {name} is not running: `byoc local down {name}`, "
                    "then `byoc local up` again"
                )
            if image:
                self._check_docker(image)
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
            if model_data is not None:
                state.model_dir = str(self._extract(Path(model_data), new_dir))
                state.model_data = str(Path(model_data).resolve())
            new_records: list[InstanceRecord] = []
            try:
                new_records = self._start_instances(state, generation, count)
                self.say(f"waiting for {count} new instance(s) to answer /ping")
                self._wait_healthy(new_records, startup_timeout)
                self.say("switching traffic to the new instances; draining the old ones")
                with _http(timeout=drain_timeout + 30) as http:
                    response = http.post(
                        f"{state.url}/_byoc/instances",
                        headers={TOKEN_HEADER: state.token},
                        json={
                            "instances": [{"id": r.container, "url": r.url} for r in new_records],
                            "drain_timeout": drain_timeout,
                        },
                    )
                if response.status_code != 200:
                    raise LocalEndpointError(f"the front refused the new instances: {response.text}")
                result = response.json()
            except BaseException:
                with uninterruptible():
                    self.say("update abandoned: removing the new instances; the old ones keep serving")
                    # By label too: an interrupt may come between `docker run` and the record.
                    new_containers = {r.container for r in new_records}
                    new_containers.update(docker.labelled(self._labels(name, generation)))
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
        self._load(name)  # a clear error, before any lock file is made, when there is no such endpoint
        with self.store.lock(name):
            state = self._load(name)
            self.say(f"stopping {name}: front pid {state.front_pid}, {len(state.instances)} container(s)")
            self._teardown(state)
        with contextlib.suppress(FileNotFoundError):
            (self.store.root / f"{name}.lock").unlink()

    def list(self) -> list[dict]:
        rows = []
        for name in self.store.names():
            try:
                state = self.store.load(name)
            except (StateError, FileNotFoundError) as exc:
                rows.append({"name": name, "status": f"Unreadable ({exc})"})
                continue
            status = self._status(state, timeout=1)
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
        state = self._load(name)
        status = self._status(state)
        if status is None:
            raise LocalEndpointError(f"the front of {name} does not answer at {state.url}")
        return status

    def metrics(self, name: str) -> dict[str, float]:
        state = self._load(name)
        try:
            with _http(timeout=5) as http:
                document = http.get(f"{state.url}/_byoc/metrics").json()
            if document.get("name") != name:
                raise ValueError(f"another process answers there ({str(document)[:100]})")
            return {key: float(value) for key, value in document["metrics"].items()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LocalEndpointError(f"the front of {name} does not answer at {state.url}: {exc}") from None

    def _load(self, name: str) -> EndpointState:
        self._check_name(name)
        try:
            return self.store.load(name)
        except FileNotFoundError:
            raise LocalEndpointError(
                f"there is no local endpoint {name} (byoc local ls lists them)"
            ) from None
        except StateError as exc:
            raise LocalEndpointError(str(exc)) from None


def fetch_metrics(name: str) -> dict[str, float]:
    """Exactly the five CloudWatch-named metrics of a local endpoint (see deploy.local.metrics)."""
    everything = Manager().metrics(name)
    return {key: everything[key] for key in METRIC_NAMES}


def _load_failed(ping_body: str) -> bool:
    try:
        document = json.loads(ping_body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("state") == "failed"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def _is_front(pid: int) -> bool:
    """Whether `pid` is a front process (and not a recycled pid of something else)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid) and not Path("/proc").is_dir()
    return b"deploy.local.front" in command


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
