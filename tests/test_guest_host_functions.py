"""A Python guest (plugins/python/adapter, world ``hostkit:host/full-plugin``)
using files, http and kv through the guest SDK (``hostkit_guest.host``),
behind the capability gate, against the stock providers: a directory tree,
an HTTP server this test runs on loopback, and a SQLite kv store.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pluggy
import pytest

import hostkit
from hostkit.capabilities import FileRead, Gate, KeyValue, NetworkOutbound, grant
from hostkit.capabilities.providers import (
    ClockProvider,
    FilesProvider,
    HttpProvider,
    KvProvider,
    LogProvider,
    RandomProvider,
)
from hostkit.testing import AuditCapture, capture_audit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "plugins" / "build"
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"


@pytest.fixture(scope="session")
def adapter_wasm(python_guests: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The adapter guest, built once per machine (digest-cached)."""
    builder = python_guests
    wit = builder.host_world_wit(tmp_path_factory.mktemp("wit-full-plugin"))
    app = ROOT / "plugins" / "python" / "adapter"
    out = BUILD / "adapter.wasm"
    return Path(builder.build_python_guest(app, out, world="full-plugin", wit_dir=wit))


class _Api(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = json.dumps({"path": self.path, "items": [1, 2, 3]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def api() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1; yields its port and the paths it served."""

    class Api(_Api):
        hits: ClassVar[list[str]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], Api.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Adapter:
    host: hostkit.Host
    pid: hostkit.Pid
    port: int
    hits: list[str]
    records: AuditCapture

    async def ask(self, **msg: Any) -> Any:
        return json.loads(await self.host.call(self.pid, json.dumps(msg)))


@pytest.fixture
async def adapter(
    adapter_wasm: Path, api: tuple[int, list[str]], tmp_path: Path
) -> AsyncIterator[Adapter]:
    port, hits = api
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.json").write_text('{"endpoint": "/v1/items"}')
    (tmp_path / "private.txt").write_text("not for plugins")
    policies = [
        DEFAULT,
        *grant(
            FileRead("/data/**"),
            NetworkOutbound("127.0.0.1", port=port),
            KeyValue("cache/*", write=True),
            plugin="adapter",
        ),
    ]
    pm = pluggy.PluginManager("hostkit")
    cfg = hostkit.HostConfig(scheduler_threads=2, cache_dir=BUILD / "component-cache")
    async with HttpProvider(allow_private={"127.0.0.1"}, timeout=5.0) as web:
        with KvProvider(tmp_path / "kv.sqlite3") as kv, capture_audit() as records:
            for provider in (
                FilesProvider({"/data": tmp_path / "data", "/": tmp_path}),
                web,
                kv,
                ClockProvider(),
                RandomProvider(),
                LogProvider(),
            ):
                pm.register(provider)
            gate = Gate(pm, policies=policies)
            async with hostkit.open_host(cfg, capabilities=gate) as host:
                pid = await host.spawn(await host.load_async(adapter_wasm))
                yield Adapter(host, pid, port, hits, records)


async def test_files_inside_the_grant_are_read_and_others_denied(adapter: Adapter) -> None:
    assert await adapter.ask(op="read", path="/data/config.json") == {
        "ok": '{"endpoint": "/v1/items"}'
    }
    outside = await adapter.ask(op="read", path="/private.txt")
    assert outside["error"] == "denied" and "deny by default" in outside["detail"]
    traversal = await adapter.ask(op="read", path="/data/../private.txt")
    assert traversal["error"] == "invalid" and "'..'" in traversal["detail"]
    decisions = adapter.records.where(event="decision", action="hostkit:host/files#read")
    assert [r["decision"] for r in decisions] == ["allow", "deny", "deny"]


async def test_http_reaches_a_granted_loopback_server_only(adapter: Adapter) -> None:
    url = f"http://127.0.0.1:{adapter.port}/v1/items?page=2"
    reply = await adapter.ask(op="fetch", url=url)
    assert reply["ok"]["status"] == 200
    assert json.loads(reply["ok"]["body"]) == {"path": "/v1/items?page=2", "items": [1, 2, 3]}
    by_name = await adapter.ask(op="fetch", url=f"http://localhost:{adapter.port}/v1/items")
    assert by_name["error"] == "denied" and f'Host::"localhost:{adapter.port}"' in by_name["detail"]
    other_port = await adapter.ask(op="fetch", url="http://127.0.0.1:9/")
    assert other_port["error"] == "denied"
    assert adapter.hits == ["/v1/items?page=2"]  # denied requests never left the host
    (allowed,) = adapter.records.where(event="decision", decision="allow")
    assert allowed["resource"] == f'Host::"127.0.0.1:{adapter.port}"'


async def test_kv_state_written_by_the_guest_outlives_its_actor(adapter: Adapter) -> None:
    url = f"http://127.0.0.1:{adapter.port}/v1/items"
    stored = await adapter.ask(op="sync", url=url, key="cache/items")
    assert stored["ok"] > 0
    assert (await adapter.ask(op="set", key="cache/when", value="now")) == {"ok": True}
    assert (await adapter.ask(op="set", key="config", value="x"))["error"] == "denied"
    missing = await adapter.ask(op="get", key="cache/none")
    assert missing["error"] == "not-found"
    adapter.host.kill(adapter.pid)
    await adapter.host.wait(adapter.pid)
    adapter.pid = await adapter.host.spawn("adapter")  # a new instance, same plugin
    assert (await adapter.ask(op="keys", prefix="cache/")) == {"ok": ["cache/items", "cache/when"]}
    body = (await adapter.ask(op="get", key="cache/items"))["ok"]
    assert json.loads(body)["items"] == [1, 2, 3]
