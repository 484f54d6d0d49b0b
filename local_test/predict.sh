#!/usr/bin/env bash
# Send one payload to a running model server's /invocations and show what came back.
#
#     local_test/predict.sh PAYLOAD [CONTENT_TYPE] [ACCEPT]
#
# CONTENT_TYPE defaults from the file's extension (.csv text/csv, .json application/json,
# .jsonl application/jsonlines, .npy application/x-npy, .npz application/x-npz, else
# application/octet-stream). Without ACCEPT no Accept header is sent, so the server answers with
# SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT. Prints the status, the headers that matter and the body.
#
# Environment: BYOC_URL (default http://127.0.0.1:$PORT, PORT default 8080, the port
# serve_local.sh uses), CUSTOM_ATTRIBUTES (sent as X-Amzn-SageMaker-Custom-Attributes),
# INFERENCE_ID (X-Amzn-SageMaker-Inference-Id).
# Exit status: 0 for a 2xx answer, 1 for any other status, 2 when the server cannot be reached.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 3 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
PAYLOAD="$1"
[ -f "$PAYLOAD" ] || { echo "predict: no such file: $PAYLOAD" >&2; exit 2; }
case "$PAYLOAD" in
    *.csv) guessed=text/csv ;;
    *.json) guessed=application/json ;;
    *.jsonl) guessed=application/jsonlines ;;
    *.npy) guessed=application/x-npy ;;
    *.npz) guessed=application/x-npz ;;
    *.txt) guessed=text/plain ;;
    *) guessed=application/octet-stream ;;
esac
CONTENT_TYPE="${2:-$guessed}"
ACCEPT="${3:-}"
URL="${BYOC_URL:-http://127.0.0.1:${PORT:-8080}}"

command -v curl >/dev/null || { echo "predict: needs curl" >&2; exit 2; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

args=(--silent --show-error --noproxy '*' --max-time "${PREDICT_TIMEOUT:-90}"
      -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}'
      -H "Content-Type: $CONTENT_TYPE" --data-binary "@$PAYLOAD")
if [ -n "$ACCEPT" ]; then args+=(-H "Accept: $ACCEPT"); else args+=(-H "Accept:"); fi
[ -n "${CUSTOM_ATTRIBUTES:-}" ] && args+=(-H "X-Amzn-SageMaker-Custom-Attributes: $CUSTOM_ATTRIBUTES")
[ -n "${INFERENCE_ID:-}" ] && args+=(-H "X-Amzn-SageMaker-Inference-Id: $INFERENCE_ID")

if ! status="$(curl "${args[@]}" "$URL/invocations")"; then
    echo "predict: no answer from $URL (is the server running? local_test/serve_local.sh)" >&2
    exit 2
fi

echo "POST $URL/invocations  $(basename "$PAYLOAD")  Content-Type: $CONTENT_TYPE  Accept: ${ACCEPT:-(none)}"
echo "status: $status"
grep -i -E '^(content-type|x-request-id|x-model-latency-us|x-overhead-latency-us|x-amzn-sagemaker-custom-attributes):' \
    "$TMP/headers" | tr -d '\r' | sed 's/^/  /' || true
echo
if [ "$(tr -d '\000' <"$TMP/body" | wc -c)" != "$(wc -c <"$TMP/body")" ]; then
    echo "($(wc -c <"$TMP/body") bytes of binary data)"
else
    cat "$TMP/body"
    [ -z "$(tail -c 1 "$TMP/body")" ] || echo
fi
case "$status" in 2??) exit 0 ;; *) exit 1 ;; esac
