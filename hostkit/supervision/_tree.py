"""A running supervision tree as plain data, for a CLI or an observer.

:meth:`Supervisor.tree` and :meth:`Supervisor.which_children` return these
frozen values; ``to_dict()`` turns them into JSON-ready dicts (enums become
their values, pids ints, exit reasons strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..runtime._pid import ExitReason, Pid
from ._events import ChildStatus
from ._spec import Restart, Strategy
from ._starts import ChildKind

SupervisorState: TypeAlias = Literal["starting", "running", "stopping", "exited"]


@dataclass(frozen=True)
class ChildNode:
    """One child of a supervisor, as it was when the snapshot was taken.

    Attributes:
        id: The child's id in its supervisor.
        kind: ``"actor"``, ``"task"`` or ``"supervisor"``.
        status: Where the child is in its life (running, restarting, ...).
        restart: Its restart type.
        restarts: How many times it was (re)started after its first start.
        pid: The running actor's pid (actors only; None while not running).
        name: The name an actor child is registered under, if any.
        last_exit: Why its previous incarnation ended, if one did.
        supervisor: For a running nested supervisor, its own tree
            (filled in by :meth:`Supervisor.tree`, not ``which_children``).
    """

    id: str
    kind: ChildKind
    status: ChildStatus
    restart: Restart
    restarts: int
    pid: Pid | None
    name: str | None
    last_exit: ExitReason | None
    supervisor: SupervisorTree | None = None

    def to_dict(self) -> dict[str, object]:
        """The child as a JSON-ready dict (a nested supervisor under ``"supervisor"``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "restart": self.restart.value,
            "restarts": self.restarts,
            "pid": int(self.pid) if self.pid is not None else None,
            "name": self.name,
            "last_exit": str(self.last_exit) if self.last_exit is not None else None,
            "supervisor": self.supervisor.to_dict() if self.supervisor is not None else None,
        }


@dataclass(frozen=True)
class SupervisorTree:
    """A supervisor and its children (recursively), as data.

    Attributes:
        name: The supervisor's name (nested ones: ``parent/child-id``).
        dynamic: Whether it is a dynamic supervisor.
        strategy, intensity, period: Its flags.
        state: ``"starting"``, ``"running"``, ``"stopping"`` or ``"exited"``.
        recent_restarts: Restarts within the last ``period`` seconds; one
            more than ``intensity`` and it gives up.
        exit_reason: Why it exited, once it has.
        children: Its children in start order.
    """

    name: str
    dynamic: bool
    strategy: Strategy
    intensity: int
    period: float
    state: SupervisorState
    recent_restarts: int
    exit_reason: ExitReason | None
    children: tuple[ChildNode, ...]

    def to_dict(self) -> dict[str, object]:
        """The tree as JSON-ready nested dicts."""
        return {
            "name": self.name,
            "dynamic": self.dynamic,
            "strategy": self.strategy.value,
            "intensity": self.intensity,
            "period": self.period,
            "state": self.state,
            "recent_restarts": self.recent_restarts,
            "exit_reason": str(self.exit_reason) if self.exit_reason is not None else None,
            "children": [child.to_dict() for child in self.children],
        }
