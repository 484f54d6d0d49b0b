"""The JSONPath subset of DataProcessing: what parses, what each form selects, what is refused.

Contract: "Supported JSONPath Operators",
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html (slices include
their end, as every worked example there says; see deploy/transform/jsonpath.py).
"""

from __future__ import annotations

import pytest

from deploy.transform import jsonpath

ROW = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
DOCUMENT = {"id": 7, "features": [1, 2, 3], "meta": {"a": 1, "b": [4, 5]}}


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    [
        ("$", ROW, ROW),
        ("$.id", DOCUMENT, 7),
        ("$['id']", DOCUMENT, 7),
        ('$["id"]', DOCUMENT, 7),
        ("$.meta.b", DOCUMENT, [4, 5]),
        ("$.meta.*", DOCUMENT, [1, [4, 5]]),
        ("$[*]", ROW[:2], ["c1", "c2"]),
        ("$['id','features']", DOCUMENT, {"id": 7, "features": [1, 2, 3]}),
        ("$['id', 'missing']", DOCUMENT, {"id": 7}),  # Jayway leaves missing names out of the merge
        ("$.meta.['a','b']", DOCUMENT, {"a": 1, "b": [4, 5]}),
        ("$[1]", ROW, "c2"),
        ("$[-1]", ROW, "c7"),
        ("$[1,3,5]", ROW, ["c2", "c4", "c6"]),
        ("$[2:5]", ROW, ["c3", "c4", "c5", "c6"]),
        ("$[:1]", ROW, ["c1", "c2"]),
        ("$[5:]", ROW, ["c6", "c7"]),
        ("$[-2:]", ROW, ["c6", "c7"]),
        ("$[0:100]", ROW, ROW),  # a slice is cut to the array
        ("$[0,5:]", ROW, ["c1", "c6", "c7"]),
        ("$[0:2, 5:]", ROW, ["c1", "c2", "c3", "c6", "c7"]),
        ("$.features[1:]", DOCUMENT, [2, 3]),
        ("$.features[0]", DOCUMENT, 1),
    ],
)
def test_selects(path: str, document: object, expected: object) -> None:
    assert jsonpath.parse(path).select(document) == expected


def test_definite_paths_select_a_value_others_a_list() -> None:
    # Jayway's shapes: single names and indexes (and names merged in the last step) are one value.
    assert jsonpath.parse("$.meta.b[0]").definite
    assert jsonpath.parse("$['id','features']").definite
    assert not jsonpath.parse("$[0,1]").definite
    assert not jsonpath.parse("$[1:]").definite
    assert not jsonpath.parse("$.meta.*").definite
    assert jsonpath.parse("$[0:0]").select(ROW) == ["c1"]  # a one-element slice is still a list


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("id", "starts with $"),
        ("$..id", "recursive descent"),
        ("$[?(@.id > 1)]", "filter"),
        ("$.id.length()", "functions"),
        ("$[0:4:2]", "slice steps"),
        ("$['a','b'].c", "only in the last step"),
        ("$[", "expected"),
        ("$['id'", "expected ']'"),
        ("$['id]", "unterminated"),
        ("$.", "expected a name"),
        ("$[a]", "expected an index"),
        ("$" + ".x" * 40, "the limit is 63"),
    ],
)
def test_refuses_what_aws_does_not_list(path: str, why: str) -> None:
    with pytest.raises(jsonpath.JsonPathSyntaxError, match=why.replace("$", r"\$").replace("(", r"\(")):
        jsonpath.parse(path)


@pytest.mark.parametrize(
    ("path", "document", "message"),
    [
        ("$.missing", DOCUMENT, "has no 'missing'"),
        ("$[7]", ROW, "index 7 is outside \\$, which has 7 elements"),
        ("$[-8]", ROW, "index -8 is outside"),
        ("$[0,9]", ROW, "index 9 is outside"),
        ("$.id", ROW, "is an array, not an object"),
        ("$[0]", DOCUMENT, "is an object, not an array"),
        ("$.features.x", DOCUMENT, r"\$\['features'\] is an array"),
    ],
)
def test_selection_errors_say_where(path: str, document: object, message: str) -> None:
    # AWS, DataProcessing.OutputFilter: "If you specify indexes that aren't within the dimension size
    # of the joined dataset, you get an error."
    with pytest.raises(jsonpath.SelectionError, match=message):
        jsonpath.parse(path).select(document)
