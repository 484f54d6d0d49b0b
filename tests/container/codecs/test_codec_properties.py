"""Property-based tests of the codecs and header parsers (hypothesis).

Round-trips: what the encoders write, the decoders read back unchanged. Garbage: whatever a client
sends, the decoders and header parsers fail only with a 4xx InferenceError, never anything else.
"""

from __future__ import annotations

import encodings.aliases
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from container.codecs import decode, encode, mediatypes
from container.codecs.mediatypes import CSV, JSON, JSONLINES, NPY, NPZ
from container.errors import InferenceError

ROUNDTRIP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GARBAGE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONTENT_TYPES = [JSON, CSV, JSONLINES, NPY, NPZ, "application/x-ndjson", "text/csv; charset=utf-16"]
TEXT_CONTENT_TYPES = [JSON, CSV, JSONLINES]

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
float_tables = hnp.arrays(
    dtype=np.float64,
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
    elements=finite_floats,
)


def assert_client_error(call):
    """`call` returns, or raises an InferenceError with a 4xx status; nothing else."""
    try:
        call()
    except InferenceError as exc:
        assert 400 <= exc.status_code < 500, (exc.status_code, exc.code, exc.message)
        assert exc.code and exc.message


# --- round-trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [JSON, CSV, JSONLINES, NPY])
@ROUNDTRIP
@given(table=float_tables)
def test_float_table_roundtrip(media_type, table):
    decoded = decode.decode(encode.encode(table, media_type), media_type)
    assert decoded.shape == table.shape
    assert decoded.dtype == np.float64
    np.testing.assert_array_equal(decoded, table)


@pytest.mark.parametrize("media_type", [JSON, CSV, JSONLINES, NPY])
@ROUNDTRIP
@given(row=st.lists(finite_floats, min_size=1, max_size=10))
def test_a_single_row_stays_2d(media_type, row):
    table = np.array([row])
    decoded = decode.decode(encode.encode(table, media_type), media_type)
    assert decoded.shape == (1, len(row))
    np.testing.assert_array_equal(decoded, table)


@pytest.mark.parametrize("media_type", [JSON, CSV, JSONLINES])
@ROUNDTRIP
@given(table=float_tables, data=st.data())
def test_missing_values_roundtrip_as_nan(media_type, table, data):
    mask = data.draw(hnp.arrays(np.bool_, table.shape))
    table = np.where(mask, np.nan, table)
    decoded = decode.decode(encode.encode(table, media_type), media_type)
    np.testing.assert_array_equal(decoded, table)  # NaN equals NaN in assert_array_equal


@ROUNDTRIP
@given(table=float_tables, charset=st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "ascii"]))
def test_text_roundtrip_in_other_charsets(table, charset):
    for media_type in TEXT_CONTENT_TYPES:
        body = encode.encode(table, media_type).decode("utf-8").encode(charset)
        decoded = decode.decode(body, f"{media_type}; charset={charset}")
        np.testing.assert_array_equal(decoded, table)


@ROUNDTRIP
@given(table=hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6)))
def test_integer_table_roundtrip_through_npy_keeps_the_dtype(table):
    decoded = decode.decode(encode.encode(table, NPY), NPY)
    assert decoded.dtype == np.int64
    np.testing.assert_array_equal(decoded, table)


# --- garbage in, 4xx out ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@GARBAGE
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_are_decoded_or_a_4xx(content_type, body):
    assert_client_error(lambda: decode.decode(body, content_type))


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@GARBAGE
@given(body=st.text(max_size=300))
def test_arbitrary_text_is_decoded_or_a_4xx(content_type, body):
    assert_client_error(lambda: decode.decode(body, content_type))
    assert_client_error(lambda: decode.decode(body.encode("utf-8", "surrogatepass"), content_type))


# Text made of the characters that matter to the parsers, so that near-valid bodies are common.
csv_like = st.text(alphabet="0123456789.,-+eE\"' \t\r\nnaifxé\x00", max_size=200)
json_like = st.text(alphabet="0123456789.,-+eE[]{}:\"' \t\r\nnulltruefalsinstaceftp\\\u2028", max_size=200)


@GARBAGE
@given(body=csv_like)
def test_near_csv_is_decoded_or_a_4xx(body):
    assert_client_error(lambda: decode.decode(body.encode(), CSV))


