# The model-serving (and training) image: this project's runtime and handlers in a virtualenv on a
# slim Python.
#
#   docker build --network host -t byoc-toolkit .
#   docker run --network host -v "$PWD/model:/opt/ml/model:ro" byoc-toolkit serve
#
# SageMaker starts it as `docker run IMAGE serve` for an endpoint (`docker run IMAGE` serves too),
# and as `docker run IMAGE train` for a training job in script mode (container/training). Any base with
# Python 3.11 and its venv module works: a machine without Docker Hub passes one built locally
# (local_test/build_base_image.sh). A model can be baked in with Dockerfile.with-model.
#
# HANDLERS selects the handlers the image carries: "all" (the default: every module of handlers/), or a
# comma- or space-separated list such as "sklearn,xgboost" for a smaller image. Each handler's
# dependencies come from requirements-handler-NAME.lock; the others' modules are left out of the image,
# so BYOC_HANDLER names only what it can serve.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG HANDLERS=all

# ---- build: the virtualenv, from the pinned and hashed dependency set -------------------------
FROM ${BASE_IMAGE} AS build
ARG HANDLERS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements-build.lock requirements.lock requirements-handler-*.lock /tmp/locks/
# pip and the build backend first (same versions on every base), then the runtime dependencies, then
# those of the chosen handlers (a handler without a lock needs only the runtime's): exact versions,
# every file checked against its hash, nothing resolved at build time. The test suites that numpy,
# scipy and scikit-learn ship (a fifth of the virtualenv) are never imported.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/locks/requirements-build.lock \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/locks/requirements.lock \
 && for lock in /tmp/locks/requirements-handler-*.lock; do \
        name="${lock#/tmp/locks/requirements-handler-}"; name="${name%.lock}"; \
        case " $(echo "$HANDLERS" | tr ',' ' ') " in *" all "*|*" $name "*) ;; *) continue ;; esac; \
        echo "handler $name: installing $(basename "$lock")"; \
        /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r "$lock" || exit 1; \
    done \
 && find /opt/venv/lib/python3.11/site-packages/numpy /opt/venv/lib/python3.11/site-packages/scipy \
         /opt/venv/lib/python3.11/site-packages/sklearn -depth -type d -name tests -exec rm -rf {} +
# The project last, so that a code change rebuilds only this layer. Built with the pinned
# setuptools (no build isolation, no download), which is then removed: nothing at run time needs it.
COPY pyproject.toml README.md /src/
COPY container /src/container
COPY handlers /src/handlers
COPY byoc.py /src/
# The handlers not chosen are removed, then each one left must import: a handler named in HANDLERS that
# does not exist, or whose dependencies are missing, fails the build here rather than at serve time.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-index /src \
 && /opt/venv/bin/pip uninstall --yes setuptools \
 && rm -rf /src /tmp/locks /root/.cache \
 && chosen=" $(echo "$HANDLERS" | tr ',' ' ') " \
 && installed=/opt/venv/lib/python3.11/site-packages/handlers \
 && for path in "$installed"/*; do \
        name="$(basename "$path" .py)"; \
        case "$name" in _*) continue ;; esac; \
        case "$chosen" in *" all "*|*" $name "*) ;; *) rm -rf "$path" ;; esac; \
    done \
 && for name in $chosen; do \
        [ "$name" = all ] || [ -e "$installed/$name" ] || [ -e "$installed/$name.py" ] \
            || { echo "HANDLERS: no handler named $name in handlers/" >&2; exit 1; }; \
    done \
 && /opt/venv/bin/python -c "import byoc, container.serving.server, container.cli, container.training.trainer, boto3" \
 && /opt/venv/bin/python -c "import pkgutil, importlib, handlers; \
[importlib.import_module('handlers.' + m.name) for m in pkgutil.iter_modules(handlers.__path__) if not m.name.startswith('_')]; \
print('handlers:', ', '.join(sorted(m.name for m in pkgutil.iter_modules(handlers.__path__) if not m.name.startswith('_'))))"

# ---- runtime -------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# multi-models=true: the image may back a multi-model endpoint (SageMaker then starts it with
# SAGEMAKER_MULTI_MODEL=true and loads models through POST /models; docs/http.md).
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true \
      org.opencontainers.image.title="byoc-toolkit" \
      org.opencontainers.image.description="SageMaker-compatible model serving and training runtime (serve, train, byoc)"
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
# No ENTRYPOINT: SageMaker's `serve` or `train` argument replaces CMD and runs that command from
# PATH, exec form, so the server (or the trainer, which passes it on to the script) is PID 1 and
# receives SIGTERM itself. Runs as root, as SageMaker expects.
CMD ["serve"]
