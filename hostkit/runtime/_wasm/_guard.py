"""The guard a running instance carries, and the one exception firewall
every raw host callback goes through, and what a guest call suspended in a
host function waits on (`Pending`).

wasmtime calls hostkit back from inside wasm: on every epoch tick (the
deadline callback) and on every host import. Nothing Python raises may
unwind into wasmtime (wasmtime-py keeps the last exception in a module
global that races between threads; DESIGN §3). `firewall` wraps each
import's body: a failure is stashed on the calling instance's `Guard` and
wasmtime gets a plain error; the caller re-raises after the call unwinds.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import _capi

if TYPE_CHECKING:
    from ._instance import Instance

__all__ = [
    "GuestFault",
    "Guard",
    "Pending",
    "NoLoop",
    "PendingSlots",
    "Suspender",
    "ValueOutOfRange",
    "close_awaitable",
    "current_instance",
    "firewall",
]


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
    by every host import. Written by the scheduler (arm) and by ``kill``.

    ``slice_end``: when the current slice ends (the epoch callback then
    yields the thread; ``inf`` for calls that must not yield: the blocking
    instantiation and ``init`` of a spawn made from inside a start
    function, and the benchmarks' baseline); ``suspendable``: whether a
    host function may suspend the call without holding the thread;
    ``pending``: what a suspended call waits on.
    """

    __slots__ = (
        "abort",
        "deadline",
        "host_calls",
        "host_exc",
        "killed",
        "pending",
        "run",
        "slice_end",
        "suspendable",
    )

    def __init__(self) -> None:
        self.killed = False
        self.deadline = 0.0
        self.host_calls = 0
        self.abort: tuple[str, str] | None = None
        self.host_exc: BaseException | None = None
        self.slice_end = math.inf
        self.suspendable = False
        self.pending: Pending | None = None
        #: a host function body the thread polling the call runs next
        self.run: Callable[[], Pending | None] | None = None


