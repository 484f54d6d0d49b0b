"""Request bodies sent compressed (Content-Encoding, RFC 9110 section 8.4): undone within the payload limit.

gzip (and its old name x-gzip) and deflate are decoded, identity is nothing to decode; any other
coding is a 415 naming it. The limit holds for what the body decompresses to, checked as it
decompresses, so a small body that would unpack to gigabytes (a compression bomb) is a 413 after at
most `limit` bytes of work. Pure functions: bytes in, bytes out.
"""

from __future__ import annotations

import zlib

from container.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

GZIP = "gzip"
DEFLATE = "deflate"
IDENTITY = "identity"
CODINGS = {GZIP: GZIP, "x-gzip": GZIP, DEFLATE: DEFLATE, IDENTITY: IDENTITY}
SUPPORTED = (GZIP, DEFLATE, IDENTITY)


def decode_content(body: bytes, header: str, limit: int) -> bytes:
    """`body` with every coding named in the Content-Encoding `header` undone; at most `limit` bytes.

    UnsupportedMediaType (415) for a coding this server does not know, BadRequest (400) for a body
    that is not what its coding says, PayloadTooLarge (413) when it decompresses to more than `limit`.
    """
    codings = [CODINGS.get(name, name) for name in parse(header)]
    unknown = [name for name in codings if name not in SUPPORTED]
    if unknown:
        raise UnsupportedMediaType(
            f"Content-Encoding {unknown[0]!r} is not supported: send the body uncompressed, or "
            f"compressed with {' or '.join(SUPPORTED[:2])}",
            code="unsupported_content_encoding",
            supported=list(SUPPORTED),
        )
    # Codings are listed in the order they were applied: undo them last first.
    for coding in reversed(codings):
        if coding != IDENTITY and body:
            body = _inflate(body, coding, limit)
    return body


def parse(header: str) -> list[str]:
    """The codings named in a Content-Encoding header, lower-case, in order."""
    return [name.strip().lower() for name in header.split(",") if name.strip()]


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    if coding == DEFLATE:
        try:
            return _inflate_stream(data, coding, zlib.MAX_WBITS, limit)
        except _BadHeader:
            # "deflate" means the zlib format (RFC 9110 8.4.1.2), but some clients send the raw
            # deflate stream without its zlib header: read that too, as browsers do.
            return _inflate_stream(data, coding, -zlib.MAX_WBITS, limit)
    return _inflate_stream(data, coding, 16 + zlib.MAX_WBITS, limit)


class _BadHeader(Exception):
    pass


def _inflate_stream(data: bytes, coding: str, wbits: int, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    pending = data
    decompressor = zlib.decompressobj(wbits)
    started = True
    while True:
        try:
            # At most one byte over the limit: enough to know it was exceeded, never more.
            part = decompressor.decompress(pending, limit + 1 - size)
        except zlib.error as exc:
            if started and wbits == zlib.MAX_WBITS:
                raise _BadHeader from None
            raise BadRequest(
                f"the body is not valid {coding} data ({exc})", code="invalid_content_encoding"
            ) from None
        started = False
        size += len(part)
        if size > limit:
            raise PayloadTooLarge(
                f"the {coding} body decompresses to more than {limit} bytes; the limit is {limit} bytes "
                "(SAGEMAKER_MAX_PAYLOAD_IN_MB)",
                code="payload_too_large",
                limit=limit,
            )
        parts.append(part)
        if decompressor.eof:
            rest = decompressor.unused_data
            if not rest:
                break
            if wbits != 16 + zlib.MAX_WBITS:
                raise BadRequest(
                    f"the body has {len(rest)} bytes after the end of its {coding} data",
                    code="invalid_content_encoding",
                )
            # gzip allows several members one after another: the body is all of them.
            pending, decompressor = rest, zlib.decompressobj(wbits)
            continue
        pending = decompressor.unconsumed_tail
        if not pending and not part:
            raise BadRequest(
                f"the body ends before its {coding} data does (truncated?)", code="invalid_content_encoding"
            )
    return b"".join(parts)