@pytest.mark.parametrize("content_type", [JSON, JSONLINES])
@GARBAGE
@given(body=json_like)
def test_near_json_is_decoded_or_a_4xx(content_type, body):
    assert_client_error(lambda: decode.decode(body.encode("utf-8", "surrogatepass"), content_type))


@GARBAGE
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(["instances", "features", "inputs", "x"]), children, max_size=3)
        ),
        max_leaves=30,
    )
)
def test_arbitrary_json_documents_are_decoded_or_a_4xx(document):
    import json

    body = json.dumps(document).encode()
    assert_client_error(lambda: decode.decode(body, JSON))
    lines = b"\n".join(
        json.dumps(item).encode() for item in (document if isinstance(document, list) else [document])
    )
    assert_client_error(lambda: decode.decode(lines, JSONLINES))


@GARBAGE
@given(data=st.data())
def test_mutated_npy_is_decoded_or_a_4xx(data):
    buffer = io.BytesIO()
    np.save(buffer, data.draw(hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(max_dims=3, max_side=4))))
    body = bytearray(buffer.getvalue())
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    assert_client_error(lambda: decode.decode(bytes(body[:cut]), NPY))


@GARBAGE
@given(data=st.data())
def test_mutated_npz_is_decoded_or_a_4xx(data):
    import scipy.sparse

    buffer = io.BytesIO()
    matrix = scipy.sparse.random(data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)), density=0.5)
    scipy.sparse.save_npz(buffer, matrix.asformat(data.draw(st.sampled_from(["csr", "csc", "coo"]))))
    body = bytearray(buffer.getvalue())
    for _ in range(data.draw(st.integers(0, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    assert_client_error(lambda: decode.decode(bytes(body[:cut]), NPZ))


ALL_CHARSETS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))


@GARBAGE
@given(
    charset=st.sampled_from(ALL_CHARSETS),
    media_type=st.sampled_from(TEXT_CONTENT_TYPES),
    body=st.binary(max_size=100),
)
def test_every_codec_python_knows_is_a_charset_or_a_415(charset, media_type, body):
    # Python's codec registry includes bytes-to-bytes codecs (base64, zlib, rot13) and "undefined".
    assert_client_error(lambda: decode.decode(body, f"{media_type}; charset={charset}"))
    media = mediatypes.parse_media_type(f"{media_type}; charset={charset}")
    assert_client_error(lambda: mediatypes.decode_text(body, media))


# --- header strings ---------------------------------------------------------------------------

header_text = st.text(max_size=80) | st.text(alphabet="abcjsonvtx/*;,=q0.1 \"'-+\t", max_size=60)


@GARBAGE
@given(header=header_text)
def test_arbitrary_content_type_is_parsed_or_a_4xx(header):
    assert_client_error(lambda: mediatypes.parse_content_type(header))
    assert_client_error(lambda: decode.decode(b"1,2", header))


@GARBAGE
@given(header=header_text, default=st.sampled_from([JSON, CSV, "image/png"]))
def test_arbitrary_accept_is_negotiated_or_a_4xx(header, default):
    available = [JSON, CSV, JSONLINES, NPY]

    def negotiate():
        chosen = mediatypes.negotiate(header, available, default)
        assert chosen is None or chosen in (*available, default)

    assert_client_error(negotiate)
    assert_client_error(lambda: mediatypes.require_acceptable(header, available, default))
    assert_client_error(lambda: mediatypes.first_concrete(header))


@GARBAGE
@given(
    ranges=st.lists(
        st.tuples(
            st.sampled_from([JSON, CSV, JSONLINES, NPY, "image/png", "text/*", "application/*", "*/*"]),
            st.sampled_from(["", ";q=0", ";q=0.2", ";q=0.5", ";q=1", ";Q=0.9; level=1"]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_negotiated_type_has_the_highest_quality(ranges):
    header = ", ".join(kind + params for kind, params in ranges)
    available = [JSON, CSV, JSONLINES, NPY]
    chosen = mediatypes.negotiate(header, available, JSON)
    parsed = mediatypes.parse_accept(header)

    def quality(essence):
        covering = [r for r in parsed if r.media_type.matches(essence)]
        if not covering:
            return 0.0
        return max(covering, key=lambda r: (r.media_type.specificity, -r.position)).q

    best = max(quality(a) for a in available)
    if all(r.media_type.essence == "*/*" and r.q > 0 for r in parsed):
        assert chosen == JSON
    elif best == 0:
        assert chosen is None
    else:
        assert chosen is not None and quality(chosen) == best


# One CSV row decodes without np.loadtxt (decode._one_plain_row); it must agree with the general path.
csv_cell = st.one_of(
    finite_floats.map(repr),
    st.text(alphabet="0123456789+-.eE_ naif\t", max_size=8),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "Infinity", "1e400", "", " ", '"1"', "x"]),
)


def _decode_outcome(body: bytes) -> tuple[str, object]:
    try:
        array = decode.decode(body, CSV)
    except InferenceError as exc:
        return "error", (exc.status_code, str(exc))
    return "array", (array.shape, array.tobytes())


@GARBAGE
@given(cells=st.lists(csv_cell, min_size=1, max_size=12), newline=st.sampled_from(["", "\n", "\r\n"]))
def test_one_csv_row_decodes_the_same_with_or_without_the_short_cut(
    cells: list[str], newline: str, monkeypatch_session: pytest.MonkeyPatch
) -> None:
    body = (",".join(cells) + newline).encode()
    quick = _decode_outcome(body)
    with monkeypatch_session.context() as patch:
        patch.setattr(decode, "_one_plain_row", lambda text: None)
        general = _decode_outcome(body)
    assert quick == general


@pytest.fixture(scope="module")
def monkeypatch_session() -> pytest.MonkeyPatch:
    return pytest.MonkeyPatch()


# --- the plain-numbers CSV path agrees with the general one, bit for bit ---------------------------

plain_numbers = st.one_of(finite_floats.map(repr), st.integers(-(10**25), 10**25).map(str))
odd_numbers = st.sampled_from(
    [
        *("-0", "0", "-0.0", "+1", ".5", "1.", "-.5e-3", "1e400", "-1e400", "4.9e-324", "1E5", "0.1e1"),
        *("2.2250738585072011e-308", "9007199254740993", "00.5", "1e", "--1", "1.2.3", " 7", "8 "),
    ]
)


@st.composite
def numeric_csv_bodies(draw) -> bytes:
    """Rows of numbers, mostly written as JSON would; now and then an odd one, a space, a short row."""
    width = draw(st.integers(1, 6))
    rows = draw(st.integers(1, 40))
    odd = draw(st.integers(0, 3)) == 0  # a quarter of the bodies hold odd cells
    separator = draw(st.sampled_from([",", ",", ",", ", ", ",\t"]))
    line_end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r", "\n\n"]))
    lines = []
    for _ in range(rows):
        cells = [
            draw(odd_numbers if odd and draw(st.integers(0, 20)) == 0 else plain_numbers)
            for _ in range(width)
        ]
        if odd and draw(st.integers(0, 30)) == 0:
            cells = cells[:-1] or ["1"]  # a ragged row
        lines.append(separator.join(cells))
    return (line_end.join(lines) + draw(st.sampled_from(["", "\n", "\r\n", " \n"]))).encode()


def general_csv_path(body: bytes):
    original = decode._plain_numeric_csv
    decode._plain_numeric_csv = lambda body: None
    try:
        return decode.decode_body(body, mediatypes.parse_content_type(CSV))
    except InferenceError as exc:
        return exc.code
    finally:
        decode._plain_numeric_csv = original


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=numeric_csv_bodies())
def test_plain_numbers_csv_decode_exactly_as_on_the_general_path(body):
    fast = decode._plain_numeric_csv(body)
    expected = general_csv_path(body)
    if fast is None:
        return  # left to the general path, which decodes it (or says what is wrong)
    assert isinstance(expected, np.ndarray), (body, expected)
    assert fast.shape == expected.shape and fast.dtype == expected.dtype
    assert fast.tobytes() == expected.tobytes(), body  # the same bits: -0.0, subnormals, rounding


def test_plain_numbers_csv_takes_the_fast_path_for_json_style_numbers():
    rows = np.random.default_rng(0).normal(size=(200, 5)) * 1e3
    body = "".join(",".join(repr(v) for v in row) + "\r\n" for row in rows.tolist()).encode()
    fast = decode._plain_numeric_csv(body)
    assert fast is not None and fast.tobytes() == rows.tobytes()
    # What JSON reads otherwise is left to the general path.
    for text in (b"-0", b"+1", b".5", b"true", b'"1"', b"1,,2", b"NaN"):
        assert decode._plain_numeric_csv(body + text + b"\n") is None, text
