#!/usr/bin/env bash
# Build a local Python base image with debootstrap, for machines that cannot pull from Docker Hub
# (this project's CI among them). The result stands in for python:3.11-slim-bookworm:
#
#     local_test/build_base_image.sh [TAG]        # prints the tag; default byoc-base:bookworm-1
#     docker build --network host --build-arg BASE_IMAGE=byoc-base:bookworm-1 -t byoc-toolkit .
#
# Debian bookworm with python3 (3.11), python3-venv, python3-pip and ca-certificates. The mirror is
# this machine's own (the URIs of the bookworm suite in /etc/apt/sources.list.d/*.sources, or
# /etc/apt/sources.list), and this machine's CA bundle replaces the image's so that pip inside
# `docker build` trusts what this machine trusts. Cached by tag: an existing image is reused.
# Needs root and debootstrap; progress goes to stderr, only the tag to stdout.
set -euo pipefail

TAG="${1:-byoc-base:bookworm-1}"
SUITE=bookworm

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG exists, reused" >&2
    echo "$TAG"
    exit 0
fi

mirror_from_apt_sources() {
    local file
    # deb822 files: the first stanza whose Suites list holds the plain suite name.
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -r "$file" ] || continue
        awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; found = 0
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uris = u[1] }
                    if (line ~ /^Suites:/) {
                        sub(/^Suites:[ \t]*/, "", line); n = split(line, s, /[ \t]+/)
                        for (j = 1; j <= n; j++) if (s[j] == suite) found = 1
                    }
                }
                if (found && uris != "") { print uris; exit }
            }' "$file"
    done
    # one-line format
    if [ -r /etc/apt/sources.list ]; then
        awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) break;
            if ($(i + 1) == suite) print $i }' /etc/apt/sources.list
    fi
}

MIRROR="$(mirror_from_apt_sources | head -n 1)"
if [ -z "$MIRROR" ]; then
    echo "build_base_image: no $SUITE mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "build_base_image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "build_base_image: debootstrap needs root" >&2; exit 1; }

WORK="$(mktemp -d /tmp/byoc-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

echo "build_base_image: debootstrap $SUITE from $MIRROR (about a minute)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2
    exit 1
}
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# Nothing of the build machine's package state is needed at run time.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log

tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
echo "build_base_image: built $TAG" >&2
echo "$TAG"
