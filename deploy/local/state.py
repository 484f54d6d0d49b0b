"""The state of local endpoints: one JSON file per endpoint in $BYOC_LOCAL_HOME (~/.byoc/local).

    HOME/NAME.json          the endpoint's state (schema below, `schema: 1`)
    HOME/NAME.lock          held while up, update or down works on the endpoint
    HOME/NAME/              private (0700): front.log, models/gen-N/ (extracted model.tar.gz)

`EndpointState.from_dict` checks the schema, so a damaged file is an error that names the field,
not a KeyError somewhere later.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA = 1
HOME_ENV = "BYOC_LOCAL_HOME"


class StateError(ValueError):
    pass


def home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    chosen = env.get(HOME_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else Path.home() / ".byoc" / "local"


def home_id(path: Path) -> str:
    """A short id of a state home, on container labels and names (two homes may share a name)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


@dataclass
class InstanceRecord:
    container: str  # container id
    name: str  # container name
    port: int
    generation: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class EndpointState:
    name: str
    image: str
    model_data: str  # the archive it was started from
    model_dir: str  # where it was extracted (mounted read-only at /opt/ml/model)
    instance_count: int
    port: int  # the front's port
    token: str  # authorises the front's admin routes
    generation: int = 1
    front_pid: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    instances: list[InstanceRecord] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0
    schema: int = SCHEMA

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> EndpointState:
        if not isinstance(data, dict):
            raise StateError("the state is not a JSON object")
        if data.get("schema") != SCHEMA:
            raise StateError(f"schema {data.get('schema')!r} is not {SCHEMA}")
        expected = {
            "name": str,
            "image": str,
            "model_data": str,
            "model_dir": str,
            "instance_count": int,
            "port": int,
            "token": str,
            "generation": int,
            "env": dict,
            "instances": list,
            "created": (int, float),
            "updated": (int, float),
        }
        for key, kind in expected.items():
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise StateError(f"field {key!r} is missing or not a {getattr(kind, '__name__', kind)}")
        pid = data.get("front_pid")
        if pid is not None and not isinstance(pid, int):
            raise StateError("field 'front_pid' is not an integer")
        instances = []
        for index, item in enumerate(data["instances"]):
            try:
                instances.append(
                    InstanceRecord(
                        container=str(item["container"]),
                        name=str(item["name"]),
                        port=int(item["port"]),
                        generation=int(item["generation"]),
                    )
                )
            except (TypeError, KeyError, ValueError) as exc:
                raise StateError(f"instances[{index}] is malformed: {exc!r}") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["env"].items()):
            raise StateError("field 'env' must map strings to strings")
        return cls(
            name=data["name"],
            image=data["image"],
            model_data=data["model_data"],
            model_dir=data["model_dir"],
            instance_count=data["instance_count"],
            port=data["port"],
            token=data["token"],
            generation=data["generation"],
            front_pid=pid,
            env=dict(data["env"]),
            instances=instances,
            created=float(data["created"]),
            updated=float(data["updated"]),
        )


class Store:
    """The state files under one home."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or home()

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def state_path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def work_dir(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self.state_path(name).exists()

    def load(self, name: str) -> EndpointState:
        path = self.state_path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: {exc}") from None
        try:
            return EndpointState.from_dict(data)
        except StateError as exc:
            raise StateError(f"{path}: {exc}") from None

    def save(self, state: EndpointState) -> None:
        self.ensure()
        path = self.state_path(state.name)
        temporary = path.with_suffix(".json.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_dict(), handle, indent=2, sort_keys=True)
        temporary.replace(path)

    def delete(self, name: str) -> None:
        self.state_path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(path.stem for path in self.root.glob("*.json"))

    @contextlib.contextmanager
    def lock(self, name: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the endpoint's lock (up, update and down take it); StateError if busy and not `wait`."""
        self.ensure()
        fd = os.open(self.root / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise StateError(f"another byoc local command is working on {name}") from None
            yield
        finally:
            os.close(fd)
