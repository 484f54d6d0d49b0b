"""Running a transform against containers that already serve: requests out, outputs in order.

The I/O half of `byoc local transform` (deploy.transform.local starts and stops the containers).
Every input file is split and packed (deploy.transform.records, .batches) as it is read; its
requests go to MaxConcurrentTransforms x instances workers at once, each worker bound to one
container; the answers are written to F.out in input order, whatever order they arrive in. How far
reading may run ahead of writing is bounded (`window`), so memory does not grow with the file.

As on SageMaker (batch transform troubleshooting, and TransformOutput.S3OutputPath in the API
reference): a file whose request fails gets no .out (a partial one is removed), the files after it
are still processed, and the run fails. --keep-going follows AWS's advice for bad records instead
(mark them, go on): a failed request of several records is sent again one record at a time, and
each record that fails alone is written as a placeholder line and listed in
byoc-transform-failures.jsonl.

Requests that get no answer, or a 5xx, are sent again up to `max_retries` times
(ModelClientConfig.InvocationsMaxRetries, default 3), each time to the next container; a 4xx is the
record's fault and is not retried.

MaxPayloadInMB=0 sends a file as one streamed request (chunked transfer encoding) with MultiRecord,
or with SplitType=None: the body is read from the file as it is sent and the answer written to the
output as it arrives, so neither is ever whole in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.transform import assembly, failures, records
from deploy.transform.batches import Batch, RecordRejected, RecordTooLarge, pack
from deploy.transform.dataprocessing import DataProcessing, DataProcessingError
from deploy.transform.failures import Failure
from deploy.transform.layout import FAILURES_FILE, InputFile
from deploy.transform.progress import Progress
from deploy.transform.settings import Resolved, TransformSettings

DEFAULT_INVOCATION_TIMEOUT = 600.0  # ModelClientConfig.InvocationsTimeoutInSeconds
DEFAULT_MAX_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries
STREAM_CHUNK_BYTES = 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
TRANSPORT_ERRORS = (httpx.TransportError,)


@dataclass(frozen=True)
class RunOptions:
    content_type: str | None
    accept: str | None
    split_type: str
    assemble_with: str
    resolved: Resolved
    processing: DataProcessing
    invocation_timeout: float = DEFAULT_INVOCATION_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    keep_going: bool = False
    placeholder: str = "ERROR"

    @property
    def streams(self) -> bool:
        """One streamed request per file: MaxPayloadInMB=0 with MultiRecord, or unsplit files."""
        if self.resolved.max_payload_mb != 0:
            return False
        return self.split_type == "None" or self.resolved.batch_strategy == "MultiRecord"

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        if self.accept:
            headers["Accept"] = self.accept
        return headers


@dataclass
class FileResult:
    file: InputFile
    output: Path
    records: int = 0
    requests: int = 0
    failure: Failure | None = None
    marked: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class Summary:
    results: list[FileResult]
    seconds: float
    output_dir: Path
    failures_path: Path | None = None

    @property
    def records(self) -> int:
        return sum(result.records for result in self.results)

    @property
    def requests(self) -> int:
        return sum(result.requests for result in self.results)

    @property
    def failed(self) -> list[FileResult]:
        return [result for result in self.results if not result.ok]

    @property
    def marked(self) -> list[Failure]:
        return [failure for result in self.results for failure in result.marked]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.marked


@dataclass
class _Answer:
    """What one batch turned into: the bytes for the output, or why its file fails."""

    output: bytes = b""
    failure: Failure | None = None
    marked: list[Failure] = field(default_factory=list)
    requests: int = 0


class _FileJob:
    """One input file's output, written in order as its batches' answers arrive."""

    def __init__(
        self, file: InputFile, output_dir: Path, release: Callable[[], None], progress: Progress
    ) -> None:
        self.file = file
        self.result = FileResult(file, file.output_path(output_dir))
        self.temp = self.result.output.with_name(f".{self.result.output.name}.{os.getpid()}.partial")
        self.temp.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.temp, "wb")  # noqa: SIM115 - closed in finish()
        self.release = release
        self.progress = progress
        self.waiting: dict[int, tuple[Batch, _Answer]] = {}
        self.next_index = 0
        self.total: int | None = None  # batches, once all are produced
        self.bytes_done = 0
        self.done = asyncio.Event()

    @property
    def failed(self) -> bool:
        return self.result.failure is not None

    def fail(self, failure: Failure) -> None:
        if self.result.failure is None:
            self.result.failure = failure
            self.progress.say(f"byoc local transform: {failure}")

    def complete(self, batch: Batch, answer: _Answer) -> None:
        self.waiting[batch.index] = (batch, answer)
        while self.next_index in self.waiting:
            batch, answer = self.waiting.pop(self.next_index)
            self.next_index += 1
            self._write(batch, answer)
            self.release()
        self._maybe_finish()

    def produced(self, count: int) -> None:
        self.total = count
        self._maybe_finish()

    def _write(self, batch: Batch, answer: _Answer) -> None:
        self.result.requests += answer.requests
        if answer.failure is not None:
            self.fail(answer.failure)
        if self.failed:
            return
        self.handle.write(answer.output)
        self.result.records += len(batch.records)
        for failure in answer.marked:
            self.result.marked.append(failure)
            self.progress.say(f"byoc local transform: marked {failure}")
        self.progress.mark(len(answer.marked))
        end = batch.last.offset + len(batch.last.framed)
        self.progress.advance(len(batch.records), max(end - self.bytes_done, 0))
        self.bytes_done = max(self.bytes_done, end)

    def _maybe_finish(self) -> None:
        if self.total is None or self.next_index < self.total or self.done.is_set():
            return
        self.finish()

    def finish(self) -> None:
        if self.done.is_set():
            return
        self.handle.close()
        if self.failed:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.result.output.unlink()  # a previous run's output would pass for this run's
        else:
            os.replace(self.temp, self.result.output)
        self.progress.advance(0, max(self.file.size - self.bytes_done, 0))
        self.progress.file_done(failed=self.failed)
        self.done.set()


class Engine:
    def __init__(
        self, urls: list[str], options: RunOptions, progress: Progress, client: httpx.AsyncClient
    ) -> None:
        if not urls:
            raise ValueError("no container to send requests to")
        self.urls = urls
        self.options = options
        self.progress = progress
        self.client = client
        self.slots = options.resolved.max_concurrent * len(urls)
        self.window = asyncio.Semaphore(self.slots * 2 + 2)  # batches read but not yet written
        self.queue: asyncio.Queue[tuple[_FileJob, Batch] | None] = asyncio.Queue(maxsize=self.slots)
        self.jobs: list[_FileJob] = []

    async def run(self, files: list[InputFile], output_dir: Path) -> Summary:
        started = time.monotonic()
        output_dir.mkdir(parents=True, exist_ok=True)
        workers = [
            asyncio.create_task(self._worker(self.urls[slot % len(self.urls)], slot))
            for slot in range(self.slots)
        ]
        try:
            await self._produce(files, output_dir)
            for _ in workers:
                await self.queue.put(None)
            await asyncio.gather(*workers)
            await asyncio.gather(*(job.done.wait() for job in self.jobs))
        finally:
            for task in workers:
                task.cancel()
            for job in self.jobs:
                if not job.done.is_set():
                    job.fail(Failure(job.file.name, "the run", "interrupted"))
                    job.finish()
        summary = Summary([job.result for job in self.jobs], time.monotonic() - started, output_dir)
        summary.failures_path = _write_failures(output_dir, summary)
        return summary

    # --- reading ----------------------------------------------------------------------------------

    async def _produce(self, files: list[InputFile], output_dir: Path) -> None:
        for file in files:
            await self.window.acquire()  # the file's first batch (or its one streamed request)
            job = _FileJob(file, output_dir, self.window.release, self.progress)
            self.jobs.append(job)
            if self.options.streams:
                await self.queue.put((job, _stream_marker()))
                job.produced(1)
                continue
            count = 0
            held = True  # the window slot acquired above, for the first batch
            try:
                for batch in self._batches(file):
                    if job.failed:
                        break
                    if not held:
                        await self.window.acquire()
                    held = False
                    await self.queue.put((job, batch))
                    count += 1
            except (OSError, records.SplitError, RecordTooLarge, RecordRejected) as exc:
                job.fail(Failure(file.name, "reading", str(exc)))
            if held:
                self.window.release()
            job.produced(count)

    def _batches(self, file: InputFile) -> Iterator[Batch]:
        options = self.options
        return pack(
            records.split(records.read_chunks(str(file.path)), options.split_type),
            options.resolved.batch_strategy,
            options.resolved.max_payload_mb,
            options.split_type,
            payload_of=self._payload_of(),
            isolate_rejected=options.keep_going,
        )

    def _payload_of(self) -> Callable[[records.Record], bytes]:
        processing = self.options.processing
        framed = self.options.resolved.batch_strategy == "MultiRecord" and self.options.split_type != "None"

        def payload_of(record: records.Record) -> bytes:
            raw = record.framed if framed else record.data
            if not processing.filters_input:
                return raw
            try:
                return processing.model_input(record.data)
            except DataProcessingError as exc:
                raise RecordRejected(f"{record.where}: {exc}") from None

        return payload_of

    # --- sending ----------------------------------------------------------------------------------

    async def _worker(self, url: str, slot: int) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            job, batch = item
            if batch.index < 0:
                await self._stream(job, slot)
                continue
            if job.failed:  # an earlier batch failed: the file gets no output, skip the rest
                job.complete(batch, _Answer())
                continue
            try:
                answer = await self._answer(job, batch, slot)
            except Exception as exc:  # a bug here must fail the file, not hang the run
                answer = _Answer(failure=Failure(job.file.name, batch.where, f"internal error: {exc!r}"))
            job.complete(batch, answer)

    async def _answer(self, job: _FileJob, batch: Batch, slot: int) -> _Answer:
        options = self.options
        if batch.rejected is not None:
            failure = Failure(job.file.name, batch.first.where, batch.rejected, None, (batch.first.number,))
            return _Answer(assembly.placeholder(options.placeholder), marked=[failure])
        status, body, error, requests = await self._send(batch.payload, slot)
        failure: Failure | None
        if error is not None:
            failure = failures.no_answer(job.file.name, batch, error)
        elif status >= 400:
            failure = failures.container_error(job.file.name, batch, status, body)
        else:
            try:
                return _Answer(self._output(batch, body), requests=requests)
            except DataProcessingError as exc:
                failure = failures.processing_error(job.file.name, batch, str(exc))
        if not options.keep_going:
            return _Answer(failure=failure, requests=requests)
        if len(batch.records) == 1:
            return _Answer(assembly.placeholder(options.placeholder), marked=[failure], requests=requests)
        return await self._one_by_one(job, batch, slot, requests)

    async def _one_by_one(self, job: _FileJob, batch: Batch, slot: int, requests: int) -> _Answer:
        """--keep-going: each record of a failed batch alone; the ones that fail alone are marked.

        The records go MaxConcurrentTransforms at a time, spread over the instances; their outputs
        are put back in the batch's order.
        """
        payload_of = self._payload_of()
        limit = asyncio.Semaphore(self.options.resolved.max_concurrent)

        async def alone(index: int, record: records.Record) -> _Answer:
            async with limit:
                single = Batch(index, (record,), payload_of(record))
                return await self._answer(job, single, slot + index)

        answers = await asyncio.gather(*(alone(i, record) for i, record in enumerate(batch.records)))
        marked = [failure for answer in answers for failure in answer.marked]
        requests += sum(answer.requests for answer in answers)
        return _Answer(b"".join(answer.output for answer in answers), marked=marked, requests=requests)

    def _output(self, batch: Batch, body: bytes) -> bytes:
        options = self.options
        processing = options.processing
        if not processing.processes_output:
            return assembly.piece(body, options.assemble_with)
        outputs = processing.split_answer(body, len(batch.records))
        return b"".join(
            assembly.piece(processing.output_record(record.data, output), options.assemble_with)
            for record, output in zip(batch.records, outputs, strict=True)
        )

    async def _send(self, payload: bytes, slot: int) -> tuple[int, bytes, str | None, int]:
        """POST /invocations with retries: (status, body, transport error or None, requests sent)."""
        attempts = 1 + self.options.max_retries
        status, body, error = 0, b"", None
        for attempt in range(attempts):
            url = self.urls[(slot + attempt) % len(self.urls)]
            try:
                response = await self.client.post(
                    f"{url}/invocations",
                    content=payload,
                    headers=self.options.headers(),
                    timeout=self._timeout(),
                )
            except TRANSPORT_ERRORS as exc:
                status, body, error = 0, b"", _transport_error(exc, self.options.invocation_timeout)
                continue
            status, body, error = response.status_code, response.content, None
            if status < 500:
                return status, body, None, attempt + 1
        return status, body, error, attempts

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.options.invocation_timeout, connect=10.0)

    # --- MaxPayloadInMB=0: one streamed request per file -------------------------------------------

    async def _stream(self, job: _FileJob, slot: int) -> None:
        where = "the streamed request"
        try:
            failure = await self._stream_request(job, self.urls[slot % len(self.urls)])
        except TRANSPORT_ERRORS as exc:
            error = _transport_error(exc, self.options.invocation_timeout)
            failure = Failure(job.file.name, where, f"no answer from the container: {error}")
        except (OSError, records.SplitError, DataProcessingError, RecordRejected) as exc:
            failure = Failure(job.file.name, where, str(exc))
        job.result.requests += 1
        if failure is not None and self.options.keep_going:
            self.progress.say(f"byoc local transform: {failure}; sending its records one at a time")
            failure = await self._stream_one_by_one(job, slot)
        if failure is not None:
            job.fail(failure)
        job.next_index = 1
        job.release()
        job.finish()

    async def _stream_request(self, job: _FileJob, url: str) -> Failure | None:
        options = self.options
        body = self._stream_body(job)
        async with self.client.stream(
            "POST", f"{url}/invocations", content=body, headers=options.headers(), timeout=self._timeout()
        ) as response:
            if response.status_code >= 400:
                error = await _read_at_most(response, MAX_ERROR_BODY_BYTES)
                message = failures.error_message(response.status_code, error)
                return Failure(job.file.name, "the streamed request", message, response.status_code)
            if options.processing.processes_output:
                await self._write_joined(job, response)
            else:
                await self._write_streamed(job, response)
        return None

    async def _stream_one_by_one(self, job: _FileJob, slot: int) -> Failure | None:
        """--keep-going after a streamed request failed: the file again, one record per request."""
        job.handle.seek(0)
        job.handle.truncate()
        job.result.records = 0
        payload_of = self._payload_of()
        try:
            for index, record in enumerate(
                records.split(records.read_chunks(str(job.file.path)), self.options.split_type)
            ):
                try:
                    batch = Batch(index, (record,), payload_of(record))
                except RecordRejected as exc:
                    batch = Batch(index, (record,), b"", rejected=str(exc))
                answer = await self._answer(job, batch, slot)
                if answer.failure is not None:
                    return answer.failure
                job.result.requests += answer.requests
                job.result.records += 1
                job.handle.write(answer.output)
                job.result.marked.extend(answer.marked)
                self.progress.mark(len(answer.marked))
        except (OSError, records.SplitError) as exc:
            return Failure(job.file.name, "reading", str(exc))
        return None

    async def _stream_body(self, job: _FileJob) -> AsyncIterator[bytes]:
        """The file's payload, read as it is sent; progress counts what has been sent."""
        chunks = records.read_chunks(str(job.file.path), STREAM_CHUNK_BYTES)
        if self.options.split_type == "None" and not self.options.processing.filters_input:
            job.result.records = 1
            for chunk in chunks:
                yield chunk
                self._sent(job, 0, job.bytes_done + len(chunk))
            return
        payload_of = self._payload_of()
        buffer: list[bytes] = []
        size = count = end = 0
        for record in records.split(chunks, self.options.split_type):
            part = payload_of(record)
            buffer.append(part)
            size += len(part)
            count += 1
            end = record.offset + len(record.framed)
            if size >= STREAM_CHUNK_BYTES:
                yield b"".join(buffer)
                self._sent(job, count, end)
                buffer, size, count = [], 0, 0
        if buffer:
            yield b"".join(buffer)
            self._sent(job, count, end)

    def _sent(self, job: _FileJob, count: int, end: int) -> None:
        job.result.records += count
        self.progress.advance(count, max(end - job.bytes_done, 0))
        job.bytes_done = max(job.bytes_done, end)

    async def _write_streamed(self, job: _FileJob, response: httpx.Response) -> None:
        last = b""
        async for chunk in response.aiter_bytes():
            if chunk:
                job.handle.write(chunk)
                last = chunk
        if self.options.assemble_with == "Line" and not last.endswith(b"\n"):
            job.handle.write(b"\n")

    async def _write_joined(self, job: _FileJob, response: httpx.Response) -> None:
        """DataProcessing on a streamed answer: its lines matched in order with a second read of the input."""
        processing = self.options.processing
        inputs = records.split(records.read_chunks(str(job.file.path)), self.options.split_type)
        pending = b""
        async for chunk in response.aiter_bytes():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.strip():
                    self._write_joined_line(job, inputs, line, processing)
        if pending.strip():
            self._write_joined_line(job, inputs, pending, processing)
        if next(inputs, None) is not None:
            raise DataProcessingError(
                "the model's streamed answer has fewer lines than the file has records: its outputs "
                "cannot be matched to the records for JoinSource/OutputFilter"
            )

    def _write_joined_line(
        self, job: _FileJob, inputs: Iterator[records.Record], line: bytes, processing: DataProcessing
    ) -> None:
        record = next(inputs, None)
        if record is None:
            raise DataProcessingError(
                "the model's streamed answer has more lines than the file has records: its outputs "
                "cannot be matched to the records for JoinSource/OutputFilter"
            )
        job.handle.write(
            assembly.piece(processing.output_record(record.data, line), self.options.assemble_with)
        )


