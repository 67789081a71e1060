"""``GenServer`` and the sans-IO core that drives it inside a guest.

Theory of operation
-------------------
One wasm instance holds exactly one actor, so one :class:`Runtime` per
instance, made at build time by ``export()`` (componentize-py snapshots the
imported app, so that costs nothing per spawn). componentize-py builds a
fresh export object for every export call; those objects only forward to the
runtime, which keeps all state.

- ``Runtime.init(args)`` builds the user's :class:`GenServer` and runs its
  ``init``; an exception or :class:`StopGuest` becomes the spawn's error.
- ``Runtime.deliver(batch)`` decodes the frames, hands each to a handler in
  arrival order and returns the outbox the handlers filled (sends, replies,
  spawns, a stop). After a stop (requested, or a handler raised) the rest of
  the batch is not handled: the host fails the unanswered calls with
  ``exited`` when the actor ends, like a crashed Erlang process.
- ``Runtime.terminate(reason)`` runs the user's ``terminate``.

The synchronous ``process`` imports are reached through a :class:`Process`
object (componentize-py's in ``_component.py``; a fake in host-side tests),
so this module runs under plain CPython too. Only the standard library and
relative imports: inside the guest this package is ``hostkit_guest``.
"""

from __future__ import annotations

import itertools
import json
import traceback
from collections.abc import Callable
from typing import Any, Final, NamedTuple, Protocol

from ._errors import MessageError, SendFailed, StopGuest, UnhandledMessage
from ._frames import FrameError, decode_frames, encode_frame
from ._timers import check_tag, timer_info, timer_payload

__all__ = [
    "HOST_PID",
    "NOREPLY",
    "From",
    "GenServer",
    "Process",
    "Runtime",
    "actor",
]

HOST_PID: Final = 0
LOG_LEVELS: Final = ("trace", "debug", "info", "warn", "error")
_MAX_REASON = 2000


class From(NamedTuple):
    """Who is waiting for a call's reply: pass it to :meth:`GenServer.reply`."""

    pid: int
    ref: int


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOREPLY"


NOREPLY: Final = _NoReply()
"""Return this from ``handle_call`` to reply later with :meth:`GenServer.reply`."""


class Process(Protocol):
    """The host's synchronous ``process`` imports, in Python shapes.
    Failures raise the SDK's exceptions (``SendFailed``, ``CallFailed``...)."""

    def self_pid(self) -> int: ...
    def spawn(self, component: str, args: str) -> int: ...
    def send(self, to: int, payload: str) -> None: ...
    def call(self, to: int, payload: str, timeout_ms: int) -> str: ...
    def register(self, name: str) -> None: ...
    def whereis(self, name: str) -> int | None: ...
    def now(self) -> int: ...
    def log(self, level: str, message: str) -> None: ...


