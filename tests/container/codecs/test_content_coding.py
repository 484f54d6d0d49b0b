"""Content-Encoding: gzip and deflate bodies undone within the payload limit, anything else named in a 415."""

from __future__ import annotations

import gzip
import zlib

import pytest

from container.codecs.content_coding import decode_content
from container.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

BODY = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
LIMIT = 1024 * 1024


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("header", "encoded"),
    [
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("GZip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", raw_deflate(BODY)),  # the raw stream some clients send as "deflate"
        ("identity", BODY),
        ("gzip, deflate", zlib.compress(gzip.compress(BODY))),  # applied in order, undone in reverse
        ("gzip", gzip.compress(BODY[:10]) + gzip.compress(BODY[10:])),  # two gzip members
    ],
)
def test_compressed_bodies_are_decoded(header, encoded):
    assert decode_content(encoded, header, LIMIT) == BODY


def test_a_compression_bomb_is_a_413_after_at_most_the_limit():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 KiB that unpack to 64 MiB
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge) as caught:
        decode_content(bomb, "gzip", 6 * 1024 * 1024)
    assert caught.value.status_code == 413
    assert "decompresses to more than 6291456 bytes" in caught.value.message


def test_a_body_of_exactly_the_limit_passes():
    assert len(decode_content(gzip.compress(b"x" * 1000), "gzip", 1000)) == 1000


@pytest.mark.parametrize("header", ["br", "compress", "zstd", "gzip, br"])
def test_an_unknown_coding_is_a_415_naming_it(header):
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_content(b"whatever", header, LIMIT)
    assert caught.value.code == "unsupported_content_encoding"
    assert repr(header.split(",")[-1].strip()) in caught.value.message
    assert caught.value.details["supported"] == ["gzip", "deflate", "identity"]


@pytest.mark.parametrize(
    ("header", "body", "says"),
    [
        ("gzip", b"not gzip at all", "not valid gzip"),
        ("gzip", gzip.compress(BODY)[:-12], "ends before"),
        ("deflate", zlib.compress(BODY) + b"junk", "after the end"),
        ("deflate", b"\xff\xfe not deflate", "not valid deflate"),
    ],
)
def test_a_body_that_is_not_what_its_coding_says_is_a_400(header, body, says):
    with pytest.raises(BadRequest) as caught:
        decode_content(body, header, LIMIT)
    assert caught.value.code == "invalid_content_encoding"
    assert says in caught.value.message
