"""The stock ``hostkit:host/http`` provider: outbound HTTP via httpx, async.

Theory of operation. The Cedar gate has already decided on
``Host::"<host>:<port>"`` (see :func:`host_resource`). What a policy cannot
see is where the name points *now*, so this provider checks the address at
the only moment that counts: when it connects. Its httpcore network backend
resolves the name, refuses loopback, private, link-local, multicast and
metadata addresses (unless allowed), and connects to the checked address
itself; TLS still verifies and sends SNI for the name, and the ``Host``
header still carries it. There is no second lookup an attacker could rebind.

Redirects are not followed, environment proxies are ignored (a proxy would
resolve names for us, unchecked), responses are read raw (not decompressed)
and reading stops at the size cap. The whole exchange (resolve, connect,
TLS, send, every read) runs under one cancel scope set to the request's
total time, so a server dripping one byte per second, or a resolver that
never answers, cannot stretch a call past it.

The hookimpl is a Trio coroutine function (httpx ``AsyncClient``, httpcore
over anyio on the host's Trio loop): the gate decides and audits the call on
the scheduler thread, then the request is awaited on the loop (see
``hostkit.capabilities._gate_async``), so a hundred guests waiting on slow
servers hold no threads once the runtime suspends async host calls.
"""

from __future__ import annotations

import inspect
import ipaddress
import re
import socket
import ssl
import typing
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager

import anyio
import httpcore
import httpx

from .._context import CallContext
from .._hookspecs import hookimpl
from .._host_errors import (
    HostCallDenied,
    HostCallError,
    HostCallInvalid,
    HostCallIOError,
    HostCallTimeout,
    HostCallTooLarge,
)
from .._host_types import HttpRequest, HttpResponse, decode_payload, encode_payload

