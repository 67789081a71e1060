"""goblins: a well-behaved mod. Every 30th frame it spawns a goblin near
the player, and every 90th it also asks for a troll, which the game's
policies refuse; asked ``"status"``, it answers what it did so far.

The game casts ``{"event": "frame", "n": N}`` to every mod once per frame.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed
from wit_world.imports import world as _world

# The game's API (acme:game/world), with refusals raised as the SDK's
# HostCallDenied / HostCallFailed instead of componentize-py's raw Err.
world = hostkit_guest.app_api(_world)


class Goblins(GenServer):
    def init(self, args: str) -> None:
        self.spawned: list[int] = []
        self.refused: list[str] = []

    def handle_cast(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("event") != "frame":
            return
        n = int(msg["n"])
        if n % 30 == 0:
            # Every 90th frame it would like a troll too; the policies say no.
            for kind in ("goblin", "troll") if n % 90 == 0 else ("goblin",):
                try:
                    self.spawned.append(world.spawn_monster(kind, n % 16, 2))
                except HostCallFailed as exc:  # the game's `error` variant: denied or invalid
                    self.refused.append(f"{kind}: {exc.case}")

    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "status":
            return {"spawned": len(self.spawned), "refused": self.refused, "tick": world.tick()}
        raise ValueError(f"unknown call {msg!r}")


Actor = hostkit_guest.export(Goblins)
