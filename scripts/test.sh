#!/usr/bin/env bash
# Set up and run every gate: ruff, mypy --strict on hostkit/, the test suite.
source "$(dirname "$0")/_venv.sh"
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
