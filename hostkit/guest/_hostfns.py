"""The stock host functions (``hostkit:host``) in Python shapes, for guests
built against ``hostkit:host/full-plugin`` (or a world importing some of its
interfaces)::

    from hostkit_guest import host

    text = host.files_read("/data/config.json")
    host.kv_set("last-run", str(host.clock_now_ms()))
    resp = host.http_request("GET", "https://api.example.com/v1/items")

Every call is checked by the host's policies; a refusal or failure raises
:class:`HostCallFailed` with the WIT error case (``denied``, ``not-found``,
``invalid``, ``too-large``, ``io``, ``timeout``, ``rate-limited``,
``unsupported``) and the host's message.

The generated bindings (``wit_world.imports.*``) exist only inside a built
guest, so they are imported when a function is first called: this module
stays importable on the host.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from ._app import failure_of
from ._errors import HostCallFailed

__all__ = [
    "DirEntry",
    "FileStat",
    "HttpResponse",
    "clock_monotonic_ns",
    "clock_now_ms",
    "files_list_dir",
    "files_read",
    "files_stat",
    "files_write",
    "http_request",
    "kv_delete",
    "kv_get",
    "kv_list_keys",
    "kv_set",
    "log_write",
    "random_hex_bytes",
    "random_next_u64",
]


class FileStat(NamedTuple):
    """``files.stat``: ``kind`` is ``file``, ``directory``, ``symlink`` or ``other``."""

    kind: str
    size: int
    modified_ms: int
    read_only: bool


class DirEntry(NamedTuple):
    """One entry of ``files.list-dir``."""

    name: str
    kind: str


class HttpResponse(NamedTuple):
    """``http.request``'s response; ``body`` in the requested encoding."""

    status: int
    headers: list[tuple[str, str]]
    body: str




_INTERFACES = ("hostkit_host_types", "files", "http", "kv", "clock", "random", "log")
_loaded: dict[str, Any] = {}


def preload() -> None:
    """Import the bindings of the stock interfaces the guest's world has.

    Called by :func:`~._component.export` while componentize-py snapshots
    the app at build time: only modules imported then are in the guest.
    """
    for name in _INTERFACES:
        try:
            _loaded[name] = importlib.import_module(f"wit_world.imports.{name}")
        except ImportError:
            continue


def _module(name: str) -> Any:
    found = _loaded.get(name)
    if found is None:
        raise HostCallFailed(
            name, "unsupported", f"this guest's world does not import hostkit:host/{name}"
        )
    return found


def _enum(enum_type: Any, name: str) -> Any:
    return enum_type[name.upper().replace("-", "_")]


def _call(function: str, fn: Any, *args: Any) -> Any:
    from componentize_py_types import Err  # type: ignore[import-not-found]

    try:
        return fn(*args)
    except Err as exc:
        raise failure_of(function, exc.value) from None


def _encoding(name: str) -> Any:
    return _enum(_module("hostkit_host_types").Encoding, name)


# -- files ---------------------------------------------------------------------


def files_read(path: str, encoding: str = "utf8") -> str:
    """The contents of the file at guest ``path`` (``encoding`` ``utf8`` or ``base64``)."""
    return str(_call("files.read", _module("files").read, path, _encoding(encoding)))


def files_write(path: str, contents: str, *, encoding: str = "utf8", append: bool = False) -> int:
    """Write ``contents`` to ``path``; returns the bytes written."""
    files = _module("files")
    mode = files.WriteMode.APPEND if append else files.WriteMode.TRUNCATE
    return int(_call("files.write", files.write, path, contents, _encoding(encoding), mode))


def files_list_dir(path: str) -> list[DirEntry]:
    """The entries of the directory at ``path``, sorted by name."""
    entries = _call("files.list-dir", _module("files").list_dir, path)
    return [DirEntry(e.name, e.kind.name.lower()) for e in entries]


def files_stat(path: str) -> FileStat:
    """Metadata of ``path``."""
    st = _call("files.stat", _module("files").stat, path)
    return FileStat(st.kind.name.lower(), st.size, st.modified_ms, st.read_only)


# -- http ---------------------------------------------------------------------


def http_request(
    method: str,
    url: str,
    *,
    headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    body: str = "",
    body_encoding: str = "utf8",
    response_encoding: str = "utf8",
    timeout_ms: int | None = None,
) -> HttpResponse:
    """Send one HTTP request and read the whole response."""
    http = _module("http")
    req = http.OutgoingRequest(
        method,
        url,
        [(str(k), str(v)) for k, v in headers],
        body,
        _encoding(body_encoding),
        _encoding(response_encoding),
        timeout_ms,
    )
    resp = _call("http.request", http.request, req)
    return HttpResponse(resp.status, [(k, v) for k, v in resp.headers], resp.body)


# -- kv -----------------------------------------------------------------------


def kv_get(key: str) -> str:
    """The value under ``key``; raises :class:`HostCallFailed` ``not-found``."""
    return str(_call("kv.get", _module("kv").get, key))


def kv_set(key: str, value: str) -> None:
    """Store ``value`` under ``key``."""
    _call("kv.set", _module("kv").set, key, value)


def kv_delete(key: str) -> bool:
    """Remove ``key``; returns whether it existed."""
    return bool(_call("kv.delete", _module("kv").delete, key))


def kv_list_keys(prefix: str = "", start_after: str = "", limit: int = 0) -> list[str]:
    """Keys starting with ``prefix`` after ``start_after``, ascending."""
    return list(_call("kv.list-keys", _module("kv").list_keys, prefix, start_after, limit))


# -- clock, random, log ---------------------------------------------------------


def clock_now_ms() -> int:
    """Wall-clock milliseconds since the Unix epoch."""
    return int(_call("clock.now-ms", _module("clock").now_ms))


def clock_monotonic_ns() -> int:
    """Monotonic nanoseconds."""
    return int(_call("clock.monotonic-ns", _module("clock").monotonic_ns))


def random_next_u64() -> int:
    """A secure random 64-bit integer."""
    return int(_call("random.next-u64", _module("random").next_u64))


def random_hex_bytes(count: int) -> str:
    """``count`` secure random bytes as lowercase hex."""
    return str(_call("random.hex-bytes", _module("random").hex_bytes, count))


def log_write(level: str, message: str) -> None:
    """Write ``message`` to the host's log at ``level`` (trace ... error)."""
    log = _module("log")
    _call("log.write", log.write, _enum(log.Level, level), message)
