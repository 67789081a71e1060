"""The hookspecs and the stock providers, called through a real PluginManager."""

from __future__ import annotations

import base64
import inspect
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pluggy
import pytest

from hostkit.capabilities import _hookspecs
from hostkit.capabilities._context import CallContext
from hostkit.capabilities._hookspecs import hookimpl
from hostkit.capabilities._host_errors import (
    HostCallDenied,
    HostCallError,
    HostCallInvalid,
    HostCallNotFound,
    HostCallTimeout,
    HostCallTooLarge,
    wit_error_of,
)
from hostkit.capabilities._host_types import (
    DirEntry,
    Encoding,
    FileKind,
    HttpRequest,
    LogLevel,
    WriteMode,
)
from hostkit.capabilities._paths import PathOutsideRoot, PathRejected, Root
from hostkit.capabilities.providers import (
    ClockProvider,
    FilesProvider,
    HttpProvider,
    KvProvider,
    LogProvider,
    RandomProvider,
)
from hostkit.capabilities.providers.http import AddressPolicy, host_resource, http_target

WIT = Path(__file__).resolve().parent.parent / "wit" / "host" / "host.wit"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("hostkit")
    manager.add_hookspecs(_hookspecs)
    return manager


@pytest.fixture
def ctx() -> CallContext:
    return CallContext(plugin="alpha", pid=7, actor="worker")


# --- the hookspecs match the WIT -------------------------------------------


def wit_functions() -> dict[str, list[str]]:
    """``{hook name: [param names]}`` for every function in host.wit."""
    found: dict[str, list[str]] = {}
    interface = None
    for line in WIT.read_text().splitlines():
        line = line.strip()
        if m := re.match(r"interface ([a-z0-9-]+) \{", line):
            interface = m.group(1)
        elif (m := re.match(r"([a-z0-9-]+): func\((.*?)\)", line)) and interface:
            params = [p.split(":")[0].strip() for p in m.group(2).split(",") if p.strip()]
            hook = f"{interface}_{m.group(1)}".replace("-", "_")
            found[hook] = [p.replace("-", "_") for p in params]
    return found


def test_every_wit_function_has_a_firstresult_hookspec_named_by_the_rule(
    pm: pluggy.PluginManager,
) -> None:
    functions = wit_functions()
    assert "files_read" in functions
    assert "kv_list_keys" in functions
    assert len(functions) == 14
    for hook, params in functions.items():
        caller = getattr(pm.hook, hook)
        assert caller.spec is not None, hook
        assert caller.spec.opts["firstresult"], hook
        assert caller.spec.argnames == ("ctx", *params), hook


def test_host_side_hooks(pm: pluggy.PluginManager) -> None:
    audit, resource = pm.hook.audit_record.spec, pm.hook.hostkit_resource.spec
    assert audit is not None and resource is not None
    assert not audit.opts["firstresult"]
    assert resource.opts["firstresult"]
    assert resource.argnames == ("ctx", "action", "args")


def test_every_hookspec_has_a_contract_docstring() -> None:
    for name, func in inspect.getmembers(_hookspecs, inspect.isfunction):
        if hasattr(func, "hostkit_spec"):
            assert func.__doc__ and len(func.__doc__) > 40, name


