"""Every hook hostkit calls, with its contract; and the marker pair.

Naming rule. The WIT function ``<namespace>:<package>/<interface>#<function>``
is the hook ``<interface>_<function>`` with every ``-`` turned into ``_``:
``hostkit:host/files#read`` is ``files_read``, ``hostkit:host/kv#list-keys``
is ``kv_list_keys``, an application's ``acme:game/world#spawn-monster`` is
``world_spawn_monster``. The same function is the Cedar action
``Action::"hostkit:host/files#read"``.

Calling convention (all host-function hooks):

- ``firstresult``: hookimpls are tried last-registered first; the first one
  that returns something other than ``None`` answers the call. Returning
  ``None`` means "not mine", so an application can serve part of an interface
  (say one guest path prefix) and leave the rest to the stock provider.
  A function whose WIT result carries no value (``result<_, error>``) answers
  with ``True``, like pytest's ``pytest_runtest_protocol``.
- The first argument is the :class:`CallContext`; then the WIT parameters in
  order, kebab-case names turned into snake_case. Records and enums arrive as
  the types in ``_host_types`` (enum members compare equal to their WIT case
  names). Arguments are passed as the guest sent them: a provider normalizes
  paths itself (``normalize_guest_path`` is pure, so it agrees with the gate).
- Failures are raised as :class:`HostCallError` subclasses, which become the
  WIT ``error`` case the guest sees. Any other exception is a bug in the
  provider: the host traps the actor rather than guess an error.
- A sync hookimpl runs on a scheduler thread, concurrently with other
  calls: providers must be thread-safe. A hookimpl of a host-function hook
  may instead be an ``async def`` Trio coroutine function, awaited on the
  host's Trio loop after the decision and its record (``_gate_async``); all
  hookimpls of one hook must be of one kind. ``hostkit_resource`` and
  ``audit_record`` hookimpls are always sync.
- The Cedar gate and the audit record run before the hook, in the
  dispatcher; hookimpls cannot skip them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pluggy

from ._context import CallContext
from ._host_types import (
    DirEntry,
    Encoding,
    FileStat,
    HttpRequest,
    HttpResponse,
    LogLevel,
    WriteMode,
)

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("hostkit")
"""Marks the hook specifications in this module."""

hookimpl = pluggy.HookimplMarker("hostkit")
"""Marks a plugin method (or function) as implementing a hostkit hook."""


# --- hostkit:host/files --------------------------------------------------


@hookspec(firstresult=True)
def files_read(ctx: CallContext, path: str, encoding: Encoding) -> str | None:
    """``hostkit:host/files#read``: the whole contents of the regular file at
    guest ``path``, as a string in ``encoding`` (base64 for binary).

    Raises:
        HostCallNotFound: no such file.
        HostCallInvalid: not a regular file; not UTF-8 when ``utf8`` was asked;
            a malformed path (``PathRejected``).
        HostCallTooLarge: larger than the provider's read limit.
        HostCallDenied: outside every root (``PathOutsideRoot``).
        HostCallIOError: the filesystem failed.
    """


@hookspec(firstresult=True)
def files_write(
    ctx: CallContext, path: str, contents: str, encoding: Encoding, mode: WriteMode
) -> int | None:
    """``hostkit:host/files#write``: write ``contents`` (decoded from
    ``encoding``) to the file at ``path``, truncating or appending per
    ``mode``, creating it if needed. Returns the number of bytes written.

    Raises:
        HostCallDenied: the root is read-only, or the path is outside roots.
        HostCallInvalid: bad encoding, a directory or non-regular file, a
            malformed path.
        HostCallNotFound: the parent directory does not exist.
        HostCallTooLarge: the data, or the file after appending, exceeds the
            provider's write limit. Nothing was written.
        HostCallIOError: the filesystem failed.
    """


@hookspec(firstresult=True)
def files_list_dir(ctx: CallContext, path: str) -> list[DirEntry] | None:
    """``hostkit:host/files#list-dir``: the entries of the directory at
    ``path``, sorted by name, without ``.``/``..`` and without names a guest
    path cannot express.

    Raises:
        HostCallNotFound, HostCallInvalid (not a directory, malformed path),
        HostCallTooLarge (more entries than the listing limit),
        HostCallDenied, HostCallIOError.
    """


@hookspec(firstresult=True)
def files_stat(ctx: CallContext, path: str) -> FileStat | None:
    """``hostkit:host/files#stat``: metadata of ``path``, following symlinks
    that stay inside the root.

    Raises:
        HostCallNotFound, HostCallInvalid (malformed path), HostCallDenied,
        HostCallIOError.
    """


# --- hostkit:host/http ---------------------------------------------------


@hookspec(firstresult=True)
def http_request(ctx: CallContext, req: HttpRequest) -> HttpResponse | None:
    """``hostkit:host/http#request``: send ``req`` and read the whole response.

    The provider must check the address it connects to (not only the name),
    must not follow redirects or use proxies from the environment, and must
    stop reading at its response size limit.

    Raises:
        HostCallInvalid: bad URL, scheme, method, header or body encoding;
            body not UTF-8 when ``utf8`` was asked for.
        HostCallDenied: the name resolves only to refused addresses.
        HostCallTooLarge: request or response body over the limit.
        HostCallTimeout: the request's, the provider's or the actor's time
            ran out.
        HostCallIOError: connection or protocol failure.
    """


# --- hostkit:host/kv -----------------------------------------------------


@hookspec(firstresult=True)
def kv_get(ctx: CallContext, key: str) -> str | None:
    """``hostkit:host/kv#get``: the value stored under ``key`` for
    ``ctx.plugin``.

    Raises:
        HostCallNotFound: no such key. HostCallInvalid: a bad key.
        HostCallIOError: the store failed.
    """


@hookspec(firstresult=True)
def kv_set(ctx: CallContext, key: str, value: str) -> Literal[True] | None:
    """``hostkit:host/kv#set``: store ``value`` under ``key`` for
    ``ctx.plugin``; returns True.

    Raises:
        HostCallInvalid: a bad key. HostCallTooLarge: key, value or key count
        over the limit (nothing stored). HostCallIOError.
    """


@hookspec(firstresult=True)
def kv_delete(ctx: CallContext, key: str) -> bool | None:
    """``hostkit:host/kv#delete``: remove ``key`` for ``ctx.plugin``; returns
    whether it existed (``False`` is an answer, not "not mine").

    Raises:
        HostCallInvalid: a bad key. HostCallIOError.
    """


@hookspec(firstresult=True)
def kv_list_keys(ctx: CallContext, prefix: str, start_after: str, limit: int) -> list[str] | None:
    """``hostkit:host/kv#list-keys``: up to ``limit`` of ``ctx.plugin``'s keys
    starting with ``prefix`` and sorting after ``start_after``, ascending by
    code point. ``limit`` 0 or above the page size means the page size.

    Raises:
        HostCallIOError.
    """


# --- hostkit:host/clock --------------------------------------------------


@hookspec(firstresult=True)
def clock_now_ms(ctx: CallContext) -> int | None:
    """``hostkit:host/clock#now-ms``: wall-clock milliseconds since the Unix
    epoch."""


@hookspec(firstresult=True)
def clock_monotonic_ns(ctx: CallContext) -> int | None:
    """``hostkit:host/clock#monotonic-ns``: monotonic nanoseconds, never
    decreasing within the host process."""


# --- hostkit:host/random -------------------------------------------------


@hookspec(firstresult=True)
def random_next_u64(ctx: CallContext) -> int | None:
    """``hostkit:host/random#next-u64``: a uniformly random integer in
    ``[0, 2**64)`` from a cryptographically secure source."""


@hookspec(firstresult=True)
def random_hex_bytes(ctx: CallContext, count: int) -> str | None:
    """``hostkit:host/random#hex-bytes``: ``count`` secure random bytes as
    ``2 * count`` lowercase hex characters.

    Raises:
        HostCallTooLarge: ``count`` over the provider's limit.
    """


# --- hostkit:host/log ----------------------------------------------------


@hookspec(firstresult=True)
def log_write(ctx: CallContext, level: LogLevel, message: str) -> Literal[True] | None:
    """``hostkit:host/log#write``: log ``message`` at ``level``, tagged with
    plugin, pid and actor; returns True. Providers escape control characters
    and cut over-long messages.

    Raises:
        HostCallRateLimited: the plugin logs faster than allowed.
    """


# --- host-side hooks (not guest-callable) ---------------------------------


@hookspec
def audit_record(record: Mapping[str, object]) -> None:
    """An extra sink for audit records: called with every record after
    hostkit has appended it to its own log, in sequence order, on the thread
    that produced it.

    ``record`` is the JSON-ready record (time, node, seq, actor, plugin,
    action, resource, decision, policy ids, duration, previous hash). It is
    read-only. Keep the hookimpl fast (it slows the caller, by design nothing
    is dropped); an exception is logged and does not undo the record.
    """


@hookspec(firstresult=True)
def hostkit_resource(
    ctx: CallContext, action: str, args: Mapping[str, object]
) -> tuple[str, str] | None:
    """The Cedar resource of a call to an application's host function.

    ``action`` is the WIT function's full name (``"acme:game/world#spawn-monster"``);
    ``args`` maps its WIT parameter names (snake_case) to the arguments. Return
    ``(entity_type, entity_id)``, e.g. ``("Acme::Monster", "goblin")`` for the
    resource ``Acme::Monster::"goblin"``, or None to leave it to another
    hookimpl or the gate's default.

    Called by the gate before the policy decision, so it must not act on the
    call. Not consulted for ``hostkit:host`` functions: their resources are
    fixed by the gate (``File::`` from ``normalize_guest_path``, ``Host::`` from
    the URL) and cannot be overridden.
    """
