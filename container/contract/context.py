"""The `context` argument handler functions may take as their last parameter.

It carries what SageMaker forwards with each request (custom attributes, inference id, target
model, content types) and lets the handler answer with custom attributes of its own. The few
methods of multi-model-server's context that sagemaker-inference code calls are here too, so such
code runs unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from container.config import ServerConfig
from container.headers import (
    CUSTOM_ATTRIBUTES,
    INFERENCE_ID,
    MAX_CUSTOM_ATTRIBUTES_CHARS,
    TARGET_MODEL,
    TARGET_VARIANT,
)

# RFC 9110 section 5.6.2 token (header names) and field-value characters (latin-1, no controls but tab).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# Headers a handler may not set: they belong to the HTTP framing or to the runtime.
_RESERVED_RESPONSE_HEADERS = frozenset(
    {"content-length", "content-type", "transfer-encoding", "connection", "date", "server"}
)


@dataclass
class Context:
    """Request metadata for handler functions that declare a trailing `context` parameter."""

    model_dir: str
    # The server's settings, as parsed at start (container.config): what handlers read their own
    # settings from, instead of the environment.
    config: ServerConfig | None = None
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    inference_id: str | None = None
    target_model: str | None = None
    target_variant: str | None = None
    request_id: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_request(
        cls,
        config: ServerConfig,
        headers: Mapping[str, str],
        accept: str | None,
        request_id: str,
    ) -> Context:
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(
            model_dir=str(config.model_dir),
            config=config,
            content_type=lowered.get("content-type"),
            accept=accept,
            custom_attributes=lowered.get(CUSTOM_ATTRIBUTES.lower()),
            inference_id=lowered.get(INFERENCE_ID.lower()),
            target_model=lowered.get(TARGET_MODEL.lower()),
            target_variant=lowered.get(TARGET_VARIANT.lower()),
            request_id=request_id,
            headers=lowered,
        )

    # --- the response side ---

    @property
    def response_custom_attributes(self) -> str | None:
        return self.response_headers.get(CUSTOM_ATTRIBUTES)

    @response_custom_attributes.setter
    def response_custom_attributes(self, value: str | None) -> None:
        if value is None:
            self.response_headers.pop(CUSTOM_ATTRIBUTES, None)
            return
        # isprintable: a CR or LF would end the header line (response splitting), and the HTTP
        # server refuses the whole response only after the handler has returned.
        if len(value) > MAX_CUSTOM_ATTRIBUTES_CHARS or not (value.isascii() and value.isprintable()):
            raise ValueError(
                f"custom attributes must be at most {MAX_CUSTOM_ATTRIBUTES_CHARS} printable ASCII characters"
            )
        self.response_headers[CUSTOM_ATTRIBUTES] = value

    def set_response_header(self, idx_or_name: Any, name_or_value: str, value: str | None = None) -> None:
        """Set a response header: `set_response_header(name, value)`, or MMS's `(0, name, value)`."""
        name, header_value = (idx_or_name, name_or_value) if value is None else (name_or_value, value)
        if str(name).lower() in _RESERVED_RESPONSE_HEADERS:
            raise ValueError(f"the {name} header is set by the server, not by handlers")
        if str(name).lower() == CUSTOM_ATTRIBUTES.lower():
            self.response_custom_attributes = header_value
            return
        # Checked here, where the handler's traceback points at the call: a bad name or value would
        # otherwise fail in the HTTP server, after the response was built.
        if not _TOKEN.fullmatch(str(name)):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if not _FIELD_VALUE.fullmatch(str(header_value)):
            raise ValueError(
                f"the value for {name} holds characters an HTTP header cannot carry (control "
                "characters such as CR or LF, or characters beyond latin-1)"
            )
        self.response_headers[str(name)] = str(header_value)

    # --- multi-model-server compatibility (what sagemaker-inference handlers call) ---

    @property
    def system_properties(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir, "gpu_id": None}

    @property
    def request_processor(self) -> list[_RequestProcessor]:
        return [_RequestProcessor(self.headers)]

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.headers.get(key.lower())

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return dict(self.headers)


@dataclass
class _RequestProcessor:
    headers: Mapping[str, str]

    def get_request_properties(self) -> dict[str, str]:
        return dict(self.headers)

    def get_request_property(self, key: str) -> str | None:
        return self.headers.get(key.lower())
