"""The child-admin half of the :class:`~._driver.Supervisor` handle (OTP's
``terminate_child``, ``restart_child``, ``delete_child``, ``count_children``,
``get_childspec``), mapped onto Python: results are returned, OTP's
``{error, Reason}`` is a :class:`~hostkit._errors.ChildError` whose
``reason`` is that atom.

Each request goes to the decision core as an event with a ref and is answered
by the core's :class:`~._events.Reply` with that ref once the core gets to it,
in order with everything else it was told (OTP's mailbox order).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from .._errors import ChildError, NoProc, SpawnError
from ..runtime._pid import ExitReason, Pid
from ._core import DynamicSupervisorCore, SupervisorCore
from ._events import ChildCounts, DeleteChild, Event, Reply, RestartChild, TerminateChild
from ._spec import ChildSpec

if TYPE_CHECKING:
    from ..runtime._host import Host
    from ._driver import Supervisor


@dataclass(eq=False)
class PendingReply:
    """A caller of an admin request waiting for the core's Reply (None: exited)."""

    done: trio.Event = field(default_factory=trio.Event)
    reply: Reply | None = None

    def resolve(self, reply: Reply | None) -> None:
        if not self.done.is_set():
            self.reply = reply
            self.done.set()


class ChildAdmin:
    """Mixin of :class:`~._driver.Supervisor`: the child-admin API."""

    name: str
    _host: Host | None
    _core: SupervisorCore | DynamicSupervisorCore
    _rng: random.Random
    _dynamic: bool
    _done: trio.Event
    _refs: itertools.count[int]
    _replies: dict[int, PendingReply]
    _last_exit: dict[str, ExitReason]

    if TYPE_CHECKING:  # provided by the class this mixin is part of

        def _check_running(self, what: str) -> None: ...

        def _feed(self, event: Event) -> None: ...

    async def terminate_child(self, child: str | Pid | Supervisor) -> None:
        """Stop a child within its ``shutdown`` and keep its spec (OTP's ``terminate_child``).

        The child stays in :meth:`which_children` as terminated until
        :meth:`restart_child` or :meth:`delete_child`; a temporary child, and
        any child of a dynamic supervisor, is forgotten instead. A child that
        has already ended, or that the supervisor is restarting (the restart
        is dropped), is fine: this returns at once. A start in progress for
        it is abandoned after its ``shutdown``.

        Args:
            child: The child's id. On a dynamic supervisor also its pid (or
                nested supervisor handle); a pid that is no longer alive counts
                as already terminated, as in OTP.

        Raises:
            ChildError: ``reason="not_found"``: no such child (on a static
                supervisor a pid is never a child's name, as in OTP).
            NoProc: The supervisor is not running.
        """
        id = self._child_id(child, "terminate a child")
        if id is None:
            if self._dynamic and not isinstance(child, str) and not self._is_alive(child):
                return  # OTP: a dead pid is a child that already ended
            raise self._not_found(child, "terminate")
        reply = await self._request(TerminateChild(id, next(self._refs)))
        if reply.outcome != "ok":
            raise self._refused(reply, child, "terminate")

    async def restart_child(self, id: str) -> Pid | Supervisor | None:
        """Start a terminated child again from its kept spec (OTP's ``restart_child``).

        Not counted as a restart. Returns what :meth:`start_child` returns.

        Raises:
            ChildError: ``reason`` ``"running"``, ``"restarting"`` (the
                supervisor is restarting it: wait, or terminate it first),
                ``"not_found"``, or ``"dynamic"`` (a dynamic supervisor keeps
                no specs).
            SpawnError: The start failed; the child stays terminated.
            NoProc: The supervisor is not running.
        """
        self._child_id(id, "restart a child")
        reply = await self._request(RestartChild(id, next(self._refs)))
        if reply.outcome == "ok":
            assert reply.pid is None or isinstance(reply.pid, Pid | Supervisor)
            return reply.pid
        if reply.outcome == "failed":
            raise SpawnError(
                f"supervisor {self.name!r}: child {id!r} failed to start: {reply.reason}"
            )
        raise self._refused(reply, id, "restart")

    async def delete_child(self, id: str) -> None:
        """Forget a terminated child's spec (OTP's ``delete_child``).

        Raises:
            ChildError: ``reason`` ``"running"``, ``"restarting"``,
                ``"not_found"`` or ``"dynamic"``.
            NoProc: The supervisor is not running.
        """
        self._child_id(id, "delete a child")
        reply = await self._request(DeleteChild(id, next(self._refs)))
        if reply.outcome != "ok":
            raise self._refused(reply, id, "delete")
        self._last_exit.pop(id, None)

    def count_children(self) -> ChildCounts:
        """OTP's ``count_children``: ``specs`` (children known, running or
        not), ``active`` (with a live process), ``supervisors``, ``workers``."""
        return self._core.count_children()

    def get_childspec(self, child: str | Pid | Supervisor) -> ChildSpec:
        """The spec of a child, by id (or, on a dynamic supervisor, by pid).

        Raises:
            ChildError: ``reason="not_found"``.
        """
        id = child if isinstance(child, str) else self._by_pid(child)
        spec = self._core.get_childspec(id) if id is not None else None
        if spec is None:
            raise self._not_found(child, "get the spec of")
        return spec

    def _by_pid(self, pid: object) -> str | None:
        return self._core.id_of(pid) if self._dynamic else None

    def _child_id(self, child: object, what: str) -> str | None:
        self._check_running(what)
        if isinstance(child, str):
            return child if self._core.status_of(child) is not None else None
        if not isinstance(child, Pid | ChildAdmin):
            raise TypeError(f"child: expected an id (str), a Pid or a Supervisor, got {child!r}")
        return self._by_pid(child)

    def _is_alive(self, child: Pid | Supervisor) -> bool:
        if isinstance(child, ChildAdmin):
            return not child._done.is_set()
        return self._host is not None and self._host.is_alive(child)

    def _not_found(self, child: object, what: str) -> ChildError:
        return ChildError(
            f"supervisor {self.name!r}: cannot {what} child {child!r}: not_found",
            reason="not_found",
            child=child,
        )

    def _refused(self, reply: Reply, child: object, what: str) -> ChildError:
        hints = {
            "running": "; terminate it first",
            "restarting": "; the supervisor is restarting it (terminate it to stop that)",
            "dynamic": "; a dynamic supervisor keeps no specs to restart or delete",
        }
        return ChildError(
            f"supervisor {self.name!r}: cannot {what} child {child!r}: "
            f"{reply.outcome}{hints.get(reply.outcome, '')}",
            reason=reply.outcome,
            child=child,
        )

    async def _request(self, event: TerminateChild | RestartChild | DeleteChild) -> Reply:
        ref = event.ref
        assert isinstance(ref, int)
        waiter = self._replies[ref] = PendingReply()
        try:
            self._feed(event)
            await waiter.done.wait()
        finally:
            del self._replies[ref]
        if waiter.reply is None:
            raise NoProc(f"supervisor {self.name!r} exited before it answered {event!r}")
        return waiter.reply
