#!/usr/bin/env bash
# Run the image the way SageMaker does, on this machine, and wait until it is ready.
#
#     local_test/serve_local.sh [-d] IMAGE [MODEL_DIR | model.tar.gz] [-- DOCKER_RUN_OPTIONS...]
#
# The model (default: model_artifacts/build/model, which `make demo` or
# `python model_artifacts/train.py` writes) is mounted read-only at /opt/ml/model and the container
# is started as `docker run IMAGE serve`, on host networking. A model.tar.gz is first extracted
# into a directory with the toolkit's safe extraction, run inside the image itself
# (`byoc extract`), exactly as the runtime would open it; never with plain `tar -x`.
# Every SAGEMAKER_* and BYOC_* variable of your environment is passed through to the container.
#
#   -d, --detach   return once /ping answers 200 (stop later with `docker stop NAME`); without it
#                  the container's log is followed until Ctrl-C, which stops it with SIGTERM
#
# Environment: PORT (default $SAGEMAKER_BIND_TO_PORT or 8080), BIND_HOST (address the server binds,
# default 127.0.0.1: local testing stays on loopback; SageMaker's own default is 0.0.0.0),
# NAME (container name, default byoc-local; an existing container of that name is replaced),
# WAIT_SECONDS (how long to wait for /ping, default 120), WORK_DIR (where an archive is
# extracted, default local_test/.work).
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

DETACH=0
while [ $# -gt 0 ]; do
    case "$1" in
        -d|--detach) DETACH=1; shift ;;
        -h|--help) usage ;;
        -*) echo "serve_local: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
IMAGE="$1"; shift
HERE="$(cd "$(dirname "$0")" && pwd)"
MODEL="$HERE/../model_artifacts/build/model"
if [ $# -ge 1 ] && [ "$1" != "--" ]; then MODEL="$1"; shift; fi
EXTRA=()
if [ $# -ge 1 ]; then
    [ "$1" = "--" ] || usage
    shift
    EXTRA=("$@")
fi

PORT="${PORT:-${SAGEMAKER_BIND_TO_PORT:-8080}}"
BIND_HOST="${BIND_HOST:-127.0.0.1}"
NAME="${NAME:-byoc-local}"
WAIT_SECONDS="${WAIT_SECONDS:-120}"
WORK_DIR="${WORK_DIR:-$HERE/.work}"
case "$BIND_HOST" in 127.*) PROBE_HOST="$BIND_HOST" ;; *) PROBE_HOST=127.0.0.1 ;; esac
URL="http://$PROBE_HOST:$PORT"

command -v docker >/dev/null || { echo "serve_local: docker is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "serve_local: needs curl" >&2; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || {
    echo "serve_local: no image $IMAGE; build it first: docker build --network host -t $IMAGE ." >&2
    exit 1
}

if [ -d "$MODEL" ]; then
    MODEL_DIR="$(cd "$MODEL" && pwd)"
elif [ -f "$MODEL" ]; then
    archive="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"
    out="$WORK_DIR/$NAME"
    rm -rf "$out"
    mkdir -p "$out"
    out="$(cd "$out" && pwd)"
    echo "serve_local: extracting $archive with the image's byoc extract" >&2
    docker run --rm --network host --user "$(id -u):$(id -g)" \
        -v "$archive:/in/model.tar.gz:ro" -v "$out:/out" \
        "$IMAGE" byoc extract /in/model.tar.gz /out/model >&2
    MODEL_DIR="$out/model"
else
    echo "serve_local: no model at $MODEL (train the sample: python model_artifacts/train.py)" >&2
    exit 1
fi

# Pass the caller's SageMaker and toolkit settings through, as CreateModel's Environment would.
ENV_ARGS=()
while IFS='=' read -r var _; do
    case "$var" in
        BYOC_MODEL_DIR|BYOC_BIND_HOST|SAGEMAKER_BIND_TO_PORT) ;;  # set below for the container
        SAGEMAKER_*|BYOC_*) ENV_ARGS+=(-e "$var") ;;
    esac
done < <(env)

if docker container inspect "$NAME" >/dev/null 2>&1; then
    echo "serve_local: replacing the existing container $NAME" >&2
    docker rm -f "$NAME" >/dev/null
fi
docker run -d --name "$NAME" --network host \
    -v "$MODEL_DIR:/opt/ml/model:ro" \
    -e "SAGEMAKER_BIND_TO_PORT=$PORT" -e "BYOC_BIND_HOST=$BIND_HOST" \
    ${ENV_ARGS[@]+"${ENV_ARGS[@]}"} ${EXTRA[@]+"${EXTRA[@]}"} \
    "$IMAGE" serve >/dev/null
echo "serve_local: started $NAME from $IMAGE, model $MODEL_DIR -> /opt/ml/model, port $PORT" >&2

LOGS=""
stop() {
    trap - INT TERM
    echo >&2
    echo "serve_local: stopping $NAME with SIGTERM" >&2
    docker stop --time 30 "$NAME" >/dev/null || true
}
if [ "$DETACH" = 0 ]; then
    docker logs -f "$NAME" &
    LOGS=$!
    trap stop INT TERM
fi

deadline=$((SECONDS + WAIT_SECONDS))
while :; do
    if [ "$(docker container inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
        code="$(docker container inspect -f '{{.State.ExitCode}}' "$NAME")"
        echo "serve_local: the container exited with status $code before it was ready" >&2
        [ -n "$LOGS" ] || docker logs --tail 40 "$NAME" >&2
        exit 1
    fi
    status="$(curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "$URL/ping" || true)"
    [ "$status" = 200 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "serve_local: /ping did not answer 200 within $WAIT_SECONDS s (last: ${status:-no answer})" >&2
        [ -n "$LOGS" ] || docker logs --tail 40 "$NAME" >&2
        [ "$DETACH" = 1 ] || stop
        exit 1
    fi
    sleep 0.5
done

PREFIX=""
[ "$URL" = "http://127.0.0.1:8080" ] || PREFIX="BYOC_URL=$URL "
cat >&2 <<MSG
serve_local: ready at $URL (container $NAME). Try:
    ${PREFIX}local_test/predict.sh local_test/payloads/one_row.csv
    docker logs $NAME      # the server's log and its JSON access-log lines
    docker stop $NAME      # SIGTERM, as SageMaker sends it
MSG
[ "$DETACH" = 1 ] && exit 0

docker wait "$NAME" >/dev/null || true
code="$(docker container inspect -f '{{.State.ExitCode}}' "$NAME" 2>/dev/null || echo '?')"
[ -n "$LOGS" ] && wait "$LOGS" 2>/dev/null || true
echo "serve_local: $NAME exited with status $code" >&2
