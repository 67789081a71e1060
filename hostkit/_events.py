"""One stream of typed host events, and the audit log as its essential
subscriber.

The runtime publishes what happened to actors and signals -- spawned,
exited (with the pid whose signal caused it), killed, a spawn refused by a
limit, a protocol violation, a restart -- as small frozen values. Subscribers
(the audit log always, when the host has one; metrics and an observer later)
are called synchronously, on whichever thread the event happened, in the
order they subscribed. A subscriber must be thread-safe and quick; one that
raises is logged and the rest still run, except the audit subscriber, whose
failure is the caller's to see (nothing unaudited is silently dropped).

Pure standard library: importable without wasmtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._pid import ExitReason, Pid
from ._text import inert

__all__ = [
    "ActorExited",
    "ActorKilled",
    "ActorRestarted",
    "ActorSpawned",
    "AuditSubscriber",
    "EventBus",
    "HostEvent",
    "LimitReached",
    "ProtocolViolation",
    "SpawnRefused",
]

log = logging.getLogger("hostkit.events")


@dataclass(frozen=True, slots=True)
class ActorSpawned:
    """An actor's ``init`` succeeded. ``parent`` is the spawning actor, or
    None when host code spawned it."""

    pid: Pid
    plugin: str
    parent: Pid | None = None


@dataclass(frozen=True, slots=True)
class ActorExited:
    """An actor ended. ``cause`` is the pid whose signal ended it (a linked
    actor's exit, an exit signal, the host's kill), None when it ended on its
    own (returned, trapped, ran out of budget)."""

    pid: Pid
    plugin: str
    reason: ExitReason
    cause: Pid | None = None


@dataclass(frozen=True, slots=True)
class ActorKilled:
    """Host code killed (or sent an untrappable exit signal to) an actor."""

    pid: Pid
    plugin: str
    detail: str


@dataclass(frozen=True, slots=True)
class SpawnRefused:
    """A spawn was refused by a limit (live actors, depth, time left) or
    failed because the OS refused resources. ``parent`` asked for it."""

    plugin: str
    detail: str
    parent: Pid | None = None


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """An actor broke the frame protocol (a forged reply, a malformed
    outbox) or went past a per-activation cap; it is ended for it."""

    pid: Pid
    plugin: str
    detail: str


@dataclass(frozen=True, slots=True)
class LimitReached:
    """An actor's mailbox could not take a system frame; it is ended."""

    pid: Pid
    plugin: str
    detail: str


@dataclass(frozen=True, slots=True)
class ActorRestarted:
    """A supervisor restarted a child (or wrote another supervision record):
    ``fields`` are the record's fields."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


HostEvent = (
    ActorSpawned
    | ActorExited
    | ActorKilled
    | SpawnRefused
    | ProtocolViolation
    | LimitReached
    | ActorRestarted
)
Subscriber = Callable[[HostEvent], None]


class EventBus:
    """Fan-out of host events. ``essential`` subscribers (the audit log)
    propagate their errors; the others are logged and skipped."""

    __slots__ = ("_essential", "_others")

    def __init__(self) -> None:
        self._essential: list[Subscriber] = []
        self._others: list[Subscriber] = []

    def subscribe(self, fn: Subscriber, *, essential: bool = False) -> None:
        (self._essential if essential else self._others).append(fn)

    def __bool__(self) -> bool:
        return bool(self._essential or self._others)

    def publish(self, event: HostEvent) -> None:
        for fn in self._essential:
            fn(event)
        for fn in self._others:
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", fn, event)


class _Recorder(Protocol):
    def record(self, event: str, /, **fields: Any) -> Any: ...


class AuditSubscriber:
    """Turns host events into audit records (``spawn``, ``exit``, ``kill``,
    ``spawn-refused``, ``protocol-violation``, ``limit``, ``restart``...).
    Guest-chosen text (stop reasons) is made inert first."""

    __slots__ = ("_log",)

    def __init__(self, log: _Recorder) -> None:
        self._log = log

    def __call__(self, ev: HostEvent) -> None:
        rec = self._log.record
        if isinstance(ev, ActorSpawned):
            rec(
                "spawn",
                actor=str(ev.pid),
                plugin=ev.plugin,
                parent=None if ev.parent is None else str(ev.parent),
            )
        elif isinstance(ev, ActorExited):
            rec(
                "exit",
                actor=str(ev.pid),
                plugin=ev.plugin,
                detail=inert(str(ev.reason)),
                cause=None if ev.cause is None else str(ev.cause),
            )
        elif isinstance(ev, ActorKilled):
            rec("kill", actor=str(ev.pid), plugin=ev.plugin, detail=ev.detail)
        elif isinstance(ev, SpawnRefused):
            rec(
                "spawn-refused",
                actor=None if ev.parent is None else str(ev.parent),
                plugin=ev.plugin,
                detail=inert(ev.detail),
            )
        elif isinstance(ev, ProtocolViolation):
            rec("protocol-violation", actor=str(ev.pid), plugin=ev.plugin, detail=inert(ev.detail))
        elif isinstance(ev, LimitReached):
            rec("limit", actor=str(ev.pid), plugin=ev.plugin, detail=ev.detail)
        else:
            rec(ev.event, **ev.fields)
