"""The BYOC serving runtime: the SageMaker inference contract on Starlette, gunicorn and uvicorn.

What user code imports from here:
    from container import InferenceError, Context
"""

from container.contract.context import Context
from container.errors import (
    BadRequest,
    InferenceError,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)

__all__ = [
    "BadRequest",
    "Context",
    "InferenceError",
    "NotAcceptable",
    "PayloadTooLarge",
    "UnsupportedMediaType",
]
__version__ = "0.1.0"