def _stream_marker() -> Batch:
    """The queue item for a file sent as one streamed request."""
    return Batch(-1, (records.Record(0, b"", b"", 0),), b"")


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])


def _transport_error(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"no answer within {timeout:g} s (--invocation-timeout, ModelClientConfig."
            "InvocationsTimeoutInSeconds): send fewer records per request (--strategy SingleRecord or a "
            "lower --max-payload), or allow more time"
        )
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _write_failures(output_dir: Path, summary: Summary) -> Path | None:
    """byoc-transform-failures.jsonl: one line per failed file and per marked record; None if none."""
    path = output_dir / FAILURES_FILE
    entries = [result.failure for result in summary.results if result.failure is not None] + summary.marked
    if not entries:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a previous run's list would pass for this run's
        return None
    with open(path, "w", encoding="utf-8") as file:
        for failure in entries:
            file.write(json.dumps(failure.as_dict()) + "\n")
    return path


async def fetch_execution_parameters(client: httpx.AsyncClient, url: str) -> dict | None:
    """GET /execution-parameters, as SageMaker asks before the first /invocations; None if not answered."""
    try:
        response = await client.get(f"{url}/execution-parameters", timeout=10.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


async def run_transform(
    urls: list[str],
    settings: TransformSettings,
    files: list[InputFile],
    output_dir: Path,
    *,
    progress: Progress,
    invocation_timeout: float = DEFAULT_INVOCATION_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    keep_going: bool = False,
    placeholder: str = "ERROR",
    say: Callable[[str], None] = lambda message: None,
) -> Summary:
    """The whole job against serving containers: settings checked, /execution-parameters asked,
    every file transformed. SettingsError before anything is sent when the settings are refused."""
    processing = settings.check()
    # The workers bound the connections (one each); trust_env=False: loopback never goes via a proxy.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(trust_env=False, limits=limits) as client:
        offered = await fetch_execution_parameters(client, urls[0])
        resolved = settings.resolve(offered)
        for note in resolved.notes:
            say(f"note: {note}")
        say(f"{resolved.describe()} on {len(urls)} instance(s)")
        options = RunOptions(
            content_type=settings.content_type,
            accept=settings.accept,
            split_type=settings.split_type,
            assemble_with=settings.assemble_with,
            resolved=resolved,
            processing=processing,
            invocation_timeout=invocation_timeout,
            max_retries=max_retries,
            keep_going=keep_going,
            placeholder=placeholder,
        )
        return await Engine(urls, options, progress, client).run(files, output_dir)
