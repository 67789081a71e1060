"""The async http provider against hostile servers on real loopback sockets
(Trio servers in the test's own loop): a slowloris that drips its headers,
an endless body, redirects to private addresses, a DNS answer that changes
after the check, many requests waiting at once, a request cancelled mid-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import pytest
import trio

from hostkit.capabilities import CallContext, HostCallTimeout, HostCallTooLarge
from hostkit.capabilities._host_types import HttpRequest
from hostkit.capabilities.providers import HttpProvider

CTX = CallContext(plugin="p", pid=1)
Handler = Callable[[trio.SocketStream], Awaitable[None]]


@dataclass
class Server:
    port: int
    hits: list[bytes] = field(default_factory=list)  # each request's head
    sent: list[int] = field(default_factory=list)  # body bytes sent, per connection


async def _read_head(stream: trio.SocketStream) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        head += chunk
    return head


@pytest.fixture
async def serve(nursery: trio.Nursery) -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    async def start(handler: Handler) -> Server:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        return Server(listeners[0].socket.getsockname()[1])

    yield start


def _get(url: str, **kw: object) -> HttpRequest:
    return HttpRequest("GET", url, **kw)  # type: ignore[arg-type]


async def test_a_slowloris_server_cannot_stretch_a_request_past_its_budget(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    async def drip(stream: trio.SocketStream) -> None:
        await _read_head(stream)
        with trio.move_on_after(30):
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 10_000:
                await stream.send_all(bytes([byte]))
                await trio.sleep(0.05)

    server = await serve(drip)
    async with HttpProvider(allow_private={"127.0.0.1"}, timeout=0.5) as http:
        with trio.fail_after(10), pytest.raises(HostCallTimeout):
            await http.http_request(CTX, _get(f"http://127.0.0.1:{server.port}/"))


async def test_an_endless_body_stops_at_the_cap(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    server: Server

    async def flood(stream: trio.SocketStream) -> None:
        await _read_head(stream)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        sent = 0
        try:
            while sent < 1_000_000_000:
                await stream.send_all(b"x" * 65536)
                sent += 65536
        except trio.BrokenResourceError:
            pass  # the client hung up: what we want
        finally:
            server.sent.append(sent)

    server = await serve(flood)
    async with HttpProvider(allow_private={"127.0.0.1"}, max_response_bytes=100_000) as http:
        with pytest.raises(HostCallTooLarge, match="100000"):
            await http.http_request(CTX, _get(f"http://127.0.0.1:{server.port}/"))
        with trio.fail_after(10):
            while not server.sent:
                await trio.sleep(0.01)
    # the provider hung up near the cap (plus what socket buffers hold)
    assert server.sent[0] < 20_000_000


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{port}/secret", "http://169.254.169.254/latest/meta-data/"],
)
async def test_a_redirect_to_a_private_address_is_returned_not_followed(
    serve: Callable[[Handler], Awaitable[Server]], location: str
) -> None:
    secret = Server(0)

    async def private(stream: trio.SocketStream) -> None:
        secret.hits.append(await _read_head(stream))
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")

    target = await serve(private)

    async def redirect(stream: trio.SocketStream) -> None:
        await _read_head(stream)
        where = location.format(port=target.port).encode()
        await stream.send_all(
            b"HTTP/1.1 302 Found\r\nLocation: " + where + b"\r\nContent-Length: 0\r\n\r\n"
        )

    front = await serve(redirect)
    async with HttpProvider(allow_private={"127.0.0.1"}) as http:
        resp = await http.http_request(CTX, _get(f"http://127.0.0.1:{front.port}/"))
    assert resp.status == 302
    assert ("Location", location.format(port=target.port)) in resp.headers
    assert secret.hits == [] and resp.body == ""


async def test_a_dns_answer_that_changes_after_the_check_is_never_used(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    """The first answer (allowed) is checked and connected to; later answers
    (a loopback address the policy refuses) would only matter to a second
    lookup, and there is none."""

    async def ok(stream: trio.SocketStream) -> None:
        await _read_head(stream)
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        )

    server = await serve(ok)
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        await trio.lowlevel.checkpoint()
        answers.append("127.0.0.1" if not answers else "127.0.0.2")
        return [answers[-1]]

    async with HttpProvider(allow_private={"127.0.0.1"}, resolver=rebinding) as http:
        resp = await http.http_request(CTX, _get(f"http://rebind.example:{server.port}/"))
        assert (resp.status, resp.body) == (200, "ok")
        assert answers == ["127.0.0.1"]  # one lookup per connection
        # the next connection gets the new answer, and it is refused
        with pytest.raises(Exception, match=r"127\.0\.0\.2 is a loopback"):
            await http.http_request(CTX, _get(f"http://rebind.example:{server.port}/"))


async def test_many_requests_wait_at_once_on_one_loop(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    release = trio.Event()
    waiting = 0

    async def slow(stream: trio.SocketStream) -> None:
        nonlocal waiting
        await _read_head(stream)
        waiting += 1
        await release.wait()
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")

    server = await serve(slow)
    statuses: list[int] = []
    async with HttpProvider(allow_private={"127.0.0.1"}, timeout=30) as http:

        async def one() -> None:
            resp = await http.http_request(CTX, _get(f"http://127.0.0.1:{server.port}/"))
            statuses.append(resp.status)

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(50):
                    nursery.start_soon(one)
                while waiting < 50:  # all fifty are in flight together, no thread each
                    await trio.sleep(0.01)
                release.set()
    assert statuses == [200] * 50


async def test_a_cancelled_request_leaves_the_pool_usable(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    release = trio.Event()
    started = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        head = await _read_head(stream)
        if b"/hang" in head:
            started.set()
            await release.wait()
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = await serve(handler)
    async with HttpProvider(allow_private={"127.0.0.1"}) as http:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(http.http_request, CTX, _get(f"http://127.0.0.1:{server.port}/hang"))
            await started.wait()
            nursery.cancel_scope.cancel()  # as a kill of the waiting actor does
        resp = await http.http_request(CTX, _get(f"http://127.0.0.1:{server.port}/"))
        assert (resp.status, resp.body) == (200, "ok")
    release.set()
