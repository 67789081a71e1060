"""Per-plugin quotas (issue 8.6): bytes and files in writable roots, bytes
and keys in kv. An exceeded quota is a WIT error (``too-large``, detail
``quota: ...``), nothing is written, and the gate audits a ``quota`` record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

import hostkit
from hostkit.capabilities import FileWrite, Gate, KeyValue, Root, grant
from hostkit.capabilities._context import CallContext
from hostkit.capabilities._host_errors import HostCallQuotaExceeded, HostCallTooLarge
from hostkit.capabilities._paths import DEFAULT_ROOT_MAX_BYTES, DEFAULT_ROOT_MAX_FILES
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider
from hostkit.testing import capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
A = CallContext(plugin="a", pid=1)
B = CallContext(plugin="b", pid=2)


def test_root_quota_defaults_are_bounded() -> None:
    root = Root("/tmp", writable=True)
    assert (root.max_bytes, root.max_files) == (DEFAULT_ROOT_MAX_BYTES, DEFAULT_ROOT_MAX_FILES)
    assert DEFAULT_ROOT_MAX_BYTES <= 64 * 1024 * 1024 and DEFAULT_ROOT_MAX_FILES <= 4096
    with pytest.raises(ValueError, match="max_bytes"):
        Root("/tmp", max_bytes=-1)
    assert KvProvider.__init__.__kwdefaults__["max_total_bytes"] <= 64 * 1024 * 1024


def test_root_byte_quota_per_plugin(tmp_path: Path) -> None:
    files = FilesProvider({"/w": Root(tmp_path, writable=True, max_bytes=10, max_files=100)})
    assert files.files_write(A, "/w/one", "123456", "utf8", "truncate") == 6
    with pytest.raises(HostCallQuotaExceeded, match="at most 10 bytes") as caught:
        files.files_write(A, "/w/two", "12345", "utf8", "truncate")
    assert isinstance(caught.value, HostCallTooLarge) and caught.value.wit_case == "too-large"
    assert files.usage("a", "/w") == (6, 1)
    assert not (tmp_path / "two").exists()  # refused before it was created
    # appends count, overwrites count only their growth, shrinking gives bytes back
    with pytest.raises(HostCallQuotaExceeded):
        files.files_write(A, "/w/one", "12345", "utf8", "append")
    assert (tmp_path / "one").read_text() == "123456"  # nothing written
    files.files_write(A, "/w/one", "1", "utf8", "truncate")
    assert files.usage("a", "/w") == (1, 1)
    files.files_write(A, "/w/one", "123456789", "utf8", "append")
    assert files.usage("a", "/w") == (10, 1)
    # another plugin has its own quota
    assert files.files_write(B, "/w/b", "0123456789", "utf8", "truncate") == 10


def test_root_file_quota_per_plugin(tmp_path: Path) -> None:
    files = FilesProvider({"/w": Root(tmp_path, writable=True, max_files=3)})
    for i in range(3):
        files.files_write(A, f"/w/f{i}", "x", "utf8", "truncate")
    with pytest.raises(HostCallQuotaExceeded, match="at most 3 files"):
        files.files_write(A, "/w/f3", "x", "utf8", "truncate")
    assert not (tmp_path / "f3").exists()
    files.files_write(A, "/w/f0", "rewritten", "utf8", "truncate")  # not a new file
    assert files.usage("a", "/w")[1] == 3


def test_kv_byte_and_key_quotas_hold_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "kv.db"
    with KvProvider(db, max_total_bytes=20, max_keys=3) as kv:
        kv.kv_set(A, "k1", "0123456789")  # 12 bytes
        with pytest.raises(HostCallQuotaExceeded, match="at most 20 bytes"):
            kv.kv_set(A, "k2", "0123456789")
        kv.kv_set(A, "k1", "0")  # shrinking frees bytes
        kv.kv_set(A, "k2", "1")
        kv.kv_set(A, "k3", "2")
        with pytest.raises(HostCallQuotaExceeded, match="3 keys"):
            kv.kv_set(A, "k4", "3")
        kv.kv_set(B, "k4", "3")  # b's quota is its own
        assert kv.usage("a") == (9, 3)
    with KvProvider(db, max_total_bytes=20, max_keys=3) as kv:
        assert kv.usage("a") == (9, 3)  # counted from the database
        with pytest.raises(HostCallQuotaExceeded):
            kv.kv_set(A, "k4", "3")
        assert kv.kv_delete(A, "k3")
        assert kv.usage("a") == (6, 2)
        kv.kv_set(A, "k4", "3")


@pytest.fixture
def plugins(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pluggy.PluginManager]:
    pm = pluggy.PluginManager("hostkit")
    pm.register(FilesProvider({"/w": Root(tmp_path, writable=True, max_bytes=12)}))
    pm.register(ClockProvider())
    with KvProvider(tmp_path_factory.mktemp("kv") / "kv.db", max_total_bytes=8) as kv:
        pm.register(kv)
        yield pm


async def test_a_guest_over_quota_gets_too_large_and_the_gate_audits_it(
    tmp_path: Path, plugins: pluggy.PluginManager, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    policies = [DEFAULT, *grant(FileWrite("/w/*"), KeyValue("*", write=True), plugin="fs_race")]
    with capture_audit() as records:
        gate = Gate(plugins, policies=policies)
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["fs_race"]))
            assert await host.call(pid, "w/w/a") == "ok:5"
            assert await host.call(pid, "w/w/b") == "ok:5"
            reply = await host.call(pid, "w/w/c")
            assert reply.startswith("err:3:quota: plugin 'fs_race'"), reply
            assert await host.call(pid, "sk=123") == "ok:"
            reply = await host.call(pid, "sk2=1234567")
            assert reply.startswith("err:3:quota"), reply
            assert host.is_alive(pid)
    quota = records.where(event="quota")
    assert [r["action"] for r in quota] == ["hostkit:host/files#write", "hostkit:host/kv#set"]
    assert all(r["plugin"] == "fs_race" and r["actor"] == str(pid) for r in quota)
    assert not (tmp_path / "c").exists(), "nothing created over quota"
