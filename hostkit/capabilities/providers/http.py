"""The stock ``hostkit:host/http`` provider: outbound HTTP via httpx.

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
and reading stops at the size cap. Every socket operation is bounded by what
is left of the request's total time, so a server dripping one byte per
second cannot stretch a call past it.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import ssl
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

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
Resolver = Callable[[str, int], Sequence[str]]

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

# The absolute time.monotonic() deadline of the request running on this
# thread; the network backend bounds every socket operation by it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "hostkit_http_deadline", default=None
)


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
    """Serves ``http_request`` with a shared, connection-checked httpx client.

    Args:
        allow_private: Host names, addresses and networks (``"localhost"``,
            ``"127.0.0.1"``, ``"10.0.0.0/8"``) that may resolve to or be
            non-public addresses. Metadata addresses must be listed exactly.
        max_request_bytes: Largest request body.
        max_response_bytes: Largest response body; reading stops there.
        timeout: Total seconds one request may take, connect to last byte.
        resolver: ``(host, port) -> addresses``; defaults to the system's
            ``getaddrinfo``. Tests pass one to simulate DNS.
        ssl_context: For https; defaults to httpx's (certifi) context.
        user_agent: The default ``User-Agent``.

    Call :meth:`close` when done (it is also a context manager).
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
    ) -> None:
        self.policy = AddressPolicy(allow_private)
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.timeout = timeout
        backend = _CheckedBackend(self.policy, resolver or _system_resolver)
        pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            network_backend=backend,
            max_connections=100,
            keepalive_expiry=30.0,
        )
        self._client = httpx.Client(
            transport=_PoolTransport(pool),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> HttpProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @hookimpl
    def http_request(self, ctx: CallContext, req: HttpRequest) -> HttpResponse:
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
        deadline = time.monotonic() + budget
        token = _DEADLINE.set(deadline)
        try:
            with (
                _errors_mapped(),
                self._client.stream(
                    req.method,
                    req.url,
                    headers=headers,
                    content=body or None,
                    timeout=httpx.Timeout(budget),
                ) as resp,
            ):
                data = self._read_capped(resp, deadline)
                status = resp.status_code
                got = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw)
        finally:
            _DEADLINE.reset(token)
        return HttpResponse(
            status, got, encode_payload(data, req.response_encoding, "response body")
        )

    def _read_capped(self, resp: httpx.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_raw():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise HostCallTooLarge(f"response body exceeds {self.max_response_bytes} bytes")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise HostCallTimeout("the request ran out of time")
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


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
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


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of this thread's request deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request ran out of time")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Bounds every operation of a stream by the request deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.NetworkBackend):
    """Resolves, checks, and connects to the checked address only."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            resolved = self._resolver(host, port)
        except OSError as exc:
            raise HostCallIOError(f"cannot resolve {host!r}: {exc}") from None
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
                # A literal address: SyncBackend does no second lookup.
                stream = self._tcp.connect_tcp(
                    str(address),
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise HostCallDenied("unix sockets are not reachable from plugins")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PoolTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool (as ``httpx.HTTPTransport``,
    whose pool cannot be given a network backend)."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
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
        resp = self._pool.handle_request(core)
        assert isinstance(resp.stream, Iterable)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_ResponseStream(resp.stream),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
