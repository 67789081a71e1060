"""One imported WIT function bound to its pluggy hook: names, arguments,
results and errors. The gate (``_gate``) decides whether a call may run;
this module knows how a call and its outcome cross between guest and hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._errors import CapabilityDenied
from ..runtime._wittypes import WitFunc
from ._callsites import Derive
from ._host_errors import HostCallRateLimited, HostCallTooLarge, wit_error_of
from ._witvalues import error_value, lower, lower_ok, snake

__all__ = ["Binding", "RateLimited", "TooLarge", "action_of", "hook_name_of"]


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

    __slots__ = ("action", "adapters", "caller", "derive", "func", "hook", "names", "result")

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


class Refusal:
    """Marks the errors the gate raises for limits: where the function's
    error type lacks their case, the guest gets ``denied`` instead."""


class RateLimited(HostCallRateLimited, Refusal):
    """A rate limit refused the call (the guest sees ``rate-limited``)."""


class TooLarge(HostCallTooLarge, Refusal):
    """A payload cap refused the call (the guest sees ``too-large``)."""
