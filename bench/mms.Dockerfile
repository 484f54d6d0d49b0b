# sagemaker-inference on multi-model-server, the way AWS's framework containers (scikit-learn among
# them, before their move to other servers) package it: Java for MMS's frontend, the toolkit and MMS
# in a virtualenv, and a `serve` that calls model_server.start_model_server() with the toolkit's
# default handler service, which imports the user module from /opt/ml/model/code.
#
#   docker build --network host -f bench/mms.Dockerfile --build-arg BASE_IMAGE=... \
#       --build-arg PACKAGES="sagemaker-inference==... multi-model-server==... scikit-learn==..." bench/servers
#
# bench/servers/mms_serve.py is that call, with MMS's addresses on 127.0.0.1 instead of 0.0.0.0 (the
# benchmark runs containers on the host's network) and its config written to $BENCH_MMS_CONFIG.
# The versions are the benchmark's MMS virtualenv's (bench/setup_env.py), passed in by bench/images.py.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG PACKAGES
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir ${PACKAGES} \
 && rm -rf /root/.cache
COPY mms_serve.py /opt/mms_serve.py
# SageMaker starts a serving container as `docker run IMAGE serve`.
RUN printf '#!/bin/sh\nexec python /opt/mms_serve.py "$@"\n' > /opt/venv/bin/serve && chmod 0755 /opt/venv/bin/serve
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BENCH_MMS_CONFIG=/tmp/sagemaker-mms.properties
RUN mkdir -p /opt/ml/model
WORKDIR /opt/ml
CMD ["serve"]
