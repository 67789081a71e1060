"""Async hookimpls: a host call whose hook is a Trio coroutine function.

Theory of operation
-------------------
Whether a bound hook is sync or async is decided once, when the gate binds
the import (`hook_kind`): every hookimpl of it must be the same kind. A mix
is refused at load, naming a plugin of each kind, because a sync hookimpl
was written to run on a scheduler thread (it may block) while an async one
runs on the host's Trio loop (where blocking stalls the whole host).
Hookwrappers cannot wrap a coroutine and are refused for async hooks.

The gate's per-call work does not change for an async hook: on the
scheduler thread it derives the resource, decides (Cedar), checks the
limits and writes the decision record *before* anything of the hook runs;
a refusal is returned at once, as a plain value. Only an allowed call gets
`run_async`'s awaitable, which awaits the hookimpls in pluggy's call order
until one returns a value (``firstresult``, as pluggy would), bounded by the
actor's deadline, and converts the outcome exactly as `Gate._run_hook` does
a sync one: the value through the WIT type, a `HostCallError` (also one
inside an exception group from a nursery) to the WIT ``error``, a quota
refusal audited.

Who awaits it: the runtime. The awaitable is the host function's return
value; the runtime suspends the guest's call (no scheduler thread waits),
awaits it as a task on the host's Trio loop and resumes the guest with the
value (``hostkit/runtime/_suspend.py``). A hookimpl registered after the load that breaks the
one-kind rule makes its calls fail with ``unsupported`` (never a coroutine
lowered as a value, never a sync hook run on the Trio loop).
"""

from __future__ import annotations

import inspect
import logging
import math
import types
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

import trio

from .._errors import CapabilityDenied
from ..runtime._wasm import ImportRefused
from ._host_errors import (
    HostCallError,
    HostCallQuotaExceeded,
    HostCallTimeout,
    HostCallUnsupported,
)

if TYPE_CHECKING:
    from ._binding import Binding
    from ._context import CallContext

__all__ = [
    "CoroutineType",
    "hook_kind",
    "late_async_refusal",
    "run_async",
]

log = logging.getLogger("hostkit.capabilities")

CoroutineType: Final = types.CoroutineType

_TIMED_OUT: Final = object()


def _plugin(impl: Any) -> str:
    return repr(impl.plugin_name)


def hook_kind(caller: Any, hook: str) -> bool:
    """Whether the hook ``hook`` is async (every hookimpl a coroutine function).

    Raises:
        ImportRefused: sync and async hookimpls mixed (naming a plugin of
            each kind), or a hookwrapper on an async hook.
    """
    impls = caller.get_hookimpls()
    sync = [i for i in impls if not (i.hookwrapper or i.wrapper) and not _is_async(i.function)]
    asyncs = [i for i in impls if not (i.hookwrapper or i.wrapper) and _is_async(i.function)]
    if sync and asyncs:
        raise ImportRefused(
            f"hook {hook} has sync and async hookimpls (sync in plugin "
            f"{_plugin(sync[0])}, async in plugin {_plugin(asyncs[0])}); "
            "make every hookimpl of one hook the same kind"
        )
    if asyncs:
        wrappers = [i for i in impls if i.hookwrapper or i.wrapper]
        if wrappers:
            raise ImportRefused(
                f"hook {hook} is async; the hookwrapper in plugin "
                f"{_plugin(wrappers[0])} cannot wrap a coroutine: remove it"
            )
    return bool(asyncs)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)


def late_async_refusal(b: Binding, value: Coroutine[Any, Any, Any]) -> HostCallUnsupported:
    """A sync-bound hook answered with a coroutine (an async hookimpl
    registered after the load): close it unrun and say so."""
    value.close()
    why = (
        f"an async hookimpl of {b.hook} was registered after the hook was bound "
        "sync; every hookimpl of one hook must be the same kind"
    )
    log.error("refused %s: %s", b.action, why)
    return HostCallUnsupported(why)


async def _first_result(b: Binding, kwargs: dict[str, Any]) -> Any:
    """pluggy's ``firstresult`` call, awaiting each hookimpl in call order."""
    for impl in reversed(b.caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper or not _is_async(impl.function):
            raise HostCallUnsupported(
                f"plugin {impl.plugin_name!r} added a sync hookimpl or a hookwrapper "
                f"to the async hook {b.hook} after it was bound"
            )
        value = await impl.function(*[kwargs[name] for name in impl.argnames])
        if value is not None:
            return value
    return None


def _only_host_errors(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first leaf of ``group`` if every leaf is a host-call error (a
    nursery in a hookimpl wraps what its tasks raise), else None."""
    rest = group.subgroup(
        lambda e: not isinstance(e, BaseExceptionGroup | HostCallError | CapabilityDenied)
    )
    if rest is not None:
        return None
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


async def run_async(
    b: Binding, ctx: CallContext, args: tuple[Any, ...], quota: Callable[..., None]
) -> Any:
    """Await the hook of an allowed call and return its WIT value (what
    `Gate._run_hook` returns for a sync hook). Runs on the host's Trio loop.

    Raises:
        Whatever a sync hook's call would raise to the runtime: an
        exception of the hookimpl that is no host-call error, or
        `CapabilityDenied` where the WIT type has no ``error.denied``.
        ``trio.Cancelled`` (kill, host close) passes through.
    """
    kwargs = dict(zip(b.names, args, strict=True))
    kwargs["ctx"] = ctx
    left = ctx.remaining()
    deadline = math.inf if left is None else trio.current_time() + left
    try:
        try:
            value: Any = _TIMED_OUT
            with trio.move_on_at(deadline):
                value = await _first_result(b, kwargs)
        except BaseExceptionGroup as group:
            leaf = _only_host_errors(group)
            if leaf is None:
                raise
            raise leaf from None
    except HostCallQuotaExceeded as exc:
        quota(b.action, ctx, exc)
        return b.error(exc)
    except (HostCallError, CapabilityDenied) as exc:
        return b.error(exc)
    if value is _TIMED_OUT:
        return b.error(HostCallTimeout(f"{b.action} ran past the actor's deadline"))
    if value is None:
        return b.error(HostCallUnsupported(f"no provider answered {b.action}"))
    return b.ok(value)
