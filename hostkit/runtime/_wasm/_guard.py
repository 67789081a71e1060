"""The guard a running instance carries, and the one exception firewall
every raw host callback goes through.

wasmtime calls hostkit back from inside wasm: on every epoch tick (the
deadline callback) and on every host import. Nothing Python raises may
unwind into wasmtime (wasmtime-py keeps the last exception in a module
global that races between threads; DESIGN §3). `firewall` wraps each
import's body: a failure is stashed on the calling instance's `Guard` and
wasmtime gets a plain error; the caller re-raises after the call unwinds.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _capi

if TYPE_CHECKING:
    from ._instance import Instance

__all__ = ["GuestFault", "Guard", "ValueOutOfRange", "current_instance", "firewall"]


class GuestFault(Exception):
    """A guest call failed. ``kind`` is an :class:`ExitReason` kind (trap,
    fuel, deadline, killed, budget, host-error); ``detail`` is the text.
    Internal: the scheduler turns it into the actor's exit reason."""

    def __init__(self, kind: str, detail: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.cause = cause


class Guard:
    """Per-instance budget state, read by the epoch callback on every tick and
    by every host import. Written by the scheduler (arm) and by ``kill``."""

    __slots__ = ("abort", "deadline", "host_calls", "host_exc", "killed")

    def __init__(self) -> None:
        self.killed = False
        self.deadline = 0.0
        self.host_calls = 0
        self.abort: tuple[str, str] | None = None
        self.host_exc: BaseException | None = None


GUARDS: dict[int, Guard] = {}
guard_ids = itertools.count(1)
TLS = threading.local()


def current_instance() -> Instance:
    """The instance whose guest code is executing on this thread."""
    inst: Instance = TLS.inst
    return inst


@_capi.DeadlineCb  # type: ignore[untyped-decorator]
def on_epoch_deadline(ctx: Any, data: Any, delta: Any, kind: Any) -> int:
    # Runs inside wasm on the executing thread, once per ticker tick.
    try:
        guard = GUARDS.get(data or 0)
        if guard is None:
            return _capi.trap_error("hostkit: instance is gone")
        if guard.killed:
            guard.abort = ("killed", "killed while running")
            return _capi.trap_error("hostkit: killed")
        if time.monotonic() > guard.deadline:
            guard.abort = ("deadline", "activation ran past its deadline")
            return _capi.trap_error("hostkit: deadline exceeded")
        delta[0] = 1
        kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
        return 0
    except BaseException as exc:  # never let anything unwind into wasmtime
        return _capi.trap_error(f"hostkit: epoch callback failed: {type(exc).__name__}")


class ValueOutOfRange(ValueError):
    """A host function returned a value its WIT type cannot hold (an int
    out of range, a surrogate ``char``, an unknown enum case or flag).
    Internal: the calling actor ends with ``host-error`` naming the function;
    the value is never wrapped into range."""


class _Abort(Exception):
    """Internal: end the current guest call; the reason is on the guard."""


def _enter_host_call() -> Instance:
    inst: Instance = TLS.inst
    guard = inst.guard
    guard.host_calls += 1
    if guard.killed:
        guard.abort = ("killed", "killed while in a host call")
        raise _Abort
    if guard.host_calls > inst.host_call_budget:
        guard.abort = (
            "budget",
            f"more than {inst.host_call_budget} host calls in one activation",
        )
        raise _Abort
    return inst


#: A raw import body: ``body(instance, data, func_type, args, nargs, results)``.
Body = Callable[[Any, int, Any, Any, int, Any], None]


def firewall(body: Body) -> Any:
    """``body`` as a wasmtime component callback that never raises."""

    @_capi.HostCallback  # type: ignore[untyped-decorator]
    def callback(
        data: Any, ctx: Any, ty_raw: Any, args: Any, nargs: int, results: Any, nresults: int
    ) -> int:
        try:
            body(_enter_host_call(), data or 0, ty_raw, args, nargs, results)
            return 0
        except _Abort:
            return _capi.trap_error("hostkit: host call aborted")
        except BaseException as exc:  # stash, never unwind into wasmtime
            try:
                guard = TLS.inst.guard
                if guard.host_exc is None:
                    guard.host_exc = exc
            except BaseException:  # no instance on this thread: nowhere to stash it;
                pass  # the trap below still ends the call, and nothing may unwind into wasmtime
            return _capi.trap_error(f"hostkit: host function raised {type(exc).__name__}")

    return callback
