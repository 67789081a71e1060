"""The router's remote seam as types: the signal it hands federation, and
the two protocols federation implements (`RemoteDelivery`, `PidResolver`).
Pure: no runtime state, importable by the router and by ``_remote``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from .._pid import Pid

__all__ = ["LOCAL_ID_BITS", "PidResolver", "RemoteDelivery", "Signal"]

#: A guest's u64 pid: the low bits are the actor id on its node, the high 16
#: bits the node slot (0: this node); see `PidResolver`.
LOCAL_ID_BITS: Final = 48


@dataclass(frozen=True, slots=True)
class Signal:
    """A signal for another node, as the router hands it to federation."""

    kind: str  # "send", "call", "link", "unlink", "monitor", "demonitor", "exit"
    sender: Pid
    target: Pid
    ref: int = 0
    payload: bytes = b""
    timeout_ms: int = 0  # a call's timeout (0: none given)


class RemoteDelivery(Protocol):
    """The seam where federation plugs remote delivery into the router.

    ``route`` is called, on any thread, for every signal whose target is a
    pid of another node. It returns None once the signal is handed to the
    link to that node, or a ``send-error`` name (``noproc`` when the node is
    unknown or unreachable, ``mailbox-full`` when its link pushes back,
    ``denied``). It must not block. A ``call`` signal carries the ref the
    router drew; the reply comes back through :meth:`Router.remote_reply`.
    A ``monitor`` signal carries the monitor ref; its DOWN comes back
    through ``Links.remote_down``.
    """

    def route(self, signal: Signal) -> str | None: ...


class PidResolver(Protocol):
    """Translates between a guest's ``u64`` pids and other nodes' pids.

    Attached by federation next to the :class:`RemoteDelivery` seam (see
    ``Host.attach_remote``); called on any thread, must not block.
    """

    def guest_pid(self, wire: int) -> Pid | None:
        """The pid a guest means by ``wire`` (its node slot is not 0), or
        None if the slot names no node boot this host handed out."""
        ...

    def guest_wire(self, pid: Pid) -> int:
        """The ``u64`` a guest sees for another node's ``pid`` (a slot is
        handed out on first use)."""
        ...
