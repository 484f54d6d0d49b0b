"""Multi-model mode: many models behind one container, loaded and unloaded through /models.

SageMaker starts the image with SAGEMAKER_MULTI_MODEL=true for a multi-model endpoint. The rooms:
server (the processes), manager (which models are loaded, memory admission), host (one model's
process, the single-model server on a socket), app (the front's routes), proxy (front to model and
to manager), catalog (the records and the routes' answers), memory (limits and measurements),
requirements (a model's own packages).
"""