async def test_stock_providers_register_cleanly(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    async with HttpProvider() as http:
        with KvProvider(tmp_path / "kv.db") as kv:
            for plugin in [
                FilesProvider({"/data": tmp_path}),
                kv,
                http,
                ClockProvider(),
                RandomProvider(),
                LogProvider(),
            ]:
                pm.register(plugin)
            pm.check_pending()
            assert len(pm.get_plugins()) == 6
            for plugin in pm.get_plugins():
                pm.unregister(plugin)


def test_application_provider_serves_its_prefix_and_falls_through(
    pm: pluggy.PluginManager, ctx: CallContext, tmp_path: Path
) -> None:
    (tmp_path / "real.txt").write_text("from disk")

    class Virtual:
        @hookimpl
        def files_read(self, ctx: CallContext, path: str) -> str | None:
            return "virtual!" if path.startswith("/virtual/") else None

    pm.register(FilesProvider({"/data": tmp_path}))
    pm.register(Virtual())  # registered last: asked first
    read = pm.hook.files_read
    assert read(ctx=ctx, path="/virtual/x", encoding=Encoding.UTF8) == "virtual!"
    assert read(ctx=ctx, path="/data/real.txt", encoding=Encoding.UTF8) == "from disk"


def test_wit_error_of_maps_cases() -> None:
    assert wit_error_of(HostCallNotFound("k")) == ("not-found", "k")
    assert wit_error_of(HostCallTimeout("slow")) == ("timeout", None)
    assert wit_error_of(RuntimeError("bug")) is None


# --- files ----------------------------------------------------------------


@pytest.fixture
def files(pm: pluggy.PluginManager, tmp_path: Path) -> Path:
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "readme.txt").write_text("read me")
    (tmp_path / "outside.txt").write_text("secret")
    pm.register(
        FilesProvider(
            {"/data": Root(rw, writable=True), "/docs": ro},
            max_read_bytes=1000,
            max_write_bytes=1000,
            max_list_entries=20,
        )
    )
    return tmp_path


def test_files_write_then_read_text(
    pm: pluggy.PluginManager, ctx: CallContext, files: Path
) -> None:
    hook = pm.hook
    n = hook.files_write(
        ctx=ctx, path="/data/a.txt", contents="h\u00e9llo", encoding="utf8", mode="truncate"
    )
    assert n == len("h\u00e9llo".encode())
    assert (files / "rw" / "a.txt").read_text() == "h\u00e9llo"
    assert hook.files_read(ctx=ctx, path="data//a.txt/", encoding=Encoding.UTF8) == "h\u00e9llo"


def test_files_binary_roundtrip_and_utf8_refusal(
    pm: pluggy.PluginManager, ctx: CallContext, files: Path
) -> None:
    blob = bytes(range(256))
    encoded = base64.b64encode(blob).decode()
    hook = pm.hook
    hook.files_write(
        ctx=ctx, path="/data/b.bin", contents=encoded, encoding="base64", mode="truncate"
    )
    assert (files / "rw" / "b.bin").read_bytes() == blob
    assert hook.files_read(ctx=ctx, path="/data/b.bin", encoding="base64") == encoded
    with pytest.raises(HostCallInvalid, match="base64"):
        hook.files_read(ctx=ctx, path="/data/b.bin", encoding="utf8")
    with pytest.raises(HostCallInvalid, match="not valid base64"):
        hook.files_write(
            ctx=ctx, path="/data/c.bin", contents="!!", encoding="base64", mode="truncate"
        )
    assert not (files / "rw" / "c.bin").exists()


