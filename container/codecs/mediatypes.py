"""Content-Type parsing and Accept negotiation (RFC 9110), as pure functions.

Media types are compared case-insensitively and without their parameters, so
`Application/JSON; charset=utf-8` is JSON. Accept is a list with q-values and wildcards.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from container.errors import BadRequest, NotAcceptable, UnsupportedMediaType

JSON = "application/json"
CSV = "text/csv"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
NPZ = "application/x-npz"
ANY = "*/*"

# Spellings clients use for the same thing; the value is the canonical type.
ALIASES = {
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
    "application/ndjson": JSONLINES,
    "text/x-csv": CSV,
    "application/csv": CSV,
}


@dataclass(frozen=True)
class MediaType:
    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def essence(self) -> str:
        """`type/subtype`, lower-case, aliases resolved: what codecs are keyed by."""
        name = f"{self.type}/{self.subtype}"
        return ALIASES.get(name, name)

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    def matches(self, essence: str) -> bool:
        """Does this (possibly wildcard) range cover the concrete type `essence`?"""
        kind, _, sub = essence.partition("/")
        if self.type == "*":
            return True
        # Compare the alias-resolved name: `Accept: application/x-ndjson` asks for JSON Lines.
        own_kind, _, own_sub = self.essence.partition("/")
        return own_kind == kind and own_sub in ("*", sub)

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")


# Cached: every request parses its Content-Type, and clients send the same few values over and
# over. The parameters are a read-only view, as every caller shares the parsed value.
@functools.lru_cache(maxsize=256)
def parse_media_type(value: str) -> MediaType:
    """Parse one media type with parameters; raise ValueError when it is not `type/subtype`."""
    main, *raw_params = _split_outside_quotes(value, ";")
    kind, slash, sub = main.strip().lower().partition("/")
    if not slash or not kind or not sub or any(c.isspace() for c in kind + sub):
        raise ValueError(f"{value.strip()!r} is not a media type of the form type/subtype")
    if kind == "*" and sub != "*":
        raise ValueError(f"{value.strip()!r}: a wildcard type needs a wildcard subtype (*/*)")
    params = {}
    for raw in raw_params:
        name, eq, param_value = raw.strip().partition("=")
        if not eq:
            continue
        params[name.strip().lower()] = param_value.strip().strip('"')
    return MediaType(kind, sub, MappingProxyType(params))


def parse_content_type(header: str | None) -> MediaType:
    """The request's Content-Type; a missing or malformed one is a 415."""
    if header is None or not header.strip():
        raise UnsupportedMediaType("the request has no Content-Type header")
    try:
        media_type = parse_media_type(header)
    except ValueError as exc:
        raise UnsupportedMediaType(f"invalid Content-Type: {exc}") from None
    if media_type.charset is not None:
        _require_text_charset(media_type.charset)
    return media_type


def decode_text(body: bytes, media_type: MediaType) -> str:
    """Bytes to text with the declared charset (UTF-8 when none); bad bytes are a 400.

    An unknown charset is a 415 here too: callers may hand over a type from parse_media_type,
    which does not look at the charset.
    """
    declared = media_type.charset or "utf-8"
    _require_text_charset(declared)
    charset = declared
    if charset.lower().replace("-", "").replace("_", "") == "utf8":
        # Tolerate a byte-order mark, as editors write one: what the utf-8-sig codec does, without
        # its Python-level decoder (twenty times slower than bytes.decode("utf-8") on a small body).
        # Offsets in errors count from after the mark, as that codec's do.
        charset = "utf-8"
        body = body[3:] if body.startswith(b"\xef\xbb\xbf") else body
    try:
        return body.decode(charset)
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the body is not valid {declared}: byte {exc.start} cannot be decoded",
            code="invalid_encoding",
            offset=exc.start,
        ) from None
    except UnicodeError as exc:
        # Some codecs (idna, punycode) raise the base class, without a position.
        raise BadRequest(f"the body is not valid {declared}: {exc}", code="invalid_encoding") from None


