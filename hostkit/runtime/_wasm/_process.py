"""hostkit's own ``process`` imports as raw callbacks, with hand-written
conversions (the hot path: no value plans, no wasmtime-py values).

A raw callback reads its arguments as the C value kinds the WIT declares;
it may only be linked into a component whose import has exactly that type,
which the engine checks at load against `PROCESS_SIGNATURES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from ctypes import string_at
from typing import TYPE_CHECKING, Any, Final, Protocol

from . import _capi
from ._guard import Pending, ValueOutOfRange, async_firewall, firewall

if TYPE_CHECKING:
    from ._instance import Instance

__all__ = [
    "ACTOR_SIGNATURES",
    "PROCESS_FUNCTIONS",
    "PROCESS_IFACE",
    "PROCESS_SIGNATURES",
    "SUSPENDING_PROCESS_FUNCTIONS",
    "ProcessApi",
    "ValueOutOfRange",
    "process_callbacks",
]

PLUGIN_PACKAGE: Final = "hostkit:plugin"
PLUGIN_VERSION: Final = "0.1.0"
ACTOR_IFACE: Final = f"{PLUGIN_PACKAGE}/actor@{PLUGIN_VERSION}"
PROCESS_IFACE: Final = f"{PLUGIN_PACKAGE}/process@{PLUGIN_VERSION}"
TYPES_IFACE: Final = f"{PLUGIN_PACKAGE}/types@{PLUGIN_VERSION}"


class ProcessApi(Protocol):
    """What the ``process`` imports call into; implemented by the scheduler.

    Each method receives the calling :class:`Instance` first. Results use the
    WIT shapes: ``None`` for ok-unit, a ``str`` error case name, etc.
    """

    def proc_self(self, inst: Instance) -> int: ...

    def proc_spawn(self, inst: Instance, component: str, args: bytes) -> tuple[bool, int | str]: ...

    def proc_spawn_begin(
        self, inst: Instance, component: str, args: bytes, pending: Pending
    ) -> tuple[bool, int | str] | None:
        """``proc_spawn`` without waiting: the refusal now, or None when the
        child's ``init`` runs as an activation of its own and will resolve
        ``pending`` with ``(ok, child id or error)``."""
        ...

    def proc_send(self, inst: Instance, to: int, payload: bytes) -> str | None: ...

    def proc_call(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int
    ) -> tuple[bool, bytes | tuple[str, str | None]]: ...

    def proc_call_begin(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int, pending: Pending
    ) -> tuple[bool, bytes | tuple[str, str | None]] | None:
        """``proc_call`` without waiting: the result now, or None when the
        call went out and will resolve ``pending`` with the result (and
        ``pending.on_timeout`` resolves it as a timeout at ``pending.due``)."""
        ...

    def proc_register(self, inst: Instance, name: str) -> str | None: ...

    def proc_whereis(self, inst: Instance, name: str) -> int | None: ...

    def proc_log(self, inst: Instance, level: str, message: str) -> None: ...

    def proc_link(self, inst: Instance, other: int) -> str | None: ...

    def proc_unlink(self, inst: Instance, other: int) -> None: ...

    def proc_monitor(self, inst: Instance, target: int) -> int: ...

    def proc_demonitor(self, inst: Instance, ref: int, flush: bool) -> bool: ...

    def proc_trap_exits(self, inst: Instance, on: bool) -> bool: ...


_SEND_ERROR = "enum{noproc, mailbox-full, too-large, denied}"
_LOG_LEVEL = "enum{trace, debug, info, warn, error}"

#: The exact type of each ``process`` import the raw callbacks below read
#: (as `WitFunc` text). A component importing one with any other type is
#: refused at load: the callbacks read C values by the kinds these declare.
PROCESS_SIGNATURES: Final[dict[str, str]] = {
    "self": "func() -> u64",
    "spawn": "func(component: string, args: string) -> result<u64, string>",
    "send": f"func(to: u64, payload: string) -> result<_, {_SEND_ERROR}>",
    "call": (
        "func(to: u64, payload: string, timeout-ms: u32) -> result<string, "
        f"variant{{send({_SEND_ERROR}), timeout, exited(string), deadlock}}>"
    ),
    "register": "func(name: string) -> result<_, string>",
    "whereis": "func(name: string) -> option<u64>",
    "now": "func() -> u64",
    "log": f"func(level: {_LOG_LEVEL}, message: string)",
    "link": f"func(other: u64) -> result<_, {_SEND_ERROR}>",
    "unlink": "func(other: u64)",
    "monitor": "func(target: u64) -> u64",
    "demonitor": "func(ref: u64, flush: bool) -> bool",
    "trap-exits": "func(on: bool) -> bool",
}

#: The exact type of each ``actor`` export the instance calls.
ACTOR_SIGNATURES: Final[dict[str, str]] = {
    "init": "func(args: string) -> result<_, string>",
    "deliver": "func(batch: string) -> string",
    "terminate": "func(reason: string)",
}

_SEND_ERRORS: Final = frozenset({"noproc", "mailbox-full", "too-large", "denied"})
_CALL_ERRORS: Final = frozenset({"send", "timeout", "exited", "deadlock"})
_U64_END: Final = 1 << 64


def _u64(fn: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _U64_END:
        raise ValueOutOfRange(f"{PROCESS_IFACE}#{fn} returned {value!r}, not a u64")
    return value


def _case(fn: str, value: object, cases: frozenset[str]) -> bytes:
    if not isinstance(value, str) or value not in cases:
        raise ValueOutOfRange(
            f"{PROCESS_IFACE}#{fn} returned the case {value!r}, not one of {sorted(cases)}"
        )
    return value.encode()


def _enum(val: Any) -> str:
    en = val.of.enumeration
    return string_at(en.data, en.size).decode()


def _read(val: Any) -> bytes:
    return _capi.read_str(val)


#: Each import's arguments as Python values, read in the callback (see
#: ``_guard.async_firewall``: wasmtime frees them when it returns).
_LIFTS: Final[dict[str, Callable[[Any], tuple[Any, ...]]]] = {
    "self": lambda a: (),
    "spawn": lambda a: (_read(a[0]).decode(), _read(a[1])),
    "send": lambda a: (a[0].of.u64, _read(a[1])),
    "call": lambda a: (a[0].of.u64, _read(a[1]), a[2].of.u32),
    "register": lambda a: (_read(a[0]).decode(),),
    "whereis": lambda a: (_read(a[0]).decode(),),
    "now": lambda a: (),
    "log": lambda a: (_enum(a[0]), _read(a[1]).decode(errors="replace")),
    "link": lambda a: (a[0].of.u64,),
    "unlink": lambda a: (a[0].of.u64,),
    "monitor": lambda a: (a[0].of.u64,),
    "demonitor": lambda a: (a[0].of.u64, bool(a[1].of.boolean)),
    "trap-exits": lambda a: (bool(a[0].of.boolean),),
}


def process_callbacks(api_ref: Callable[[], ProcessApi]) -> dict[str, Any]:
    """The ``process`` interface as raw callbacks (hand-written conversions).
    Each body gets the calling instance, its arguments as Python values
    (see `_LIFTS`) and the C results to write."""
    put_u64 = _capi.put_u64
    put_result = _capi.put_result

    def self_(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        put_u64(res[0], _u64("self", api_ref().proc_self(inst)))

    def spawn(inst: Instance, a: tuple[Any, ...], res: Any) -> Pending | None:
        api = api_ref()
        if not inst.guard.suspendable:  # instantiation: the child's init runs here, nested
            put_spawn_result(res, *api.proc_spawn(inst, a[0], a[1]))
            return None
        pending = Pending(
            f"{PROCESS_IFACE}#spawn",
            lambda outcome: put_spawn_result(res, *outcome),
            inst.guard.deadline,
        )
        now = api.proc_spawn_begin(inst, a[0], a[1], pending)
        if now is None:
            return pending  # the guest waits for the child's init, holding no thread
        put_spawn_result(res, *now)
        return None

    def put_spawn_result(res: Any, ok: bool, value: object) -> None:
        if ok:
            pid = _u64("spawn", value)
            put_result(res[0], True, lambda v: put_u64(v, pid))
        else:
            put_result(res[0], False, lambda v: _capi.put_str(v, str(value).encode()))

    def send(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        err = api_ref().proc_send(inst, a[0], a[1])
        if err is None:
            put_result(res[0], True, None)
        else:
            case = _case("send", err, _SEND_ERRORS)
            put_result(res[0], False, lambda v: _capi.put_enum(v, case))

    def call(inst: Instance, a: tuple[Any, ...], res: Any) -> Pending | None:
        to, payload, timeout_ms = a
        api = api_ref()
        if not inst.guard.suspendable:  # init / terminate: wait on this thread
            ok, value = api.proc_call(inst, to, payload, timeout_ms)
            put_call_result(res, ok, value)
            return None
        due = min(time.monotonic() + timeout_ms / 1000, inst.guard.deadline)
        pending = Pending(
            f"{PROCESS_IFACE}#call", lambda outcome: put_call_result(res, *outcome), due
        )
        now = api.proc_call_begin(inst, to, payload, timeout_ms, pending)
        if now is None:
            return pending  # the guest waits without holding this thread
        put_call_result(res, *now)
        return None

    def put_call_result(res: Any, ok: bool, value: object) -> None:
        if ok:
            if not isinstance(value, bytes):
                raise ValueOutOfRange(f"{PROCESS_IFACE}#call returned {value!r}, not bytes")
            put_result(res[0], True, lambda v: _capi.put_str(v, value))
            return
        if not isinstance(value, tuple) or len(value) != 2:
            raise ValueOutOfRange(f"{PROCESS_IFACE}#call returned {value!r}, not a call-error")
        case = _case("call", value[0], _CALL_ERRORS)
        extra = value[1] or ""
        inner = _case("call", extra, _SEND_ERRORS) if case == b"send" else extra.encode()

        def fill_err(v: Any) -> None:
            if case == b"send":
                _capi.put_variant(v, case, lambda e: _capi.put_enum(e, inner))
            elif case == b"exited":
                _capi.put_variant(v, case, lambda e: _capi.put_str(e, inner))
            else:
                _capi.put_variant(v, case, None)

        put_result(res[0], False, fill_err)

    def register(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        err = api_ref().proc_register(inst, a[0])
        if err is None:
            put_result(res[0], True, None)
        else:
            put_result(res[0], False, lambda v: _capi.put_str(v, err.encode()))

    def whereis(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        pid = api_ref().proc_whereis(inst, a[0])
        res[0].kind = _capi.K_OPTION
        if pid is None:
            res[0].of.option = None
        else:
            found = _u64("whereis", pid)
            res[0].of.option = _capi.boxed(lambda v: put_u64(v, found))

    def now(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        put_u64(res[0], time.monotonic_ns())

    def log(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        api_ref().proc_log(inst, a[0], a[1])

    def link(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        err = api_ref().proc_link(inst, a[0])
        if err is None:
            put_result(res[0], True, None)
        else:
            case = _case("link", err, _SEND_ERRORS)
            put_result(res[0], False, lambda v: _capi.put_enum(v, case))

    def unlink(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        api_ref().proc_unlink(inst, a[0])

    def monitor(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        put_u64(res[0], _u64("monitor", api_ref().proc_monitor(inst, a[0])))

    def demonitor(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        res[0].kind = _capi.K_BOOL
        res[0].of.boolean = bool(api_ref().proc_demonitor(inst, a[0], a[1]))

    def trap_exits(inst: Instance, a: tuple[Any, ...], res: Any) -> None:
        res[0].kind = _capi.K_BOOL
        res[0].of.boolean = bool(api_ref().proc_trap_exits(inst, a[0]))

    bodies = {
        "link": link,
        "unlink": unlink,
        "monitor": monitor,
        "demonitor": demonitor,
        "trap-exits": trap_exits,
        "self": self_,
        "spawn": spawn,
        "send": send,
        "call": call,
        "register": register,
        "whereis": whereis,
        "now": now,
        "log": log,
    }
    assert set(bodies) == set(PROCESS_SIGNATURES) == set(_LIFTS)
    return {name: _firewalled(name, body) for name, body in bodies.items()}


PROCESS_FUNCTIONS: Final = frozenset(PROCESS_SIGNATURES)
#: ``process`` imports linked as async functions: they may suspend the guest.
#: (Each runs off the fiber stack, see ``_guard.async_firewall``; the rest
#: are pure Python with no native library under them.)
SUSPENDING_PROCESS_FUNCTIONS: Final = PROCESS_FUNCTIONS - {"self", "now", "trap-exits"}


def _firewalled(name: str, body: Callable[[Instance, tuple[Any, ...], Any], Any]) -> Any:
    read = _LIFTS[name]
    if name in SUSPENDING_PROCESS_FUNCTIONS:

        def lift(data: int, args: Any, nargs: int) -> tuple[Any, ...]:
            return read(args)

        def run_async(inst: Any, data: int, lifted: Any, results: Any) -> Any:
            return body(inst, lifted, results)

        return async_firewall(run_async, lift)

    def run(inst: Any, data: int, ty_raw: Any, args: Any, nargs: int, results: Any) -> None:
        body(inst, read(args), results)

    return firewall(run)
