"""Our HTTP/1.1 connections: uvicorn's httptools protocol, with limits a hostile client cannot get past.

uvicorn's httptools protocol (the fast one) sets no limit of its own on a request's header section
(its h11_max_incomplete_event_size is for the h11 protocol only, and llhttp, under httptools, has
none), no deadline for a request to arrive whole (only finished keep-alive connections time out),
and no bound on open connections (past the file-descriptor limit every new connection, /ping's
too, is reset). Here, per connection:

  - the header section is capped in bytes and in headers: over either, a 431 and the connection
    closed. Bytes are counted as they arrive, so memory stays within the cap (and one read) however
    much a client sends;
  - a request must arrive whole within the read timeout of its first byte (of the connection's
    opening, for its first request): otherwise a 408, and the connection closed;
  - once the worker is stopping, a request still arriving that has sent nothing for
    SHUTDOWN_STALL_SECONDS is closed (503), so a stalled upload cannot hold the worker's exit for
    the whole graceful timeout; one that is still coming in may finish;

and per worker, open connections are capped (below the file-descriptor limit): a new connection
over the cap closes the stalest connection that is idle or still sending its request, so a flood of
stalled connections cannot lock out /ping. Each of these closes is logged, counted per reason (the
first at once, then a summary at most every LOG_INTERVAL_SECONDS).

GET /ping is answered here, in the parser's callback, and written at once: not queued as a task
behind the requests that keep the event loop busy. Other writes are coalesced
(container.serving.transport).
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import logging
import operator
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from container.config import ServerConfig
from container.serving.transport import CoalescingTransport

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.5  # how often each worker looks for connections past their deadline
SHUTDOWN_STALL_SECONDS = 2.0
LINGER_SECONDS = 2.0
LOG_INTERVAL_SECONDS = 10.0
# File descriptors a worker keeps for everything but client connections (model files, logs, pipes,
# the listening socket, metric files), on top of those open when it starts.
FD_RESERVE = 64
# The ASGI scope extension through which the endpoint learns that the server, not the client,
# closed a request's connection: (status, code, message) for its access line.
CLOSED_BY_SERVER = "byoc.closed_by_server"


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    max_headers: int
    read_timeout: float
    max_connections: int

    @classmethod
    def for_worker(cls, config: ServerConfig) -> ConnectionLimits:
        """The configured limits, with the connection cap kept below this process's descriptor limit."""
        return cls(
            max_header_bytes=config.max_header_bytes,
            max_headers=config.max_headers,
            read_timeout=config.request_read_timeout_seconds,
            max_connections=max(1, min(config.max_connections, available_descriptors())),
        )


