"""A counter actor, hostkit's reference Python guest.

Messages (JSON):

- cast ``{"op": "inc", "by": n}``: add ``n`` (default 1) to the count.
- cast ``{"op": "stop"}``: stop normally.
- call ``{"op": "get"}``: the count.
- call ``{"op": "echo", "v": value}``: ``value``, unchanged.
- call ``{"op": "self"}``: this actor's pid (via the ``process`` import).

It logs its final count when it terminates.

Init args: the initial count as JSON (``"5"``), or empty for 0.
"""

from __future__ import annotations

import json
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, StopGuest


class Counter(GenServer):
    count: int

    def init(self, args: str) -> None:
        start = json.loads(args) if args.strip() else 0
        if not isinstance(start, int) or isinstance(start, bool):
            raise StopGuest(f"init args must be an integer count, got {args!r:.100}")
        self.count = start

    def handle_cast(self, msg: Any) -> None:
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "inc":
            by = msg.get("by", 1)
            if not isinstance(by, int) or isinstance(by, bool):
                self.log("warn", f"ignored inc by a non-integer: {by!r:.100}")
                return
            self.count += by
        elif op == "stop":
            self.stop("normal")
        else:
            self.log("warn", f"ignored an unknown cast: {msg!r:.200}")

    def handle_call(self, msg: Any, from_: From) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "get":
            return self.count
        if op == "echo":
            return msg.get("v")
        if op == "self":
            return self.self_pid()
        return {"error": f"unknown call: {msg!r:.200}"}

    def terminate(self, reason: str) -> None:
        self.log("info", f"terminating ({reason}) at {self.count}")


Actor = hostkit_guest.export(Counter)
