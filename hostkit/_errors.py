"""hostkit's exceptions: one tree, each class saying whose fault it is.

::

    HostkitError
     +-- ComponentLoadError       the component you loaded is unusable (names it and why)
     +-- SpawnError               init failed, or the host refused to start the actor
     +-- MailboxFull              the target's mailbox is at capacity; nothing was enqueued
     +-- MessageTooLarge          the payload exceeds the host's size limit; nothing was sent
     +-- TooManyTimers            the target already has max_timers_per_actor pending timers
     +-- NoProc                   the pid or name does not name a live actor
     +-- ActorExited              the actor you were calling exited before replying
     +-- CallTimeout              no reply within the timeout (also a TimeoutError)
     +-- CallDeadlock             the call would wait for itself (re-entry into a running actor)
     +-- CapabilityDenied         a policy denied the operation (also a PermissionError)
     +-- PolicyError              a policy or schema failed to parse or validate
     +-- SupervisorSpecError      a child spec or supervisor flag is invalid (names the field)
     +-- RestartIntensityExceeded a supervisor gave up: too many restarts in its period
     +-- ChildError               a child-admin request does not fit the child's state
     +-- AuditError               the audit log could not be written or verified
     +-- FederationError          a peer link failed or a peer broke the protocol
     +-- HostClosedError          the host is closed (or closing); open a new one
     +-- WrongThreadError         the Trio host was used from another thread or asyncio
     +-- BuildError               a plugin could not be built (names the file and line)
          +-- ToolNotFound         componentize-py or wasm-tools is not installed
     +-- ConfigError              a host.toml is malformed (names the file and the key)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._pid import Pid


class HostkitError(Exception):
    """Base class of every exception hostkit raises on purpose."""


class ComponentLoadError(HostkitError):
    """A component could not be loaded: your input is at fault.

    The message names the component and the problem (bad magic bytes, a core
    module given where a component is expected, too large, malformed, missing
    actor exports, imports that nothing implements).
    """

    def __init__(self, component: str, problem: str) -> None:
        super().__init__(f"component {component!r}: {problem}")
        self.component = component
        self.problem = problem


class SpawnError(HostkitError):
    """An actor could not be started: its `init` failed, trapped or ran out of
    budget, or the host refused to instantiate it (e.g. memory limits)."""


class MailboxFull(HostkitError):
    """The target's mailbox is at capacity; the message was not enqueued.

    Whose fault: the sender is outpacing the receiver. Retry later, shed load,
    or raise the host's ``mailbox_capacity``.
    """

    def __init__(self, pid: Pid, capacity: int) -> None:
        super().__init__(f"mailbox of {pid} is full ({capacity} messages); nothing was enqueued")
        self.pid = pid
        self.capacity = capacity


class MessageTooLarge(HostkitError, ValueError):
    """The payload exceeds the host's ``max_message_size``; nothing was sent."""


class TooManyTimers(HostkitError):
    """The actor already has ``max_timers_per_actor`` pending timers (or the
    host's ``host_mailbox_bytes`` is spent); no timer was set.

    Whose fault: the caller sets timers faster than they fire or are
    cancelled. Cancel the ones you no longer need, or raise the limit.
    """


class NoProc(HostkitError, LookupError):
    """The pid or name does not name a live actor (it exited or never existed)."""


class ActorExited(HostkitError):
    """The actor exited before it could answer; ``reason`` says why."""

    def __init__(self, pid: Pid, reason: object) -> None:
        super().__init__(f"{pid} exited: {reason}")
        self.pid = pid
        self.reason = reason


class CallTimeout(HostkitError, TimeoutError):
    """No reply arrived within the call's timeout. The request may still be
    processed later; its reply is then discarded."""


class CallDeadlock(HostkitError, RuntimeError):
    """The call would wait for itself: its target is the actor executing the
    host function that made it (re-entry). Your host function is at fault:
    reply through the function's result instead, or cast (``send``)."""


class CapabilityDenied(HostkitError, PermissionError):
    """A policy denied the operation. The message names principal, action and
    resource; the audit log holds the decision."""


class PolicyError(HostkitError):
    """A policy set or schema failed to parse or validate; the message names
    the policy and the position. The previous policy set stays in force."""


class SupervisorSpecError(HostkitError, ValueError):
    """A child spec or supervisor flag is invalid; the message names the field."""


class RestartIntensityExceeded(HostkitError):
    """A supervisor saw more restarts than its intensity allows within its
    period, stopped its children and exited. Its own supervisor decides next."""


class AuditError(HostkitError):
    """The audit log could not be written, or a log failed verification."""


class FederationError(HostkitError):
    """A peer link failed, or a peer violated the protocol."""


class HostClosedError(HostkitError):
    """The host is closed or closing: you used it after (or while) leaving
    ``open_host``."""


class WrongThreadError(HostkitError, RuntimeError):
    """You called the Trio ``Host`` from a thread other than the one that
    opened it, or from asyncio. The message names the API to use instead:
    ``hostkit.blocking`` from plain threads, ``hostkit.aio`` from asyncio."""


class ChildError(HostkitError):
    """A child-admin request (``terminate_child``, ``restart_child``,
    ``delete_child``, ``get_childspec``, ``start_child``) does not fit the
    child's state: your request is at fault, nothing changed.

    ``reason`` is OTP's error atom: ``"not_found"`` (no such child),
    ``"running"`` (terminate it first), ``"restarting"`` (the supervisor is
    restarting it; terminate it to stop that), ``"already_present"`` /
    ``"already_started"`` (the id is taken), ``"dynamic"`` (a dynamic
    supervisor keeps no specs to restart or delete).
    """

    def __init__(self, message: str, *, reason: str, child: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.child = child


class BuildError(HostkitError):
    """A plugin could not be built (:mod:`hostkit.build`): usually the
    plugin's own source is at fault, else a missing tool or a bad project.

    When the guest's code failed (a ``SyntaxError`` in ``app.py``, an
    exception while importing it), ``file``, ``line`` and ``message`` locate
    it and the text starts with them, followed by ``detail`` (the source
    line or the guest's traceback); ``output`` keeps the tool's full output
    for a bug report.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        detail: str = "",
        output: str = "",
    ) -> None:
        where = ""
        if file is not None:
            where = file + (f":{line}" if line is not None else "")
            where += f":{column}" if line is not None and column is not None else ""
            where += ": "
        super().__init__(where + message + (f"\n{detail}" if detail else ""))
        self.message = message
        self.detail = detail
        self.file = file
        self.line = line
        self.column = column
        self.output = output


class ToolNotFound(BuildError):
    """A build tool (componentize-py, wasm-tools) is not installed: your
    environment is at fault. ``pip install 'wasm-hostkit[build]'``."""


class ConfigError(HostkitError, ValueError):
    """A host configuration file (``host.toml``) is malformed: your input.
    The message names the file, the key and what is expected there."""
