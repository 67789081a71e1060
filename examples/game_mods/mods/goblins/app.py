"""goblins: a well-behaved mod. Every 30th frame it spawns a goblin near
the player; asked ``"status"``, it answers what it did so far.

The game casts ``{"event": "frame", "n": N}`` to every mod once per frame.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from componentize_py_types import Err
from hostkit_guest import From, GenServer
from wit_world.imports import world


class Goblins(GenServer):
    def init(self, args: str) -> None:
        self.spawned: list[int] = []
        self.refused: list[str] = []

    def handle_cast(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("event") != "frame":
            return
        n = int(msg["n"])
        if n % 30 == 0:
            try:
                self.spawned.append(world.spawn_monster("goblin", n % 16, 2))
            except Err as exc:  # the game's `error` variant: denied or invalid
                self.refused.append(str(exc.value.value))

    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "status":
            return {"spawned": len(self.spawned), "refused": self.refused, "tick": world.tick()}
        raise ValueError(f"unknown call {msg!r}")


Actor = hostkit_guest.export(Goblins)
