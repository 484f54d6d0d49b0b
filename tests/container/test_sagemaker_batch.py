"""SAGEMAKER_BATCH, which SageMaker sets to "true" in a batch transform job.

Contract: "Use Your Own Inference Code with Batch Transform"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html): "SAGEMAKER_BATCH
... is always set to true". AWS's toolkits: sagemaker-inference-toolkit and sagemaker-containers
do not read it; the XGBoost container (aws/sagemaker-xgboost-container, algorithm_mode/serve.py)
switches its CSV answer from comma-separated to one prediction per line. The runtime's own CSV
answer is one line per record in both modes, so nothing changes there; a handler reads the flag
from its context (context.config.batch_transform), as the XGBoost container reads its own.

One thing does change: in a batch transform job every line of a CSV request is a record, so the
runtime's decoder takes no first row for a header. Outside batch mode a first row with a non-number
is skipped as a header; in a MultiRecord request that would drop a bad record silently, and every
output line after it would sit beside the wrong input line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import client, error_body, make_model_dir, serving

from container.codecs import decode, mediatypes
from container.errors import BadRequest

pytestmark = pytest.mark.integration

ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n6.0,2.9,4.5,1.5\n"

FLAG_CODE = {
    "inference.py": """
    def output_fn(prediction, accept, context):
        mode = "batch" if context.config.batch_transform else "real-time"
        return f"{mode}:{len(prediction['predictions'])}", "text/plain"
    """
}


def test_handlers_see_the_flag(tmp_path: Path, model_file: Path) -> None:
    # Without the variable the flag is False (tests/container/test_config.py).
    model_dir = make_model_dir(tmp_path, model_file, code=FLAG_CODE)
    with serving(model_dir, env={"SAGEMAKER_BATCH": "true"}) as server, client(server) as http:
        response = http.post("/invocations", content=ROWS, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.text == "batch:3"


def test_the_runtimes_csv_answer_is_one_line_per_record_in_batch_mode(
    tmp_path: Path, model_file: Path
) -> None:
    # What XGBoost's batch mode does to its CSV answer is this runtime's CSV answer in every mode:
    # with AssembleWith=Line and MultiRecord, each record's output is one line of the .out file.
    model_dir = make_model_dir(tmp_path, model_file)
    with serving(model_dir, env={"SAGEMAKER_BATCH": "true"}) as server, client(server) as http:
        response = http.post(
            "/invocations", content=ROWS, headers={"Content-Type": "text/csv", "Accept": "text/csv"}
        )
        # A bad first record is named, not dropped as a header.
        refused = http.post(
            "/invocations", content="5.1,3.5,oops,0.2\n" + ROWS, headers={"Content-Type": "text/csv"}
        )
    lines = response.text.splitlines()
    assert response.text.endswith("\n") and len(lines) == 3
    assert [line.split(",")[0] for line in lines] == ["0", "2", "1"]
    body = error_body(refused, 400, "invalid_value")
    assert body["message"] == "CSV: row 1, column 3: 'oops' is not a number"


def test_no_header_row_in_batch_mode() -> None:
    csv = mediatypes.parse_media_type("text/csv")
    assert decode.decode_body(b"f1,f2\n1,2\n", csv).tolist() == [[1.0, 2.0]]
    with pytest.raises(BadRequest, match="row 1, column 1: 'f1' is not a number"):
        decode.decode_body(b"f1,f2\n1,2\n", csv, header_row=False)
    assert decode.decode_body(b"1,2\n", csv, header_row=False).tolist() == [[1.0, 2.0]]
