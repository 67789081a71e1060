"""One imported WIT function bound to its pluggy hook: names, arguments,
results and errors. The gate (``_gate``) decides whether a call may run;
this module knows how a call and its outcome cross between guest and hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .._errors import CapabilityDenied
from ..runtime._wittypes import WitFunc
from ._callsites import Derive
from ._host_errors import HostCallRateLimited, HostCallTooLarge, wit_error_of
from ._witvalues import error_value, lower, lower_ok, snake

__all__ = [
    "STOCK_SIGNATURES",
    "Binding",
    "RateLimited",
    "TooLarge",
    "action_of",
    "hook_name_of",
]

_ERROR: Final = (
    "variant{denied(string), not-found(string), invalid(string), too-large(string), "
    "io(string), timeout, rate-limited, unsupported(string)}"
)
_ENCODING: Final = "enum{utf8, base64}"
_KIND: Final = "enum{file, directory, symlink, other}"

#: The exact WIT type (as `WitFunc` text) of every stock host function, by
#: action: what the stock call sites and providers read and return. A
#: component importing one with another type is refused at load.
STOCK_SIGNATURES: Final[Mapping[str, str]] = {
    "hostkit:host/files#read": (
        f"func(path: string, encoding: {_ENCODING}) -> result<string, {_ERROR}>"
    ),
    "hostkit:host/files#write": (
        f"func(path: string, contents: string, encoding: {_ENCODING}, "
        f"mode: enum{{truncate, append}}) -> result<u64, {_ERROR}>"
    ),
    "hostkit:host/files#list-dir": (
        f"func(path: string) -> result<list<record{{name: string, kind: {_KIND}}}>, {_ERROR}>"
    ),
    "hostkit:host/files#stat": (
        f"func(path: string) -> result<record{{kind: {_KIND}, size: u64, modified-ms: u64, "
        f"read-only: bool}}, {_ERROR}>"
    ),
    "hostkit:host/http#request": (
        "func(req: record{method: string, url: string, headers: list<tuple<string, string>>, "
        f"body: string, body-encoding: {_ENCODING}, response-encoding: {_ENCODING}, "
        "timeout-ms: option<u32>}) -> result<record{status: u16, "
        f"headers: list<tuple<string, string>>, body: string}}, {_ERROR}>"
    ),
    "hostkit:host/kv#get": f"func(key: string) -> result<string, {_ERROR}>",
    "hostkit:host/kv#set": f"func(key: string, value: string) -> result<_, {_ERROR}>",
    "hostkit:host/kv#delete": f"func(key: string) -> result<bool, {_ERROR}>",
    "hostkit:host/kv#list-keys": (
        f"func(prefix: string, start-after: string, limit: u32) -> result<list<string>, {_ERROR}>"
    ),
    "hostkit:host/clock#now-ms": f"func() -> result<u64, {_ERROR}>",
    "hostkit:host/clock#monotonic-ns": f"func() -> result<u64, {_ERROR}>",
    "hostkit:host/random#next-u64": f"func() -> result<u64, {_ERROR}>",
    "hostkit:host/random#hex-bytes": f"func(count: u32) -> result<string, {_ERROR}>",
    "hostkit:host/log#write": (
        f"func(level: enum{{trace, debug, info, warn, error}}, message: string) "
        f"-> result<_, {_ERROR}>"
    ),
}


def hook_name_of(interface: str, function: str) -> str:
    """The hook of a WIT function: ``("acme:game/world@0.1.0", "spawn-monster")``
    -> ``"world_spawn_monster"`` (the rule in ``_hookspecs``)."""
    name = interface.split("@", 1)[0].rsplit("/", 1)[-1]
    return f"{snake(name)}_{snake(function)}"


def action_of(interface: str, function: str) -> str:
    """The Cedar action of a WIT function: its full name without version,
    ``"acme:game/world#spawn-monster"``."""
    return f"{interface.split('@', 1)[0].replace('%', '')}#{function.lstrip('%')}"


class Binding:
    """One imported WIT function bound to its hook."""

    __slots__ = (
        "action",
        "adapters",
        "awaited",
        "caller",
        "derive",
        "func",
        "hook",
        "memo",
        "names",
        "result",
        "run",
    )

    def __init__(
        self,
        action: str,
        hook: str,
        caller: Any,
        func: WitFunc,
        adapters: tuple[Callable[[Any], Any] | None, ...],
        derive: Derive,
    ) -> None:
        self.action = action
        self.hook = hook
        self.caller = caller
        self.func = func
        self.names = tuple(snake(n) for n, _ in func.params)
        # None when every argument passes through as wasmtime-py gives it
        self.adapters = adapters if any(a is not None for a in adapters) else None
        self.derive = derive
        self.result = func.result
        # Set by the gate: runs an allowed call's hook, ``run(self, ctx, args)``
        # -> the WIT value (sync hook) or an awaitable of it (async hook).
        self.run: Callable[[Binding, Any, tuple[Any, ...]], Any] = _unbound
        # Set by the gate for stock functions whose decided calls it may
        # remember: the indices of the string parameters (see ``_gate``).
        self.memo: tuple[int, ...] | None = None

    def adapt(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        """The hook's arguments from wasmtime-py's values."""
        adapters = self.adapters
        if adapters is None:
            return raw
        return tuple(
            value if adapt is None else adapt(value)
            for adapt, value in zip(adapters, raw, strict=True)
        )

    def ok(self, value: Any) -> Any:
        ty = self.result
        if ty is None:
            return None
        if ty.kind == "result":
            return lower_ok(ty, value)
        return lower(ty, value)

    def error(self, exc: BaseException) -> Any:
        """The WIT error for ``exc``, or raise: ``CapabilityDenied`` for a
        denial the type cannot express (the actor ends ``denied``), ``exc``
        itself otherwise (``host-error``)."""
        mapped = wit_error_of(exc)
        if mapped is None:
            raise exc
        case, message = mapped
        ty = self.result
        if ty is not None and ty.kind == "result":
            attempts = (case, "denied") if isinstance(exc, Refusal) else (case,)
            for attempt in attempts:
                try:
                    return error_value(ty, attempt, message or str(exc))
                except ValueError:
                    continue
        if case == "denied" or isinstance(exc, Refusal):
            raise CapabilityDenied(message or str(exc)) from None
        raise exc


def _unbound(b: Binding, ctx: Any, args: tuple[Any, ...]) -> Any:
    raise RuntimeError(f"{b.hook} was called before the gate bound it")


class Refusal:
    """Marks the errors the gate raises for limits: where the function's
    error type lacks their case, the guest gets ``denied`` instead."""


class RateLimited(HostCallRateLimited, Refusal):
    """A rate limit refused the call (the guest sees ``rate-limited``)."""


class TooLarge(HostCallTooLarge, Refusal):
    """A payload cap refused the call (the guest sees ``too-large``)."""
