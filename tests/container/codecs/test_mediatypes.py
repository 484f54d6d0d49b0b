"""Content-Type parsing, charset handling and Accept negotiation (container.codecs.mediatypes)."""

from __future__ import annotations

import pytest

from container.codecs import mediatypes
from container.codecs.mediatypes import CSV, JSON, JSONLINES, NPY, NPZ
from container.errors import BadRequest, NotAcceptable, UnsupportedMediaType

AVAILABLE = [JSON, CSV, JSONLINES, NPY]


# --- Content-Type -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "essence", "charset"),
    [
        ("application/json", JSON, None),
        ("Application/JSON; charset=UTF-8", JSON, "UTF-8"),
        ("  text/CSV ;  Charset = utf-16  ", CSV, "utf-16"),
        ('text/csv; header=present; charset="latin-1"', CSV, "latin-1"),
        ("application/x-ndjson", JSONLINES, None),
        ("application/jsonl", JSONLINES, None),
        ("application/x-jsonlines", JSONLINES, None),
        ("application/csv", CSV, None),
        ("text/x-csv", CSV, None),
        ("application/x-npy", NPY, None),
        ("APPLICATION/X-NPZ", NPZ, None),
    ],
)
def test_content_type_is_case_insensitive_and_ignores_parameters(header, essence, charset):
    media_type = mediatypes.parse_content_type(header)
    assert media_type.essence == essence
    assert media_type.charset == charset


def test_parameter_values_keep_quoted_separators():
    media_type = mediatypes.parse_media_type('text/csv; note="a;b,c"; charset=ascii')
    assert media_type.params == {"note": "a;b,c", "charset": "ascii"}


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_content_type_is_415(header):
    with pytest.raises(UnsupportedMediaType) as caught:
        mediatypes.parse_content_type(header)
    assert caught.value.status_code == 415
    assert caught.value.code == "unsupported_media_type"
    assert "no Content-Type" in caught.value.message


@pytest.mark.parametrize("header", ["json", "application/", "/json", "text/ csv", "text /csv", "a b/c", ";"])
def test_malformed_content_type_is_415(header):
    with pytest.raises(UnsupportedMediaType) as caught:
        mediatypes.parse_content_type(header)
    assert caught.value.status_code == 415
    assert "invalid Content-Type" in caught.value.message


@pytest.mark.parametrize("charset", ["klingon", "", "base64", "rot13", "zlib", "undefined", "a\x00b"])
def test_unknown_or_non_text_charset_is_415_naming_it(charset):
    with pytest.raises(UnsupportedMediaType) as caught:
        mediatypes.parse_content_type(f"text/csv; charset={charset}")
    assert caught.value.details == {"charset": charset}
    assert repr(charset) in caught.value.message


# --- charset decoding -------------------------------------------------------------------------


def test_decode_text_defaults_to_utf8_and_drops_a_bom():
    media_type = mediatypes.parse_content_type("text/csv")
    assert mediatypes.decode_text("\ufeffé,1".encode(), media_type) == "é,1"


def test_decode_text_honours_the_charset():
    media_type = mediatypes.parse_content_type("text/csv; charset=latin-1")
    assert mediatypes.decode_text(b"\xe9,1", media_type) == "é,1"


def test_invalid_utf8_is_400_invalid_encoding_with_offset():
    media_type = mediatypes.parse_content_type("text/csv; charset=utf-8")
    with pytest.raises(BadRequest) as caught:
        mediatypes.decode_text(b"1,2\n\xff,3", media_type)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_encoding"
    assert caught.value.details == {"offset": 4}
    assert caught.value.message == "the body is not valid utf-8: byte 4 cannot be decoded"


def test_codecs_raising_plain_unicode_error_are_400():
    # idna raises UnicodeError, not UnicodeDecodeError, for an empty label.
    media_type = mediatypes.parse_content_type("text/csv; charset=idna")
    with pytest.raises(BadRequest) as caught:
        mediatypes.decode_text(b"xn--", media_type)
    assert caught.value.code == "invalid_encoding"


def test_decode_text_refuses_an_unchecked_charset_with_415():
    # The runtime's pipeline builds the type with parse_media_type, which does not check charsets.
    media_type = mediatypes.parse_media_type("text/csv; charset=base64")
    with pytest.raises(UnsupportedMediaType) as caught:
        mediatypes.decode_text(b"MSwy", media_type)
    assert caught.value.details == {"charset": "base64"}


# --- Accept parsing ---------------------------------------------------------------------------


def test_accept_ranges_sorted_by_q_then_specificity_then_order():
    ranges = mediatypes.parse_accept("text/*;q=0.5, */*;q=0.1, application/json, text/csv;q=0.5, image/png")
    assert [(r.media_type.essence, r.q) for r in ranges] == [
        (JSON, 1.0),
        ("image/png", 1.0),
        (CSV, 0.5),
        ("text/*", 0.5),
        ("*/*", 0.1),
    ]


