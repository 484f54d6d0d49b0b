"""The handler service of the multi-model-server baseline in multi-model mode.

AWS's toolkit's default handler service only sets PYTHONPATH to the model's code/ when it
initialises, which the running worker's import system never reads: under SAGEMAKER_MULTI_MODEL it
cannot find a model's code/inference.py. AWS's framework containers ship handler services of their
own that put the model's code/ on sys.path; this one does the same, then hands over to the toolkit's
DefaultHandlerService unchanged. MMS runs one worker process per model, so the module-level service
is the model's own.
"""

import os
import sys

from sagemaker_inference.default_handler_service import DefaultHandlerService

_service = None


def handle(data, context):
    global _service
    if _service is None:
        sys.path.insert(0, os.path.join(context.system_properties["model_dir"], "code"))
        _service = DefaultHandlerService()
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