def available_descriptors() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_now = 0
    return soft - open_now - FD_RESERVE


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard limit (children inherit it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


class ConnectionGuard:
    """One per worker: enforces the deadlines (a sweep every SWEEP_SECONDS), the connection cap, and logs."""

    def __init__(self, limits: ConnectionLimits, ping: Callable[[], tuple[int, bytes]] | None = None) -> None:
        self.limits = limits
        self.ping = ping  # GET /ping's (status, body), answered by the protocol itself
        self.shutting_down = False
        self.connections: set[Any] | None = None  # uvicorn's set of open connections, at the first
        self._sweep: asyncio.TimerHandle | None = None
        self._closed: collections.Counter[str] = collections.Counter()
        self._last_log = float("-inf")

    def admit(self, connection: HttpProtocol) -> None:
        """A new connection: over the cap, close the stalest ones that are idle or still arriving.

        Finding them means looking at every connection, so a twentieth of the cap goes at once: a
        flood of new connections is admitted at a small cost each, not a full scan each.
        """
        if self.connections is None:
            self.connections = connection.connections
            self._schedule(connection.loop)
        if len(self.connections) <= self.limits.max_connections:
            return
        candidates = (c for c in self.connections if c is not connection and c.can_be_shed())
        victims = heapq.nsmallest(max(1, self.limits.max_connections // 20), candidates, key=SINCE)
        for victim in victims:
            victim.close_by_server(
                503, "too_many_connections", "the server closed this connection to make room", "shed"
            )
        if not victims:  # every other connection has a request being answered: this one waits its turn
            connection.close_by_server(0, "", "", "refused")

    def note(self, reason: str, loop: asyncio.AbstractEventLoop) -> None:
        self._closed[reason] += 1
        if loop.time() - self._last_log >= LOG_INTERVAL_SECONDS:
            self._log(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = loop.call_later(SWEEP_SECONDS, self._run_sweep, loop)

    def _run_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in list(self.connections or ()):
            connection.check(now)
        if self._closed and now - self._last_log >= LOG_INTERVAL_SECONDS:
            self._log(loop)
        self._schedule(loop)

    def _log(self, loop: asyncio.AbstractEventLoop) -> None:
        counts = ", ".join(f"{count} {REASONS[reason]}" for reason, count in sorted(self._closed.items()))
        log.warning(
            "closed connections: %s (limits: BYOC_MAX_HEADER_BYTES=%d, BYOC_MAX_HEADERS=%d, "
            "BYOC_REQUEST_READ_TIMEOUT=%g s, %d connections per worker)",
            counts,
            self.limits.max_header_bytes,
            self.limits.max_headers,
            self.limits.read_timeout,
            self.limits.max_connections,
        )
        self._closed.clear()
        self._last_log = loop.time()


SINCE = operator.attrgetter("since")

REASONS = {
    "headers": "with a header section over the limit (431)",
    "timeout": "whose request did not arrive whole in time (408)",
    "stalled": "whose request stalled while the worker was stopping (503)",
    "shed": "closed to make room for new connections (stalest first)",
    "refused": "new connections refused: every other was busy",
    "malformed": "with requests that were not valid HTTP/1.1 (400)",
}


class _Closed(Exception):
    """Raised from a parser callback once the connection was answered and closed: stop parsing."""


class HttpProtocol(HttpToolsProtocol):
    """One connection: uvicorn's httptools protocol, with coalesced writes and the guard's limits."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.limits = guard.limits
        self.since = 0.0  # when this connection last changed state: the stalest is shed first
        self._reading_since: float | None = None  # the current request's first byte (or the opening)
        self._last_data = 0.0
        self._message_open = False  # between a request's first byte and its last
        self._in_head = True  # the next bytes belong to a request's header section
        self._messages = 0
        self._head_bytes_read = 0  # bytes read while the header section was incomplete
        self._head_bytes_parsed = 0  # request line and headers the parser has handed over
        self._header_count = 0
        self._closed_by_server = False
        self._pinged = False  # the request now parsed was a /ping, answered already

    # --- the connection ---

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        now = self.loop.time()
        self.since = self._reading_since = self._last_data = now
        self.guard.admit(self)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the header section counted and our own refusals told apart from a client's
        # malformed request.
        if self._closed_by_server:
            return
        self._last_data = self.loop.time()
        self._unset_keepalive_if_required()
        in_head, messages = self._in_head, self._messages
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if self._closed_by_server:
                return  # a limit was hit in a callback: already answered
            # uvicorn answers in plain text; every error of this server is JSON saying what was wrong.
            message = f"the request is not valid HTTP/1.1: {exc}"
            self.close_by_server(400, "invalid_http", message, "malformed")
            return
        # Still inside the same header section: all of this was header. (Where a request began within
        # this read, part of it may have been the previous request's body: not counted, so at most
        # one read goes uncounted.)
        if in_head and self._in_head and messages == self._messages:
            self._head_bytes_read += len(data)
            if self._head_bytes_read > self.limits.max_header_bytes:
                self._refuse_header_section(stop_parser=False)

    def shutdown(self) -> None:
        self.guard.shutting_down = True
        if self._message_open and self._in_head:
            # A request on its way in, not yet handed to the app: let it arrive (or stall out, see
            # check), and close once it is answered (on_headers_complete).
            return
        super().shutdown()

    def can_be_shed(self) -> bool:
        """Idle, or still sending its request: nothing is lost but the client's own wait."""
        if self._closed_by_server or self.transport.is_closing():
            return False
        answering = self.cycle is not None and not self.cycle.response_complete
        return self._message_open or not (answering or self.pipeline)

    def check(self, now: float) -> None:
        """The guard's sweep: close a request past its read deadline, or stalled while stopping."""
        if self._reading_since is None or self._closed_by_server or self.transport.is_closing():
            return
        if now - self._reading_since > self.limits.read_timeout:
            self.close_by_server(
                408,
                "request_timeout",
                f"the request did not arrive whole within {self.limits.read_timeout:g} s "
                "(BYOC_REQUEST_READ_TIMEOUT)",
                "timeout",
            )
        elif self.guard.shutting_down and now - self._last_data > SHUTDOWN_STALL_SECONDS:
            self.close_by_server(
                503,
                "shutting_down",
                f"the server is stopping, and the request had stalled for {SHUTDOWN_STALL_SECONDS:g} s",
                "stalled",
            )

    def close_by_server(
        self, status: int, code: str, message: str, reason: str, linger: bool = False
    ) -> None:
        """Answer the request still arriving (if any, and `status`) with an error of ours, and close.

        `linger`: the client is still sending. Closing a socket with unread data resets the
        connection, and the client would lose the answer: the server stops writing, drops whatever
        arrives for up to LINGER_SECONDS, then closes.
        """
        if self._closed_by_server:
            return
        self._closed_by_server = True
        current = None if self._in_head else self.cycle  # the request whose body is arriving, if any
        unanswered = self._message_open or (self._reading_since is not None and current is None)
        answered = False
        if status and unanswered and not (current is not None and current.response_started):
            body = orjson.dumps({"code": code, "message": message})
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, STATUS_PHRASES.get(status, b""), len(body), body)
            )
            answered = True
        if current is not None and not current.response_complete:
            # The endpoint, waiting for the rest of the body, will see a disconnect: tell it whose.
            current.scope.setdefault("extensions", {})[CLOSED_BY_SERVER] = (status, code, message)
        self.guard.note(reason, self.loop)
        if linger and answered and self.transport.can_write_eof():
            self.transport.write_eof()
            self.flow.resume_reading()  # drop what arrives (data_received ignores it) rather than buffer it
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    # --- parser callbacks ---

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages += 1
        self._message_open = self._in_head = True
        self._head_bytes_read = self._head_bytes_parsed = self._header_count = 0
        if self._reading_since is None:  # a fresh connection's deadline runs from its opening
            self._reading_since = self.since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_parsed(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse_header_section()
        self._count_parsed(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self.guard.ping is not None and self._is_plain_ping():
            self._answer_ping(self.guard.ping)
            return
        super().on_headers_complete()
        if self.guard.shutting_down and self.cycle is not None:
            self.cycle.keep_alive = False  # arrived during shutdown: close once answered

    def on_message_complete(self) -> None:
        if self._pinged:
            self._pinged = False  # answered in on_headers_complete: no ASGI cycle to finish
            self.on_response_complete()
        else:
            super().on_message_complete()
        self._message_open = False
        self._in_head = True
        self._reading_since = None
        self.since = self.loop.time()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.since = self.loop.time()

    # --- /ping ---

    def _is_plain_ping(self) -> bool:
        """GET /ping without a body, with no earlier request on this connection still being answered."""
        return (
            self.url == b"/ping"
            and self.parser.get_method() == b"GET"
            and (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
            and not any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        )

    def _answer_ping(self, ping: Callable[[], tuple[int, bytes]]) -> None:
        """Answer /ping now, from the parser's callback: the platform's health check must not queue
        behind the requests that keep the event loop busy (it did, for 8-10 ms at 64 connections)."""
        status, body = ping()
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if body:
            head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        if not keep_alive or self.guard.shutting_down:
            head.append(b"connection: close\r\n")
        # Sent at once, not at the end of the loop's turn: whatever is held for this connection
        # first, then the answer.
        self.transport.flush()
        self.transport.write_now(b"".join([*head, b"\r\n", body]))
        if not keep_alive or self.guard.shutting_down:
            self.transport.close()
        self._pinged = True

    # --- the header section ---

    def _count_parsed(self, size: int) -> None:
        self._head_bytes_parsed += size
        if self._head_bytes_parsed > self.limits.max_header_bytes:
            self._refuse_header_section()

    def _refuse_header_section(self, stop_parser: bool = True) -> None:
        limits = self.limits
        self.close_by_server(
            431,
            "header_section_too_large",
            f"the request's header section is over the limit of {limits.max_header_bytes} bytes and "
            f"{limits.max_headers} headers (BYOC_MAX_HEADER_BYTES, BYOC_MAX_HEADERS)",
            "headers",
            linger=True,
        )
        if stop_parser:
            raise _Closed  # from a parser callback: the parser stops, data_received sees why


STATUS_PHRASES = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
