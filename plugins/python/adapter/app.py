"""A partner integration adapter: hostkit's example of a Python guest using
the stock host functions (world ``hostkit:host/full-plugin``).

Calls (JSON), each answered ``{"ok": value}`` or ``{"error": case, "detail": text}``
where ``case`` is the host's WIT error case (``denied``, ``not-found``, ...):

- ``{"op": "read", "path": p}``: the text of guest file ``p``.
- ``{"op": "fetch", "url": u}``: GET ``u``; ``{"status": s, "body": b}``.
- ``{"op": "sync", "url": u, "key": k}``: GET ``u`` and store the body in
  kv under ``k``; the number of characters stored.
- ``{"op": "get", "key": k}`` / ``{"op": "set", "key": k, "value": v}``: kv.
- ``{"op": "keys", "prefix": p}``: kv keys starting with ``p``.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host


class Adapter(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        try:
            return {"ok": self.run(msg)}
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}

    def run(self, msg: Any) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "read":
            return host.files_read(msg["path"])
        if op == "fetch":
            resp = host.http_request("GET", msg["url"], timeout_ms=5000)
            return {"status": resp.status, "body": resp.body}
        if op == "sync":
            resp = host.http_request("GET", msg["url"], timeout_ms=5000)
            host.kv_set(msg["key"], resp.body)
            return len(resp.body)
        if op == "get":
            return host.kv_get(msg["key"])
        if op == "set":
            host.kv_set(msg["key"], msg["value"])
            return True
        if op == "keys":
            return host.kv_list_keys(msg.get("prefix", ""))
        raise ValueError(f"unknown op {op!r}")


Actor = hostkit_guest.export(Adapter)
