"""Exceptions of the guest SDK.

::

    StopGuest                 raise it to stop (or to fail init); not an error
    GuestError
    ├── MessageError          a message could not be JSON-encoded or decoded
    ├── SendFailed            send_now() was refused
    ├── CallFailed            call() got no reply
    ├── SpawnFailed           spawn_now() failed
    ├── RegisterFailed        register() was refused
    ├── UnhandledMessage      a GenServer got a call or cast it has no handler for
    └── HostCallFailed        a host function (files, http, kv, ...) returned its error
        └── HostCallDenied    ... and the error is `denied`: a policy refused the call
"""

from __future__ import annotations

__all__ = [
    "CallFailed",
    "GuestError",
    "HostCallDenied",
    "HostCallFailed",
    "MessageError",
    "RegisterFailed",
    "SendFailed",
    "SpawnFailed",
    "StopGuest",
    "UnhandledMessage",
]


class StopGuest(Exception):
    """Raise from ``init`` to fail the spawn with ``reason``, or from a handler
    to stop the actor after this batch (``"normal"`` is a clean stop)."""

    def __init__(self, reason: str = "normal") -> None:
        super().__init__(reason)
        self.reason = reason


class GuestError(Exception):
    """Base of the SDK's errors."""


class UnhandledMessage(GuestError):
    """A :class:`GenServer` got a call or a cast and does not override the
    handler for it. Like OTP's ``gen_server`` (which crashes on an
    unexpected call), the actor stops with ``"handle_call raised
    UnhandledMessage: ..."``: override ``handle_call``/``handle_cast`` to
    accept it."""


class MessageError(GuestError, ValueError):
    """A message could not be encoded (your value is not JSON-serialisable)
    or decoded (the peer sent a payload that is not JSON)."""


class SendFailed(GuestError):
    """:meth:`GenServer.send_now` was refused: ``error`` is the WIT
    ``send-error`` case (``noproc``, ``mailbox-full``, ``too-large``,
    ``denied``). Nothing was enqueued."""

    def __init__(self, pid: int, error: str) -> None:
        super().__init__(f"send to {pid} failed: {error}")
        self.pid = pid
        self.error = error


class CallFailed(GuestError):
    """:meth:`GenServer.call` got no reply. ``kind`` is the WIT ``call-error``
    case: ``send`` (``detail`` is the send-error), ``timeout``, ``exited``
    (``detail`` is the callee's exit reason) or ``deadlock`` (you called
    yourself)."""

    def __init__(self, pid: int, kind: str, detail: str | None = None) -> None:
        text = f"call to {pid} failed: {kind}" + (f" ({detail})" if detail else "")
        super().__init__(text)
        self.pid = pid
        self.kind = kind
        self.detail = detail


class SpawnFailed(GuestError):
    """:meth:`GenServer.spawn_now` failed; ``reason`` is the host's text
    (unknown component, init error, limits)."""

    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"spawn of {component!r} failed: {reason}")
        self.component = component
        self.reason = reason


class RegisterFailed(GuestError):
    """:meth:`GenServer.register` was refused (name taken, or this actor
    already has another name)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot register {name!r}: {reason}")
        self.name = name
        self.reason = reason


class HostCallFailed(GuestError):
    """A host function (``hostkit_guest.host.*``) failed. ``case`` is the WIT
    ``error`` case: ``denied`` (a policy or the host refused: not your
    bug, ask the operator for a grant), ``not-found``, ``invalid`` (your
    arguments), ``too-large``, ``io``, ``timeout``, ``rate-limited`` (retry
    later) or ``unsupported``; ``detail`` is the host's message, if any."""

    def __init__(self, function: str, case: str, detail: str | None = None) -> None:
        super().__init__(f"{function} failed: {case}" + (f" ({detail})" if detail else ""))
        self.function = function
        self.case = case
        self.detail = detail


class HostCallDenied(HostCallFailed):
    """A host function or an application API call was refused by the host's
    policy (the WIT ``denied`` case): not your bug; the plugin needs a grant
    from the operator. ``detail`` is the host's reason."""

    def __init__(self, function: str, detail: str | None = None) -> None:
        super().__init__(function, "denied", detail)
