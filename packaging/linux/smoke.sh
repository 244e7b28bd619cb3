#!/usr/bin/env bash
# Starts the built Linux bundle and checks it (see packaging/linux/smoke.py):
#
#     packaging/linux/smoke.sh [BUNDLE_DIR] [--runs N] [--compare-venv] [--drop-caches]
#
# Needs the development venv (.venv: python-xlib, Pillow, pytest for tests/xserver.py),
# Xvfb and trayer (.ci/run installs both).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
exec "$PY" "$ROOT/packaging/linux/smoke.py" "$@"
