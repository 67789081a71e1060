"""Async hookimpls behind the gate: the gate decides and audits on the
scheduler thread before anything of the hook runs, then the hook is awaited
on the host's Trio loop and its outcome converted exactly as a sync one's.

The runtime awaits what the host function returns, suspending the guest's
call. Tests with real guests run through it; the ``direct`` tests await the
gate's awaitable themselves, as the runtime does.

Guest: ``hostcall`` (``g<key>`` calls kv.get; replies ``ok:<value>`` or
``err:<case>:<message>``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import pytest
import test_app_api as app_api
import trio

import hostkit
import hostkit.runtime
from hostkit.audit import AuditLog, MemorySink
from hostkit.capabilities import (
    CallContext,
    Gate,
    HostCallInvalid,
    HostCallNotFound,
    HostCallQuotaExceeded,
    KeyValue,
    grant,
    hookimpl,
)
from hostkit.testing import AuditCapture, capture_audit

NOT_FOUND, UNSUPPORTED, DENIED, TIMEOUT, TOO_LARGE = "1", "7", "0", "5", "3"
GET = "hostkit:host/kv#get"
POLICIES = [*grant(KeyValue("ok*", write=True), plugin="hostcall")]


@dataclass
class AsyncKv:
    """kv.get as a Trio coroutine; records where and when it ran."""

    data: dict[str, str] = field(default_factory=dict)
    ran: list[tuple[str, int, int]] = field(default_factory=list)  # key, thread, records seen
    records: AuditCapture | None = None
    release: trio.Event | None = None
    cancelled: int = 0  # waits ended by trio.Cancelled

    @hookimpl
    async def kv_get(self, ctx: CallContext, key: str) -> str | None:
        seen = len(self.records.where(event="decision")) if self.records else -1
        self.ran.append((key, threading.get_ident(), seen))
        trio.lowlevel.current_trio_token()  # raises off the Trio loop
        await trio.lowlevel.checkpoint()
        if key == "okslow" and self.release is not None:
            try:
                await self.release.wait()
            except trio.Cancelled:
                self.cancelled += 1
                raise
        if key == "okgroup":
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_raise_not_found)
        if key == "okbug":
            raise RuntimeError("a buggy provider")
        if key == "okquota":
            raise HostCallQuotaExceeded("plugin quota of 1 byte used up")
        if key == "okpass":
            return None
        if key not in self.data:
            raise HostCallNotFound(f"no key {key!r}")
        return self.data[key]


async def _raise_not_found() -> None:
    await trio.lowlevel.checkpoint()
    raise HostCallNotFound("lost in a nursery")


class Others:
    """The other functions ``hostcall`` imports, sync: the kind is per hook."""

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> bool:
        return True

    @hookimpl
    def files_read(self, ctx: CallContext, path: str, encoding: Any) -> str:
        return ""

    @hookimpl
    def clock_now_ms(self, ctx: CallContext) -> int:
        return 0


def _pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hostkit")
    pm.register(Others(), name="others")
    return pm


class SyncKv:
    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        return "sync"


class AsyncFallback:
    """A second async provider: answers what the first passes on (None)."""

    @hookimpl(tryfirst=False, trylast=True)
    async def kv_get(self, ctx: CallContext, key: str) -> str:
        await trio.lowlevel.checkpoint()
        return "fallback"


@dataclass
class Env:
    host: hostkit.Host
    gate: Gate
    kv: AsyncKv
    records: AuditCapture
    trio_thread: int

    async def spawn(self, wasm: Path) -> hostkit.Pid:
        return await self.host.spawn(self.host.load(wasm))


def _gate(pm: pluggy.PluginManager, audit: AuditLog | None = None) -> Gate:
    return Gate(pm, policies=POLICIES, audit=audit)


@pytest.fixture
async def env(config: hostkit.HostConfig) -> AsyncIterator[Env]:
    with capture_audit() as records:
        kv = AsyncKv(records=records)
        pm = _pm()
        pm.register(kv, name="async-kv")
        gate = _gate(pm)
        async with hostkit.open_host(config, capabilities=gate) as host:
            yield Env(host, gate, kv, records, threading.get_ident())


async def test_an_async_hook_runs_on_the_trio_loop_after_its_decision_record(
    env: Env, wasm: dict[str, Path]
) -> None:
    env.kv.data["ok1"] = "v1"
    pid = await env.spawn(wasm["hostcall"])
    assert await env.host.call(pid, "gok1") == "ok:v1"
    ((key, thread, seen),) = env.kv.ran
    assert (key, thread) == ("ok1", env.trio_thread)
    assert seen == 1  # the allow record was written before the hook started
    (record,) = env.records.where(event="decision")
    assert record["decision"] == "allow" and record["action"] == GET


async def test_a_denied_call_never_starts_the_coroutine(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    reply = await env.host.call(pid, "gsecret")
    assert reply.startswith(f"err:{DENIED}:") and "deny by default" in reply
    assert env.kv.ran == []
    assert [r["decision"] for r in env.records.where(event="decision")] == ["deny"]


async def test_async_errors_map_like_sync_ones(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    assert await env.host.call(pid, "gok-missing") == f"err:{NOT_FOUND}:no key 'ok-missing'"
    # a HostCallError raised inside a nursery arrives in an exception group
    assert await env.host.call(pid, "gokgroup") == f"err:{NOT_FOUND}:lost in a nursery"
    # no provider answered (every hookimpl returned None)
    assert (await env.host.call(pid, "gokpass")).startswith(f"err:{UNSUPPORTED}:no provider")


async def test_a_quota_refusal_is_audited(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    assert (await env.host.call(pid, "gokquota")).startswith(f"err:{TOO_LARGE}:plugin quota")
    (quota,) = env.records.where(event="quota")
    assert quota["action"] == GET and quota["plugin"] == "hostcall"


async def test_a_buggy_async_hook_ends_the_actor_like_a_sync_one(
    env: Env, wasm: dict[str, Path]
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    with pytest.raises(hostkit.ActorExited, match=r"host-error.*RuntimeError"):
        await env.host.call(pid, "gokbug")


async def test_async_hookimpls_keep_firstresult_order(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    pm = _pm()
    kv = AsyncKv()
    pm.register(AsyncFallback(), name="fallback")
    pm.register(kv, name="async-kv")
    async with hostkit.open_host(config, capabilities=_gate(pm)) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert await host.call(pid, "gokpass") == "ok:fallback"  # the first passed on
        kv.data["ok2"] = "mine"
        assert await host.call(pid, "gok2") == "ok:mine"  # the first answered


async def test_mixing_sync_and_async_hookimpls_is_refused_at_load_naming_both(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    pm = _pm()
    pm.register(AsyncKv(), name="async-kv")
    pm.register(SyncKv(), name="sync-kv")
    async with hostkit.open_host(config, capabilities=_gate(pm)) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(wasm["hostcall"])
    message = str(info.value)
    assert "kv_get" in message and "'sync-kv'" in message and "'async-kv'" in message


async def test_a_hookwrapper_on_an_async_hook_is_refused(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def kv_get(self, ctx: CallContext, key: str) -> Any:
            return (yield)

    pm = _pm()
    pm.register(AsyncKv(), name="async-kv")
    pm.register(Wrapper(), name="wrapper")
    async with hostkit.open_host(config, capabilities=_gate(pm)) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="hookwrapper in plugin 'wrapper'"):
            host.load(wasm["hostcall"])


async def test_a_kind_changed_after_binding_refuses_the_call(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    pm = _pm()
    pm.register(SyncKv(), name="sync-kv")
    late = AsyncKv()
    async with hostkit.open_host(config, capabilities=_gate(pm)) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert await host.call(pid, "gok") == "ok:sync"
        pm.register(late, name="late-async")  # called first by pluggy from now on
        reply = await host.call(pid, "gok")
        assert reply.startswith(f"err:{UNSUPPORTED}:an async hookimpl of kv_get")
    assert late.ran == []  # its coroutine was closed unrun


class _Broken(MemorySink):
    fail = False

    def write(self, line: str) -> None:
        if self.fail:
            raise OSError("disk full")
        super().write(line)


async def test_a_call_that_cannot_be_audited_never_starts_the_coroutine(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    sink = _Broken()
    kv = AsyncKv(data={"ok": "1"})
    pm = _pm()
    pm.register(kv)
    async with hostkit.open_host(config, capabilities=_gate(pm, AuditLog([sink]))) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert await host.call(pid, "gok") == "ok:1"
        sink.fail = True
        reply = await host.call(pid, "gok")
    assert reply.startswith(f"err:{DENIED}:the audit log is unavailable")
    assert [k for k, _, _ in kv.ran] == ["ok"]


# -- awaiting the gate's awaitable directly, as the runtime will ----------------


@dataclass
class _Guard:
    deadline: float


@dataclass
class _Actor:
    component: Any
    id: int = 1
    name: str | None = None
    pid: str = "<0.1>"


@dataclass
class _Inst:
    owner: _Actor
    guard: _Guard


async def _bind_get(
    config: hostkit.HostConfig,
    wasm: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    kv: AsyncKv,
) -> tuple[Callable[..., Any], Any]:
    """kv.get as the gate binds it (the runtime awaits what it returns),
    and the component it was bound for."""
    pm = _pm()
    pm.register(kv)
    gate = _gate(pm)
    bound: dict[str, Callable[..., Any]] = {}
    resolve = gate.resolve

    def capture(interface: str, function: str, func_type: Any) -> Callable[..., Any]:
        bound[function] = resolve(interface, function, func_type)
        return bound[function]

    monkeypatch.setattr(gate, "resolve", capture)
    async with hostkit.open_host(config, capabilities=gate) as host:
        component = host.load(wasm["hostcall"])
    return bound["get"], component


Direct = tuple[Callable[..., Any], Any, AsyncKv, AuditCapture]


@pytest.fixture
async def direct(
    config: hostkit.HostConfig, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Direct]:
    with capture_audit() as records:
        kv = AsyncKv(data={"ok": "v"}, records=records)
        call, component = await _bind_get(config, wasm, monkeypatch, kv)
        yield call, component, kv, records


def _inst(component: Any, seconds: float = 60.0) -> _Inst:
    return _Inst(_Actor(component), _Guard(time.monotonic() + seconds))


async def test_direct_the_gate_returns_an_awaitable_after_recording_the_decision(
    direct: Direct,
) -> None:
    call, component, kv, records = direct
    pending = call(_inst(component), "ok")
    assert kv.ran == []  # nothing of the hook has run ...
    assert [r["decision"] for r in records.where(event="decision")] == ["allow"]  # ... but this
    assert await pending == "v"  # the WIT ok value, as a sync hook's
    missing = await call(_inst(component), "ok-nope")
    assert (missing.tag, missing.payload) == ("not-found", "no key 'ok-nope'")


async def test_direct_a_denied_call_returns_its_error_value_not_an_awaitable(
    direct: Direct,
) -> None:
    call, component, kv, _ = direct
    value = call(_inst(component), "secret")
    assert value.tag == "denied" and "deny by default" in value.payload
    assert kv.ran == []


async def test_direct_cancelling_the_awaitable_cancels_the_hook(
    direct: Direct, autojump_clock: trio.testing.MockClock
) -> None:
    call, component, kv, _ = direct
    kv.release = trio.Event()  # never set
    finished: list[Any] = []

    async def await_it() -> None:
        finished.append(await call(_inst(component, 3600), "okslow"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(await_it)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # as a kill does: Cancelled passes through
    assert [k for k, _, _ in kv.ran] == ["okslow"]
    assert finished == [] and kv.cancelled == 1


async def test_direct_the_actor_deadline_bounds_the_hook(
    direct: Direct, autojump_clock: trio.testing.MockClock
) -> None:
    call, component, kv, _ = direct
    kv.release = trio.Event()  # never set
    start = trio.current_time()
    with trio.fail_after(60):  # virtual time: without the deadline this fails, never hangs
        value = await call(_inst(component, 0.5), "okslow")
    assert value.tag == "timeout"
    assert trio.current_time() - start < 1  # virtual time: the deadline, not forever


def test_an_async_resource_hook_is_refused_for_app_functions() -> None:
    from hostkit.runtime._wasm import ImportRefused
    from hostkit.runtime._wittypes import WitFunc, WitType

    class AsyncResource:
        @hookimpl
        async def hostkit_resource(self, ctx: CallContext, action: str, args: Any) -> None:
            return None

    pm = _pm()
    pm.register(AsyncResource(), name="async-resource")
    gate = _gate(pm)
    func = WitFunc((("name", WitType("string")),), None)
    with pytest.raises(ImportRefused, match="hookimpl of plugin 'async-resource' is async"):
        gate._app_derive("acme:game/world#greet", func)


async def test_waiting_async_calls_hold_no_scheduler_thread(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    """One scheduler thread; one guest waits in an async hook until released,
    and meanwhile another guest is served."""
    cfg = hostkit.HostConfig(scheduler_threads=1, activation_timeout=30, cache_dir=cache_dir)
    kv = AsyncKv(data={"okfast": "fast", "okslow": "slow"}, release=trio.Event())
    pm = _pm()
    pm.register(kv)
    async with hostkit.open_host(cfg, capabilities=_gate(pm)) as host:
        slow, fast = [await host.spawn(host.load(wasm["hostcall"])) for _ in range(2)]
        replies: list[str] = []
        async with trio.open_nursery() as nursery:

            async def ask_slow() -> None:
                replies.append(await host.call(slow, "gokslow"))

            nursery.start_soon(ask_slow)
            while not kv.ran:
                await trio.sleep(0.01)
            replies.append(await host.call(fast, "gokfast"))
            assert kv.release is not None
            kv.release.set()
        assert replies == ["ok:fast", "ok:slow"]


async def test_kill_while_suspended_cancels_the_hook(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(scheduler_threads=1, activation_timeout=30, cache_dir=cache_dir)
    kv = AsyncKv(data={}, release=trio.Event())
    pm = _pm()
    pm.register(kv)
    async with hostkit.open_host(cfg, capabilities=_gate(pm)) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                with pytest.raises(hostkit.ActorExited):
                    await host.call(pid, "gokslow")

            nursery.start_soon(ask)
            while not kv.ran:
                await trio.sleep(0.01)
            host.kill(pid)
        with trio.fail_after(10):
            while not kv.cancelled:  # the hook's task was cancelled, not left waiting
                await trio.sleep(0.01)


# -- an application's own API ----------------------------------------------------


class AsyncWorld:
    """The game world of ``test_app_api``, served by Trio coroutines."""

    def __init__(self) -> None:
        self.spawned: list[tuple[str, int, int, int]] = []

    @hookimpl
    async def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int:
        await trio.lowlevel.checkpoint()
        if kind not in ("goblin", "troll"):
            raise HostCallInvalid(f"unknown monster kind {kind!r}")
        self.spawned.append((kind, x, y, threading.get_ident()))
        return len(self.spawned)

    @hookimpl
    async def world_tick(self, ctx: CallContext) -> int:
        await trio.lowlevel.checkpoint()
        return 42

    @hookimpl
    def hostkit_resource(self, ctx: CallContext, action: str, args: Any) -> tuple[str, str] | None:
        if action == app_api.SPAWN:
            return ("Acme::Monster", str(args["kind"]))
        return None


async def test_an_apps_async_hookimpls_are_gated_like_its_sync_ones(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    world = AsyncWorld()
    pm = pluggy.PluginManager("hostkit")
    pm.add_hookspecs(app_api.AcmeSpecs)
    pm.register(world)
    gate = Gate(pm, policies=[app_api.POLICIES, app_api.TICK_POLICY], schema=app_api.SCHEMA)
    with capture_audit() as records:
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["gamemod"]))
            assert await host.call(pid, "goblin") == "ok:1"
            assert (await host.call(pid, "dragon")).startswith("err:0:")  # denied by policy
            assert await host.call(pid, "orc") == "err:1:unknown monster kind 'orc'"
            assert await host.call(pid, "tick") == "42"
    assert [(k, t) for k, _, _, t in world.spawned] == [("goblin", threading.get_ident())]
    decisions = records.where(event="decision", action=app_api.SPAWN)
    assert [r["decision"] for r in decisions] == ["allow", "deny", "allow"]
