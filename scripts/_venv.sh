# Sourced by the scripts: create .venv once and install hostkit with its test
# and build extras (wasmtime, cedarpy, componentize-py, wasm-tools come from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
