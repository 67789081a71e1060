"""The control endpoint of ``hostkit run``: a Unix socket only its owner can use.

Theory of operation
-------------------
``hostkit run host.toml`` listens on ``<dir>/<stem>-<hash>.sock``, where
``<dir>`` is ``[control] socket_dir`` or, by default, ``$XDG_RUNTIME_DIR/hostkit``
(else ``/tmp/hostkit-<uid>``) and ``<hash>`` is taken from the config file's
absolute path, so two hosts never share a socket. Three locks, any one of
which keeps other users out:

* the directory is ``0700`` and owned by the user; an existing one that is
  not (or is a symlink) is refused, never "fixed";
* the socket is ``0600``;
* every connection's peer credentials (``SO_PEERCRED``) must carry the
  server's own uid, else the connection is refused and the refusal audited.

The protocol is JSON lines: one request object per line, one answer per
line. Requests::

    {"op": "send", "to": NAME, "msg": TEXT}
    {"op": "call", "to": NAME, "msg": TEXT, "timeout": SECONDS}
    {"op": "ping"}

``send`` and ``call`` take an optional ``"node": NODE``: NAME is then looked
up on that federation peer (``Federation.whereis``, decided by the peer's
policy) and the message goes there; ``no-federation`` without
``[federation]``, ``node-unreachable`` when the peer is not connected.

Answers are ``{"ok": true, "reply": ...}`` or ``{"ok": false, "error":
KIND, "detail": TEXT}``. A request line is at most ``max_request_bytes``
long (a longer one is answered with ``too-large`` and the connection
closed); at most ``max_connections`` connections are served at once; an idle
connection is closed after ``idle_timeout`` seconds. Every ``send`` and
``call`` is written to the audit log (event ``control``) *before* it is
performed: if the log refuses, so does the endpoint.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket as _socket
import stat
import struct
from pathlib import Path
from typing import Any

import trio

from .._errors import ConfigError, HostkitError
from .._text import inert
from ._boot import ConfiguredHost
from ._load import HostFile

_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}
MAX_NAME = 255


def default_socket_dir() -> Path:
    """Where control sockets live unless ``[control] socket_dir`` says otherwise."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "hostkit"
    return Path("/tmp") / f"hostkit-{os.getuid()}"


def socket_path(config: HostFile) -> Path:
    """The control socket of the host ``config`` describes."""
    t = config.tables.control
    directory = config.resolve(t.socket_dir) if t.socket_dir else default_socket_dir()
    digest = hashlib.sha256(str(config.path).encode()).hexdigest()[:10]
    return directory / f"{config.path.stem[:40]}-{digest}.sock"


def private_dir(directory: Path, *, create: bool) -> Path:
    """Check (and with ``create`` make) a directory only this user can enter.

    Raises:
        ConfigError: it is a symlink, not a directory, not ours, or open to
            others; the message says what to do.
    """
    if create:
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700, parents=True)
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        raise ConfigError(
            f"control directory {directory} does not exist (is the host running?)"
        ) from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"control directory {directory} is not a plain directory; remove it")
    if st.st_uid != os.getuid():
        raise ConfigError(f"control directory {directory} belongs to uid {st.st_uid}, not you")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"control directory {directory} is open to others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 700 {directory}"
        )
    return directory


