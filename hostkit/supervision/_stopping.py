"""Stopping children, for the :class:`~._driver.Supervisor`: the signal, the
shutdown deadline and what happens when it passes, and abandoning a start
(CancelStart).

A StopChild signals at once (``host.exit(pid, "shutdown")``, cancelling a
task's scope, or asking a nested supervisor to stop) and arms a deadline.
An idle actor that does not trap exits ends inside that ``host.exit`` (its
DOWN fires at once on the Trio thread): then there is nothing to wait for,
``_stop_child`` says so, and the driver reports the stop at once instead of
a Trio scheduling round later (see ``Supervisor._feed``).
One watchdog task per supervisor sleeps until the earliest deadline and
escalates whatever overran it: actors are killed, nested supervisors
cancelled; a Trio task cannot be killed, so that is logged. Nothing here
reports to the core: the incarnation's watcher does, once the child is gone.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from ..runtime._handles import Monitor
from ..runtime._pid import Pid
from ._spec import ChildSpec, Shutdown
from ._starts import ActorStart, SupervisorStart

if TYPE_CHECKING:
    from ..runtime._host import Host
    from ._driver import Supervisor

log = logging.getLogger("hostkit.supervision")


@dataclass(eq=False)
class Incarnation:
    """One start of one child, from its StartChild to its one reported end."""

    spec: ChildSpec
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    ended: trio.Event = field(default_factory=trio.Event)
    settled: trio.Event = field(default_factory=trio.Event)  # started, or ended
    started: bool = False
    stopping: bool = False
    cancelled: bool = False  # its start was abandoned (CancelStart)
    pid: Pid | None = None
    sub: Supervisor | None = None
    monitor: Monitor | None = None  # an actor child's, once it started

    @property
    def id(self) -> str:
        return self.spec.id


class ChildStopper:
    """Mixin of :class:`~._driver.Supervisor`: stop signals, deadlines, abandoned starts."""

    name: str
    _host: Host | None
    _nursery: trio.Nursery | None
    _deadlines: list[tuple[float, int, Incarnation, float]]
    _seq: itertools.count[int]
    _watchdog: trio.CancelScope | None

    async def _cancel_start(self, inc: Incarnation, shutdown: float | Shutdown) -> None:
        """CancelStart: give the start ``shutdown`` seconds, then abandon it."""
        if isinstance(inc.spec.start, SupervisorStart) and inc.sub is not None:
            inc.sub._request_stop()  # it abandons its own starts and starts no more
        if shutdown is Shutdown.INFINITY:
            return
        if shutdown is not Shutdown.BRUTAL_KILL:
            with trio.move_on_after(shutdown):
                await inc.settled.wait()
        if not inc.settled.is_set():
            log.warning(
                "supervisor %s: abandoning the start of child %r (%s)",
                self.name,
                inc.id,
                "brutal_kill" if shutdown is Shutdown.BRUTAL_KILL else f"after {shutdown:g} s",
            )
            inc.cancelled = True
            inc.scope.cancel()

    def _stop_child(self, inc: Incarnation, shutdown: float | Shutdown) -> bool:
        """StopChild: signal now; the watchdog escalates after ``shutdown`` s.
        Returns True if the child is already gone (an actor whose DOWN
        arrived during the signal): nothing to wait for or escalate."""
        start = inc.spec.start
        brutal = shutdown is Shutdown.BRUTAL_KILL
        if isinstance(start, ActorStart):
            assert self._host is not None and inc.pid is not None
            if brutal:
                self._host.kill(inc.pid)
            else:
                self._host.exit(inc.pid, "shutdown")
            mon = inc.monitor
            down = None if mon is None else mon.down
            if down is not None and down.kind != "noproc":
                return True
            if brutal:
                return False
        elif isinstance(start, SupervisorStart) and not brutal:
            assert inc.sub is not None
            inc.sub._request_stop()
        else:
            inc.scope.cancel()
            if brutal:
                return False
        if not isinstance(shutdown, Shutdown):  # INFINITY waits as long as it takes
            self._arm(inc, shutdown)
        return False

    def _arm(self, inc: Incarnation, shutdown: float) -> None:
        deadline = trio.current_time() + shutdown
        heapq.heappush(self._deadlines, (deadline, next(self._seq), inc, shutdown))
        if self._watchdog is None:
            self._watchdog = trio.CancelScope(deadline=deadline)
            assert self._nursery is not None
            self._nursery.start_soon(self._watch_deadlines, self._watchdog)
        elif deadline < self._watchdog.deadline:
            self._watchdog.deadline = deadline

    async def _watch_deadlines(self, scope: trio.CancelScope) -> None:
        """One task per supervisor escalates every stop that overran its
        ``shutdown``, instead of one timer task per stop."""
        while True:
            with scope:
                await trio.sleep_forever()
            now = trio.current_time()
            while self._deadlines and (
                self._deadlines[0][2].ended.is_set() or self._deadlines[0][0] <= now
            ):
                _, _, inc, shutdown = heapq.heappop(self._deadlines)
                if not inc.ended.is_set():
                    self._overran(inc, shutdown)
            scope = trio.CancelScope(
                deadline=self._deadlines[0][0] if self._deadlines else math.inf
            )
            self._watchdog = scope

    def _overran(self, inc: Incarnation, shutdown: float) -> None:
        start = inc.spec.start
        where = f"supervisor {self.name}: child {inc.id!r}"
        if isinstance(start, ActorStart):
            assert self._host is not None and inc.pid is not None
            log.warning("%s did not stop within %g s; killing it", where, shutdown)
            self._host.kill(inc.pid)
        elif isinstance(start, SupervisorStart):
            log.warning("%s did not stop within %g s; cancelling it", where, shutdown)
            inc.scope.cancel()
        else:
            log.warning(
                "%s is still running %g s after it was cancelled; a Trio task cannot be "
                "killed, so the supervisor waits for it (shield only bounded cleanup)",
                where,
                shutdown,
            )
