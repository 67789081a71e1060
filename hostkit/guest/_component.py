"""The componentize-py adapter: the ``Actor`` export class and ``process``.

componentize-py looks for a class named after the exported interface
(``Actor``) in the app module and builds a fresh instance of it for every
export call, so the class holds nothing: it forwards to one :class:`Runtime`.
The generated bindings (``wit_world``, ``componentize_py_types``) exist only
while componentize-py builds the guest, so they are imported inside
:func:`export`, never at module level: the rest of this package stays
importable (and testable) on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _remote
from ._errors import CallFailed, RegisterFailed, SendFailed, SpawnFailed
from ._hostfns import preload
from ._server import GenServer, Runtime, actor

__all__ = ["WitProcess", "export"]


def _case(enum_value: Any) -> str:
    """``SendError.MAILBOX_FULL`` -> ``"mailbox-full"`` (the WIT spelling)."""
    return str(enum_value.name).lower().replace("_", "-")


class WitProcess:
    """:class:`~._server.Process` over the generated ``process`` bindings."""

    def __init__(self, process: Any, types: Any, err: type[Exception]) -> None:
        self._p = process
        self._types = types
        self._err = err
        self._levels = {_case(level): level for level in types.LogLevel}

    def self_pid(self) -> int:
        return int(self._p.self())

    def spawn(self, component: str, args: str) -> int:
        try:
            return int(self._p.spawn(component, args))
        except self._err as exc:
            raise SpawnFailed(component, str(exc.value)) from None  # type: ignore[attr-defined]

    def send(self, to: int, payload: str) -> None:
        try:
            self._p.send(to, payload)
        except self._err as exc:
            raise SendFailed(to, _case(exc.value)) from None  # type: ignore[attr-defined]

    def call(self, to: int, payload: str, timeout_ms: int) -> str:
        try:
            return str(self._p.call(to, payload, timeout_ms))
        except self._err as exc:
            error = exc.value  # type: ignore[attr-defined]
            t = self._types
            if isinstance(error, t.CallError_Send):
                raise CallFailed(to, "send", _case(error.value)) from None
            if isinstance(error, t.CallError_Exited):
                raise CallFailed(to, "exited", str(error.value)) from None
            if isinstance(error, t.CallError_Timeout):
                raise CallFailed(to, "timeout") from None
            if isinstance(error, t.CallError_Deadlock):
                raise CallFailed(to, "deadlock") from None
            raise CallFailed(to, type(error).__name__) from None

    def register(self, name: str) -> None:
        try:
            self._p.register(name)
        except self._err as exc:
            raise RegisterFailed(name, str(exc.value)) from None  # type: ignore[attr-defined]

    def whereis(self, name: str) -> int | None:
        pid = self._p.whereis(name)
        return None if pid is None else int(pid)

    def now(self) -> int:
        return int(self._p.now())

    def log(self, level: str, message: str) -> None:
        self._p.log(self._levels[level], message)


def export(server: type[GenServer] | Callable[[Any], Any]) -> type:
    """The class componentize-py exports as ``actor``: assign it to ``Actor``
    at the top level of your app module::

        Actor = hostkit_guest.export(Counter)

    ``server`` is a :class:`GenServer` subclass, or a function
    ``handler(msg) -> reply`` (see :func:`actor`).
    """
    from componentize_py_types import Err  # type: ignore[import-not-found]
    from wit_world import exports  # type: ignore[import-not-found]
    from wit_world.imports import process  # type: ignore[import-not-found]

    try:
        from wit_world.imports import types  # type: ignore[import-not-found]
    except ImportError:  # a world that also imports hostkit:host has two `types`
        from wit_world.imports import (  # type: ignore[import-not-found]
            hostkit_plugin_types as types,
        )

    preload()  # at build time, so the snapshot holds the host-function bindings
    _remote.preload()
    if isinstance(server, type) and issubclass(server, GenServer):
        cls: type[GenServer] = server
    elif callable(server):
        cls = actor(server)
    else:
        raise TypeError(f"export() takes a GenServer subclass or a function, not {server!r}")
    runtime = Runtime(cls, WitProcess(process, types, Err))

    class Actor(exports.Actor):  # type: ignore[misc]
        __doc__ = f"The ``actor`` export, running {cls.__name__}."

        def init(self, args: str) -> None:
            error = runtime.init(args)
            if error is not None:
                raise Err(error)

        def deliver(self, batch: str) -> str:
            return runtime.deliver(batch)

        def terminate(self, reason: str) -> None:
            runtime.terminate(reason)

    Actor.runtime = runtime
    return Actor
