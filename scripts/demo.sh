#!/usr/bin/env bash
# Set up and run the demo: builds the example components, then runs actors
# in a local host (no services to start).
source "$(dirname "$0")/_venv.sh"
.venv/bin/python plugins/build.py echo ring loop trap spawner >/dev/null
exec .venv/bin/hostkit demo "$@"
