"""A local multi-model endpoint: InvokeEndpoint's TargetModel routed as SageMaker routes it.

"How multi-model endpoints work" (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-endpoints.html):
the TargetModel of an invocation is a path below the model's S3 prefix (ModelDataUrl). On its first
use on an instance the archive is downloaded and extracted to /opt/ml/models/<model_name>/model, the
container is asked to load it (POST /models), then to predict (POST /models/<model_name>/invoke).
When the container answers 507 (not enough memory), the least recently used model is unloaded
(DELETE /models/<model_name>) and the load is tried again. With ModelCacheSetting Disabled, each
model is unloaded (and its files removed) once its invocations are done.

Here the prefix is a directory or an s3:// prefix (fetched with boto3); archives are extracted with
the toolkit's safe extraction into the endpoint's models directory, mounted read-only in every
instance at /opt/ml/models. model_name is a digest of TargetModel, as SageMaker's is opaque.

The metrics are SageMaker's for multi-model endpoints: ModelCacheHit, ModelLoadingWaitTime,
ModelLoadingTime, ModelUnloadingTime, ModelDownloadingTime (microseconds) and LoadedModelCount.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx

from container.archives.extraction import ArchiveError, safe_extract

log = logging.getLogger("byoc.local.front")

CACHE_ENABLED = "Enabled"
CACHE_DISABLED = "Disabled"
CACHE_SETTINGS = (CACHE_ENABLED, CACHE_DISABLED)
CONTAINER_MODELS = "/opt/ml/models"
MAX_TARGET_MODEL_CHARS = 1024
LOAD_TIMEOUT_SECONDS = 360.0  # SageMaker waits this long for a model to load


class TargetModelError(Exception):
    """The TargetModel cannot be served; `status` and `code` say how InvokeEndpoint refuses it."""

    def __init__(self, message: str, status: int = 400, code: str = "ValidationError") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def model_name(target: str) -> str:
    """The name the container knows a TargetModel by (opaque, as SageMaker's is)."""
    return hashlib.sha256(target.encode()).hexdigest()[:32]


def check_target(target: str | None) -> str:
    """A TargetModel that names an archive below the prefix; TargetModelError otherwise."""
    if not target:
        raise TargetModelError("TargetModel is required when invoking a multi-model endpoint")
    path = PurePosixPath(target)
    if len(target) > MAX_TARGET_MODEL_CHARS or path.is_absolute() or ".." in path.parts or "\\" in target:
        raise TargetModelError(
            f"TargetModel {target!r} must be a relative path below the endpoint's model prefix, "
            f"at most {MAX_TARGET_MODEL_CHARS} characters"
        )
    return target


@dataclass
class _Stats:
    invocations: int = 0
    hits: int = 0
    loading_wait_us: list[float] = field(default_factory=list)
    loading_us: list[float] = field(default_factory=list)
    unloading_us: list[float] = field(default_factory=list)
    downloading_us: list[float] = field(default_factory=list)

    def snapshot(self, loaded: int) -> dict[str, float]:
        def average(values: list[float]) -> float:
            return sum(values) / len(values) if values else 0.0

        return {
            "ModelCacheHit": self.hits / self.invocations if self.invocations else 0.0,
            "ModelLoadingWaitTime": average(self.loading_wait_us),
            "ModelLoadingTime": average(self.loading_us),
            "ModelUnloadingTime": average(self.unloading_us),
            "ModelUnloadingTimeSampleCount": float(len(self.unloading_us)),
            "ModelDownloadingTime": average(self.downloading_us),
            "LoadedModelCount": float(loaded),
        }


class MultiModelRouter:
    """The front's side of a multi-model endpoint: archives on disk, models loaded per instance."""

    def __init__(self, prefix: str, models_dir: Path, cache: str = CACHE_ENABLED) -> None:
        self.prefix = prefix
        self.models_dir = models_dir
        self.cache = cache
        # Per instance url: model_name -> None, least recently used first.
        self.loaded: dict[str, collections.OrderedDict[str, None]] = {}
        self.in_flight: collections.Counter[tuple[str, str]] = collections.Counter()
        self.stats = _Stats()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._fetching: dict[str, asyncio.Lock] = {}

    # --- an invocation ---------------------------------------------------------------------------

    async def invoke(
        self,
        client: httpx.AsyncClient,
        instance_url: str,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        """Load the target model on this instance when it is not loaded, then ask it to predict."""
        name = model_name(target)
        self.stats.invocations += 1
        key = (instance_url, name)
        self.in_flight[key] += 1
        try:
            for attempt in range(2):
                hit = await self._ensure_loaded(client, instance_url, target, name)
                if attempt == 0 and hit:
                    self.stats.hits += 1
                answer = await client.post(
                    f"{instance_url}/models/{name}/invoke",
                    content=body,
                    headers=dict(headers),
                    timeout=timeout,
                )
                if answer.status_code == 404 and _code(answer) == "model_not_loaded" and attempt == 0:
                    # The container lost it (restarted, or unloaded by another client): load again.
                    self._models(instance_url).pop(name, None)
                    continue
                models = self._models(instance_url)
                if name in models:
                    models.move_to_end(name)  # the most recently used
                return answer
            return answer
        finally:
            self.in_flight[key] -= 1
            if self.cache == CACHE_DISABLED and self.in_flight[key] <= 0:
                asyncio.get_running_loop().create_task(self._unload(client, instance_url, name, remove=True))

    async def _ensure_loaded(self, client: httpx.AsyncClient, url: str, target: str, name: str) -> bool:
        """True when the model was loaded already (a cache hit)."""
        if name in self._models(url):
            return True
        lock = self._locks.setdefault((url, name), asyncio.Lock())
        waited = time.perf_counter()
        async with lock:
            if name in self._models(url):
                return True
            model_dir = await self._fetch(target, name)
            await self._load(client, url, name, model_dir)
        self.stats.loading_wait_us.append((time.perf_counter() - waited) * 1e6)
        return False

    async def _load(self, client: httpx.AsyncClient, url: str, name: str, model_dir: Path) -> None:
        """POST /models; on 507 unload the least recently used model and try again."""
        request = {"model_name": name, "url": f"{CONTAINER_MODELS}/{name}/model"}
        while True:
            started = time.perf_counter()
            answer = await client.post(f"{url}/models", json=request, timeout=LOAD_TIMEOUT_SECONDS)
            if answer.status_code in (200, 409):  # 409: loaded already (by an earlier front)
                self.stats.loading_us.append((time.perf_counter() - started) * 1e6)
                self._models(url)[name] = None
                return
            victim = self._least_recently_used(url, name) if answer.status_code == 507 else None
            if victim is None:
                raise TargetModelError(
                    f"the container could not load the model: {answer.status_code} {_message(answer)}",
                    status=answer.status_code if answer.status_code == 507 else 424,
                    code="ModelError",
                )
            log.warning("instance %s: not enough memory for %s: unloading %s", url, name[:12], victim[:12])
            await self._unload(client, url, victim, remove=False)

    def _least_recently_used(self, url: str, keep: str) -> str | None:
        for name in self._models(url):
            if name != keep and self.in_flight[(url, name)] <= 0:
                return name
        return None

    async def _unload(self, client: httpx.AsyncClient, url: str, name: str, *, remove: bool) -> None:
        if self.in_flight[(url, name)] > 0:
            return
        self._models(url).pop(name, None)
        started = time.perf_counter()
        try:
            await client.delete(f"{url}/models/{name}", timeout=LOAD_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            log.warning("instance %s: unloading %s failed: %r", url, name[:12], exc)
            return
        self.stats.unloading_us.append((time.perf_counter() - started) * 1e6)
        if remove and not any(name in models for models in self.loaded.values()):
            shutil.rmtree(self.models_dir / name, ignore_errors=True)

    def _models(self, url: str) -> collections.OrderedDict[str, None]:
        return self.loaded.setdefault(url, collections.OrderedDict())

    # --- archives --------------------------------------------------------------------------------

    async def _fetch(self, target: str, name: str) -> Path:
        """The extracted model directory of `target`, downloaded and extracted on first use."""
        destination = self.models_dir / name / "model"
        lock = self._fetching.setdefault(name, asyncio.Lock())
        async with lock:
            if destination.is_dir():
                return destination
            started = time.perf_counter()
            await asyncio.to_thread(self._fetch_and_extract, target, destination)
            self.stats.downloading_us.append((time.perf_counter() - started) * 1e6)
        return destination

    def _fetch_and_extract(self, target: str, destination: Path) -> None:
        staging = destination.parent / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            archive = self._archive(target, staging)
            safe_extract(archive, staging / "model")
            (staging / "model").chmod(0o755)
            (staging / "model").rename(destination)
        except ArchiveError as exc:
            raise TargetModelError(f"TargetModel {target} cannot be used: {exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        destination.parent.chmod(0o755)

    def _archive(self, target: str, staging: Path) -> Path:
        if self.prefix.startswith("s3://"):
            return _download(self.prefix, target, staging / "model.tar.gz")
        path = Path(self.prefix) / target
        if not path.is_file():
            raise TargetModelError(f"Failed to download model data for TargetModel {target}: no {path}")
        return path

    def snapshot(self) -> dict[str, float]:
        return self.stats.snapshot(sum(len(models) for models in self.loaded.values()))


def _download(prefix: str, target: str, destination: Path) -> Path:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    key = f"{key_prefix.rstrip('/')}/{target}" if key_prefix else target
    try:
        boto3.client("s3").download_file(bucket, key, str(destination))
    except (BotoCoreError, ClientError) as exc:
        raise TargetModelError(f"Failed to download model data for TargetModel {target}: {exc}") from None
    return destination


def _code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", ""))
    except ValueError:
        return ""


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", answer.text))
    except ValueError:
        return answer.text[:500]
