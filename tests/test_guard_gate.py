"""Guards on the capability gate (issue 14): a policy reload through the
Gate takes effect at once for every cache the gate keeps, and the limits
resolve per-plugin before per-action. Each test fails when its check is
removed (`scripts/mutation.py` applies those mutants)."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

import hostkit
from hostkit.audit import AuditLog, MemorySink
from hostkit.capabilities import (
    CallContext,
    CallLimits,
    FileRead,
    Gate,
    KeyValue,
    Messaging,
    RateLimit,
    Spawn,
    grant,
    hookimpl,
)
from hostkit.capabilities.providers import ClockProvider, FilesProvider

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
KV_GET = "hostkit:host/kv#get"
FILES_READ = "hostkit:host/files#read"
SPAWN = "hostkit:plugin/process#spawn"


class GrantsSeenByKv:
    """kv.get answers ``v`` and keeps the grants each call's context carried."""

    def __init__(self) -> None:
        self.grants: list[frozenset[str]] = []

    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        self.grants.append(frozenset(ctx.grants))
        return "v"

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> bool:
        return True


def _providers(kv: GrantsSeenByKv, tmp_path: Path) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hostkit")
    pm.register(kv)
    pm.register(FilesProvider({"/x": tmp_path}))
    pm.register(ClockProvider())
    return pm


@pytest.mark.parametrize("every", [True, False])
async def test_a_reload_through_the_gate_revokes_messaging_already_permitted(
    config: hostkit.HostConfig, wasm: dict[str, Path], every: bool
) -> None:
    # With audit_every_message=False the gate remembers a permitted pair; the
    # reload must forget it. Both modes must deny after the reload.
    allowed = [DEFAULT, *grant(Messaging("echo"), Spawn("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=allowed, audit_every_message=every)
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        host.load(wasm["echo"])
        child = int(await host.call(spawner, "spawn:echo"))
        assert await host.call(spawner, f"send:{child:016x}x") == "ok"
        assert await host.call(spawner, f"relay:{child:016x}ping") == "ping"
        gate.reload_policies([DEFAULT])
        assert await host.call(spawner, f"send:{child:016x}x") == "error:3"  # denied
        assert await host.call(spawner, f"relay:{child:016x}ping") == "error:0"
        assert await host.call(child, "count") == "1"  # the send before the reload


async def test_a_reload_through_the_gate_updates_the_grants_providers_see(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    kv = GrantsSeenByKv()
    pm = _providers(kv, tmp_path)
    gate = Gate(pm, policies=[DEFAULT, *grant(KeyValue("k"), plugin="hostcall")])
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert await host.call(pid, "gk") == "ok:v"
        gate.reload_policies([DEFAULT, *grant(KeyValue("k"), FileRead("/x"), plugin="hostcall")])
        assert await host.call(pid, "gk") == "ok:v"
    before, after = kv.grants
    assert KV_GET in before and FILES_READ not in before
    assert {KV_GET, FILES_READ} <= after


async def test_a_per_plugin_limit_wins_over_a_per_action_limit(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    limits = CallLimits(rate=None)
    limits.set_rate(RateLimit(rate=0.001, burst=1), action=KV_GET)  # tight for everyone
    limits.set_rate(RateLimit(rate=0.001, burst=3), plugin="hostcall")  # looser for this one
    pm = _providers(GrantsSeenByKv(), tmp_path)
    policies = [DEFAULT, *grant(KeyValue("k"), plugin="hostcall")]
    gate = Gate(pm, policies=policies, limits=limits)
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        replies = [await host.call(pid, "gk") for _ in range(4)]
    assert replies[:3] == ["ok:v"] * 3
    assert replies[3].startswith("err:6:")  # rate-limited past the plugin's burst


def test_call_limits_resolve_plugin_and_action_then_plugin_then_action_then_default() -> None:
    now = 0.0
    limits = CallLimits(rate=RateLimit(rate=0.001, burst=4), clock=lambda: now)
    limits.set_rate(RateLimit(rate=0.001, burst=3), action="a")
    limits.set_rate(RateLimit(rate=0.001, burst=2), plugin="p")
    limits.set_rate(RateLimit(rate=0.001, burst=1), plugin="p", action="b")

    def admitted(plugin: str, action: str) -> int:
        return sum(limits.check(plugin, action) is None for _ in range(10))

    assert admitted("p", "b") == 1  # plugin and action
    assert admitted("p", "a") == 2  # plugin before action
    assert admitted("q", "a") == 3  # action
    assert admitted("q", "c") == 4  # default


class BreakableSink(MemorySink):
    """An audit sink that fails every write once ``broken`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def write(self, line: str) -> None:
        if self.broken:
            raise OSError("disk full")
        super().write(line)


async def test_with_the_audit_log_broken_guest_send_call_and_spawn_are_denied(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    sink = BreakableSink()
    policies = [DEFAULT, *grant(Messaging("echo"), Spawn("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=policies, audit=AuditLog([sink]))
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        host.load(wasm["echo"])
        child = int(await host.call(spawner, "spawn:echo"))
        assert await host.call(spawner, f"send:{child:016x}x") == "ok"
        sink.broken = True
        assert await host.call(spawner, f"send:{child:016x}x") == "error:3"  # denied
        assert await host.call(spawner, f"relay:{child:016x}ping") == "error:0"
        spawned = await host.call(spawner, "spawn:echo")
        assert spawned.startswith("error:denied: the audit log is unavailable")
        assert await host.call(child, "count") == "1"  # only the audited send arrived


async def test_a_guest_spawn_past_the_spawn_rate_limit_is_denied(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    limits = CallLimits(rate=None)
    limits.set_rate(RateLimit(rate=0.001, burst=2), action=SPAWN)
    policies = [DEFAULT, *grant(Spawn("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=policies, limits=limits)
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        host.load(wasm["echo"])
        first = [await host.call(spawner, "spawn:echo") for _ in range(2)]
        third = await host.call(spawner, "spawn:echo")
    assert all(reply.isdigit() for reply in first)
    assert third.startswith("error:denied: ") and "rate limit" in third


async def test_remembering_permits_never_remembers_a_size_bound_or_a_denial(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    # audit_every_message=False: the gate remembers permitted pairs, but not
    # a decision whose policy reads the message size, and never a denial.
    policies = [DEFAULT, *grant(Messaging("echo", max_size=3), Spawn("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=policies, audit_every_message=False)
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        host.load(wasm["echo"])
        child = int(await host.call(spawner, "spawn:echo"))
        other = await host.spawn(host.load(wasm["spawner"], name="other"))
        assert await host.call(spawner, f"send:{child:016x}abc") == "ok"
        assert await host.call(spawner, f"send:{child:016x}abcd") == "error:3"
        for _ in range(2):  # no grant to message "other": denied every time
            assert await host.call(spawner, f"send:{int(other):016x}x") == "error:3"


async def test_a_denied_send_is_decided_again_even_when_permits_are_remembered(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    # No send policy reads context here, so permitted pairs are remembered
    # (audit_every_message=False); a denied pair must never be.
    policies = [DEFAULT, *grant(Messaging("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=policies, audit_every_message=False)
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        other = await host.spawn(host.load(wasm["spawner"], name="other"))
        for _ in range(3):
            assert await host.call(spawner, f"send:{int(other):016x}x") == "error:3"