def test_files_append_and_truncate(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    write = pm.hook.files_write
    write(ctx=ctx, path="/data/log", contents="one\n", encoding="utf8", mode=WriteMode.APPEND)
    write(ctx=ctx, path="/data/log", contents="two\n", encoding="utf8", mode=WriteMode.APPEND)
    assert (files / "rw" / "log").read_text() == "one\ntwo\n"
    write(ctx=ctx, path="/data/log", contents="new", encoding="utf8", mode=WriteMode.TRUNCATE)
    assert (files / "rw" / "log").read_text() == "new"


def test_files_size_caps(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    (files / "rw" / "big").write_bytes(b"x" * 1001)
    hook = pm.hook
    with pytest.raises(HostCallTooLarge, match="1000"):
        hook.files_read(ctx=ctx, path="/data/big", encoding="utf8")
    with pytest.raises(HostCallTooLarge):
        hook.files_write(
            ctx=ctx, path="/data/w", contents="y" * 1001, encoding="utf8", mode="truncate"
        )
    assert not (files / "rw" / "w").exists()
    hook.files_write(ctx=ctx, path="/data/w", contents="y" * 600, encoding="utf8", mode="append")
    with pytest.raises(HostCallTooLarge, match="would exceed"):
        hook.files_write(
            ctx=ctx, path="/data/w", contents="y" * 600, encoding="utf8", mode="append"
        )
    assert (files / "rw" / "w").stat().st_size == 600


def test_files_read_only_root(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    hook = pm.hook
    assert hook.files_read(ctx=ctx, path="/docs/readme.txt", encoding="utf8") == "read me"
    with pytest.raises(HostCallDenied, match="read-only"):
        hook.files_write(
            ctx=ctx, path="/docs/readme.txt", contents="x", encoding="utf8", mode="truncate"
        )
    assert (files / "ro" / "readme.txt").read_text() == "read me"
    assert hook.files_stat(ctx=ctx, path="/docs/readme.txt").read_only


def test_files_errors(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    hook = pm.hook
    (files / "rw" / "dir").mkdir()
    with pytest.raises(HostCallNotFound):
        hook.files_read(ctx=ctx, path="/data/missing", encoding="utf8")
    with pytest.raises(HostCallNotFound):
        hook.files_write(
            ctx=ctx, path="/data/no/such/dir/f", contents="", encoding="utf8", mode="truncate"
        )
    with pytest.raises(HostCallInvalid, match="directory"):
        hook.files_read(ctx=ctx, path="/data/dir", encoding="utf8")
    with pytest.raises(HostCallInvalid, match="directory"):
        hook.files_write(ctx=ctx, path="/data/dir", contents="", encoding="utf8", mode="truncate")
    with pytest.raises(HostCallInvalid, match="directory"):
        hook.files_write(ctx=ctx, path="/data", contents="", encoding="utf8", mode="truncate")
    with pytest.raises(HostCallInvalid, match="not a directory"):
        hook.files_list_dir(ctx=ctx, path="/docs/readme.txt")
    with pytest.raises(HostCallNotFound):
        hook.files_stat(ctx=ctx, path="/data/missing")


def test_files_fifo_is_refused_without_blocking(
    pm: pluggy.PluginManager, ctx: CallContext, files: Path
) -> None:
    os.mkfifo(files / "rw" / "pipe")
    with pytest.raises(HostCallInvalid, match="regular file"):
        pm.hook.files_read(ctx=ctx, path="/data/pipe", encoding="utf8")
    assert pm.hook.files_stat(ctx=ctx, path="/data/pipe").kind == FileKind.OTHER


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/data/../outside.txt", PathRejected),
        ("../outside.txt", PathRejected),
        ("/data/\x00", PathRejected),
        ("/outside.txt", PathOutsideRoot),
        (str(Path("/") / "etc" / "passwd"), PathOutsideRoot),
        ("/data/escape/outside.txt", PathOutsideRoot),
        ("/data/leak.txt", PathOutsideRoot),
    ],
)
def test_files_traversal_is_refused_by_every_operation(
    pm: pluggy.PluginManager, ctx: CallContext, files: Path, path: str, error: type[Exception]
) -> None:
    (files / "rw" / "escape").symlink_to(files)
    (files / "rw" / "leak.txt").symlink_to(files / "outside.txt")
    hook = pm.hook
    calls: list[Callable[[], object]] = [
        lambda: hook.files_read(ctx=ctx, path=path, encoding="utf8"),
        lambda: hook.files_write(
            ctx=ctx, path=path, contents="pwn", encoding="utf8", mode="truncate"
        ),
        lambda: hook.files_list_dir(ctx=ctx, path=path),
    ]
    if path == "/data/leak.txt":  # stat reports the link itself, nothing of its target
        info = hook.files_stat(ctx=ctx, path=path)
        assert (info.kind, info.size) == (FileKind.SYMLINK, len(str(files / "outside.txt")))
    else:
        calls.append(lambda: hook.files_stat(ctx=ctx, path=path))
    for call in calls:
        with pytest.raises(error):
            call()
    assert (files / "outside.txt").read_text() == "secret"


def test_files_symlink_inside_root_is_refused_not_followed(
    pm: pluggy.PluginManager, ctx: CallContext, files: Path
) -> None:
    (files / "rw" / "real").mkdir()
    (files / "rw" / "real" / "f.txt").write_text("via link")
    (files / "rw" / "link").symlink_to("real")
    (files / "rw" / "flink").symlink_to("real/f.txt")
    assert pm.hook.files_read(ctx=ctx, path="/data/real/f.txt", encoding="utf8") == "via link"
    with pytest.raises(PathOutsideRoot, match="symlink"):
        pm.hook.files_read(ctx=ctx, path="/data/link/f.txt", encoding="utf8")
    with pytest.raises(PathOutsideRoot, match="symlink"):
        pm.hook.files_read(ctx=ctx, path="/data/flink", encoding="utf8")
    assert pm.hook.files_stat(ctx=ctx, path="/data/flink").kind == FileKind.SYMLINK


def test_files_list_dir(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    rw = files / "rw"
    (rw / "b.txt").write_text("b")
    (rw / "a-dir").mkdir()
    (rw / "c-link").symlink_to("b.txt")
    (rw / "bad\nname").write_text("unnameable by a guest path")
    assert pm.hook.files_list_dir(ctx=ctx, path="/data") == [
        DirEntry("a-dir", FileKind.DIRECTORY),
        DirEntry("b.txt", FileKind.FILE),
        DirEntry("c-link", FileKind.SYMLINK),
    ]
    for i in range(25):
        (rw / f"f{i}").touch()
    with pytest.raises(HostCallTooLarge, match="20 entries"):
        pm.hook.files_list_dir(ctx=ctx, path="/data")


def test_files_stat(pm: pluggy.PluginManager, ctx: CallContext, files: Path) -> None:
    (files / "rw" / "s.txt").write_text("12345")
    info = pm.hook.files_stat(ctx=ctx, path="/data/s.txt")
    assert (info.kind, info.size, info.read_only) == (FileKind.FILE, 5, False)
    assert abs(info.modified_ms - time.time() * 1000) < 60_000
    assert pm.hook.files_stat(ctx=ctx, path="/data").kind == FileKind.DIRECTORY


def test_files_provider_rejects_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        FilesProvider({"/x": tmp_path / "missing"})
    with pytest.raises(ValueError, match=r"'\.\.'"):
        FilesProvider({"/x/..": tmp_path})


# --- kv -------------------------------------------------------------------


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[KvProvider]:
    with KvProvider(tmp_path / "state.db", max_key_bytes=16, max_value_bytes=64, max_keys=5) as p:
        yield p


def test_kv_set_get_delete(pm: pluggy.PluginManager, ctx: CallContext, kv: KvProvider) -> None:
    pm.register(kv)
    hook = pm.hook
    assert hook.kv_set(ctx=ctx, key="k", value="v1") is True
    assert hook.kv_get(ctx=ctx, key="k") == "v1"
    hook.kv_set(ctx=ctx, key="k", value="v2")
    assert hook.kv_get(ctx=ctx, key="k") == "v2"
    assert hook.kv_delete(ctx=ctx, key="k") is True
    assert hook.kv_delete(ctx=ctx, key="k") is False  # an answer, not a fall-through
    with pytest.raises(HostCallNotFound):
        hook.kv_get(ctx=ctx, key="k")


def test_kv_plugins_are_isolated(pm: pluggy.PluginManager, kv: KvProvider) -> None:
    pm.register(kv)
    alpha = CallContext(plugin="alpha", pid=1)
    beta = CallContext(plugin="beta", pid=2)
    hook = pm.hook
    hook.kv_set(ctx=alpha, key="shared-name", value="alpha's")
    with pytest.raises(HostCallNotFound):
        hook.kv_get(ctx=beta, key="shared-name")
    assert hook.kv_list_keys(ctx=beta, prefix="", start_after="", limit=0) == []
    assert hook.kv_delete(ctx=beta, key="shared-name") is False
    hook.kv_set(ctx=beta, key="shared-name", value="beta's")
    assert hook.kv_get(ctx=alpha, key="shared-name") == "alpha's"
    # Same plugin, other actor: same state.
    assert hook.kv_get(ctx=CallContext(plugin="alpha", pid=99), key="shared-name") == "alpha's"


def test_kv_persists_across_provider_instances(tmp_path: Path, ctx: CallContext) -> None:
    db = tmp_path / "state.db"
    with KvProvider(db) as first:
        first.kv_set(ctx, "counter", "41")
    pm = pluggy.PluginManager("hostkit")
    pm.add_hookspecs(_hookspecs)
    with KvProvider(db) as second:
        pm.register(second)
        assert pm.hook.kv_get(ctx=ctx, key="counter") == "41"


def test_kv_limits(pm: pluggy.PluginManager, ctx: CallContext, kv: KvProvider) -> None:
    pm.register(kv)
    hook = pm.hook
    with pytest.raises(HostCallInvalid, match="empty"):
        hook.kv_set(ctx=ctx, key="", value="v")
    with pytest.raises(HostCallInvalid, match="NUL"):
        hook.kv_get(ctx=ctx, key="a\x00b")
    with pytest.raises(HostCallTooLarge, match="key"):
        hook.kv_set(ctx=ctx, key="k" * 17, value="v")
    with pytest.raises(HostCallTooLarge, match="value"):
        hook.kv_set(ctx=ctx, key="k", value="\u00e9" * 33)
    for i in range(5):
        hook.kv_set(ctx=ctx, key=f"k{i}", value="v")
    with pytest.raises(HostCallTooLarge, match="5 keys"):
        hook.kv_set(ctx=ctx, key="one-more", value="v")
    hook.kv_set(ctx=ctx, key="k0", value="overwriting is fine")
    assert hook.kv_get(ctx=ctx, key="k0") == "overwriting is fine"


def test_kv_list_keys_prefix_and_paging(tmp_path: Path, ctx: CallContext) -> None:
    with KvProvider(tmp_path / "s.db", page_size=3) as kv:
        for key in ["user:b", "user:a", "user:c", "user:d", "userx", "item:1", "user\U0010ffff"]:
            kv.kv_set(ctx, key, "v")
        assert kv.kv_list_keys(ctx, "user:", "", 0) == ["user:a", "user:b", "user:c"]
        assert kv.kv_list_keys(ctx, "user:", "user:c", 10) == ["user:d"]
        assert kv.kv_list_keys(ctx, "user:", "user:a", 1) == ["user:b"]
        assert kv.kv_list_keys(ctx, "user\U0010ffff", "", 0) == ["user\U0010ffff"]
        assert kv.kv_list_keys(ctx, "item", "", 0) == ["item:1"]
        assert kv.kv_list_keys(ctx, "", "user:d", 10) == ["userx", "user\U0010ffff"]


def test_kv_is_thread_safe(tmp_path: Path) -> None:
    with KvProvider(tmp_path / "t.db") as kv:

        def worker(n: int) -> None:
            ctx = CallContext(plugin=f"p{n % 2}", pid=n)
            for i in range(50):
                kv.kv_set(ctx, f"t{n}-{i}", str(i))
                assert kv.kv_get(ctx, f"t{n}-{i}") == str(i)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        keys = kv.kv_list_keys(CallContext(plugin="p0", pid=0), "", "", 1000)
        assert len(keys) == 4 * 50


def test_kv_closed_store_is_an_io_error(tmp_path: Path, ctx: CallContext) -> None:
    kv = KvProvider(tmp_path / "c.db")
    kv.close()
    with pytest.raises(HostCallError) as info:
        kv.kv_get(ctx, "k")
    assert wit_error_of(info.value) == ("io", info.value.detail)
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("SELECT COUNT(*) FROM kv").fetchone() == (0,)
    db.close()


# --- http -----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    release: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/hello":
            self._reply(200, b"hello", {"X-Test": "yes"})
        elif self.path == "/host":
            self._reply(200, self.headers["Host"].encode())
        elif self.path == "/headers":
            self._reply(
                200, f"{self.headers['Accept-Encoding']}|{self.headers['X-Plugin']}".encode()
            )
        elif self.path == "/big":
            self._reply(200, b"z" * 100_000)
        elif self.path == "/binary":
            self._reply(200, bytes(range(256)))
        elif self.path == "/redirect":
            self._reply(302, b"", {"Location": "http://169.254.169.254/"})
        elif self.path == "/slow":
            self.release.wait(5)
            self._reply(200, b"late")
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if self.release.wait(0.05):
                    break
                self.wfile.write(b"d")
                self.wfile.flush()
        else:
            self._reply(404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(201, body[::-1])


@pytest.fixture
def server() -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()
        thread.join()


async def _get(pm: pluggy.PluginManager, ctx: CallContext, url: str, **kw: Any) -> Any:
    return await pm.hook.http_request(ctx=ctx, req=HttpRequest("GET", url, **kw))


async def test_http_loopback_refused_by_default(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider() as http:
        pm.register(http)
        with pytest.raises(HostCallDenied, match="loopback") as info:
            await _get(pm, ctx, f"http://{server}/hello")
    assert wit_error_of(info.value) == ("denied", info.value.detail)


async def test_http_loopback_allowed_explicitly(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}) as http:
        pm.register(http)
        resp = await _get(pm, ctx, f"http://{server}/hello")
    assert resp.status == 200
    assert resp.body == "hello"
    assert ("X-Test", "yes") in resp.headers


async def test_http_allow_by_network_and_post(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider(allow_private=["127.0.0.0/8"]) as http:
        pm.register(http)
        req = HttpRequest("POST", f"http://{server}/echo", body="abc")
        resp = await pm.hook.http_request(ctx=ctx, req=req)
    assert (resp.status, resp.body) == (201, "cba")


async def test_http_name_resolving_to_loopback_is_refused_at_connect(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    port = server.split(":")[1]

    def resolver(host: str, port: int) -> list[str]:
        return {"rebind.example": ["127.0.0.1"], "mixed.example": ["10.1.2.3", "127.0.0.1"]}[host]

    async with HttpProvider(resolver=resolver) as http:
        pm.register(http)
        with pytest.raises(HostCallDenied, match=r"127\.0\.0\.1 is a loopback"):
            await _get(pm, ctx, f"http://rebind.example:{port}/hello")
        with pytest.raises(HostCallDenied, match=r"10\.1\.2\.3 is a private"):
            await _get(pm, ctx, f"http://mixed.example:{port}/hello")


async def test_http_checked_address_keeps_the_host_header(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    port = server.split(":")[1]
    async with HttpProvider(
        allow_private={"app.example"}, resolver=lambda host, port: ["127.0.0.1"]
    ) as http:
        pm.register(http)
        resp = await _get(pm, ctx, f"http://app.example:{port}/host")
    assert resp.body == f"app.example:{port}"


async def test_http_response_cap(pm: pluggy.PluginManager, ctx: CallContext, server: str) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}, max_response_bytes=10_000) as http:
        pm.register(http)
        with pytest.raises(HostCallTooLarge, match="10000"):
            await _get(pm, ctx, f"http://{server}/big")
        assert (await _get(pm, ctx, f"http://{server}/hello")).body == "hello"  # pool still usable


async def test_http_request_body_cap(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}, max_request_bytes=4) as http:
        pm.register(http)
        with pytest.raises(HostCallTooLarge):
            await pm.hook.http_request(
                ctx=ctx, req=HttpRequest("POST", f"http://{server}/", body="12345")
            )


@pytest.mark.parametrize("path", ["/slow", "/drip"])
async def test_http_total_timeout(
    pm: pluggy.PluginManager, ctx: CallContext, server: str, path: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}, timeout=0.4) as http:
        pm.register(http)
        start = time.monotonic()
        with pytest.raises(HostCallTimeout):
            await _get(pm, ctx, f"http://{server}{path}")
        elapsed = time.monotonic() - start
    assert 0.35 < elapsed < 1.5


async def test_http_request_timeout_and_actor_deadline(
    pm: pluggy.PluginManager, server: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}, timeout=30) as http:
        pm.register(http)
        ctx = CallContext(plugin="alpha", pid=1)
        start = time.monotonic()
        with pytest.raises(HostCallTimeout):
            await _get(pm, ctx, f"http://{server}/slow", timeout_ms=200)
        assert time.monotonic() - start < 1.5
        late = CallContext(plugin="alpha", pid=1, deadline=time.monotonic() + 0.2)
        with pytest.raises(HostCallTimeout):
            await _get(pm, late, f"http://{server}/slow")
        assert time.monotonic() - start < 2.5
        expired = CallContext(plugin="alpha", pid=1, deadline=time.monotonic() - 1)
        with pytest.raises(HostCallTimeout):
            await _get(pm, expired, f"http://{server}/hello")


async def test_http_does_not_follow_redirects(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}) as http:
        pm.register(http)
        resp = await _get(pm, ctx, f"http://{server}/redirect")
    assert resp.status == 302
    assert ("Location", "http://169.254.169.254/") in resp.headers


async def test_http_headers_and_encodings(
    pm: pluggy.PluginManager, ctx: CallContext, server: str
) -> None:
    async with HttpProvider(allow_private={"127.0.0.1"}) as http:
        pm.register(http)
        resp = await _get(pm, ctx, f"http://{server}/headers", headers=(("X-Plugin", "alpha"),))
        assert resp.body == "identity|alpha"
        binary = await _get(pm, ctx, f"http://{server}/binary", response_encoding=Encoding.BASE64)
        assert base64.b64decode(binary.body) == bytes(range(256))
        with pytest.raises(HostCallInvalid, match="base64"):
            await _get(pm, ctx, f"http://{server}/binary")


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (HttpRequest("GET", "ftp://example.com/"), "scheme"),
        (HttpRequest("GET", "file:///etc/passwd"), "scheme"),
        (HttpRequest("GET", "http://"), "URL|host"),
        (HttpRequest("GET", "not a url"), "scheme|URL"),
        (HttpRequest("CONNECT", "http://example.com/"), "method"),
        (HttpRequest("G T", "http://example.com/"), "method"),
        (HttpRequest("GET", "http://example.com/", headers=(("Host", "evil"),)), "set by the host"),
        (
            HttpRequest("GET", "http://example.com/", headers=(("Proxy-Authorization", "x"),)),
            "host",
        ),
        (HttpRequest("GET", "http://example.com/", headers=(("X-A", "a\r\nB: c"),)), "CR"),
        (HttpRequest("GET", "http://example.com/", headers=(("Bad Name", "x"),)), "token"),
        (
            HttpRequest("POST", "http://example.com/", body="%%", body_encoding=Encoding.BASE64),
            "base64",
        ),
    ],
)
async def test_http_malformed_requests_are_invalid(
    pm: pluggy.PluginManager, ctx: CallContext, request_: HttpRequest, match: str
) -> None:
    async with HttpProvider() as http:
        pm.register(http)
        with pytest.raises(HostCallInvalid, match=match):
            await pm.hook.http_request(ctx=ctx, req=request_)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.215.14", None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "non-public"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::1", "loopback"),
        ("2002:a00:1::1", "private"),
    ],
)
def test_address_policy_default(address: str, refused: str | None) -> None:
    import ipaddress

    reason = AddressPolicy(()).refusal("h.example", ipaddress.ip_address(address))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_address_policy_allowances() -> None:
    import ipaddress

    ip = ipaddress.ip_address
    assert AddressPolicy(["10.0.0.0/8"]).refusal("x", ip("10.9.9.9")) is None
    assert AddressPolicy(["localhost"]).refusal("LOCALHOST.", ip("127.0.0.1")) is None
    assert AddressPolicy(["localhost"]).refusal("other", ip("127.0.0.1")) is not None
    assert AddressPolicy(["127.0.0.1"]).refusal("x", ip("::ffff:127.0.0.1")) is None
    # Metadata needs the exact address: networks and names do not cover it.
    assert AddressPolicy(["169.254.0.0/16"]).refusal("x", ip("169.254.169.254")) is not None
    assert AddressPolicy(["meta"]).refusal("meta", ip("169.254.169.254")) is not None
    assert AddressPolicy(["169.254.169.254"]).refusal("x", ip("169.254.169.254")) is None
    assert AddressPolicy(["[fd00:ec2::254]"]).refusal("x", ip("fd00:ec2::254")) is None


