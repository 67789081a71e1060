"""A Python guest using other nodes through the guest SDK (``hostkit_guest.remote``),
built against ``hostkit:federation/federated-plugin`` (tests/test_federation_guest_sdk.py).

Calls (JSON):

- ``{"op": "whereis", "node": n, "name": s}``: ``{name, node}`` -> the pid and
  what ``remote`` says about it: ``{"pid", "slot", "local", "node"}``.
- ``{"op": "call", "pid": p, "msg": m}``: ``m`` sent as a call to ``p``; its answer.
- ``{"op": "spawn", "node": n, "component": c, "digest": d}``: the new pid.
- anything else from another actor: ``{"from_node": <node of the caller>, "msg": ...}``.

Failures come back as ``{"error": <case>, "detail": ...}``.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, remote


class FedSdk(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        try:
            if op == "whereis":
                pid = remote.whereis(msg["node"], msg["name"])
                return {
                    "pid": pid,
                    "slot": remote.node_slot(pid),
                    "local": remote.is_local(pid),
                    "node": remote.node_of(pid),
                }
            if op == "call":
                return self.call(msg["pid"], msg["msg"], timeout_ms=5000)
            if op == "spawn":
                return remote.spawn(msg["node"], msg["component"], msg["digest"])
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}
        return {"from_node": remote.node_of(from_.pid), "msg": msg}


Actor = hostkit_guest.export(FedSdk)
