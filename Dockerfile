# The model-serving image: this project's runtime and handlers in a virtualenv on a slim Python.
#
#   docker build --network host -t byoc-toolkit .
#   docker run --network host -v "$PWD/model:/opt/ml/model:ro" byoc-toolkit serve
#
# SageMaker starts it as `docker run IMAGE serve`; `docker run IMAGE` serves too. Any base with
# Python 3.11 and its venv module works: a machine without Docker Hub passes one built locally
# (local_test/build_base_image.sh). A model can be baked in with Dockerfile.with-model.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: the virtualenv, from the pinned and hashed dependency set -------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements-build.lock requirements.lock /tmp/locks/
# pip and the build backend first (same versions on every base), then the runtime dependencies:
# exact versions, every file checked against its hash, nothing resolved at build time. The test
# suites that numpy, scipy and scikit-learn ship (a fifth of the virtualenv) are never imported.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/locks/requirements-build.lock \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/locks/requirements.lock \
 && find /opt/venv/lib/python3.11/site-packages/numpy /opt/venv/lib/python3.11/site-packages/scipy \
         /opt/venv/lib/python3.11/site-packages/sklearn -depth -type d -name tests -exec rm -rf {} +
# The project last, so that a code change rebuilds only this layer. Built with the pinned
# setuptools (no build isolation, no download), which is then removed: nothing at run time needs it.
COPY pyproject.toml README.md /src/
COPY container /src/container
COPY handlers /src/handlers
COPY byoc.py /src/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-index /src \
 && /opt/venv/bin/pip uninstall --yes setuptools \
 && printf '#!/bin/sh\n# SageMaker training jobs run `train`: say clearly that this image only serves.\nexec serve train "$@"\n' \
      > /opt/venv/bin/train \
 && chmod 0755 /opt/venv/bin/train \
 && rm -rf /src /tmp/locks /root/.cache \
 && /opt/venv/bin/python -c "import byoc, container.serving.server, container.cli, handlers.sklearn"

# ---- runtime -------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# multi-models=true: the image may back a multi-model endpoint (SageMaker then starts it with
# SAGEMAKER_MULTI_MODEL=true and loads models through POST /models; docs/http.md).
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true \
      org.opencontainers.image.title="byoc-toolkit" \
      org.opencontainers.image.description="SageMaker-compatible model serving runtime (serve, byoc)"
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /opt/venv /opt/venv
RUN mkdir -p /opt/ml/model /opt/ml/models
WORKDIR /opt/ml
EXPOSE 8080
# No ENTRYPOINT: SageMaker's `serve` argument replaces CMD and runs `serve` from PATH, exec form,
# so the server is PID 1 and receives SIGTERM itself. Runs as root, as SageMaker expects.
CMD ["serve"]