class Pending:
    """What a guest call suspended in a host function waits on: an
    awaitable run as a task on the host's Trio loop, or a ``process.call``
    reply. Resolved once, from any thread; ``finish`` then writes the value
    into the guest's results (on the thread that resumes the guest).

    ``due``: monotonic time after which the scheduler wakes the actor even
    if nothing resolved it (the call's timeout or the activation deadline).
    """

    __slots__ = (
        "awaitable",
        "cancel",
        "done",
        "due",
        "error",
        "finish",
        "label",
        "on_timeout",
        "slot",
        "task",
        "value",
        "wake",
    )

    def __init__(self, label: str, finish: Callable[[Any], None], due: float) -> None:
        self.label = label
        self.finish = finish
        self.due = due
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.awaitable: Any = None
        self.slot: PendingSlots | None = None  # held while an awaitable is pending
        self.wake: Callable[[], None] | None = None  # set by the scheduler
        self.cancel: Callable[[], None] | None = None  # cancels the Trio task, once it runs
        self.on_timeout: Callable[[], None] | None = None  # resolves it at ``due``
        self.task: Any = None  # the Trio task running ``awaitable``, once it runs

    def resolve(self, value: Any = None, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.value, self.error, self.done = value, error, True
        slot, self.slot = self.slot, None
        if slot is not None:
            slot.release()
        wake = self.wake
        if wake is not None:
            wake()

    def discard(self) -> None:
        """The guest call is gone (killed, past its deadline, host closing):
        cancel what runs for it (``cancel``, set once it was launched); an
        awaitable never launched is closed, so none of it runs."""
        self.wake = None
        if not self.done:
            self.done = True
            self.error = _Discarded()
            slot, self.slot = self.slot, None
            if slot is not None:
                slot.release()
        cancel, self.cancel = self.cancel, None
        if cancel is not None:
            cancel()
        else:
            close_awaitable(self.awaitable)
            self.awaitable = None


def close_awaitable(aw: Any) -> None:
    """Close a coroutine that will never be awaited (no warning, no code run)."""
    close = getattr(aw, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # a hostile awaitable's close(): nothing to do
            close()


class Suspender(Protocol):
    """Runs what a suspended guest call waits on when the call must not
    yield its thread. The scheduler installs itself as
    ``WasmEngine.suspender``."""

    def block(self, inst: Any, pending: Pending) -> None:
        """Wait on this thread until ``pending`` is resolved (a call that
        must not yield: instantiation, and the blocking ``init`` /
        ``terminate`` the benchmarks use).

        Raises:
            GuestFault: it cannot be waited for, or the call's deadline passed.
        """
        ...


class NoLoop:
    """The default `Suspender`: no event loop to run anything on."""

    def block(self, inst: Any, pending: Pending) -> None:
        close_awaitable(pending.awaitable)
        raise GuestFault("host-error", f"{pending.label}: no event loop to run it on")


class _Discarded(Exception):
    """Internal: a pending host call whose guest call was dropped."""


class PendingSlots:
    """The per-host cap on pending async host calls (one per suspended
    guest call at most), shared by every instance of an engine."""

    __slots__ = ("_lock", "cap", "used")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.used >= self.cap:
                return False
            self.used += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.used -= 1


GUARDS: dict[int, Guard] = {}
guard_ids = itertools.count(1)
TLS = threading.local()


def current_instance() -> Instance:
    """The instance whose guest code is executing on this thread."""
    inst: Instance = TLS.inst
    return inst


_CONTINUE, _YIELD = 0, 1  # WASMTIME_UPDATE_DEADLINE_{CONTINUE,YIELD}


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
        now = time.monotonic()
        if now > guard.deadline:
            guard.abort = ("deadline", "activation ran past its deadline")
            return _capi.trap_error("hostkit: deadline exceeded")
        delta[0] = 1
        # the slice is over: give the thread back (the call's future returns
        # "pending"; the scheduler re-queues the actor and polls it later)
        kind[0] = _YIELD if now >= guard.slice_end else _CONTINUE
        return 0
    except BaseException as exc:  # never let anything unwind into wasmtime
        return _capi.trap_error(f"hostkit: epoch callback failed: {type(exc).__name__}")


class ValueOutOfRange(ValueError):
    """A host function returned a value its WIT type cannot hold (an int
    out of range, a surrogate ``char``, an unknown enum case or flag).
    Internal: the calling actor ends with ``host-error`` naming the function;
    the value is never wrapped into range."""


class Abort(Exception):
    """Internal: end the current guest call; the reason is on the guard
    (raise it from a host function body after setting ``guard.abort``)."""


def _enter_host_call() -> Instance:
    inst: Instance = TLS.inst
    guard = inst.guard
    guard.host_calls += 1
    if guard.killed:
        guard.abort = ("killed", "killed while in a host call")
        raise Abort
    if guard.host_calls > inst.host_call_budget:
        guard.abort = (
            "budget",
            f"more than {inst.host_call_budget} host calls in one activation",
        )
        raise Abort
    return inst


#: A raw import body: ``body(instance, data, func_type, args, nargs, results)``.
Body = Callable[[Any, int, Any, Any, int, Any], None]
#: Reads an async import's arguments into Python values (in the callback:
#: wasmtime frees the C arguments when it returns): ``lift(data, args, nargs)``.
Lift = Callable[[int, Any, int], Any]
#: An async import's body, ``body(instance, data, lifted_args, results)``:
#: returns None when its results are written, or the `Pending` the guest's
#: call waits on.
AsyncBody = Callable[[Any, int, Any, Any], "Pending | None"]


def _stash(exc: BaseException) -> None:
    try:
        guard = TLS.inst.guard
        if guard.host_exc is None:
            guard.host_exc = exc
    except BaseException:  # no instance on this thread: nowhere to stash it;
        pass  # the trap still ends the call, and nothing may unwind into wasmtime


def firewall(body: Body) -> Any:
    """``body`` as a wasmtime component callback that never raises."""

    @_capi.HostCallback  # type: ignore[untyped-decorator]
    def callback(
        data: Any, ctx: Any, ty_raw: Any, args: Any, nargs: int, results: Any, nresults: int
    ) -> int:
        try:
            body(_enter_host_call(), data or 0, ty_raw, args, nargs, results)
            return 0
        except Abort:
            return _capi.trap_error("hostkit: host call aborted")
        except BaseException as exc:  # stash, never unwind into wasmtime
            _stash(exc)
            return _capi.trap_error(f"hostkit: host function raised {type(exc).__name__}")

    return callback


def async_firewall(body: AsyncBody, lift: Lift) -> Any:
    """``body`` as a wasmtime *async* component callback that never raises.

    The callback runs on the guest call's fiber stack (wasmtime's async
    calls run wasm on a stack of their own). Host code must not: native
    libraries that check how much stack is left (Cedar, through ``stacker``)
    misjudge a foreign stack, and the stack is small. So the callback only
    parks ``body`` on the guard (``Guard.run``) and hands wasmtime a continuation that
    reports "not yet" (``_capi.flag_continuation`` on the instance's
    ``flag``, which ``Instance.step`` sets once the results are written):
    the fiber suspends, the
    call's future returns "pending" to the thread polling it, and
    ``Instance.step`` runs ``body`` there, on the thread's own stack, then
    polls again. A body that returns a `Pending` of its own (an awaitable,
    a ``process.call``) leaves the guest suspended on it, the thread free.

    wasmtime keeps the *results* alive until the continuation reports done,
    but frees the *arguments* when the callback returns: ``lift`` reads them
    in the callback. Errors can only be reported to wasmtime from the
    callback (it reads none after the continuation): a body or a pending that fails later
    leaves the continuation at "not yet", and ``Instance.step`` drops the
    call instead of resuming it, with the same exit reason a failing sync
    host function gets.
    """

    @_capi.AsyncHostCallback  # type: ignore[untyped-decorator]
    def callback(
        data: Any,
        ctx: Any,
        ty_raw: Any,
        args: Any,
        nargs: int,
        results: Any,
        nresults: int,
        err_ret: Any,
        cont: Any,
    ) -> None:
        try:
            c = cont[0]
            c.callback = _capi.flag_continuation
            inst = _enter_host_call()
            flag = inst.flag
            flag[0] = 0  # "not yet": the fiber suspends, the thread runs ``body``
            c.env = ctypes.addressof(flag)
            fid = data or 0
            lifted = lift(fid, args, nargs)
            inst.guard.run = lambda: body(inst, fid, lifted, results)
            return
        except Abort:
            message = "hostkit: host call aborted"
        except BaseException as exc:  # stash, never unwind into wasmtime
            _stash(exc)
            message = f"hostkit: host function raised {type(exc).__name__}"
        with contextlib.suppress(BaseException):  # nothing may unwind into wasmtime
            err_ret[0] = _capi.trap_error(message)

    return callback
