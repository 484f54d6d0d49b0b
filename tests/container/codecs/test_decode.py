"""Request decoders (container.codecs.decode): documented shapes, and the 400s that say what was wrong."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import scipy.sparse

from container.codecs import decode, mediatypes
from container.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


def decode_error(body: bytes | str, content_type: str) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        decode.decode(body, content_type)
    assert caught.value.status_code == 400
    return caught.value


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


# --- dispatch ---------------------------------------------------------------------------------


def test_unsupported_content_type_is_415_listing_the_supported():
    with pytest.raises(UnsupportedMediaType) as caught:
        decode.decode(b"1,2", "text/plain")
    assert caught.value.status_code == 415
    assert caught.value.details == {"supported": sorted(decode.DECODERS)}
    assert "'text/plain'" in caught.value.message


def test_missing_content_type_is_415():
    with pytest.raises(UnsupportedMediaType):
        decode.decode(b"1,2", None)


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "application/x-npy"])
def test_empty_body_is_400_empty_body(content_type):
    assert decode_error(b"", content_type).code == "empty_body"


def test_str_bodies_are_text_whatever_the_declared_charset():
    # The runtime hands JSON and CSV to input_fn as str, the charset already applied.
    result = decode.decode("[1, 2.5]", "application/json; charset=utf-16")
    np.testing.assert_array_equal(result, [[1.0, 2.5]])


def test_str_body_with_a_lone_surrogate_is_400_invalid_encoding():
    assert decode_error("[1, 2]\ud800", "application/json").code == "invalid_encoding"


# --- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[[1, 2], [3, 4]]",
        b'{"instances": [[1, 2], [3, 4]]}',
        b'{"features": [[1, 2], [3, 4]]}',
        b'{"inputs": [[1, 2], [3, 4]]}',
        b'{"instances": [{"features": [1, 2]}, {"features": [3, 4]}]}',
        b'{"instances": [{"inputs": [1, 2]}, {"inputs": [3, 4]}]}',
        b'[{"features": [1, 2]}, {"features": [3, 4]}]',
        b'[["1", "2"], [3, "4.0"]]',
    ],
)
def test_json_row_shapes(body):
    result = decode.decode(body, "application/json")
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("body", [b"[1, 2, 3]", b'{"instances": [1, 2, 3]}', b'{"features": [1, 2, 3]}'])
def test_json_single_row_stays_2d(body):
    result = decode.decode(body, "application/json")
    assert result.shape == (1, 3)
    np.testing.assert_array_equal(result, [[1.0, 2.0, 3.0]])


def test_json_null_is_nan():
    result = decode.decode(b"[[1, null], [null, 4]]", "application/json")
    np.testing.assert_array_equal(np.isnan(result), [[False, True], [True, False]])
    assert result[0, 0] == 1.0 and result[1, 1] == 4.0


def test_json_keys_are_tried_in_documented_order():
    result = decode.decode(b'{"inputs": [[9]], "instances": [[1]]}', "application/json")
    np.testing.assert_array_equal(result, [[1.0]])


def test_json_strings_stay_objects_for_pipelines():
    result = decode.decode(b'[["red", 1.5, null, true]]', "application/json")
    assert result.dtype == object
    assert result.tolist() == [["red", 1.5, None, True]]


def test_json_ragged_rows_are_400_naming_the_row():
    error = decode_error(b"[[1, 2], [3, 4], [5]]", "application/json")
    assert error.code == "ragged_rows"
    assert error.details == {"row": 3, "expected": 2, "found": 1}
    assert error.message == "JSON: row 3 has 1 values, but row 1 has 2 values"


def test_json_row_that_is_a_scalar_among_lists_is_ragged():
    error = decode_error(b"[[1, 2], 7]", "application/json")
    assert error.code == "ragged_rows"
    assert error.details["row"] == 2
    assert "a single value instead of a list" in error.message


def test_json_object_in_a_row_is_400_invalid_value():
    error = decode_error(b'[[1, {"a": 1}], [3, 4]]', "application/json")
    assert error.code == "invalid_value"
    assert error.details == {"row": 1}
    assert "an object" in error.message


def test_json_instances_without_features_key_is_400():
    error = decode_error(b'{"instances": [{"features": [1]}, {"data": [2]}]}', "application/json")
    assert error.code == "invalid_json_shape"
    assert error.details == {"row": 2}


def test_json_object_without_row_keys_is_400_listing_found_keys():
    error = decode_error(b'{"data": [[1]], "meta": 1}', "application/json")
    assert error.code == "invalid_json_shape"
    assert error.details == {"found_keys": ["data", "meta"]}
    assert "'instances', 'features', 'inputs'" in error.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[]", "empty_input"),
        (b'{"instances": []}', "empty_input"),
        (b"42", "invalid_shape"),
        (b'"text"', "invalid_shape"),
        (b"null", "invalid_shape"),
        (b'{"instances": 5}', "invalid_shape"),
    ],
)
def test_json_without_rows_is_400(body, code):
    assert decode_error(body, "application/json").code == code


def test_invalid_json_is_400_with_line_and_column():
    error = decode_error(b"[[1, 2],\n [3, oops]]", "application/json")
    assert error.code == "invalid_json"
    assert error.details == {"line": 2, "column": 6}
    assert error.message.startswith("the body is not valid JSON: ")
    assert error.message.endswith(" at line 2, column 6")


def test_json_nested_too_deep_is_400_not_a_crash():
    body = b"[" * 1000 + b'"x"' + b"]" * 1000
    error = decode_error(body, "application/json")
    assert error.code == "invalid_shape"
    assert error.details == {"max_depth": decode.MAX_NESTING}


def test_json_3d_rows_are_kept_for_handlers_that_take_them():
    result = decode.decode(b"[[[1, 2], [3, 4]]]", "application/json")
    assert result.shape == (1, 2, 2)


def test_json_utf16_with_charset():
    body = "\ufeff[[1.5, 2]]".encode("utf-16-le")
    result = decode.decode(body, "Application/JSON; Charset=UTF-16")
    np.testing.assert_array_equal(result, [[1.5, 2.0]])


def test_json_latin1_strings():
    result = decode.decode('[["café", 1]]'.encode("latin-1"), "application/json; charset=latin-1")
    assert result.tolist() == [["café", 1]]


def test_json_utf8_bom_is_tolerated():
    result = decode.decode(b"\xef\xbb\xbf[1, 2]", "application/json")
    np.testing.assert_array_equal(result, [[1.0, 2.0]])


@pytest.mark.parametrize("content_type", ["application/json", "application/jsonlines"])
def test_invalid_utf8_is_400_invalid_encoding(content_type):
    error = decode_error(b'[1, "\xff"]', content_type)
    assert error.code == "invalid_encoding"
    assert error.details == {"offset": 5}


def test_utf7_body_decoding_to_a_lone_surrogate_is_400():
    assert decode_error(b'["+2AA-"]', "application/json; charset=utf-7").code == "invalid_encoding"


# --- JSON Lines -------------------------------------------------------------------------------


def test_jsonlines_lists_and_feature_objects():
    body = b'[1, 2]\r\n{"features": [3, 4]}\n\n{"inputs": [5, 6]}\n'
    result = decode.decode(body, "application/jsonlines")
    np.testing.assert_array_equal(result, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def test_jsonlines_single_line_stays_2d():
    assert decode.decode(b"[1, 2, 3]", "application/x-ndjson").shape == (1, 3)


def test_jsonlines_invalid_line_names_the_line():
    error = decode_error(b"[1, 2]\n[3, x\n", "application/jsonlines")
    assert error.code == "invalid_json"
    assert error.details == {"line": 2, "column": 5}
    assert error.message.startswith("line 2 is not valid JSON: ")
    assert error.message.endswith(", column 5")


def test_jsonlines_object_without_features_names_the_line():
    error = decode_error(b'[1]\n\n{"x": [2]}', "application/jsonlines")
    assert error.code == "invalid_json_shape"
    assert error.details == {"line": 3}


def test_jsonlines_scalar_line_is_400():
    error = decode_error(b"[1]\n2\n", "application/jsonlines")
    assert error.code == "invalid_shape"
    assert error.details == {"line": 2}
    assert error.message == "line 2: expected a list of values, got a number"


def test_jsonlines_ragged_rows():
    error = decode_error(b"[1, 2]\n[3]\n", "application/jsonlines")
    assert error.code == "ragged_rows"
    assert error.details == {"row": 2, "expected": 2, "found": 1}


def test_jsonlines_blank_body_is_empty_input():
    assert decode_error(b"\n \n", "application/jsonlines").code == "empty_input"


# --- CSV --------------------------------------------------------------------------------------


def test_csv_numeric_rows():
    result = decode.decode(b"1,2,3\n4.5,-6e2,7\n", "text/csv")
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [[1.0, 2.0, 3.0], [4.5, -600.0, 7.0]])


def test_csv_single_row_and_single_column_stay_2d():
    assert decode.decode(b"1,2,3", "text/csv").shape == (1, 3)
    np.testing.assert_array_equal(decode.decode(b"1\n2\n3\n", "text/csv"), [[1.0], [2.0], [3.0]])
    assert decode.decode(b"5", "text/csv").shape == (1, 1)


def test_csv_header_row_is_skipped():
    result = decode.decode(b"sepal_length,sepal_width\n5.1,3.5\n4.9,3.0\n", "text/csv")
    np.testing.assert_array_equal(result, [[5.1, 3.5], [4.9, 3.0]])


def test_csv_header_with_one_non_numeric_cell_is_a_header():
    result = decode.decode(b"1,label\n2,3\n", "text/csv")
    np.testing.assert_array_equal(result, [[2.0, 3.0]])


def test_csv_quoted_numbers_are_numbers():
    result = decode.decode(b'"1","2.5"\n"3", 4\n', "text/csv")
    np.testing.assert_array_equal(result, [[1.0, 2.5], [3.0, 4.0]])


def test_csv_quoted_numbers_after_a_header():
    result = decode.decode(b'"a","b"\n"1", "2"\n', "text/csv")
    np.testing.assert_array_equal(result, [[1.0, 2.0]])


def test_csv_empty_cell_is_nan():
    result = decode.decode(b"1,,3\n4,5,\n", "text/csv")
    np.testing.assert_array_equal(np.isnan(result), [[False, True, False], [False, False, True]])
    assert result[0, 0] == 1.0 and result[1, 1] == 5.0


@pytest.mark.parametrize("body", [b"1,,3", b" 1, ,3\n", b",2,3"])
def test_one_row_with_empty_cells_decodes_as_the_general_path_does(body):
    # The quick path for one row must agree with the general one (a missing value costs no more).
    result = decode.decode(body, "text/csv")
    general = decode._decode_csv_carefully(body.decode())
    np.testing.assert_array_equal(result, general)
    assert np.isnan(result).sum() == 1


def test_one_row_of_nothing_but_empty_cells_is_no_row():
    with pytest.raises(BadRequest) as caught:
        decode.decode(b",,,\n", "text/csv")
    assert caught.value.code == "empty_input"


def test_csv_blank_lines_are_skipped():
    result = decode.decode(b"\n1,2\n\n3,4\n\n", "text/csv")
    np.testing.assert_array_equal(result, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("body", [b"a,b\r1,2\r3,4\r", b"a,b\r\n1,2\r\n3,4\r\n"])
def test_csv_cr_and_crlf_line_ends(body):
    np.testing.assert_array_equal(decode.decode(body, "text/csv"), [[1.0, 2.0], [3.0, 4.0]])


def test_csv_ragged_row_is_400_with_row_number():
    error = decode_error(b"1,2,3\n4,5,6\n7,8\n", "text/csv")
    assert error.code == "ragged_rows"
    assert error.details == {"row": 3, "expected": 3, "found": 2}
    assert error.message == "CSV: row 3 has 2 columns, expected 3"


def test_csv_ragged_row_number_counts_the_header():
    error = decode_error(b"a,b\n1,2\n3\n", "text/csv")
    assert error.details == {"row": 3, "expected": 2, "found": 1}


def test_csv_non_numeric_cell_is_400_with_row_and_column():
    error = decode_error(b"a,b,c\n1,2,3\n4,five,6\n", "text/csv")
    assert error.code == "invalid_value"
    assert error.details == {"row": 3, "column": 2}
    assert error.message == "CSV: row 3, column 2: 'five' is not a number"


def test_csv_only_the_first_row_can_be_a_header():
    error = decode_error(b"1,2\nx,y\n", "text/csv")
    assert error.details == {"row": 2, "column": 1}


def test_csv_long_bad_cell_is_shortened_in_the_message():
    error = decode_error(b"1,2\n3," + b"z" * 100 + b"\n", "text/csv")
    assert "'" + "z" * 37 + "...'" in error.message


@pytest.mark.parametrize(("body", "code"), [(b" \n\n", "empty_input"), (b"a,b\n", "empty_input")])
def test_csv_without_data_rows_is_400(body, code):
    assert decode_error(body, "text/csv").code == code


def test_csv_field_over_the_csv_module_limit_is_400():
    error = decode_error(b"x" * 200_000, "text/csv")
    assert error.code == "invalid_csv"
    assert error.details == {"row": 1}


def test_csv_charset_latin1_and_utf16():
    np.testing.assert_array_equal(
        decode.decode("é\n1\n".encode("latin-1"), "text/csv;charset=latin-1"), [[1.0]]
    )
    np.testing.assert_array_equal(
        decode.decode("1,2\n".encode("utf-16"), "text/csv; charset=utf-16"), [[1, 2]]
    )


def test_csv_invalid_utf8_is_400_invalid_encoding():
    error = decode_error(b"1,2\n\xc3(,4\n", "text/csv")
    assert error.code == "invalid_encoding"
    assert error.details == {"offset": 4}


# --- NPY --------------------------------------------------------------------------------------


def test_npy_2d_array():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = decode.decode(npy_bytes(array), "application/x-npy")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, array)


def test_npy_1d_array_is_one_row():
    result = decode.decode(npy_bytes(np.array([1, 2, 3])), "application/x-npy")
    assert result.shape == (1, 3)


def test_npy_fortran_order_and_strings():
    array = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(decode.decode(npy_bytes(array), "application/x-npy"), array)
    strings = np.array([["a", "b"]])
    np.testing.assert_array_equal(decode.decode(npy_bytes(strings), "application/x-npy"), strings)


def test_npy_object_array_is_refused_without_unpickling(monkeypatch):
    body = npy_bytes(np.array([[1, "two", {"three": 3}]], dtype=object), allow_pickle=True)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the decoder unpickled request data")

    monkeypatch.setattr("pickle.load", no_unpickling)
    monkeypatch.setattr("pickle.loads", no_unpickling)
    error = decode_error(body, "application/x-npy")
    assert error.code == "pickled_array_refused"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not an npy file", "invalid_npy"),
        (b"\x93NUMPY", "invalid_npy"),
        (npy_bytes(np.arange(100.0))[:-8], "invalid_npy"),
        (npy_bytes(np.float64(3.0)), "invalid_shape"),
        (npy_bytes(np.empty((0, 3))), "empty_input"),
    ],
)
def test_npy_invalid_bodies_are_400(body, code):
    assert decode_error(body, "application/x-npy").code == code


def test_npy_header_declaring_more_data_than_sent_is_refused_before_allocating():
    # A 128-byte body declaring 8 PiB of float64: refused, not a MemoryError.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000,), }"
    header = header.ljust(128 - 10 - 1) + "\n"
    body = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    error = decode_error(body, "application/x-npy")
    assert error.code == "invalid_npy"
    assert "(1000000000000000,)" in error.message


# --- NPZ --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sparse_format", ["csr", "csc", "coo"])
def test_npz_sparse_roundtrip(sparse_format):
    dense = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -3.0]])
    buffer = io.BytesIO()
    scipy.sparse.save_npz(buffer, scipy.sparse.csr_matrix(dense).asformat(sparse_format))
    result = decode.decode(buffer.getvalue(), "application/x-npz")
    assert scipy.sparse.issparse(result) and result.format == "csr"
    np.testing.assert_array_equal(result.toarray(), dense)


def test_npz_that_is_not_a_sparse_matrix_is_400():
    buffer = io.BytesIO()
    np.savez(buffer, values=np.arange(3))
    assert decode_error(buffer.getvalue(), "application/x-npz").code == "invalid_npz"
    assert decode_error(b"PK\x03\x04garbage", "application/x-npz").code == "invalid_npz"


@pytest.mark.parametrize(
    "body",
    [
        b"not a zip file",
        npy_bytes(np.arange(3)),
        npy_bytes(np.array([None], dtype=object), allow_pickle=True),
    ],
)
def test_npz_body_that_is_not_a_zip_is_invalid_npz(body):
    # np.load would take it for a pickle and refuse it as one: the wrong reason to give.
    error = decode_error(body, "application/x-npz")
    assert error.code == "invalid_npz"
    assert "not a zip archive" in error.message


def test_npz_with_zero_rows_is_400():
    buffer = io.BytesIO()
    scipy.sparse.save_npz(buffer, scipy.sparse.csr_matrix((0, 4)))
    assert decode_error(buffer.getvalue(), "application/x-npz").code == "invalid_shape"


def test_npz_with_a_pickled_member_is_refused():
    # A hand-made npz whose "data" member is an object array: loading it would unpickle.
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(b"csr"),
        shape=np.array([1, 1]),
        data=np.array([object()], dtype=object),
        indices=np.array([0]),
        indptr=np.array([0, 1]),
    )
    assert decode_error(buffer.getvalue(), "application/x-npz").code == "pickled_array_refused"


def test_an_npz_that_declares_gigabytes_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.npy", b"\0" * (decode.MAX_NPZ_UNPACKED_BYTES + 1))
    body = buffer.getvalue()
    assert len(body) < 2 * 1024 * 1024  # a small body...
    with pytest.raises(PayloadTooLarge) as caught:  # ...that would expand past the cap
        decode.decode_npz(body, mediatypes.parse_media_type(mediatypes.NPZ))
    assert caught.value.code == "npz_too_large"