_IDLE, _INIT, _DELIVER, _TERMINATE = range(4)
_WHERE: Final = {
    "c": "handle_cast",
    "q": "handle_call",
    "i": "handle_info",
    "u": "handle_info",
    "p": "handle_info",
    "d": "handle_info",
    "e": "handle_info",
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _clip(text: str, limit: int = _MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class GenServer:
    """Subclass this and override the callbacks you need.

    Messages are JSON values: payloads are decoded before a handler sees them
    and encoded on the way out (override :meth:`encode_message` and
    :meth:`decode_message` to use another convention). Pids are plain ints;
    ``0`` is the host.

    An exception escaping a callback stops the actor with reason
    ``"<callback> raised <Type>: <message>"`` after logging the traceback to
    the host; raise :class:`StopGuest` to stop with a reason of your own.
    """

    _hostkit: Runtime

    # -- callbacks -------------------------------------------------------------
    def init(self, args: str) -> None:
        """Called once with the spawn's init args (a string, often JSON or
        empty). Raise :class:`StopGuest` (or anything) to fail the spawn."""

    def handle_call(self, msg: Any, from_: From) -> Any:
        """Answer a call: the return value is the reply. Return
        :data:`NOREPLY` to answer later with :meth:`reply`."""
        raise UnhandledMessage(f"{type(self).__name__} does not handle calls (got {msg!r:.200})")

    def handle_cast(self, msg: Any) -> None:
        """Handle a cast (a message that expects no reply)."""
        raise UnhandledMessage(f"{type(self).__name__} does not handle casts (got {msg!r:.200})")

    def handle_info(self, kind: str, msg: Any) -> None:
        """Handle a system message. ``kind`` is

        - ``"spawned"``: ``{"tag": t, "pid": p}`` or ``{"tag": t, "error": e}``
          for a :meth:`spawn` tagged ``t``;
        - ``"undeliverable"``: ``{"pid": p, "tag": t, "error": e}`` for a
          :meth:`send` tagged ``t`` (``e`` is e.g. ``"mailbox-full"``);
        - ``"down"``: ``{"pid": p, "ref": r, "reason": why}``, the DOWN of a
          monitor ``r`` (see ``process.monitor``);
        - ``"exit"``: ``{"pid": p, "reason": why}``, a trapped exit signal;
        - ``"timer"``: ``{"tag": t, "msg": m}``, a :meth:`send_after` timer
          tagged ``t`` fired (a refused one comes back as
          ``"undeliverable"`` with ``"error": "too-many-timers"``);
        - ``"info"``: another host message; ``msg`` is its raw payload string.

        The default logs it at debug level and carries on.
        """
        self.log("debug", f"unhandled {kind} message: {msg!r:.200}")

    def terminate(self, reason: str) -> None:
        """Called before the actor ends for a reason other than a trap or a
        kill: the reason given to :meth:`stop`, or the host's (``shutdown``)."""

    # -- the message convention ----------------------------------------------
    def encode_message(self, msg: Any) -> str:
        """A value as a payload (compact JSON, UTF-8 kept as is).

        Raises:
            MessageError: ``msg`` is not JSON-serialisable (or holds NaN).
        """
        try:
            return _dumps(msg)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"cannot encode {msg!r:.200} as JSON: {exc}") from None

    def decode_message(self, payload: str) -> Any:
        """A payload as a value.

        Raises:
            MessageError: ``payload`` is not JSON.
        """
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise MessageError(f"payload {payload!r:.200} is not valid JSON: {exc}") from None

    # -- the outbox: carried out after the current batch ------------------------
    def send(self, pid: int, msg: Any, *, tag: int = 0) -> None:
        """Cast ``msg`` to ``pid`` once this batch is done. A failure comes
        back as ``handle_info("undeliverable", {..., "tag": tag})``. (In
        ``init``/``terminate``, which have no outbox, it is sent at once and a
        failure is logged.)"""
        rt = self._runtime()
        payload = self.encode_message(msg)
        if rt.phase == _DELIVER:
            rt.emit("s", int(pid), tag, payload)
            return
        try:
            rt.process.send(int(pid), payload)
        except SendFailed as exc:
            rt.log("warn", str(exc))

    def reply(self, from_: From, msg: Any) -> None:
        """Answer the call ``from_`` (deferred replies, see :data:`NOREPLY`)."""
        rt = self._runtime()
        payload = self.encode_message(msg)
        if rt.phase != _DELIVER:
            raise RuntimeError("reply() works only while handling messages")
        rt.emit("r", from_.pid, from_.ref, payload)

    def spawn(self, component: str, args: Any = "", *, tag: int | None = None) -> int:
        """Start an actor from the loaded ``component`` after this batch;
        ``args`` (a string as is, anything else as JSON) go to its ``init``.
        Returns the tag its ``handle_info("spawned", ...)`` result carries."""
        rt = self._runtime()
        if rt.phase != _DELIVER:
            raise RuntimeError("spawn() works only while handling messages; use spawn_now()")
        if "\n" in component:
            raise ValueError(f"component name {component!r} must be one line")
        text = args if isinstance(args, str) else self.encode_message(args)
        tag = rt.next_tag() if tag is None else tag
        rt.emit("n", 0, tag, f"{component}\n{text}")
        return tag

    def send_after(self, delay_ms: int, msg: Any, *, tag: int | None = None) -> int:
        """Deliver ``msg`` back to this actor as ``handle_info("timer",
        {"tag": tag, "msg": msg})`` after ``delay_ms`` milliseconds (set once
        this batch is done). Setting a tag that is still pending replaces
        that timer. Returns the tag, for :meth:`cancel_timer`.

        Raises:
            ValueError: ``delay_ms`` or ``tag`` is out of range.
            RuntimeError: outside a delivery (in ``init``, send yourself a
                cast with :meth:`send_now` and set the timer there).
        """
        rt = self._runtime()
        if rt.phase != _DELIVER:
            raise RuntimeError("send_after() works only while handling messages")
        payload = timer_payload(delay_ms, self.encode_message(msg))
        tag = rt.next_tag() if tag is None else check_tag(tag)
        rt.emit("t", 0, tag, payload)
        return tag

    def cancel_timer(self, tag: int) -> None:
        """Cancel the timer ``tag`` once this batch is done. A timer that
        fired already may still be in this actor's mailbox: its
        ``handle_info("timer", ...)`` arrives anyway."""
        rt = self._runtime()
        if rt.phase != _DELIVER:
            raise RuntimeError("cancel_timer() works only while handling messages")
        rt.emit("k", 0, check_tag(tag), "")

    def stop(self, reason: str = "normal") -> None:
        """Stop after this batch; the rest of the batch is not handled.
        ``"normal"`` and ``"shutdown"`` are clean stops, anything else is an
        ``error`` exit with this text. In ``init`` it fails the spawn."""
        self._runtime().request_stop(reason)

    # -- synchronous host calls (they block the handler) ---------------------
    def self_pid(self) -> int:
        """This actor's pid."""
        return self._runtime().self_pid()

    def call(self, pid: int, msg: Any, timeout_ms: int = 1000) -> Any:
        """Call ``pid`` and wait for its decoded reply. The activation's own
        deadline (the host's ``activation_timeout``) still applies.

        Raises:
            CallFailed: no reply (``kind``: send, timeout, exited, deadlock).
            MessageError: ``msg`` cannot be encoded or the reply decoded.
        """
        payload = self.encode_message(msg)
        return self.decode_message(self._runtime().process.call(int(pid), payload, timeout_ms))

    def send_now(self, pid: int, msg: Any) -> None:
        """Enqueue ``msg`` for ``pid`` now.

        Raises:
            SendFailed: with the reason (``noproc``, ``mailbox-full``...).
        """
        self._runtime().process.send(int(pid), self.encode_message(msg))

    def spawn_now(self, component: str, args: Any = "") -> int:
        """Start an actor now and return its pid once its ``init`` succeeded.

        Raises:
            SpawnFailed: with the host's reason.
        """
        text = args if isinstance(args, str) else self.encode_message(args)
        return self._runtime().process.spawn(component, text)

    def whereis(self, name: str) -> int | None:
        """The pid registered under ``name``, or None."""
        return self._runtime().process.whereis(name)

    def register(self, name: str) -> None:
        """Register this actor under ``name``.

        Raises:
            RegisterFailed: the name is taken or this actor has another name.
        """
        self._runtime().process.register(name)

    def now(self) -> int:
        """Monotonic host time in nanoseconds."""
        return self._runtime().process.now()

    def log(self, level: str, message: str) -> None:
        """Write to the host log, tagged with this actor: ``level`` is one of
        trace, debug, info, warn (or warning), error."""
        self._runtime().log(level, message)

    def _runtime(self) -> Runtime:
        try:
            return self._hostkit
        except AttributeError:
            raise RuntimeError(
                f"{type(self).__name__} is not running in an actor (export() runs it)"
            ) from None


class Runtime:
    """Drives one :class:`GenServer` from the three ``actor`` exports."""

    def __init__(self, factory: Callable[[], GenServer], process: Process) -> None:
        self._factory = factory
        self.process = process
        self.server: GenServer | None = None
        self.phase = _IDLE
        self.stop_reason: str | None = None
        self._out: list[bytes] = []
        self._tags = itertools.count(1)
        self._pid: int | None = None

    # -- the exports -------------------------------------------------------------
    def init(self, args: str) -> str | None:
        """Returns None, or why the spawn failed."""
        self.phase = _INIT
        try:
            server = self._factory()
            server._hostkit = self
            self.server = server
            server.init(args)
        except StopGuest as stop:
            self.request_stop(stop.reason)
        except Exception as exc:
            self._log_exception(exc)
            self.request_stop(f"init raised {type(exc).__name__}: {exc}")
        finally:
            self.phase = _IDLE
        return self.stop_reason

    def deliver(self, batch: str) -> str:
        server = self.server
        if server is None:  # the host never delivers before a successful init
            raise RuntimeError("deliver before init")
        out: list[bytes] = []
        self._out = out
        self.phase = _DELIVER
        try:
            try:
                frames = decode_frames(batch)
            except FrameError as exc:
                self.log("error", f"malformed batch from the host: {exc}")
                self.request_stop(f"protocol violation: {exc}")
                frames = []
            for frame in frames:
                if self.stop_reason is not None:
                    break
                self._dispatch(server, *frame)
        finally:
            self.phase = _IDLE
            self._out = []
        return b"".join(out).decode()

    def terminate(self, reason: str) -> None:
        server = self.server
        if server is None:
            return
        self.phase = _TERMINATE
        try:
            # the host passes only the exit kind ("error"); ours says more
            server.terminate(self.stop_reason or reason)
        except Exception as exc:
            self._log_exception(exc)
        finally:
            self.phase = _IDLE

    # -- dispatch ----------------------------------------------------------------
    def _dispatch(self, server: GenServer, kind: str, pid: int, ref: int, payload: str) -> None:
        try:
            if kind == "c":
                try:
                    msg = server.decode_message(payload)
                except MessageError as exc:
                    self.log("warn", f"dropped a cast from {pid}: {exc}")
                    return
                server.handle_cast(msg)
            elif kind == "q":
                try:
                    msg = server.decode_message(payload)
                except MessageError as exc:
                    self.log("warn", f"refused a call from {pid}: {exc}")
                    self.emit("r", pid, ref, _dumps({"error": str(exc)}))
                    return
                from_ = From(pid, ref)
                reply = server.handle_call(msg, from_)
                if reply is not NOREPLY:
                    server.reply(from_, reply)
            elif kind == "i":
                try:
                    msg = server.decode_message(payload)
                except MessageError:  # not one of our timers: another host message
                    server.handle_info("info", payload)
                    return
                server.handle_info("timer", timer_info(ref, msg))
            elif kind == "u":
                server.handle_info("undeliverable", {"pid": pid, "tag": ref, "error": payload})
            elif kind == "p":
                info = {"tag": ref, "pid": pid} if pid else {"tag": ref, "error": payload}
                server.handle_info("spawned", info)
            elif kind == "d":
                server.handle_info("down", {"pid": pid, "ref": ref, "reason": payload})
            elif kind == "e":
                server.handle_info("exit", {"pid": pid, "reason": payload})
            else:
                self.log("warn", f"ignored an inbound frame of unknown kind {kind!r}")
        except StopGuest as stop:
            self.request_stop(stop.reason)
        except Exception as exc:
            self._log_exception(exc)
            self.request_stop(f"{_WHERE.get(kind, 'handler')} raised {type(exc).__name__}: {exc}")

    # -- services for GenServer ------------------------------------------------------
    def emit(self, kind: str, pid: int, ref: int, payload: str) -> None:
        self._out.append(encode_frame(kind, pid, ref, payload))

    def next_tag(self) -> int:
        return next(self._tags)

    def request_stop(self, reason: str) -> None:
        """The first stop wins; in a delivery it becomes an ``x`` frame."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason = _clip(str(reason)) or "normal"
        if self.phase == _DELIVER:
            self.emit("x", 0, 0, reason)

    def self_pid(self) -> int:
        if self._pid is None:
            self._pid = self.process.self_pid()
        return self._pid

    def log(self, level: str, message: str) -> None:
        level = "warn" if level == "warning" else level
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}; got {level!r}")
        self.process.log(level, message)

    def _log_exception(self, exc: BaseException) -> None:
        self.process.log("error", "".join(traceback.format_exception(exc)).rstrip())


def actor(handler: Callable[[Any], Any]) -> type[GenServer]:
    """Make a :class:`GenServer` from ``handler(msg) -> reply``: calls reply
    with its return value, casts ignore it. Usable as a decorator."""

    def handle_call(self: GenServer, msg: Any, from_: From) -> Any:
        return handler(msg)

    def handle_cast(self: GenServer, msg: Any) -> None:
        handler(msg)

    name = getattr(handler, "__name__", "handler")
    return type(
        name,
        (GenServer,),
        {
            "handle_call": handle_call,
            "handle_cast": handle_cast,
            "__doc__": handler.__doc__,
            "__module__": getattr(handler, "__module__", __name__),
        },
    )
