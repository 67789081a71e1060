"""What flows in and out of the supervision decision core: events, actions, snapshots.

Plain frozen values, no behaviour: :mod:`._core` decides, a driver (such as
:mod:`._driver`) performs. The tables in ``docs/supervision.md`` ("The core
and the driver") describe each one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..runtime._pid import ExitReason
from ._spec import ChildSpec, Shutdown

# ---------------------------------------------------------------- events (in)


@dataclass(frozen=True)
class ChildStarted:
    """The :class:`StartChild` you performed succeeded; ``pid`` is kept for introspection."""

    id: str
    pid: object | None = None


@dataclass(frozen=True)
class ChildStartFailed:
    """The :class:`StartChild` you performed failed (its init trapped, was refused...)."""

    id: str
    reason: ExitReason


@dataclass(frozen=True)
class ChildExited:
    """A running child ended on its own (or was killed by someone else)."""

    id: str
    reason: ExitReason


@dataclass(frozen=True)
class ChildStopped:
    """The :class:`StopChild` you performed is complete: the child is gone."""

    id: str


@dataclass(frozen=True)
class TimerFired:
    """The delay of a :class:`StartAfter` elapsed; echo its ``id`` and ``token``."""

    id: str
    token: int


@dataclass(frozen=True)
class AddChild:
    """Add a child at the end of the list and start it (OTP's ``start_child``)."""

    spec: ChildSpec


@dataclass(frozen=True)
class RemoveChild:
    """Stop a child if it runs and forget it (``terminate_child`` + ``delete_child``)."""

    id: str


@dataclass(frozen=True)
class TerminateChild:
    """Stop a child and keep its spec (OTP's ``terminate_child``); answered by a :class:`Reply`.

    ``ref`` is echoed in the reply. Outcomes: ``"ok"`` (also when the child
    had already ended, or was waiting to be restarted: the restart is
    dropped), ``"not_found"``. A temporary child, and any child of a dynamic
    supervisor, is forgotten instead of kept.
    """

    id: str
    ref: object = None


@dataclass(frozen=True)
class RestartChild:
    """Start a terminated child from its kept spec (OTP's ``restart_child``).

    Answered by a :class:`Reply`: ``"ok"`` with the new pid, ``"failed"``
    with the reason (the child stays terminated; not counted as a restart),
    ``"running"``, ``"restarting"``, ``"not_found"``, or ``"dynamic"`` (a
    dynamic supervisor keeps no specs to restart).
    """

    id: str
    ref: object = None


@dataclass(frozen=True)
class DeleteChild:
    """Forget a terminated child's spec (OTP's ``delete_child``).

    Answered by a :class:`Reply`: ``"ok"``, ``"running"``, ``"restarting"``,
    ``"not_found"`` or ``"dynamic"``.
    """

    id: str
    ref: object = None


@dataclass(frozen=True)
class StopRequested:
    """The supervisor is asked to shut down: stop children in reverse order, then exit."""


Event: TypeAlias = (
    ChildStarted
    | ChildStartFailed
    | ChildExited
    | ChildStopped
    | TimerFired
    | AddChild
    | RemoveChild
    | TerminateChild
    | RestartChild
    | DeleteChild
    | StopRequested
)

# -------------------------------------------------------------- actions (out)


@dataclass(frozen=True)
class StartChild:
    """Start the child described by ``spec``; report ChildStarted or ChildStartFailed."""

    id: str
    spec: ChildSpec


@dataclass(frozen=True)
class StopChild:
    """Stop the child: ask it to shut down, kill it after ``shutdown`` seconds
    (at once for BRUTAL_KILL, never for INFINITY); report ChildStopped."""

    id: str
    shutdown: float | Shutdown


@dataclass(frozen=True)
class StartAfter:
    """Backoff: after ``delay`` seconds, report ``TimerFired(id, token)``."""

    id: str
    delay: float
    token: int


#: Why a supervisor exits: asked to (StopRequested), restart intensity
#: exceeded, auto_shutdown, or a child failed to start during the initial start.
ExitCause: TypeAlias = Literal["stop_requested", "intensity", "auto_shutdown", "start_failed"]


@dataclass(frozen=True)
class Exit:
    """The supervisor is done: every child is stopped. Exit with ``reason``.

    If no :class:`Ready` came before it, the supervisor failed to start.
    """

    reason: ExitReason
    cause: ExitCause


@dataclass(frozen=True)
class Ready:
    """The initial children all started: the supervisor's own start succeeded."""


@dataclass(frozen=True)
class CancelStart:
    """A start is outstanding but the supervisor is asked to stop, or to
    terminate that child in the middle of a restart: give the start
    ``shutdown`` seconds to complete (none for BRUTAL_KILL, forever for
    INFINITY), then abandon it and report ChildStartFailed. If it completes
    first, report what happened as usual."""

    id: str
    shutdown: float | Shutdown


#: The answer to an admin request; OTP's ``ok`` / ``{error, Reason}``.
Outcome: TypeAlias = Literal["ok", "failed", "not_found", "running", "restarting", "dynamic"]


@dataclass(frozen=True)
class Reply:
    """The answer to a TerminateChild, RestartChild or DeleteChild with this ``ref``.

    ``pid`` is the restarted child's (RestartChild ``"ok"``); ``reason`` why
    its start failed (``"failed"``).
    """

    ref: object
    outcome: Outcome
    pid: object | None = None
    reason: ExitReason | None = None


Action: TypeAlias = StartChild | StopChild | StartAfter | CancelStart | Reply | Exit | Ready

# -------------------------------------------------------------- introspection


class ChildStatus(enum.Enum):
    """Where a child is in its life, as the supervisor sees it."""

    NOT_STARTED = "not_started"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    #: Waiting to be started again (backoff, or queued behind a stop).
    RESTARTING = "restarting"
    #: Ended and not to be restarted (e.g. a transient child that exited normally).
    TERMINATED = "terminated"


@dataclass(frozen=True)
class ChildInfo:
    """One child in a :class:`SupervisorSnapshot`; ``restarts`` counts restart attempts."""

    id: str
    spec: ChildSpec
    status: ChildStatus
    pid: object | None
    restarts: int


@dataclass(frozen=True)
class SupervisorSnapshot:
    """A supervisor's children (in start order), its recent restart times and,
    once it has exited, why."""

    children: tuple[ChildInfo, ...]
    restart_times: tuple[float, ...]
    exit_reason: ExitReason | None


@dataclass(frozen=True)
class ChildCounts:
    """OTP's ``count_children``: specs kept, children with a live process
    (``active``), and how many specs are supervisors or workers."""

    specs: int
    active: int
    supervisors: int
    workers: int
