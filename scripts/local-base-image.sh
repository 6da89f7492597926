#!/bin/sh
# A Python 3.11 base image built from Debian packages alone (debootstrap + `docker import`), for a
# machine that reaches deb.debian.org and PyPI but not Docker Hub. The Dockerfile then builds on it:
#   scripts/local-base-image.sh                    # tags cairn-base:bookworm-py311
#   make image PYTHON_IMAGE=cairn-base:bookworm-py311
# Python is Debian's python3 (3.11) in a venv at /opt/python, first on PATH, so `python` and `pip`
# behave as in the python:3.11-slim image. Behind a TLS-intercepting proxy, EXTRA_CA_DIR names a
# directory of extra CA certificates (*.crt) the image should trust (pip in the build stage needs it).
# Needs root (debootstrap, chroot) and a running Docker daemon.
set -eu
TAG=${TAG:-cairn-base:bookworm-py311}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOT" "$MIRROR"
chroot "$ROOT" python3 -m venv /opt/python
if [ -n "${EXTRA_CA_DIR:-}" ]; then
    cp "$EXTRA_CA_DIR"/*.crt "$ROOT/usr/local/share/ca-certificates/"
    chroot "$ROOT" update-ca-certificates
fi
# What an image does not need: package lists (the build stage runs apt-get update), docs, locales.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* \
    "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
tar -C "$ROOT" -c . | docker import \
    -c 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["python3"]' - "$TAG"
echo "built $TAG"