def _require_text_charset(charset: str) -> None:
    """Refuse a charset that cannot decode bytes to text: a 415 naming it.

    codecs.lookup alone is not enough: it also finds bytes-to-bytes codecs (base64, zlib, rot13)
    and "undefined", which bytes.decode then refuses with LookupError or UnicodeError. Decoding one
    byte asks the codec itself; b"" would not, as bytes.decode short-cuts empty input.
    """
    try:
        b"a".decode(charset)
    except UnicodeDecodeError:
        pass  # a text encoding in which one byte is not a whole character (utf-16): fine
    except (LookupError, ValueError):  # ValueError: UnicodeError, or a NUL in the name
        raise UnsupportedMediaType(f"unknown charset {charset!r} in Content-Type", charset=charset) from None


@dataclass(frozen=True)
class AcceptRange:
    media_type: MediaType
    q: float
    position: int


def parse_accept(header: str | None) -> list[AcceptRange]:
    """Parse an Accept header into ranges, best first; malformed entries are a 400."""
    if header is None or not header.strip():
        return []
    ranges = []
    for position, item in enumerate(_split_outside_quotes(header, ",")):
        if not item.strip():
            continue
        try:
            media_type = parse_media_type(item)
        except ValueError as exc:
            raise BadRequest(f"invalid Accept header: {exc}", code="invalid_accept") from None
        q = _parse_q(media_type.params.get("q", "1"), item)
        ranges.append(AcceptRange(media_type, q, position))
    # Highest q first; among equals, the more specific range, then the client's order.
    ranges.sort(key=lambda r: (-r.q, -r.media_type.specificity, r.position))
    return ranges


def negotiate(
    header: str | None,
    available: Sequence[str],
    default: str,
) -> str | None:
    """Choose the response type for an Accept header among the `available` concrete types.

    A missing Accept or a bare `*/*` means the server's default (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT).
    Returns None when nothing acceptable is available; raises BadRequest for a malformed header.
    """
    ranges = parse_accept(header)
    if not ranges or all(r.media_type.essence == ANY and r.q > 0 for r in ranges):
        return default
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for candidate_index, candidate in enumerate(_preferred_first(available, default)):
        quality = _quality_of(candidate, ranges)
        if quality is None or quality[0] <= 0:
            continue
        # Equal q and specificity: the range the client listed first, and only when one range
        # covers both candidates (a wildcard), the server's preference.
        key = (*quality, -candidate_index)
        if best is None or key > best:
            best, chosen = key, candidate
    return chosen


def first_concrete(header: str | None) -> str | None:
    """The client's most preferred concrete (non-wildcard) type, for custom output_fn handlers."""
    for accept_range in parse_accept(header):
        if accept_range.q > 0 and "*" not in accept_range.media_type.essence:
            return accept_range.media_type.essence
    return None


def require_acceptable(header: str | None, available: Sequence[str], default: str) -> str:
    chosen = negotiate(header, available, default)
    if chosen is None:
        raise NotAcceptable(
            f"none of the types in Accept {header!r} can be produced",
            supported=list(available),
        )
    return chosen


def _quality_of(essence: str, ranges: Iterable[AcceptRange]) -> tuple[float, int, int] | None:
    """q, specificity and negated position of the most specific range covering `essence`.

    The most specific range decides the quality (RFC 9110 section 12.5.1).
    """
    matching = [r for r in ranges if r.media_type.matches(essence)]
    if not matching:
        return None
    most_specific = max(matching, key=lambda r: (r.media_type.specificity, -r.position))
    return most_specific.q, most_specific.media_type.specificity, -most_specific.position


def _preferred_first(available: Sequence[str], default: str) -> list[str]:
    # When a wildcard leaves a tie, the server's default type wins.
    return [default, *[a for a in available if a != default]] if default in available else list(available)


def _parse_q(raw: str, item: str) -> float:
    try:
        q = float(raw)
    except ValueError:
        raise BadRequest(f"invalid q-value in Accept item {item.strip()!r}", code="invalid_accept") from None
    if not 0 <= q <= 1:
        raise BadRequest(f"q-value out of range in Accept item {item.strip()!r}", code="invalid_accept")
    return q


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
