"""`container` for the baselines: the two exceptions the seed's inference.py imports from this runtime.

model_artifacts/code/inference.py raises `container.BadRequest` and `container.UnsupportedMediaType`
for requests it cannot read. The baselines (sagemaker-inference on MMS, Flask) do not have this
project installed, so the harness puts this file beside the script as code/container.py: the script
runs there unchanged. Only requests the script refuses ever reach these classes, and the benchmark
sends none.
"""


class BadRequest(Exception):
    """A request the script cannot read (this runtime answers 400)."""


class UnsupportedMediaType(Exception):
    """A Content-Type the script does not read (this runtime answers 415)."""
