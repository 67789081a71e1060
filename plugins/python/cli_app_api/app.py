"""Calls the application's acme:game API through hostkit_guest.app_api.

call {"op": "spawn", "kind": k, "x": x, "y": y} -> {"id": n} or
{"raised": exception class name, "case": ..., "detail": ...}
call {"op": "tick"} -> {"tick": n}
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import HostCallFailed
from wit_world.imports import world as _world

world = hostkit_guest.app_api(_world, name="acme:game/world")


def handle(msg: Any) -> Any:
    if msg.get("op") == "tick":
        return {"tick": world.tick()}
    try:
        return {"id": world.spawn_monster(msg["kind"], msg["x"], msg["y"])}
    except HostCallFailed as exc:
        return {"raised": type(exc).__name__, "case": exc.case, "detail": exc.detail,
                "text": str(exc)}
    except Exception as exc:  # anything else is a bug this test must see
        return {"raised": type(exc).__module__ + "." + type(exc).__name__}


Actor = hostkit_guest.export(handle)
