"""The loaded models, as the manager knows them, and what the /models routes answer about them (pure).

A model's name is SageMaker's model_name: an opaque identifier it chose (a hash), not the TargetModel
of the request. Its url is the directory SageMaker extracted the archive into
(/opt/ml/models/<model_name>/model). The routes are documented in "Custom Containers Contract for
Multi-Model Endpoints" (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container.multimodel.memory import ProcessMemory

# GET /models pages: SageMaker asks without next_page_token, then passes back each nextPageToken
# it gets until an answer has none. multi-model-server's page size: 100 by default and at most.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
MAX_NAME_CHARS = 256
# A name travels in a URL path segment and names a socket: printable, no slash.
_NAME = re.compile(r"[^/\x00-\x1f\x7f]{1,256}")


class ModelState(enum.Enum):
    LOADING = "Loading"
    READY = "Ready"
    UNLOADING = "Unloading"


class CatalogError(Exception):
    """A /models request that cannot be done: the status and code say why."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


@dataclass
class ModelRecord:
    name: str
    url: str
    state: ModelState
    pid: int  # the model's own process (it forks its workers)
    workers: int
    target_model: str | None = None
    started_at: float = 0.0  # when its load began (wall clock)
    loaded_at: float | None = None
    load_seconds: float | None = None
    handler: str = ""
    memory: ProcessMemory = field(default_factory=ProcessMemory)
    estimate: int = 0  # bytes reserved for it while it loads
    # Its memory as the manager accounts it: its process's USS once loaded (before the workers
    # shared it) plus its workers' own pages.
    accounted: int = 0
    shared: bool = False  # loaded once in its process, shared by its workers (else each loaded it)

    def describe(
        self, memory: ProcessMemory | None = None, per_process: Sequence[Any] = ()
    ) -> dict[str, Any]:
        """GET /models/{name}: the documented modelName and modelUrl, then this runtime's own facts."""
        answer: dict[str, Any] = {"modelName": self.name, "modelUrl": self.url, "status": self.state.value}
        if self.target_model:
            answer["targetModel"] = self.target_model
        answer["workers"] = self.workers
        answer["sharedByWorkers"] = self.shared
        if self.handler:
            answer["handler"] = self.handler
        if self.loaded_at is not None:
            answer["loadedAt"] = self.loaded_at
            answer["loadSeconds"] = self.load_seconds
        answer["memory"] = {"modelBytes": self.accounted, "measuredAtLoad": self.memory.as_dict()}
        if memory is not None:
            answer["memory"]["now"] = memory.as_dict()
            answer["memory"]["processes"] = [
                {"pid": pid, "role": role, **each.as_dict()} for pid, role, each in per_process
            ]
        return answer


def check_load_request(document: Mapping[str, Any]) -> tuple[str, str]:
    """model_name and url of a POST /models body; CatalogError 400 saying what is wrong."""
    name, url = document.get("model_name"), document.get("url")
    missing = [key for key, value in (("model_name", name), ("url", url)) if value in (None, "")]
    if missing:
        raise CatalogError(
            400,
            "invalid_model_request",
            f'POST /models needs {" and ".join(missing)}: {{"model_name": ..., "url": ...}}',
        )
    if not isinstance(name, str) or not isinstance(url, str):
        raise CatalogError(400, "invalid_model_request", "model_name and url must be strings")
    check_name(name)
    return name, url


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise CatalogError(
            400,
            "invalid_model_request",
            f"model_name must be 1 to {MAX_NAME_CHARS} printable characters without '/'",
        )


def check_url(url: str) -> Path:
    """The model directory the url names; CatalogError 404 when there is none."""
    path = Path(url)
    if not path.is_absolute() or ".." in path.parts:
        raise CatalogError(400, "invalid_model_request", f"url {url!r} must be an absolute path without '..'")
    if not path.is_dir():
        raise CatalogError(404, "model_url_not_found", f"url {url}: no such model directory")
    return path


def page(models: Mapping[str, str], limit: str | None, token: str | None) -> dict[str, Any]:
    """GET /models: one page of `models` (name -> url), sorted by name, with nextPageToken while more remain.

    The token is opaque to SageMaker; here it is the offset of the next page. Unlike
    multi-model-server, which also gives a token after an exactly full last page (and then an
    empty page), the token is left out as soon as nothing follows, as the contract describes.
    """
    size = _page_size(limit)
    start = _offset(token)
    ordered = sorted(models)
    chosen = ordered[start : start + size]
    answer: dict[str, Any] = {"models": [{"modelName": n, "modelUrl": models[n]} for n in chosen]}
    if start + size < len(ordered):
        answer["nextPageToken"] = str(start + size)
    return answer


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise CatalogError(
            400, "invalid_pagination", f"limit={raw!r}: a whole number from 1 to {MAX_PAGE_SIZE}"
        )
    return int(raw)


def _offset(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit():
        raise CatalogError(
            400, "invalid_pagination", f"next_page_token={raw!r} is not a token this server gave"
        )
    return int(raw)


def socket_name(name: str) -> str:
    """The file name of a model's socket: a digest, since a name may hold anything but '/'."""
    return hashlib.sha256(name.encode()).hexdigest()[:32] + ".sock"
