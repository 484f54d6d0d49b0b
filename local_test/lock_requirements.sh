#!/usr/bin/env bash
# Regenerate the image's pinned dependency set from pyproject.toml (runtime dependencies only, no
# extras, no dev tools), with hashes for every published file of each pinned version:
#
#     local_test/lock_requirements.sh          # rewrites requirements.lock and requirements-build.lock
#
#   requirements.lock        what the image installs into /opt/venv (pip install --no-deps --require-hashes)
#   requirements-build.lock  pip and the build backend (setuptools, from [build-system]) used to
#                            build and install the project itself inside the image
#
# Runs pip-compile (pip-tools) for Python 3.11, the image's Python, from a throwaway virtualenv and
# against PyPI alone: local pip configuration (extra indexes, find-links) is ignored so the lock
# names only what any machine can fetch. Commit both files; rebuild the image.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "lock_requirements: needs Python 3.11 (the image's); set PYTHON=/path/to/python3.11" >&2
    exit 1
}

TOOLS="$(mktemp -d /tmp/byoc-lock.XXXXXX)"
trap 'rm -rf "$TOOLS"' EXIT
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_INDEX
"$PYTHON" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install --quiet "pip-tools==7.5.*" 

export CUSTOM_COMPILE_COMMAND="local_test/lock_requirements.sh"
COMMON=(--quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
        --no-emit-trusted-host --resolver=backtracking --newline=LF)

"$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" -o requirements.lock pyproject.toml
# setuptools: the build backend pyproject.toml's [build-system] asks for; pip: the installer.
printf 'pip\nsetuptools>=77\n' >"$TOOLS/build.in"
"$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" --allow-unsafe -o requirements-build.lock "$TOOLS/build.in"
sed -i "s|$TOOLS/build.in|pip, setuptools>=77 (see local_test/lock_requirements.sh)|" requirements-build.lock
echo "wrote requirements.lock and requirements-build.lock"
