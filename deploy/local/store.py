"""Where local endpoints live: one JSON state file per endpoint in $BYOC_LOCAL_HOME (~/.byoc/local).

HOME/NAME.json          the endpoint's state (deploy.local.state, `schema: 1`)
HOME/NAME.lock          held while up, update or down works on the endpoint
HOME/NAME/              private (0700): front.log, models/gen-N/ (extracted model.tar.gz)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from deploy.local.state import EndpointState, StateError

HOME_ENV = "BYOC_LOCAL_HOME"


def home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    chosen = env.get(HOME_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else Path.home() / ".byoc" / "local"


def home_id(path: Path) -> str:
    """A short id of a state home, on container labels and names (two homes may share a name)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


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
