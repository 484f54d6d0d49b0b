#!/usr/bin/env bash
# Regenerate the image's pinned dependency sets from pyproject.toml, with hashes for every published file of
# each pinned version:
#
#     local_test/lock_requirements.sh          # rewrites the lock files below
#
#   requirements.lock                 the runtime's own dependencies (no extras): what every image installs
#                                     into /opt/venv (pip install --no-deps --require-hashes); the sklearn
#                                     handler needs nothing more
#   requirements-handler-NAME.lock    what handlers/NAME adds to them: the packages of the pyproject.toml
#                                     extra of the same name that requirements.lock does not hold. The
#                                     image installs the locks of the handlers its HANDLERS build argument
#                                     selects (see the Dockerfile)
#   requirements-build.lock           pip and the build backend (setuptools, from [build-system]) used to
#                                     build and install the project itself inside the image
#
# Every set is resolved against one resolution of the runtime with every handler's extra, so a package
# two sets share has one version, and any combination of handler locks installs consistently. Existing
# pins are kept (pip-compile's default), so adding a handler does not move the runtime's versions.
# Runs pip-compile (pip-tools) for Python 3.11, the image's Python, from a throwaway virtualenv and
# against PyPI alone: local pip configuration (extra indexes, find-links) is ignored so the lock
# names only what any machine can fetch. Commit the files; rebuild the image.
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

# The handlers that declare dependencies: each module or package in handlers/ with an extra of its name.
mapfile -t HANDLERS < <("$PYTHON" - <<'PY'
import pathlib, tomllib
extras = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"].get("optional-dependencies", {})
for path in sorted(pathlib.Path("handlers").iterdir()):
    name = path.stem if path.suffix == ".py" else path.name
    if not name.startswith("_") and (path.suffix == ".py" or (path / "__init__.py").is_file()) and name in extras:
        print(name)
PY
)
EXTRAS=()
for name in "${HANDLERS[@]}"; do EXTRAS+=(--extra "$name"); done

# 1. The runtime with every handler, seeded with the committed runtime pins; its pins, without hashes,
#    constrain every set below.
[ -f requirements.lock ] && cp requirements.lock "$TOOLS/all.lock"
"$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" "${EXTRAS[@]}" -o "$TOOLS/all.lock" pyproject.toml
grep -E '^[A-Za-z0-9]' "$TOOLS/all.lock" | sed 's/ *\\$//' >"$TOOLS/constraints.txt"

# 2. The runtime alone.
"$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" -c "$TOOLS/constraints.txt" -o requirements.lock pyproject.toml
sed -i "s|-c $TOOLS/constraints.txt|-c (the runtime with every handler's extra)|" requirements.lock

# 3. Each handler: its extra's resolution, less what requirements.lock already installs.
rm -f requirements-handler-*.lock
for name in "${HANDLERS[@]}"; do
    "$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" --extra "$name" -c "$TOOLS/constraints.txt" \
        -o "$TOOLS/$name.lock" pyproject.toml
    sed -i "s|-c $TOOLS/constraints.txt|-c (the runtime with every handler's extra)|" "$TOOLS/$name.lock"
    "$PYTHON" - "$TOOLS/$name.lock" requirements.lock "requirements-handler-$name.lock" "$name" <<'PY'
import re, sys
full, core, out, name = sys.argv[1:]
block = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)
in_core = {m.group(1).lower() for m in block.finditer(open(core).read())}
text = open(full).read()
starts = [m.start() for m in block.finditer(text)]
header = text[: starts[0]] if starts else text
kept = [
    text[start:end]
    for start, end in zip(starts, starts[1:] + [len(text)])
    if block.match(text, start).group(1).lower() not in in_core
]
header += f"# handlers/{name}: installed on top of requirements.lock (the packages it does not hold).\n"
open(out, "w").write(header + "".join(kept))
PY
done
# setuptools: the build backend pyproject.toml's [build-system] asks for; pip: the installer.
printf 'pip\nsetuptools>=77\n' >"$TOOLS/build.in"
"$TOOLS/venv/bin/pip-compile" "${COMMON[@]}" --allow-unsafe -o requirements-build.lock "$TOOLS/build.in"
sed -i "s|$TOOLS/build.in|pip, setuptools>=77 (see local_test/lock_requirements.sh)|" requirements-build.lock
echo "wrote requirements.lock, requirements-build.lock and the handler locks: ${HANDLERS[*]:-none}"