def peer_uid(sock: Any) -> tuple[int, int]:
    """``(pid, uid)`` of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED.size)
    pid, uid, _gid = _UCRED.unpack(raw)
    return pid, uid


class _TooLarge(Exception):
    pass


async def _read_line(stream: trio.SocketStream, buf: bytearray, limit: int) -> bytes | None:
    """One line (without the newline) from ``stream``; None at end of stream."""
    while True:
        end = buf.find(b"\n")
        if end >= 0:
            line = bytes(buf[:end])
            del buf[: end + 1]
            return line
        if len(buf) > limit:
            raise _TooLarge
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None
        buf += chunk


def _answer(ok: bool, **fields: Any) -> bytes:
    return json.dumps({"ok": ok, **fields}, separators=(",", ":")).encode() + b"\n"


class ControlServer:
    """Serves the control protocol for one :class:`ConfiguredHost`."""

    def __init__(self, running: ConfiguredHost, path: Path, owner_uid: int | None = None) -> None:
        self.running = running
        self.path = path
        self.owner_uid = os.getuid() if owner_uid is None else owner_uid
        self.limits = running.config.tables.control
        self._slots = trio.CapacityLimiter(self.limits.max_connections)

    def _audit(self, op: str, peer: tuple[int, int], decision: str, **fields: Any) -> None:
        self.running.host.audit(
            "control",
            action=f"hostkit:control#{op}",
            decision=decision,
            peer_pid=peer[0],
            peer_uid=peer[1],
            **fields,
        )

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled; removes the socket on the way out."""
        private_dir(self.path.parent, create=True)
        sock = trio.socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a stale socket from a host that died
            await sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.listen(16)
            listener = trio.SocketListener(sock)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ENAMETOOLONG or "too long" in str(exc):
                raise ConfigError(
                    f"control socket path {self.path} is too long; set [control] socket_dir"
                ) from None
            raise
        try:
            task_status.started(self.path)
            async with listener, trio.open_nursery() as nursery:
                while True:
                    stream = await listener.accept()
                    nursery.start_soon(self._connection, stream)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _connection(self, stream: trio.SocketStream) -> None:
        async with stream:
            peer = peer_uid(stream.socket)
            if peer[1] != self.owner_uid:
                self._audit("connect", peer, "deny", detail="peer is another user")
                return
            try:
                self._slots.acquire_nowait()
            except trio.WouldBlock:
                await stream.send_all(_answer(False, error="busy",
                                              detail="too many control connections"))
                return
            try:
                await self._serve_requests(stream, peer)
            finally:
                self._slots.release()

    async def _serve_requests(self, stream: trio.SocketStream, peer: tuple[int, int]) -> None:
        buf = bytearray()
        limit = self.limits.max_request_bytes
        while True:
            try:
                with trio.fail_after(self.limits.idle_timeout):
                    line = await _read_line(stream, buf, limit)
            except _TooLarge:
                await stream.send_all(_answer(
                    False, error="too-large", detail=f"a request line is at most {limit} bytes"
                ))
                return
            except (trio.TooSlowError, trio.BrokenResourceError):
                return
            if line is None:
                return
            answer = await self.handle(line, peer)
            try:
                await stream.send_all(answer)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async def handle(self, line: bytes, peer: tuple[int, int]) -> bytes:
        """Answer one request line."""
        try:
            request = json.loads(line)
        except ValueError:
            return _answer(False, error="invalid", detail="a request is one JSON object per line")
        if not isinstance(request, dict):
            return _answer(False, error="invalid", detail="a request is a JSON object")
        op = request.get("op")
        if op == "ping":
            return _answer(True, reply="pong")
        if op not in ("send", "call"):
            return _answer(False, error="invalid", detail="op: expected send, call or ping")
        to, msg = request.get("to"), request.get("msg")
        if not isinstance(to, str) or not 0 < len(to) <= MAX_NAME:
            return _answer(False, error="invalid", detail=f"to: a name of 1..{MAX_NAME} chars")
        if not isinstance(msg, str):
            return _answer(False, error="invalid", detail="msg: expected a string")
        timeout = request.get("timeout", self.limits.call_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 < timeout <= 3600
        ):
            return _answer(False, error="invalid", detail="timeout: seconds in (0, 3600]")
        host = self.running.host
        node = request.get("node")
        if node is not None and (not isinstance(node, str) or not 0 < len(node) <= 128):
            return _answer(False, error="invalid", detail="node: a node name of 1..128 chars")
        if node is not None and node != host.node:
            found = await self._remote_pid(node, to)
            if isinstance(found, bytes):
                return found
            pid = found
            to = f"{to}@{node}"
        else:
            pid = host.whereis(to)
        size = len(msg.encode("utf-8", "surrogatepass"))
        fields = {
            "resource": inert(to, 300), "actor": None if pid is None else str(pid), "bytes": size
        }
        try:
            self._audit(op, peer, "allow" if pid is not None else "deny", **fields)
        except HostkitError as exc:
            return _answer(False, error="audit", detail=f"the audit log refused: {exc}")
        if pid is None:
            return _answer(False, error="noproc", detail=f"no actor is registered as {to!r}")
        try:
            if op == "send":
                host.send(pid, msg)
                return _answer(True, reply=None)
            reply = await host.call(pid, msg, timeout=float(timeout))
            return _answer(True, reply=reply)
        except HostkitError as exc:
            return _answer(False, error=_kind(exc), detail=str(exc))


    async def _remote_pid(self, node: str, name: str) -> Any:
        """The pid ``name`` has on peer ``node`` (None if it has none), or an answer."""
        from .._pid import Pid

        fed = self.running.federation
        if fed is None:
            return _answer(False, error="no-federation",
                           detail="this host has no [federation]; --node needs one")
        try:
            remote = await fed.federation.whereis(node, name, timeout=self.limits.call_timeout)
        except HostkitError as exc:
            return _answer(False, error=_kind(exc), detail=str(exc))
        return None if remote is None else Pid(remote.id, remote.node, remote.creation)


def _kind(exc: HostkitError) -> str:
    """``MailboxFull`` -> ``mailbox-full``."""
    name = type(exc).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


async def serve_control(
    running: ConfiguredHost, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the control endpoint of ``running`` until cancelled (use with
    ``nursery.start``: it reports the socket path once listening).

    Raises:
        ConfigError: the socket directory is not private to this user, or
            the socket path is too long.
    """
    server = ControlServer(running, socket_path(running.config))
    await server.serve(task_status=task_status)


# -- the client side (blocking: for the command line and scripts) ---------------------


def find_socket(config: str | os.PathLike[str] | None = None) -> Path:
    """The socket of the running host for ``config``, or the only one running.

    Raises:
        ConfigError: none is running, or several are and ``config`` is needed.
    """
    if config is not None:
        from ._load import load_config

        path = socket_path(load_config(config))
        private_dir(path.parent, create=False)
        return path
    directory = private_dir(default_socket_dir(), create=False)
    sockets = sorted(p for p in directory.glob("*.sock") if p.is_socket())
    if len(sockets) == 1:
        return sockets[0]
    if not sockets:
        raise ConfigError(f"no running host found in {directory}; start one with hostkit run")
    names = ", ".join(p.name for p in sockets)
    raise ConfigError(f"several hosts are running ({names}); name one with --config host.toml")


def request(path: Path, payload: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the control socket at ``path`` and return the answer.

    Raises:
        ConfigError: the socket directory is not private to this user.
        HostkitError: nothing listens there, or the answer is malformed.
    """
    private_dir(path.parent, create=False)
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise HostkitError(f"no host answers at {path}: {exc.strerror or exc}") from None
        sock.sendall(json.dumps(payload).encode() + b"\n")
        data = bytearray()
        while b"\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 64 * 1024 * 1024:
                raise HostkitError("the host's answer is larger than 64 MiB")
    try:
        answer = json.loads(bytes(data).split(b"\n", 1)[0])
    except ValueError:
        raise HostkitError(f"malformed answer from {path}") from None
    if not isinstance(answer, dict):
        raise HostkitError(f"malformed answer from {path}")
    return answer
