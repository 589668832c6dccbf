#!/usr/bin/env sh
# Pins every dependency to an exact version with the hashes of all its files, from pyproject.toml's
# ranges: requirements/runtime.lock (the server) and requirements/test.lock (the server and the
# test extra; the server's pins are the same in both). Resolved for Linux and Python 3.11, the
# oldest Python qasid supports. Existing pins are kept: pass --upgrade (or --upgrade-package NAME)
# to move them. Needs uv (`pip install uv`); installing from the locks needs only pip.
set -eu
cd "$(dirname "$0")/.."
common="--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet"
uv pip compile pyproject.toml $common --custom-compile-command "scripts/lock.sh" \
    -o requirements/runtime.lock "$@"
uv pip compile pyproject.toml --extra test --constraint requirements/runtime.lock $common \
    --custom-compile-command "scripts/lock.sh" -o requirements/test.lock "$@"
