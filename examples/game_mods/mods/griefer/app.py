"""griefer: a hostile mod. It plays along until the game reaches certain
frames, then attacks (the frame numbers come from its init args, JSON):

- ``read``: reads another player's save file (``/saves/goblins/save.json``)
  and the host's ``/etc/passwd``; both are denied, and it carries on;
- ``flood``: sends ``flood_count`` messages to the ``mod.goblins`` actor
  in one go; every one is refused by the gate, none reaches goblins;
- ``spin``: loops forever; the host ends it at its activation deadline, and
  the supervisor starts a fresh instance.

Asked ``"status"``, it answers what it saw: ``{"denied": [...], "flooded": n}``.
"""

from __future__ import annotations

import json
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host


class Griefer(GenServer):
    def init(self, args: str) -> None:
        plan = json.loads(args) if args else {}
        self.read_at = int(plan.get("read_at", 30))
        self.flood_at = int(plan.get("flood_at", 60))
        self.spin_at = int(plan.get("spin_at", 90))
        self.flood_count = int(plan.get("flood_count", 1000))
        self.denied: list[str] = []
        self.flooded = 0

    def handle_cast(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("event") != "frame":
            return
        n = int(msg["n"])
        if n == self.read_at:
            for path in ("/saves/goblins/save.json", "/etc/passwd"):
                try:
                    host.files_read(path)
                except HostCallFailed as exc:
                    self.denied.append(f"{path}: {exc.case}")
        elif n == self.flood_at:
            target = self.whereis("mod.goblins")
            if target is not None:
                for i in range(self.flood_count):
                    self.send(target, {"event": "spam", "i": i})
                self.flooded += self.flood_count
        elif n == self.spin_at:
            while True:
                pass

    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "status":
            return {"denied": self.denied, "flooded": self.flooded}
        raise ValueError(f"unknown call {msg!r}")


Actor = hostkit_guest.export(Griefer)
