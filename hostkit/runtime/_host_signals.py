"""`Host`'s timers, links, monitors and exit signals (a mixin of `Host`).

Host code is trusted: what it does here is not gated, but every kill is
published (``ActorKilled``) so the audit log names the host as its cause.
The state these methods read (the scheduler, its router, the thread and
open checks) is `Host`'s, set up by ``Host.__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from .._events import ActorKilled
from .._pid import KILLED, ExitReason, Pid
from ._handles import Monitor
from ._router import refusal

if TYPE_CHECKING:
    from ._actors import Actor
    from ._host import Host
    from ._router import Router
    from ._scheduler import Scheduler
    from ._timers import TimerRef

__all__ = ["HostSignals"]


class HostSignals:
    """Timers, links, monitors, exit signals, kill and stop, for `Host`."""

    _sched: Scheduler
    _router: Router
    _check_thread: Callable[[str], None]
    _check_open: Callable[[], None]
    _actor: Callable[[Pid | int], Actor]
    _lookup: Callable[[Pid | int], Actor | None]
    _pid: Callable[[Pid | int], Pid]

    if TYPE_CHECKING:

        @property
        def pid(self) -> Pid: ...  # Host's own pid

    # -- timers ------------------------------------------------------------------
    def send_after(self, pid: Pid | int, msg: str, delay: float) -> TimerRef:
        """Cast ``msg`` to ``pid`` after ``delay`` seconds (Erlang's
        ``erlang:send_after/3``): the message arrives as an ordinary cast
        from the host (pid 0). The timer is dropped if the actor exits
        first; if its mailbox is full when the timer fires, the message is
        dropped (and logged).

        Args:
            pid: a live actor of this host.
            msg: the message.
            delay: seconds from now (Trio's clock), ``>= 0``.

        Returns:
            A ref for :meth:`cancel_timer`.

        Raises:
            ValueError: ``delay`` is negative, NaN or infinite.
            TooManyTimers: ``pid`` already has ``max_timers_per_actor``
                pending timers, or the host's ``host_mailbox_bytes`` is spent.
            MessageTooLarge: ``msg`` exceeds ``max_message_size``.
            NoProc: ``pid`` is not alive, or is on another node.
        """
        self._check_thread("send_after")
        self._check_open()
        return self._sched.timers.send_after(pid, msg, delay)

    def cancel_timer(self, ref: TimerRef) -> float | None:
        """Cancel a timer from :meth:`send_after` (Erlang's
        ``erlang:cancel_timer/1``): once this returns, its message is never
        sent.

        Returns:
            The seconds it had left, or None if it had already fired, was
            cancelled, or its actor exited.
        """
        self._check_thread("cancel_timer")
        return self._sched.timers.cancel_ref(ref)

    # -- links, monitors, exit signals ---------------------------------------------
    def link(self, a: Pid | int, b: Pid | int) -> None:
        """Link two actors (Erlang's rules; see docs/supervision.md). Host
        code is trusted: its links are not gated.

        ``a`` is an actor of this host; ``b`` may be another node's actor
        (with federation attached): if that node goes away, ``a`` receives
        an exit signal ``noconnection``; if ``b`` is already dead, ``noproc``.

        Raises:
            NoProc: ``a`` is not alive, ``b`` is not alive here, or ``b``'s
                node is unreachable.
            MailboxFull: the link to ``b``'s node pushes back.
        """
        self._check_thread("link")
        code = self._sched.links.link(self._actor(a), b, gated=False)
        if code:
            raise refusal(code, b, self._router)

    def unlink(self, a: Pid | int, b: Pid | int) -> None:
        """Remove the link between ``a`` and ``b`` (which may be another
        node's actor), if any."""
        self._check_thread("unlink")
        actor = self._lookup(a)
        if actor is not None:
            self._sched.links.unlink(actor, b)

    def monitor(self, pid: Pid | int) -> Monitor:
        """Monitor ``pid`` from host code; see :class:`Monitor`."""
        self._check_thread("monitor")
        mon = Monitor(cast("Host", self), self._pid(pid))
        mon.ref = self._sched.links.monitor(mon._fire, pid)
        return mon

    def exit(self, pid: Pid | int, reason: ExitReason | str) -> None:
        """Send an exit signal, like Erlang's ``exit/2``. ``"kill"`` is
        untrappable and ends the actor as ``killed``; otherwise a trapping
        actor receives an ``e`` frame, a normal reason is ignored (except
        ``shutdown`` from the host, which stops a non-trapping actor), and any
        other reason ends the actor with it.

        ``pid`` may be another node's actor (with federation attached): the
        signal crosses the link (``"kill"`` arrives as a trappable
        ``killed``); unless a link joins it to the host, that node's policy
        decides it (``hostkit:federation#exit``).

        Raises:
            NoProc: ``pid`` is on a node this host cannot reach.
            MailboxFull: the link to that node pushes back.
        """
        self._check_thread("exit")
        actor = self._lookup(pid)
        if actor is None:
            if isinstance(pid, Pid) and self._router.local_id(pid) is None:
                text = reason.kind if isinstance(reason, ExitReason) else str(reason)
                code = self._router.remote_signal(None, "exit", pid, text.encode())
                if code:
                    raise refusal(code, pid, self._router)
            return
        links = self._sched.links
        if reason == "kill":
            self._killed(actor, "exit signal 'kill' from the host")
            links.exit_signal(actor, self.pid, KILLED, untrappable=True)
            return
        if isinstance(reason, str):
            reason = (
                ExitReason(reason) if reason in ExitReason.KINDS else ExitReason("error", reason)
            )
        links.exit_signal(actor, self.pid, reason)

    def set_trap_exit(self, pid: Pid | int, on: bool) -> bool:
        """Make ``pid`` trap exit signals (or not); returns the old setting."""
        self._check_thread("set_trap_exit")
        actor = self._actor(pid)
        previous, actor.trap_exit = actor.trap_exit, on
        return previous

    def kill(self, pid: Pid | int) -> None:
        """End ``pid`` now with reason ``killed`` (untrappable). A guest
        spinning in wasm is stopped at the next epoch tick. No-op if dead."""
        self._check_thread("kill")
        actor = self._lookup(pid)
        if actor is not None:
            self._killed(actor, "killed by the host")
            self._sched.kill(actor, cause=self.pid)

    def _killed(self, actor: Actor, detail: str) -> None:
        self._sched.publish(ActorKilled(actor.pid, actor.plugin, detail))

    def stop(self, pid: Pid | int, reason: str = "shutdown") -> None:
        """Ask ``pid`` to stop: pending deliveries are dropped, its
        ``terminate`` runs, and it exits with ``reason``."""
        self._check_thread("stop")
        actor = self._lookup(pid)
        if actor is not None:
            self._sched.request_stop(
                actor,
                ExitReason(reason) if reason in ExitReason.KINDS else ExitReason("error", reason),
            )
