"""notes: a notebook for an agent, kept in the host's per-plugin key-value
store (``kv``), so notes survive the tool being restarted.

``"schema"`` answers the tool's JSON schema; calls are
``{"action": "write", "title": t, "text": x}``, ``{"action": "read", "title": t}``
and ``{"action": "list"}``.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host

SCHEMA = {
    "name": "notes",
    "description": "Write, read and list short notes that persist between conversations.",
    "parameters": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["write", "read", "list"]},
            "title": {"type": "string", "maxLength": 100},
            "text": {"type": "string", "maxLength": 4000},
        },
        "required": ["action"],
        "additionalProperties": False,
    },
}


class Notes(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "schema":
            return SCHEMA
        action = msg.get("action") if isinstance(msg, dict) else None
        try:
            if action == "write":
                host.kv_set("note/" + msg["title"], msg["text"])
                return {"ok": "saved"}
            if action == "read":
                return {"ok": host.kv_get("note/" + msg["title"])}
            if action == "list":
                return {"ok": [k.removeprefix("note/") for k in host.kv_list_keys("note/")]}
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}
        except KeyError as exc:
            return {"error": "invalid", "detail": f"missing argument {exc}"}
        return {"error": "invalid", "detail": f"unknown action {action!r}"}


Actor = hostkit_guest.export(Notes)
