"""Every IPv6 form that embeds an IPv4 address is checked as that address
(issue 8.10), against a real loopback server the test starts: the request is
refused before any connection, and the server sees nothing."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hostkit.capabilities._context import CallContext
from hostkit.capabilities._host_errors import HostCallDenied
from hostkit.capabilities._host_types import HttpRequest
from hostkit.capabilities.providers import HttpProvider

CTX = CallContext(plugin="p", pid=1)

# 127.0.0.1 in each IPv6 form that carries an IPv4 address
FORMS = {
    "ipv4-compatible ::/96": "::127.0.0.1",
    "ipv4-mapped ::ffff:0:0/96": "::ffff:127.0.0.1",
    "nat64 64:ff9b::/96": "64:ff9b::127.0.0.1",
    "local nat64 64:ff9b:1::/48, /96 layout": "64:ff9b:1::7f00:1",
    "local nat64 64:ff9b:1::/48, /48 layout": "64:ff9b:1:7f00:0:100::",
    "6to4 2002::/16": "2002:7f00:1::1",
    "teredo 2001::/32 (client)": "2001:0:4136:e378:8000:63bf:80ff:fffe",
}


class _Counting(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Counting,), {"hits": hits})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv.server_address[1], hits
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


async def get(http: HttpProvider, url: str) -> object:
    return await http.http_request(CTX, HttpRequest("GET", url))


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
async def test_an_embedded_loopback_literal_is_refused_before_connecting(
    server: tuple[int, list[str]], form: str
) -> None:
    port, hits = server
    async with HttpProvider() as http:
        with pytest.raises(
            HostCallDenied, match=r"127\.0\.0\.1 is a loopback address \(carried in "
        ):
            await get(http, f"http://[{form}]:{port}/literal")
    assert hits == []


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
async def test_a_name_resolving_to_an_embedded_loopback_is_refused(
    server: tuple[int, list[str]], form: str
) -> None:
    port, hits = server
    async with HttpProvider(resolver=lambda host, port: [form]) as http:
        with pytest.raises(
            HostCallDenied, match=r"refused to connect to 'rebind\.example'.*loopback"
        ):
            await get(http, f"http://rebind.example:{port}/dns")
    assert hits == []


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_each_form_is_refused_as_its_ipv4_address(form: str) -> None:
    """The refusal names the IPv4 address, and allowing that address (not
    the IPv6 one) is what lifts it: the check really sees 127.0.0.1."""
    from hostkit.capabilities.providers.http import AddressPolicy

    address = ipaddress.ip_address(form)
    assert AddressPolicy(()).refusal("h", address) is not None
    lifted = AddressPolicy(["127.0.0.0/8", "0.0.0.0/8", "65.54.0.0/16"]).refusal("h", address)
    assert lifted is None or "127.0.0.1" not in lifted


def _dual_stack() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _dual_stack(), reason="no IPv6 sockets on this machine")
async def test_the_mapped_form_reaches_the_server_once_the_ipv4_address_is_allowed(
    server: tuple[int, list[str]],
) -> None:
    """A control: the server is reachable through an embedding form, so the
    refusals above are the address check, not a dead route."""
    port, hits = server
    async with HttpProvider(allow_private=["127.0.0.1"]) as http:
        response = await get(http, f"http://[::ffff:127.0.0.1]:{port}/mapped")
    assert getattr(response, "status", None) == 200
    assert hits == ["/mapped"]
