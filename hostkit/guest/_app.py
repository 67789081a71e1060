"""Calling the application's own WIT API from a Python guest.

An application (a game, a service) adds its own WIT package, e.g.
``acme:game`` with interface ``world``; a guest whose world imports it gets
generated bindings in ``wit_world.imports``. :func:`app_api` wraps such a
module so that a function whose result has an error case raises the SDK's
:class:`HostCallFailed` (:class:`HostCallDenied` when the host's policy
refused the call) instead of componentize-py's raw ``Err``::

    from wit_world.imports import world as _world   # acme:game/world
    import hostkit_guest

    world = hostkit_guest.app_api(_world)

    try:
        monster = world.spawn_monster("troll", 3, -1)   # -> int, as the WIT says
    except hostkit_guest.HostCallDenied as exc:
        hostkit_guest.host.log_write("warn", f"not allowed: {exc.detail}")

The wrapper has the module's own type for a type checker (``app_api(m)``
returns ``m``'s type), so editors that see the generated bindings (make them
with ``componentize-py -d wit -w WORLD bindings .``) keep every signature.
Records, enums and variants of the module pass through unchanged.

A denied call to a function *without* an error case cannot return an
error: the host ends the calling actor with reason ``denied`` instead.
"""

from __future__ import annotations

import enum
import re
from typing import Any, TypeVar

from ._errors import HostCallDenied, HostCallFailed

__all__ = ["app_api", "failure_of"]

T = TypeVar("T")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _case_name(error: Any) -> str:
    if isinstance(error, enum.Enum):
        return str(error.name).lower().replace("_", "-")
    name = type(error).__name__.split("_", 1)[-1]
    return _CAMEL.sub("-", name).lower()


def failure_of(function: str, error: Any) -> HostCallFailed:
    """The SDK exception for a WIT error value ``error`` of ``function``:
    a variant case (``Error_Denied("why")`` -> case ``denied``, detail
    ``why``), an enum member, or a plain string (case ``error``)."""
    if isinstance(error, str):
        return HostCallFailed(function, "error", error)
    case = _case_name(error)
    detail = getattr(error, "value", None)
    detail = None if detail is None else str(detail)
    if case == "denied":
        return HostCallDenied(function, detail)
    return HostCallFailed(function, case, detail)


class _AppApi:
    """A generated import module whose functions raise SDK exceptions."""

    def __init__(self, module: Any, name: str) -> None:
        self._module = module
        self._name = name
        self._cache: dict[str, Any] = {}

    def __getattr__(self, attr: str) -> Any:
        cached = self._cache.get(attr)
        if cached is not None:
            return cached
        value = getattr(self._module, attr)
        if isinstance(value, type) or not callable(value):
            return value  # records, enums, variants, constants
        function = f"{self._name}.{attr.replace('_', '-')}"

        def call(*args: Any) -> Any:
            from componentize_py_types import Err  # type: ignore[import-not-found]

            try:
                return value(*args)
            except Err as exc:
                raise failure_of(function, exc.value) from None

        call.__name__ = attr
        call.__doc__ = getattr(value, "__doc__", None)
        self._cache[attr] = call
        return call

    def __repr__(self) -> str:
        return f"<app_api {self._name}>"


def app_api(module: T, *, name: str | None = None) -> T:
    """Wrap the generated bindings ``module`` of an application interface:
    its functions raise :class:`HostCallFailed` (or :class:`HostCallDenied`)
    for the WIT error they return, with ``case`` the error's case name and
    ``detail`` its payload.

    Args:
        module: e.g. ``wit_world.imports.world``.
        name: the interface name used in messages (default: the module's).
    """
    label = name or str(getattr(module, "__name__", "app")).rsplit(".", 1)[-1]
    wrapped: Any = _AppApi(module, label)
    return wrapped  # type: ignore[no-any-return]
