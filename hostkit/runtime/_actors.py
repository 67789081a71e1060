"""An actor's state: its instance, its bounded mailbox, its links and monitors.

The other runtime modules act on actors (``_scheduler`` runs them,
``_router`` fills their mailboxes, ``_links`` wires them together); this one
only holds what they share. Every field that two threads touch is read or
written under ``Actor.lock``.

An actor's ``state`` moves

    SPAWNING -> QUEUED <-> RUNNING -> ... -> EXITED
                  ^  ^        |  |
                  |  +-- IDLE <--+
                  +- SUSPENDED <-+

RUNNING -> QUEUED also when the activation's slice ended (its call is
kept in flight on the instance and resumed by whichever thread runs it
next); RUNNING -> SUSPENDED when the guest waits in a host function (an
async one, or ``process.call``): no thread runs it until what it waits on
resolves (or its time is up), which makes it QUEUED again. New frames for
a QUEUED-with-a-call-in-flight or SUSPENDED actor wait in its mailbox.

The call in flight is not always a ``deliver``: an actor whose ``init``
yielded or suspended moves SPAWNING -> QUEUED/SUSPENDED with ``starting``
set (nothing is delivered to it, and its spawner is answered, until
``init`` returns); an actor whose ``terminate`` yielded or suspended keeps
``terminating`` (its exit reason) and is EXITED only when ``terminate``
returns or is ended. Either is ended without re-entry when killed. An
actor whose outbox holds an ``n`` frame is SUSPENDED with ``outbox_rest``
(no call in flight) until the child's ``init`` ends; then the rest of its
outbox is routed, after the spawn's ``p`` frame.

Whoever appends to an IDLE actor's mailbox flips it to QUEUED and puts it on
a run queue. A QUEUED actor has one entry in a bulk queue and at most one
more on the priority deque (``promoted``); an activation starts only on the
QUEUED -> RUNNING step under the lock, so one actor never runs on two
threads at once and a stale entry is skipped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .._pid import ExitReason, Pid

if TYPE_CHECKING:
    from ._wasm import CompiledComponent, Instance

SPAWNING, IDLE, QUEUED, RUNNING, EXITED, SUSPENDED = range(6)
_STATE_NAMES: Final = ("spawning", "idle", "queued", "running", "exited", "suspended")


class Waiter:
    """A pending call's reply slot, resolved from any thread."""

    __slots__ = ("done", "error", "event", "on_done", "target", "value")

    def __init__(self, target: int, on_done: Callable[[Waiter], None] | None = None) -> None:
        self.target = target  # the callee's id: the only actor whose reply counts
        self.value: bytes | None = None
        self.error: tuple[str, str | None] | None = None
        self.done = False
        self.on_done = on_done
        self.event: threading.Event | None = None if on_done else threading.Event()

    def resolve(self, value: bytes | None, error: tuple[str, str | None] | None = None) -> None:
        if self.done:
            return
        self.value, self.error, self.done = value, error, True
        if self.on_done is not None:
            self.on_done(self)
        elif self.event is not None:
            self.event.set()


class Actor:
    """One running component instance. Users see only its :class:`Pid`."""

    __slots__ = (
        "building",
        "calls",
        "cast_prefix",
        "component",
        "depth",
        "exit_waiters",
        "id",
        "inherit",
        "init_args",
        "init_budget",
        "init_calls",
        "instance",
        "links",
        "lock",
        "mailbox",
        "mailbox_bytes",
        "monitored_by",
        "monitoring",
        "name",
        "outbox_ready",
        "outbox_rest",
        "pid",
        "promoted",
        "reason",
        "spawn_waiter",
        "starting",
        "state",
        "stop_reason",
        "terminating",
        "thread",
        "trap_exit",
        "waiting_on",
    )

    def __init__(
        self, aid: int, pid: Pid, component: CompiledComponent, init_args: bytes, depth: int = 0
    ) -> None:
        self.id = aid
        self.pid = pid
        # the header of a cast from this actor, up to the length field
        self.cast_prefix = b"c%016x0000000000000000" % aid
        self.component = component
        self.init_args = init_args
        self.depth = depth  # 0: spawned by host code; n: by a guest at depth n - 1
        self.instance: Instance | None = None
        self.lock = threading.Lock()
        self.mailbox: deque[bytes] = deque()
        self.mailbox_bytes = 0  # sum of len() over ``mailbox``
        self.state = SPAWNING
        self.name: str | None = None
        self.reason: ExitReason | None = None
        self.stop_reason: ExitReason | None = None
        self.calls: set[int] = set()  # refs of calls awaiting this actor's reply
        self.exit_waiters: list[Callable[[ExitReason], None]] = []
        # called once when the spawn ends: None (init succeeded) or the error
        self.spawn_waiter: Callable[[str | None], None] | None = None
        self.starting = False  # its call in flight is ``init`` (or instantiation)
        self.building = False  # ... instantiation (start functions): ``init`` comes next
        self.init_budget: tuple[int, float] = (0, 0.0)  # (fuel, deadline) of its ``init``
        self.terminating: ExitReason | None = None  # its call in flight is ``terminate``
        # (deadline, fuel, host calls): what a guest spawner left its ``init``
        self.inherit: tuple[float, int, int] | None = None
        self.init_calls = 0  # host calls its ``init`` made (charged to a guest spawner)
        # the rest of an outbox held behind an ``n`` frame's child init (and
        # frames routed before it), and whether that spawn has reported
        self.outbox_rest: tuple[bytes, int] | None = None
        self.outbox_ready = False
        self.links: set[int] = set()
        # monitor ref -> who watches this actor (an Actor, or a host callback)
        self.monitored_by: dict[int, Any] = {}
        self.monitoring: dict[int, int] = {}  # monitor ref -> target id
        self.trap_exit = False
        self.promoted = False  # has an entry on the priority deque
        self.thread = 0  # ident of the thread running its activation, 0 when none
        self.waiting_on = 0  # the callee of its suspended process.call, 0 when none

    @property
    def state_name(self) -> str:
        return "spawning" if self.starting else _STATE_NAMES[self.state]

    @property
    def plugin(self) -> str:
        """The component (plugin) name this actor runs."""
        return self.component.name


def describe(actor: Actor) -> dict[str, Any]:
    return {
        "pid": actor.pid,
        "component": actor.component.name,
        "name": actor.name,
        "state": actor.state_name,
        "mailbox": len(actor.mailbox),
        "mailbox_bytes": actor.mailbox_bytes,
    }