__all__ = ["METADATA_ADDRESSES", "HttpProvider", "host_resource", "http_target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str] | Awaitable[Sequence[str]]]

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
"""Cloud instance metadata endpoints. Allowed only when listed exactly in
``allow_private``, never through a network or a host name that covers them."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REFUSED_METHODS = frozenset({"CONNECT", "TRACE"})
_HOST_SET_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "keep-alive", "te"}
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def http_target(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``: the scheme lowercase, the host in
    lowercase ASCII (IDNA) form without brackets, the port explicit.

    Raises:
        HostCallInvalid: not an absolute http(s) URL with a host.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError, TypeError):
        raise HostCallInvalid(f"url {url[:200]!r} is not a valid URL") from None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise HostCallInvalid(f"url scheme {scheme!r} is refused: only http and https")
    if not host:
        raise HostCallInvalid(f"url {url[:200]!r} has no host")
    return scheme, host.rstrip("."), parsed.port or _DEFAULT_PORTS[scheme]


def host_resource(url: str) -> str:
    """The Cedar resource id of a request to ``url``: ``"host:port"``, with
    IPv6 literals in brackets (``"[::1]:443"``)."""
    _, host, port = http_target(url)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HttpProvider:
    """Serves ``http_request`` asynchronously with a shared, connection-checked
    httpx ``AsyncClient``.

    Its hookimpl is a Trio coroutine function: the request runs on the host's
    Trio loop (httpcore over anyio), so a guest waiting on a slow server holds
    no scheduler thread once the runtime suspends async host calls.

    Args:
        allow_private: Host names, addresses and networks (``"localhost"``,
            ``"127.0.0.1"``, ``"10.0.0.0/8"``) that may resolve to or be
            non-public addresses. Metadata addresses must be listed exactly.
        max_request_bytes: Largest request body.
        max_response_bytes: Largest response body; reading stops there.
        timeout: Total seconds one request may take, connect to last byte.
        resolver: ``(host, port) -> addresses``, a plain or an async function;
            defaults to the system's ``getaddrinfo`` (in a worker thread).
            Tests pass one to simulate DNS.
        ssl_context: For https; defaults to httpx's (certifi) context.
        user_agent: The default ``User-Agent``.
        max_connections: Connections open at once, shared by every plugin;
            a request past it waits for one (within its time budget).

    Close it with :meth:`aclose` (or use it as an async context manager).
    """

    def __init__(
        self,
        *,
        allow_private: Iterable[str] = (),
        max_request_bytes: int = 1024 * 1024,
        max_response_bytes: int = 8 * 1024 * 1024,
        timeout: float = 30.0,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "hostkit",
        max_connections: int = 100,
    ) -> None:
        self.policy = AddressPolicy(allow_private)
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.timeout = timeout
        backend = _CheckedBackend(self.policy, resolver or _system_resolver)
        pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            network_backend=backend,
            max_connections=max_connections,
            keepalive_expiry=30.0,
        )
        self._client = httpx.AsyncClient(
            transport=_PoolTransport(pool, max_response_bytes),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def __aenter__(self) -> HttpProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @hookimpl
    async def http_request(self, ctx: CallContext, req: HttpRequest) -> HttpResponse:
        """Send ``req``; the whole exchange, connect to last byte, is bounded
        by the smallest of ``timeout``, ``req.timeout_ms`` and the actor's
        deadline."""
        method = req.method.upper()
        if not _TOKEN.match(req.method) or method in _REFUSED_METHODS:
            raise HostCallInvalid(f"method {req.method[:50]!r} is refused")
        http_target(req.url)
        headers = _outgoing_headers(req.headers)
        body = decode_payload(req.body, req.body_encoding, "body")
        if len(body) > self.max_request_bytes:
            raise HostCallTooLarge(f"request body exceeds {self.max_request_bytes} bytes")
        budget = self.timeout
        if req.timeout_ms is not None:
            budget = min(budget, req.timeout_ms / 1000)
        left = ctx.remaining()
        if left is not None:
            budget = min(budget, left)
        if budget <= 0:
            raise HostCallTimeout("no time left for the request")
        # One cancel scope over everything: a server dripping a byte a
        # second, or a resolver that hangs, cannot stretch the call past it.
        with anyio.move_on_after(budget) as scope, _errors_mapped():
            async with self._client.stream(
                req.method,
                req.url,
                headers=headers,
                content=body or None,
                timeout=httpx.Timeout(budget),
            ) as resp:
                data = await self._read_capped(resp)
                status = resp.status_code
                got = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw)
            return HttpResponse(
                status, got, encode_payload(data, req.response_encoding, "response body")
            )
        assert scope.cancelled_caught
        raise HostCallTimeout("the request ran out of time")

    async def _read_capped(self, resp: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        # The stream itself stops at the cap (see `_ResponseStream`).
        async for chunk in resp.aiter_raw():
            chunks.append(chunk)
        return b"".join(chunks)


class AddressPolicy:
    """Which resolved addresses a connection may go to.

    Public unicast addresses are always fine. Anything else (loopback,
    private, link-local, shared, reserved, multicast, unspecified, and IPv6
    forms embedding such an IPv4 address) needs an ``allow`` entry naming the
    host, the address or a network containing it; metadata addresses need the
    exact address.
    """

    def __init__(self, allow: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in allow:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to ``address`` for ``host`` is refused (every
        refused address it is or carries, named), or None."""
        reasons: list[str] = []
        for addr in _with_embedded(address):
            if addr in METADATA_ADDRESSES:
                if not any(n.num_addresses == 1 and addr in n for n in self.networks):
                    reasons.append(f"{addr} is a cloud metadata address")
                continue
            kind = _non_public_kind(addr)
            if kind is None:
                continue
            if host.lower().rstrip(".") in self.names or any(
                addr.version == n.version and addr in n for n in self.networks
            ):
                continue
            reason = f"{addr} is a {kind} address"
            if addr is not address:
                reason += f" (carried in {address})"
            if reason not in reasons:
                reasons.append(reason)
        return "; ".join(reasons) or None


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    """``address`` and every IPv4 address it may carry: IPv4-mapped
    (``::ffff:0:0/96``, the very same destination), IPv4-compatible
    (``::/96``), 6to4 (``2002::/16``), Teredo (``2001::/32``: server and
    client), and NAT64 (``64:ff9b::/96``; the local-use ``64:ff9b:1::/48`` in
    every RFC 6052 layout a /48 or longer prefix allows). Each is checked as
    that IPv4 address: a gateway may well deliver it there."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    found: list[IPAddress] = [address]
    value = int(address)
    if 1 < value < 1 << 32:  # IPv4-compatible (deprecated, still routable by some stacks)
        found.append(ipaddress.IPv4Address(value))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64[0]:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    elif address in _NAT64[1]:
        found.extend(_rfc6052(value, length) for length in (48, 56, 64, 96))
    return found


def _rfc6052(value: int, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded in IPv6 ``value`` under a NAT64 prefix of
    ``prefix_length`` bits (RFC 6052 section 2.2: bits 64-71 are skipped)."""
    octets = value.to_bytes(16, "big")
    start = prefix_length // 8
    embedded = [octets[i] for i in range(start, 16) if i != 8][:4]
    return ipaddress.IPv4Address(bytes(embedded))


def _non_public_kind(addr: IPAddress) -> str | None:
    if addr.is_loopback:
        return "loopback"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "site-local"
    if addr.is_private:
        return "private"
    if not addr.is_global:
        return "non-public"
    return None


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _outgoing_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in pairs:
        if not _TOKEN.match(name):
            raise HostCallInvalid(f"header name {name[:50]!r} is not a valid token")
        lowered = name.lower()
        if lowered in _HOST_SET_HEADERS or lowered.startswith("proxy-"):
            raise HostCallInvalid(f"header {name!r} is set by the host")
        if any(c in value for c in "\r\n\x00"):
            raise HostCallInvalid(f"header {name!r} has a CR, LF or NUL in its value")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise HostCallInvalid(f"header {name!r} is not valid Unicode") from None
        out.append((name.encode("ascii"), raw))
    return out


@contextmanager
def _errors_mapped() -> Iterator[None]:
    """Translate httpx, httpcore and socket errors into host-call errors."""
    try:
        yield
    except HostCallError:
        raise
    except (httpx.TimeoutException, httpcore.TimeoutException, TimeoutError):
        raise HostCallTimeout("the request ran out of time") from None
    except (
        httpx.InvalidURL,
        httpx.UnsupportedProtocol,
        httpx.LocalProtocolError,
        httpcore.UnsupportedProtocol,
        httpcore.LocalProtocolError,
    ) as exc:
        raise HostCallInvalid(f"request refused: {exc}") from None
    except (httpx.HTTPError, httpcore.ProtocolError, httpcore.NetworkError, OSError) as exc:
        raise HostCallIOError(f"{type(exc).__name__}: {exc}") from None


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, and connects to the checked address only."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._tcp = httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> Sequence[str]:
        try:
            found = self._resolver(host, port)
            if inspect.isawaitable(found):
                found = await found
        except OSError as exc:
            raise HostCallIOError(f"cannot resolve {host!r}: {exc}") from None
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        resolved = await self._resolve(host, port)
        allowed: list[IPAddress] = []
        refusals: list[str] = []
        for text in resolved:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                refusals.append(f"the resolver returned {text!r}, not an address")
                continue
            reason = self._policy.refusal(host, address)
            if reason is None:
                allowed.append(address)
            else:
                refusals.append(reason)
        if not allowed:
            why = "; ".join(refusals) or "it resolves to no address"
            raise HostCallDenied(f"refused to connect to {host!r}: {why}")
        last: Exception | None = None
        for address in allowed:
            try:
                # A literal address: no second lookup anybody could rebind.
                return _Socket(
                    await self._tcp.connect_tcp(
                        str(address), port, timeout, local_address, socket_options
                    )
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise HostCallDenied("unix sockets are not reachable from plugins")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _PoolTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool (as ``httpx.AsyncHTTPTransport``,
    whose pool cannot be given a network backend)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, max_response_bytes: int) -> None:
        self._pool = pool
        self._cap = max_response_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        resp = await self._pool.handle_async_request(core)
        assert isinstance(resp.stream, AsyncIterable)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_ResponseStream(resp.stream, self._cap, resp.extensions.get("network_stream")),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's response body for httpx, cut at ``cap`` bytes.

    The body comes through a chain of async generators (httpcore's, httpx's).
    Simply stopping would leave httpcore's suspended for the garbage
    collector; so past the cap the connection's socket stream is poisoned
    and pulled once more: its read raises `HostCallTooLarge`, which finishes
    every generator on its way out and makes httpcore drop the connection.
    """

    def __init__(self, inner: AsyncIterable[bytes], cap: int, socket: _Socket | None) -> None:
        self._inner = inner
        self._cap = cap
        self._socket = socket

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts = aiter(self._inner)
        size = 0
        while True:
            try:
                part = await anext(parts)
            except StopAsyncIteration:
                return
            size += len(part)
            if size > self._cap:
                break
            yield part
        error = HostCallTooLarge(f"response body exceeds {self._cap} bytes")
        if self._socket is None:
            raise error
        self._socket.poisoned = error
        while True:  # what h11 still buffers, then the poisoned read
            try:
                await anext(parts)
            except StopAsyncIteration:
                raise error from None

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


class _Socket(httpcore.AsyncNetworkStream):
    """A connection's stream; once ``poisoned``, reading raises that error."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self.poisoned: Exception | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        if self.poisoned is not None:
            raise self.poisoned
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _Socket(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)