@pytest.mark.parametrize("header", [None, "", "  "])
def test_empty_accept_has_no_ranges(header):
    assert mediatypes.parse_accept(header) == []


def test_empty_accept_items_are_skipped():
    assert [r.media_type.essence for r in mediatypes.parse_accept(", text/csv ,,")] == [CSV]


@pytest.mark.parametrize(
    "header", ["json", "text/csv;q=high", "text/csv;q=1.5", "text/csv;q=-0.1", "text/csv;q=nan", "a/b, /c"]
)
def test_malformed_accept_is_400_invalid_accept(header):
    with pytest.raises(BadRequest) as caught:
        mediatypes.parse_accept(header)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_accept"


# --- negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "*/*", "*/*;q=0.8", "*/*, */*;q=0.3"])
def test_missing_accept_or_bare_wildcard_means_the_default(header):
    assert mediatypes.negotiate(header, AVAILABLE, CSV) == CSV


def test_default_is_returned_for_a_wildcard_even_when_not_encodable():
    # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT may name a type only a custom output_fn writes.
    assert mediatypes.negotiate("*/*", AVAILABLE, "image/png") == "image/png"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("text/csv", CSV),
        ("TEXT/CSV; charset=utf-8", CSV),
        ("application/jsonlines, application/json", JSONLINES),
        ("application/json;q=0.5, text/csv;q=0.9", CSV),
        ("application/json;q=0.5, text/csv;q=0.5", JSON),
        ("text/csv, application/json", CSV),  # equal q: the client's order
        ("application/x-npy;q=0.5, text/csv;q=0.5", NPY),
        ("text/*", CSV),
        ("text/*;q=0.3, application/x-npy;q=0.4", NPY),
        ("image/png, */*;q=0.1", JSON),
        ("image/png, text/csv;q=0.2", CSV),
        ("application/x-ndjson", JSONLINES),  # aliases name the same type in Accept too
        ("application/csv", CSV),
    ],
)
def test_negotiate_picks_the_best_available(header, chosen):
    assert mediatypes.negotiate(header, AVAILABLE, JSON) == chosen


def test_a_tie_under_a_wildcard_goes_to_the_default():
    assert mediatypes.negotiate("application/*", [JSON, JSONLINES, NPY], NPY) == NPY
    assert mediatypes.negotiate("application/*", [JSON, JSONLINES, NPY], CSV) == JSON


def test_more_specific_range_decides_the_quality():
    # text/csv is excluded although text/* would allow it; JSON is still acceptable through */*.
    assert mediatypes.negotiate("text/*, text/csv;q=0, */*;q=0.1", AVAILABLE, CSV) == JSON
    assert mediatypes.negotiate("*/*, application/json;q=0.2", AVAILABLE, JSON) == CSV


@pytest.mark.parametrize("header", ["text/csv;q=0", "*/*;q=0", "image/png", "text/*;q=0, image/*"])
def test_nothing_acceptable_is_none(header):
    assert mediatypes.negotiate(header, [CSV, JSON], JSON) is None


def test_q_zero_excludes_the_default_under_a_wildcard():
    assert mediatypes.negotiate("application/json;q=0, */*", AVAILABLE, JSON) == CSV


def test_require_acceptable_raises_406_listing_what_is_supported():
    with pytest.raises(NotAcceptable) as caught:
        mediatypes.require_acceptable("image/png", AVAILABLE, JSON)
    assert caught.value.status_code == 406
    assert caught.value.code == "not_acceptable"
    assert caught.value.details == {"supported": AVAILABLE}
    assert "'image/png'" in caught.value.message


def test_require_acceptable_returns_the_choice():
    assert mediatypes.require_acceptable("text/csv;q=0.1, image/png", AVAILABLE, JSON) == CSV
    assert mediatypes.require_acceptable(None, AVAILABLE, JSONLINES) == JSONLINES


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("*/*, text/*, application/json;q=0.5", JSON),
        ("application/x-ndjson;q=0.9, image/png", "image/png"),
        ("application/x-ndjson", JSONLINES),
        ("image/png;q=0, */*", None),
        (None, None),
    ],
)
def test_first_concrete(header, expected):
    assert mediatypes.first_concrete(header) == expected


def test_media_type_matching_and_specificity():
    any_type = mediatypes.parse_media_type("*/*")
    text_any = mediatypes.parse_media_type("text/*")
    csv = mediatypes.parse_media_type("text/csv")
    assert (any_type.specificity, text_any.specificity, csv.specificity) == (0, 1, 2)
    assert any_type.matches(JSON) and text_any.matches(CSV) and csv.matches(CSV)
    assert not text_any.matches(JSON)
    assert not csv.matches("text/plain")


def test_a_wildcard_type_with_a_concrete_subtype_is_malformed():
    with pytest.raises(BadRequest) as caught:
        mediatypes.parse_accept("*/json")
    assert caught.value.code == "invalid_accept"