def test_http_target_and_resource() -> None:
    assert http_target("HTTPS://API.Example.com/x?y") == ("https", "api.example.com", 443)
    assert host_resource("http://api.example.com./") == "api.example.com:80"
    assert host_resource("http://[::1]:8080/") == "[::1]:8080"
    assert host_resource("https://b\u00fccher.example/") == "xn--bcher-kva.example:443"
    assert host_resource("http://user:pw@h.example:81/") == "h.example:81"


# --- clock, random, log ---------------------------------------------------


def test_clock(pm: pluggy.PluginManager, ctx: CallContext) -> None:
    pm.register(ClockProvider())
    now = pm.hook.clock_now_ms(ctx=ctx)
    assert abs(now - time.time() * 1000) < 5_000
    first = pm.hook.clock_monotonic_ns(ctx=ctx)
    second = pm.hook.clock_monotonic_ns(ctx=ctx)
    assert 0 <= first <= second


def test_clock_resolution_and_sources(ctx: CallContext) -> None:
    clock = ClockProvider(
        wall_ns=lambda: 1_700_000_000_123_456_789,
        monotonic_ns=lambda: 123_456_789,
        resolution_ns=1_000_000,
    )
    assert clock.clock_now_ms(ctx) == 1_700_000_000_123
    assert clock.clock_monotonic_ns(ctx) == 123_000_000
    with pytest.raises(ValueError):
        ClockProvider(resolution_ns=0)


