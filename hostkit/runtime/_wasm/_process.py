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
from ._guard import firewall

if TYPE_CHECKING:
    from ._instance import Instance

__all__ = ["PROCESS_FUNCTIONS", "PROCESS_IFACE", "ProcessApi", "process_callbacks"]

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

    def proc_send(self, inst: Instance, to: int, payload: bytes) -> str | None: ...

    def proc_call(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int
    ) -> tuple[bool, bytes | tuple[str, str | None]]: ...

    def proc_register(self, inst: Instance, name: str) -> str | None: ...

    def proc_whereis(self, inst: Instance, name: str) -> int | None: ...

    def proc_log(self, inst: Instance, level: str, message: str) -> None: ...

    def proc_link(self, inst: Instance, other: int) -> str | None: ...

    def proc_unlink(self, inst: Instance, other: int) -> None: ...

    def proc_monitor(self, inst: Instance, target: int) -> int: ...

    def proc_demonitor(self, inst: Instance, ref: int, flush: bool) -> bool: ...

    def proc_trap_exits(self, inst: Instance, on: bool) -> bool: ...


def process_callbacks(api_ref: Callable[[], ProcessApi]) -> dict[str, Any]:
    """The ``process`` interface as raw callbacks (hand-written conversions)."""

    def self_(inst: Instance, args: Any, res: Any) -> None:
        _capi.put_u64(res[0], api_ref().proc_self(inst))

    def spawn(inst: Instance, args: Any, res: Any) -> None:
        comp = _capi.read_str(args[0]).decode()
        init = _capi.read_str(args[1])
        ok, value = api_ref().proc_spawn(inst, comp, init)
        if ok:
            _capi.put_result(res[0], True, lambda v: _capi.put_u64(v, int(value)))
        else:
            _capi.put_result(res[0], False, lambda v: _capi.put_str(v, str(value).encode()))

    def send(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_send(inst, args[0].of.u64, _capi.read_str(args[1]))
        if err is None:
            _capi.put_result(res[0], True, None)
        else:
            _capi.put_result(res[0], False, lambda v: _capi.put_enum(v, err.encode()))

    def call(inst: Instance, args: Any, res: Any) -> None:
        ok, value = api_ref().proc_call(
            inst, args[0].of.u64, _capi.read_str(args[1]), args[2].of.u32
        )
        if ok:
            assert isinstance(value, bytes)
            _capi.put_result(res[0], True, lambda v: _capi.put_str(v, value))
            return
        assert isinstance(value, tuple)
        case, extra = value

        def fill_err(v: Any) -> None:
            if case == "send":
                _capi.put_variant(v, b"send", lambda e: _capi.put_enum(e, (extra or "").encode()))
            elif case == "exited":
                _capi.put_variant(v, b"exited", lambda e: _capi.put_str(e, (extra or "").encode()))
            else:
                _capi.put_variant(v, case.encode(), None)

        _capi.put_result(res[0], False, fill_err)

    def register(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_register(inst, _capi.read_str(args[0]).decode())
        if err is None:
            _capi.put_result(res[0], True, None)
        else:
            _capi.put_result(res[0], False, lambda v: _capi.put_str(v, err.encode()))

    def whereis(inst: Instance, args: Any, res: Any) -> None:
        pid = api_ref().proc_whereis(inst, _capi.read_str(args[0]).decode())
        res[0].kind = _capi.K_OPTION
        res[0].of.option = _capi.boxed(lambda v: _capi.put_u64(v, pid)) if pid is not None else None

    def now(inst: Instance, args: Any, res: Any) -> None:
        _capi.put_u64(res[0], time.monotonic_ns())

    def log(inst: Instance, args: Any, res: Any) -> None:
        en = args[0].of.enumeration
        level = string_at(en.data, en.size).decode()
        api_ref().proc_log(inst, level, _capi.read_str(args[1]).decode(errors="replace"))

    def link(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_link(inst, args[0].of.u64)
        if err is None:
            _capi.put_result(res[0], True, None)
        else:
            _capi.put_result(res[0], False, lambda v: _capi.put_enum(v, err.encode()))

    def unlink(inst: Instance, args: Any, res: Any) -> None:
        api_ref().proc_unlink(inst, args[0].of.u64)

    def monitor(inst: Instance, args: Any, res: Any) -> None:
        _capi.put_u64(res[0], api_ref().proc_monitor(inst, args[0].of.u64))

    def demonitor(inst: Instance, args: Any, res: Any) -> None:
        res[0].kind = _capi.K_BOOL
        res[0].of.boolean = api_ref().proc_demonitor(inst, args[0].of.u64, args[1].of.boolean)

    def trap_exits(inst: Instance, args: Any, res: Any) -> None:
        res[0].kind = _capi.K_BOOL
        res[0].of.boolean = api_ref().proc_trap_exits(inst, args[0].of.boolean)

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
    return {name: _firewalled(name, body) for name, body in bodies.items()}


PROCESS_FUNCTIONS: Final = frozenset(
    {
        "self",
        "spawn",
        "send",
        "call",
        "register",
        "whereis",
        "now",
        "log",
        "link",
        "unlink",
        "monitor",
        "demonitor",
        "trap-exits",
    }
)


def _firewalled(name: str, body: Callable[[Instance, Any, Any], None]) -> Any:
    label = f"{PROCESS_IFACE}#{name}"

    def run(inst: Any, data: int, ty_raw: Any, args: Any, nargs: int, results: Any) -> None:
        body(inst, args, results)

    return firewall(run, lambda _data: label)
