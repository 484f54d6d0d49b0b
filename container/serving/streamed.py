"""POST /invocations for a body without a size limit (SAGEMAKER_MAX_PAYLOAD_IN_MB=0), in pieces.

Taken instead of container.serving.invocations for a CSV or JSON Lines body (and a CSV or JSON Lines
answer) when the handler answers row by row (container.inference.streaming). The body is read as
it arrives, chunked or not, and handled piece by piece; the answer is written to a spooled file
(memory up to SPOOL_MEMORY_BYTES, then disk) and sent in chunks once every piece has succeeded.

Holding the answer back until the end keeps the contract of every other request: a bad row
anywhere in the body is a 4xx with a JSON body naming it, never a 200 cut short. And the answer
carries Content-Length, which SageMaker's asynchronous inference requires of a container.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import IO

import orjson

from container.contract.context import Context
from container.errors import BadRequest, ModelNotReady, NotAcceptable, UnsupportedMediaType
from container.inference import pipeline, streaming
from container.inference.invoker import Invoker
from container.inference.pipeline import StageFailure
from container.serving.invocations import (
    JSON,
    ClientDisconnected,
    _restart_worker_once,
    _with_charset,
    describe_failure,
    request_headers,
)
from container.telemetry import access_log
from container.telemetry.request_ids import new_request_id
from container.types import Receive, Scope, Send

SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
SEND_CHUNK_BYTES = 1024 * 1024


class StreamedInvocations:
    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    def takes(self, scope: Scope) -> bool:
        """Whether this request is served in pieces (otherwise the whole-body endpoint serves it)."""
        headers = request_headers(scope)
        try:
            accept = self.invoker.choose_accept(headers.get("accept"))
        except (NotAcceptable, UnsupportedMediaType, BadRequest):
            return False
        return streaming.streamable(self.invoker.handler, headers.get("content-type"), accept) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        invoker = self.invoker
        metrics = invoker.metrics
        metrics.in_flight.inc()
        request_id = new_request_id()
        headers = request_headers(scope)
        status, content_type, model_seconds, bytes_in = 500, JSON, 0.0, 0
        spool: IO[bytes] | None = None
        error_body = b""
        extra_headers: dict[str, str] = {}
        try:
            accept = invoker.choose_accept(headers.get("accept"))
            context = Context.for_request(invoker.config, headers, accept, request_id)
            run = _Run(invoker, headers.get("content-type"), accept, context)
            spool = run.spool
            try:
                await run.read_and_predict(receive)
            finally:
                bytes_in, model_seconds = run.received, run.model_seconds
            status, content_type, extra_headers = 200, accept, context.response_headers
        except Exception as exc:
            failure = describe_failure(exc, request_id)
            status, content_type, error_body = failure.status, JSON, orjson.dumps(failure.body())
        finally:
            metrics.in_flight.dec()
            if invoker.needs_restart:
                _restart_worker_once()
        size = spool.tell() if status == 200 and spool is not None else len(error_body)
        elapsed = time.perf_counter() - started
        overhead = max(elapsed - model_seconds, 0.0)
        metrics.observe(status, model_seconds, overhead)
        access_log.record(
            request_id=request_id,
            method="POST",
            path="/invocations",
            status=status,
            bytes_in=bytes_in,
            bytes_out=size,
            model_seconds=model_seconds,
            total_seconds=elapsed,
        )
        raw_headers = [
            (b"content-type", _with_charset(content_type).encode("latin-1")),
            (b"content-length", str(size).encode()),
            (b"x-request-id", request_id.encode()),
            (b"x-model-latency-us", str(round(model_seconds * 1e6)).encode()),
            (b"x-overhead-latency-us", str(round(overhead * 1e6)).encode()),
        ]
        for name, value in extra_headers.items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        try:
            await send({"type": "http.response.start", "status": status, "headers": raw_headers})
            if status != 200 or spool is None:
                await send({"type": "http.response.body", "body": error_body})
                return
            spool.seek(0)
            while True:
                chunk = spool.read(SEND_CHUNK_BYTES)
                more = spool.tell() < size
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return
                # send() returns at once while the socket keeps up, and the worker's transport
                # writes at the end of the loop's turn: let it write, and pause when it is full.
                await asyncio.sleep(0)
        finally:
            if spool is not None:
                spool.close()


class _Run:
    """One streamed request: its pieces through the model, its answer into the spool."""

    def __init__(self, invoker: Invoker, content_type: str | None, accept: str, context: Context) -> None:
        self.invoker = invoker
        self.accept = accept
        self.context = context
        media_type = streaming.streamable(invoker.handler, content_type, accept)
        assert media_type is not None, "takes() chose this endpoint for streamable requests only"
        self.decoder = streaming.PieceDecoder(media_type, header_row=not invoker.config.batch_transform)
        self.chunker = streaming.LineChunker()
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.received = 0
        self.model_seconds = 0.0

    async def read_and_predict(self, receive: Receive) -> None:
        await self._wait_for_model()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected(self.received)
            chunk = message.get("body", b"")
            self.received += len(chunk)
            for piece in self.chunker.feed(chunk):
                await self._piece(piece)
            if not message.get("more_body", False):
                break
        rest = self.chunker.finish()
        if rest is not None:
            await self._piece(rest)
        if self.decoder.rows == 0:
            if self.received == 0:
                raise BadRequest("the request body is empty", code="empty_body")
            raise BadRequest("there are no rows in the request body", code="empty_input")

    async def _wait_for_model(self) -> None:
        lifecycle = self.invoker.lifecycle
        await lifecycle.wait_until_settled(self.invoker.config.timeout_seconds)
        health = lifecycle.health()
        if not health.ready:
            raise ModelNotReady(health.reason, state=health.state.value)

    async def _piece(self, piece: bytes) -> None:
        offset = self.decoder.lines_before
        rows = await asyncio.to_thread(self.decoder.decode, piece)
        if rows is None:
            return
        invoker = self.invoker
        assert invoker.runner is not None
        item = pipeline.BatchItem(rows, self.accept, self.context)
        try:
            body, seconds = await invoker.runner.call(
                streaming.predict_piece,
                invoker.handler,
                invoker.lifecycle.model,
                rows,
                item,
                invoker.metrics.batch_size.observe,
                timeout=invoker.config.timeout_seconds,
            )
        except StageFailure as failure:
            raise StageFailure(failure.stage, self.decoder.rebase(failure.error, offset)) from None
        self.model_seconds += seconds
        self.spool.write(body)
