"""libsvm request bodies to a sparse matrix, with scikit-learn's parser. Pure functions.

scikit-learn's `load_svmlight_file` is the parser: compiled, maintained, and already in the image.
xgboost's own parser reads only files named by a URI (and text input is deprecated since xgboost 3.1).
It is called so that it reads what AWS's container reads at inference
(aws/sagemaker-xgboost-container, algorithm_mode/serve_utils.py, _get_sparse_matrix_from_libsvm):

- indices are zero-based, as given (`zero_based=True`): index k is column k, as in training, where
  dmlc-core's libsvm parser treats indices as zero-based (the developer guide's "zero-based index value
  pairs", doc_source/xgboost.md). The 3.0-5 image shifts 1-based data by one; 1.5-1 and 1.7-1 do not;
- the label is optional (`multilabel=True` reads a line that starts with `index:value` as unlabelled) and
  ignored; absent entries are missing values, not zeros.

Where scikit-learn is stricter or looser than AWS's split-on-spaces tokenizer (see the tests, which
document each): indices must be sorted and unique on each line (AWS sums duplicates), tabs separate like
spaces, `#` starts a comment, `qid:` is read and dropped (AWS refuses it), and blank lines are skipped
(AWS counts a blank line inside the body as a row of missing values).
"""

from __future__ import annotations

import io

import numpy as np
import scipy.sparse
from sklearn.datasets import load_svmlight_file

from container.errors import UnsupportedMediaType

# Locating the bad line re-parses line by line; past this many lines the message goes without it.
MAX_LINES_SEARCHED = 10_000


def parse(body: bytes) -> scipy.sparse.csr_matrix:
    """Rows of a libsvm body (zero rows for a blank one); UnsupportedMediaType naming the bad line."""
    try:
        rows, _ = load_svmlight_file(io.BytesIO(body), zero_based=True, multilabel=True, dtype=np.float64)
    except ValueError as exc:
        line = _first_bad_line(body)
        where = {} if line is None else {"line": line}
        prefix = "" if line is None else f"line {line}: "
        raise UnsupportedMediaType(f"libsvm: {prefix}{exc}", code="invalid_libsvm", **where) from None
    return rows.tocsr()


def _first_bad_line(body: bytes) -> int | None:
    for number, line in enumerate(body.split(b"\n")[:MAX_LINES_SEARCHED], start=1):
        try:
            load_svmlight_file(io.BytesIO(line), zero_based=True, multilabel=True)
        except ValueError:
            return number
    return None
