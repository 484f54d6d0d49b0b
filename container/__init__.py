"""The BYOC serving runtime: the SageMaker inference contract on Starlette, gunicorn and uvicorn.

What user code imports from here:
    from container import InferenceError, Context

What a handler module (handlers/<name>.py) imports from here: its spec (HandlerSpec, with
HandlerOptions, and the types of its inspect and examples hooks), the shared checks of request rows
(validate_rows, check_width, ...), and split/CannotSplit for cutting a batch's prediction.
"""

from container.contract.context import Context
from container.contract.spec import (
    ArchiveContents,
    HandlerExamples,
    HandlerOptions,
    HandlerSpec,
    Review,
    Sample,
)
from container.contract.validation import (
    as_numbers,
    check_width,
    first_missing,
    first_non_finite,
    require_2d,
    require_finite,
    validate_rows,
)
from container.errors import (
    BadRequest,
    InferenceError,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from container.inference.batching import CannotSplit, split

__all__ = [
    "ArchiveContents",
    "BadRequest",
    "CannotSplit",
    "Context",
    "HandlerExamples",
    "HandlerOptions",
    "HandlerSpec",
    "InferenceError",
    "NotAcceptable",
    "PayloadTooLarge",
    "Review",
    "Sample",
    "UnsupportedMediaType",
    "as_numbers",
    "check_width",
    "first_missing",
    "first_non_finite",
    "require_2d",
    "require_finite",
    "split",
    "validate_rows",
]
__version__ = "0.1.0"
