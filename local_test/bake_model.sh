#!/usr/bin/env bash
# Bake a model into the serving image: a self-contained image that serves with no mount.
#
#     local_test/bake_model.sh IMAGE MODEL_DIR|model.tar.gz NEW_TAG
#
# Builds Dockerfile.with-model FROM IMAGE. A model directory is packed into model.tar.gz first
# (files at the archive root, as SageMaker expects); the archive is then opened inside the image
# with the toolkit's safe extraction. Run the result with no model mount:
#
#     docker run --network host NEW_TAG serve
set -euo pipefail

if [ $# -ne 3 ]; then sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
IMAGE="$1" MODEL="$2" TAG="$3"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

CONTEXT="$(mktemp -d "${TMPDIR:-/tmp}/byoc-bake.XXXXXX")"
trap 'rm -rf "$CONTEXT"' EXIT
if [ -d "$MODEL" ]; then
    # The directory's entries at the archive root (no "./" entry for the directory itself).
    (cd "$MODEL" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | tar --null -T - -czf "$CONTEXT/model.tar.gz")
elif [ -f "$MODEL" ]; then
    cp "$MODEL" "$CONTEXT/model.tar.gz"
else
    echo "bake_model: no model directory or archive at $MODEL" >&2
    exit 1
fi
cp "$ROOT/Dockerfile.with-model" "$CONTEXT/Dockerfile"
docker build --network host --build-arg "IMAGE=$IMAGE" -t "$TAG" "$CONTEXT"
# The classic builder keeps the extract stage as an untagged image (which pins IMAGE's layers);
# remove it. Only untagged images with this stage's label are touched.
docker image prune --force --filter label=org.byoc-toolkit.stage=model-extract >/dev/null
