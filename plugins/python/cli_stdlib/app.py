"""Measures which standard-library modules a guest has.

componentize-py snapshots the guest after running app.py's top level, and
the guest gets no filesystem at run time: a module is there if it was
imported at build time. So this app imports every module it can at build
time (except ``LATE``) and reports:

call {"results": true} -> {name: "ok" | "<Exception>: message"} (build time)
call {"version": true} -> the guest's sys.version
call {"use": "urllib"} -> urllib.parse.quote("a b") (run time, preloaded)
call {"import": name}  -> "ok" or "<Exception>: message" (run time import)
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import hostkit_guest

# Not imported at build time, to show that a run-time import then fails.
LATE = {"colorsys"}
# Imports with side effects on the build machine (a browser, printing).
SKIP = {"antigravity", "this", "idlelib", "turtledemo", "__hello__", "__phello__"}

RESULTS: dict[str, str] = {}
for _name in sorted(sys.stdlib_module_names):
    if _name in LATE or _name in SKIP:
        continue
    try:
        importlib.import_module(_name)
    except BaseException as exc:  # noqa: BLE001 - we report every failure
        RESULTS[_name] = f"{type(exc).__name__}: {exc}"
    else:
        RESULTS[_name] = "ok"


def handle(msg: Any) -> Any:
    if msg.get("results"):
        return RESULTS
    if msg.get("version"):
        return sys.version
    if msg.get("use") == "urllib":
        import urllib.parse

        return urllib.parse.quote("a b")
    try:
        importlib.import_module(msg["import"])
    except BaseException as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return "ok"


Actor = hostkit_guest.export(handle)
