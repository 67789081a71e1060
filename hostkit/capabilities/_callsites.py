"""What each stock host function call touches, for the gate.

For every ``hostkit:host`` function this module knows two things:

- how each WIT argument becomes the hook's argument (``_host_types``
  enums and records rather than wasmtime-py's raw values), and
- how the call's Cedar resource, context and payload size are derived from
  those arguments, exactly as ``capabilities/schema.cedarschema`` declares
  them (a request whose context differs from the declaration is denied, so
  the two must agree).

Everything here is pure. A malformed argument that makes the resource
underivable (a ``..`` path, a URL without a host) raises the
:class:`HostCallError` the guest should get; the gate denies and audits it
without asking Cedar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ._entities import Entity
from ._host_types import Encoding, HttpRequest, LogLevel, WriteMode
from ._paths import normalize_guest_path

__all__ = ["STOCK_PACKAGE", "STOCK_SITES", "Derive", "StockSite", "file_entity"]

STOCK_PACKAGE: Final = "hostkit:host"

#: ``derive(caller_entity, hook_args, call_context) -> (resource, context, payload size)``
Derive = Callable[[Entity, tuple[Any, ...], Any], tuple[Entity, Mapping[str, Any], int]]
Adapter = Callable[[Any], Any] | None
Args = tuple[Any, ...]
Site = tuple[Entity, Mapping[str, Any], int]

_EMPTY: Final[Mapping[str, Any]] = {}
_FILE_CACHE: dict[str, Entity] = {}
_FILE_CACHE_LIMIT: Final = 4096


def file_entity(path: str) -> Entity:
    """``File::"<normalized path>"`` for a guest path (cached: a guest asks
    for the same few paths again and again).

    Raises:
        PathRejected: the path is malformed (the guest gets ``invalid``).
    """
    found = _FILE_CACHE.get(path)
    if found is None:
        found = Entity.file(normalize_guest_path(path))
        if len(_FILE_CACHE) >= _FILE_CACHE_LIMIT:
            _FILE_CACHE.clear()
        _FILE_CACHE[path] = found
    return found


def _decoded_size(data: str, encoding: str) -> int:
    """Bytes ``data`` carries in ``encoding`` (what a policy's ``size`` means)."""
    if encoding == Encoding.BASE64:
        stripped = data.rstrip("=")
        return len(stripped) * 3 // 4
    return len(data.encode("utf-8", "surrogatepass"))


# -- files ------------------------------------------------------------------


def _file_only(caller: Entity, args: Args, ctx: object) -> Site:
    return file_entity(args[0]), _EMPTY, 0


def _file_write(caller: Entity, args: Args, ctx: object) -> Site:
    path, contents, encoding, mode = args
    size = _decoded_size(contents, encoding)
    return file_entity(path), {"size": size, "mode": str(mode)}, size


# -- http -------------------------------------------------------------------


def _http_request(caller: Entity, args: Args, ctx: object) -> Site:
    from .providers.http import http_target  # httpx is only needed by hosts that offer http

    req: HttpRequest = args[0]
    _, host, port = http_target(req.url)
    size = _decoded_size(req.body, req.body_encoding)
    context = {"method": req.method.upper(), "path": _url_path(req.url), "size": size}
    return Entity.host(host, port), context, size


def _url_path(url: str) -> str:
    import httpx

    return httpx.URL(url).raw_path.decode("ascii", "replace")


def _http_request_arg(value: Any) -> HttpRequest:
    return HttpRequest(
        method=value.method,
        url=value.url,
        headers=tuple(tuple(h) for h in value.headers),
        body=value.body,
        body_encoding=Encoding(getattr(value, "body-encoding")),
        response_encoding=Encoding(getattr(value, "response-encoding")),
        timeout_ms=getattr(value, "timeout-ms"),
    )


# -- kv -----------------------------------------------------------------------


def _key_only(caller: Entity, args: Args, ctx: object) -> Site:
    return Entity.key(args[0]), _EMPTY, 0


def _kv_set(caller: Entity, args: Args, ctx: object) -> Site:
    size = len(args[1].encode("utf-8", "surrogatepass"))
    return Entity.key(args[0]), {"size": size}, size


# -- clock, random, log: the resource is the caller itself ----------------------


def _self_only(caller: Entity, args: Args, ctx: object) -> Site:
    return caller, _EMPTY, 0


def _hex_bytes(caller: Entity, args: Args, ctx: object) -> Site:
    return caller, {"count": args[0]}, args[0]


def _log_write(caller: Entity, args: Args, ctx: object) -> Site:
    size = len(args[1].encode("utf-8", "surrogatepass"))
    return caller, {"level": str(args[0]), "size": size}, size


class StockSite:
    """How one stock function's arguments are adapted and judged."""

    __slots__ = ("adapters", "derive")

    def __init__(self, derive: Derive, *adapters: Adapter) -> None:
        self.derive = derive
        self.adapters: tuple[Adapter, ...] = adapters


#: hook name -> its site; the hook's WIT parameters are in the hookspec.
STOCK_SITES: Final[dict[str, StockSite]] = {
    "files_read": StockSite(_file_only, None, Encoding),
    "files_write": StockSite(_file_write, None, None, Encoding, WriteMode),
    "files_list_dir": StockSite(_file_only, None),
    "files_stat": StockSite(_file_only, None),
    "http_request": StockSite(_http_request, _http_request_arg),
    "kv_get": StockSite(_key_only, None),
    "kv_set": StockSite(_kv_set, None, None),
    "kv_delete": StockSite(_key_only, None),
    "kv_list_keys": StockSite(_key_only, None, None, None),
    "clock_now_ms": StockSite(_self_only),
    "clock_monotonic_ns": StockSite(_self_only),
    "random_next_u64": StockSite(_self_only),
    "random_hex_bytes": StockSite(_hex_bytes, None),
    "log_write": StockSite(_log_write, LogLevel, None),
}