def test_random(pm: pluggy.PluginManager, ctx: CallContext) -> None:
    pm.register(RandomProvider(max_bytes=32))
    values = {pm.hook.random_next_u64(ctx=ctx) for _ in range(20)}
    assert len(values) > 1
    assert all(0 <= v < 2**64 for v in values)
    hexed = pm.hook.random_hex_bytes(ctx=ctx, count=32)
    assert re.fullmatch(r"[0-9a-f]{64}", hexed)
    assert pm.hook.random_hex_bytes(ctx=ctx, count=0) == ""
    with pytest.raises(HostCallTooLarge):
        pm.hook.random_hex_bytes(ctx=ctx, count=33)


def test_log_tags_escapes_and_caps(
    pm: pluggy.PluginManager, ctx: CallContext, caplog: pytest.LogCaptureFixture
) -> None:
    pm.register(LogProvider(max_chars=40))
    with caplog.at_level(1, logger="hostkit.plugins"):
        assert pm.hook.log_write(ctx=ctx, level=LogLevel.WARN, message="disk\nFAKE: line") is True
        pm.hook.log_write(ctx=ctx, level="trace", message="x" * 100)
    first, second = caplog.records
    assert first.name == "hostkit.plugins.alpha"
    assert first.levelno == logging.WARNING
    assert first.getMessage() == "alpha[7] worker: disk\\nFAKE: line"
    assert (first.hostkit_plugin, first.hostkit_pid) == ("alpha", 7)  # type: ignore[attr-defined]
    assert second.levelno == 5
    assert second.getMessage().endswith("x" * 40 + "... [60 more characters]")
    with pytest.raises(HostCallInvalid):
        pm.hook.log_write(ctx=ctx, level="loud", message="x")
