"""Which actors live on this host, under which names, and how many per plugin.

The registry owns the id space of this node: ids count up from 1 and are
never reused; every pid it hands out carries the node's name and creation.
Live counts per plugin and in total are kept here, under ``lock``, so the
spawn limits are checked and taken in one step (no check-then-act race).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import TYPE_CHECKING

from .._pid import ExitReason, Pid
from ._actors import EXITED, Actor

if TYPE_CHECKING:
    from ._wasm import CompiledComponent


class SpawnRefused(Exception):
    """Internal: a spawn limit refused a new actor; the text says which."""


class Registry:
    def __init__(
        self,
        node: str,
        creation: int,
        *,
        max_actors: int,
        max_actors_per_plugin: int,
        exit_history: int,
    ) -> None:
        self.node = node
        self.creation = creation
        self.max_actors = max_actors
        self.max_per_plugin = max_actors_per_plugin
        self.exit_history = exit_history
        self.actors: dict[int, Actor] = {}
        self.names: dict[str, Actor] = {}
        self.exited: dict[int, ExitReason] = {}
        self.per_plugin: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def pid(self, aid: int) -> Pid:
        return Pid(aid, self.node, self.creation)

    def new_actor(self, component: CompiledComponent, init_args: bytes, depth: int = 0) -> Actor:
        """Register a new SPAWNING actor, within the live-actor caps.

        Raises:
            SpawnRefused: the host or the plugin is at its cap.
        """
        plugin = component.name
        with self.lock:
            if len(self.actors) >= self.max_actors:
                raise SpawnRefused(f"the host is at max_actors ({self.max_actors} live actors)")
            if self.per_plugin[plugin] >= self.max_per_plugin:
                raise SpawnRefused(
                    f"plugin {plugin!r} is at max_actors_per_plugin "
                    f"({self.max_per_plugin} live actors)"
                )
            aid = next(self._ids)
            actor = Actor(aid, self.pid(aid), component, init_args, depth)
            self.actors[aid] = actor
            self.per_plugin[plugin] += 1
        return actor

    def lookup(self, aid: int) -> Actor | None:
        return self.actors.get(aid)

    def register(self, actor: Actor, name: str) -> str | None:
        """Give ``actor`` the name; None, or why not."""
        if not name or len(name) > 255:
            return "a name must be 1 to 255 characters"
        with self.lock:
            if actor.state == EXITED:
                return "actor is not alive"
            holder = self.names.get(name)
            if holder is not None and holder is not actor:
                return f"name {name!r} is already registered to {holder.pid}"
            if actor.name is not None and actor.name != name:
                return f"actor already registered as {actor.name!r}"
            self.names[name] = actor
            actor.name = name
        return None

    def remove(self, actor: Actor, reason: ExitReason) -> None:
        """Forget a dead actor, remembering its reason (bounded history)."""
        with self.lock:
            if self.actors.pop(actor.id, None) is not None:
                plugin = actor.component.name
                self.per_plugin[plugin] -= 1
                if self.per_plugin[plugin] <= 0:
                    del self.per_plugin[plugin]
            if actor.name is not None and self.names.get(actor.name) is actor:
                del self.names[actor.name]
            self.exited[actor.id] = reason
            if len(self.exited) > self.exit_history:
                self.exited.pop(next(iter(self.exited)))
