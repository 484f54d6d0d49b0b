"""Run by the SDK's Python: the SageMaker SDK 2.x's local-mode Transformer on this project's image.

    sdk_transformer.py IMAGE MODEL_DATA INPUT_DIR OUTPUT_DIR PORT STRATEGY|none

Prints one JSON line: {"status": "Completed"} or {"status": "error", "error": ..., "left_running":
[ids of this test session's containers still running after the error]}. After an error it exits at
once: the SDK's own process would otherwise wait, as long as the container runs, on its serving
thread.
"""

import json
import os
import subprocess
import sys

from sagemaker.local import LocalSession
from sagemaker.model import Model

image, model_data, source, output, port, strategy = sys.argv[1:7]
session = LocalSession()
session.config = {"local": {"local_code": True, "serving_port": int(port)}}
model = Model(
    image_uri=image,
    model_data=f"file://{model_data}",
    role="arn:aws:iam::123456789012:role/byoc-test",
    sagemaker_session=session,
)
options = {} if strategy == "none" else {"strategy": strategy}
transformer = model.transformer(
    instance_count=1,
    instance_type="local",
    accept="text/csv",
    assemble_with="Line",
    output_path=f"file://{output}",
    **options,
)
try:
    transformer.transform(
        f"file://{source}", content_type="text/csv", split_type="Line", logs=False, wait=True
    )
except Exception as exc:  # the SDK's own failure is what the test looks at
    labels = [item for item in os.environ.get("BYOC_TEST_LABELS", "").split(",") if ".session=" in item]
    running = subprocess.run(
        ["docker", "ps", "-q", *(f"--filter=label={label}" for label in labels)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    print(json.dumps({"status": "error", "error": f"{type(exc).__name__}: {exc}", "left_running": running}))
    sys.stdout.flush()
    # The SDK's serving thread (docker-compose up) outlives the error and would keep this process
    # from exiting until the container stops: leave now; the test session removes the container.
    os._exit(0)
else:
    print(json.dumps({"status": "Completed"}))
