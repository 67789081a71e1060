"""A test guest that exercises every helper of the guest SDK against the host.

Calls (JSON):

- ``{"op": "sync"}``: runs the synchronous ``process`` helpers (register,
  whereis, now, call, send_now, spawn_now, and their failures) and returns
  what each gave. Needs the ``counter`` component loaded.
- ``{"op": "async"}``: queues outbox work whose results come back as
  ``handle_info``: a send to a dead pid (tag 5), a spawn of ``counter``
  (tag 6) and of a missing component (tag 7).
- ``{"op": "infos"}``: the ``[kind, msg]`` pairs ``handle_info`` saw so far.
- ``{"op": "later"}`` then ``{"op": "now"}``: a deferred reply.
- ``{"op": "crash"}``: raises, so the actor exits with an error.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import (
    NOREPLY,
    CallFailed,
    From,
    GenServer,
    RegisterFailed,
    SendFailed,
    SpawnFailed,
)

DEAD_PID = 2**40


class Tour(GenServer):
    def init(self, args: str) -> None:
        self.infos: list[list[Any]] = []
        self.pending: From | None = None

    def handle_info(self, kind: str, msg: Any) -> None:
        self.infos.append([kind, msg])

    def handle_call(self, msg: Any, from_: From) -> Any:
        op = msg["op"]
        if op == "sync":
            return self.sync()
        if op == "async":
            self.send(DEAD_PID, "lost", tag=5)
            self.spawn("counter", 7, tag=6)
            self.spawn("missing", tag=7)
            return "queued"
        if op == "infos":
            return self.infos
        if op == "later":
            self.pending = from_
            return NOREPLY
        if op == "now":
            assert self.pending is not None
            self.reply(self.pending, "deferred ✓")
            return "replied"
        if op == "crash":
            return 1 // 0
        raise ValueError(f"unknown op {op!r}")

    def sync(self) -> dict[str, Any]:
        out: dict[str, Any] = {"self": self.self_pid(), "now": self.now() > 0}
        self.register("tour")
        try:
            self.register("another-name")
        except RegisterFailed as exc:
            out["register_again"] = exc.reason
        out["whereis"] = self.whereis("tour")
        out["whereis_missing"] = self.whereis("missing")
        try:
            self.call(self.self_pid(), "me")
        except CallFailed as exc:
            out["call_self"] = exc.kind
        try:
            self.call(DEAD_PID, "hello")
        except CallFailed as exc:
            out["call_dead"] = [exc.kind, exc.detail]
        try:
            self.send_now(DEAD_PID, "hello")
        except SendFailed as exc:
            out["send_dead"] = exc.error
        try:
            self.spawn_now("missing")
        except SpawnFailed as exc:
            out["spawn_missing"] = exc.reason
        child = self.spawn_now("counter", 41)
        self.send_now(child, {"op": "inc", "by": 1})
        out["child_count"] = self.call(child, {"op": "get"})
        out["child_echo"] = self.call(child, {"op": "echo", "v": "ünï ✓"})
        self.log("info", "tour done ✓")
        return out


Actor = hostkit_guest.export(Tour)
