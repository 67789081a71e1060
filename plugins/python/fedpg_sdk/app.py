"""A Python guest in process groups through the guest SDK (``hostkit_guest.remote``),
built against ``hostkit:federation/federated-plugin``
(tests/test_federation_guest_groups.py).

Calls (JSON):

- ``{"op": "join" | "leave" | "members", "group": g}``: the SDK call's result
  (``null`` for join and leave, the pids for members).
- ``{"op": "publish", "group": g, "msg": m}``: ``m`` published as JSON; how
  many members it went to.
- ``{"op": "seen"}``: the casts this actor received, in order.

Spawned with init args ``join:<group>``, it joins ``group`` in ``init``.
Failures come back as ``{"error": <case>, "detail": ...}``.
"""

from __future__ import annotations

import json
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, remote


class FedPgSdk(GenServer):
    def init(self, args: str) -> None:
        self.seen: list[Any] = []
        if args.startswith("join:"):  # joining in init, as docs/reference/guest-sdk.md shows
            remote.join_group(args[5:])

    def handle_cast(self, msg: Any) -> None:
        self.seen.append(msg)

    def handle_call(self, msg: Any, from_: From) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        try:
            if op == "join":
                return remote.join_group(msg["group"])
            if op == "leave":
                return remote.leave_group(msg["group"])
            if op == "members":
                return remote.group_members(msg["group"])
            if op == "publish":
                return remote.publish(msg["group"], json.dumps(msg["msg"]))
            if op == "seen":
                return self.seen
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}
        return {"error": "unknown op"}


Actor = hostkit_guest.export(FedPgSdk)
