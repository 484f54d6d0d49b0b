"""Types shared by the runtime's rooms: the ASGI interface and a finished inference."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """One request's answer: the encoded body, its type, and the time spent in the model."""

    body: bytes
    content_type: str
    model_seconds: float
