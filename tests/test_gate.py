"""The capability gate with real guests: every host call is a Cedar decision
and an audit record, in the dispatcher; denied calls never reach a provider;
limits, reloads, messaging, spawning and names are gated too.

Guests: ``hostcall`` (calls files.read, kv.get/set, clock.now-ms on request;
replies ``ok:<value>`` or ``err:<error case index>:<message>``) and
``spawner`` (process.send/call/spawn and outbox sends/spawns).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    PluginIdentity,
    RateLimit,
    Register,
    Spawn,
    grant,
    hookimpl,
)
from hostkit.capabilities._host_errors import HostCallNotFound
from hostkit.capabilities.providers import ClockProvider, FilesProvider
from hostkit.testing import AuditCapture, capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
DENIED, NOT_FOUND, INVALID, TOO_LARGE, RATE_LIMITED = "0", "1", "2", "3", "6"


@dataclass
class CountingKv:
    """kv in memory, counting every call that reaches it."""

    data: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        self.calls.append(("get", key))
        if key not in self.data:
            raise HostCallNotFound(f"no key {key!r}")
        return self.data[key]

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> bool:
        self.calls.append(("set", key))
        self.data[key] = value
        return True


@dataclass
class Env:
    host: hostkit.Host
    gate: Gate
    kv: CountingKv
    records: AuditCapture
    files: list[str]

    async def spawn(self, wasm: Path) -> hostkit.Pid:
        return await self.host.spawn(self.host.load(wasm))

    def decisions(self, **fields: Any) -> list[dict[str, Any]]:
        return self.records.where(event="decision", **fields)


@pytest.fixture
def fs(tmp_path: Path) -> Path:
    """/data (granted) with a file and a symlink leading out; a secret outside."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    os.symlink(tmp_path, data / "out")
    return tmp_path


def _plugins(fs: Path, kv: CountingKv, seen: list[str]) -> pluggy.PluginManager:
    class Files(FilesProvider):
        @hookimpl
        def files_read(self, ctx: CallContext, path: str, encoding: Any) -> str:
            seen.append(path)
            return super().files_read(ctx, path, encoding)

    pm = pluggy.PluginManager("hostkit")
    pm.register(Files({"/data": fs / "data", "/top": fs}))
    pm.register(ClockProvider())
    pm.register(kv)
    return pm


@pytest.fixture
async def env(
    fs: Path, config: hostkit.HostConfig, request: pytest.FixtureRequest
) -> AsyncIterator[Env]:
    """A gated host; the policies come from ``@pytest.mark.parametrize`` /
    indirect ``policies``, else: /data readable, kv keys ``ok*`` readable."""
    kv = CountingKv()
    seen: list[str] = []
    opts: Mapping[str, Any] = getattr(request, "param", {})
    policies = opts.get(
        "policies",
        [DEFAULT, *grant(FileRead("/data/**"), KeyValue("ok*", write=True), plugin="hostcall")],
    )
    with capture_audit() as records:
        gate = Gate(
            _plugins(fs, kv, seen),
            policies=policies,
            limits=opts.get("limits"),
            identities=opts.get("identities"),
            audit=opts.get("audit"),
        )
        async with hostkit.open_host(config, capabilities=gate) as host:
            yield Env(host, gate, kv, records, seen)


async def test_an_allowed_call_reaches_the_provider_and_is_audited(
    env: Env, wasm: dict[str, Path]
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    assert await env.host.call(pid, "r/data/a.txt") == "ok:hello"
    (record,) = env.decisions(action="hostkit:host/files#read")
    assert record["decision"] == "allow"
    assert record["policies"] == ["plugin:hostcall/file-read:/data/**"]
    assert record["resource"] == 'File::"/data/a.txt"'
    assert record["plugin"] == "hostcall" and record["actor"] == str(pid)
    assert isinstance(record["duration_us"], int)


@pytest.mark.parametrize(
    ("path", "case"),
    [
        ("/data/../secret.txt", INVALID),  # '..' is refused, never collapsed
        ("/data/sub/../../secret.txt", INVALID),
        ("data/../../secret.txt", INVALID),
        ("/data/./../secret.txt", INVALID),
        ("/data/\u202e/../secret.txt", INVALID),  # a bidi override
        ("/data/\uff0e\uff0e/secret.txt", INVALID),  # fullwidth dots fold into '..'
        ("/data/sub/..", INVALID),
        ("/top/secret.txt", DENIED),  # a root the provider has, no grant
        ("/etc/passwd", DENIED),
        ("//top//secret.txt", DENIED),  # normalized before the policy sees it
    ],
)
async def test_path_traversal_is_denied_before_the_provider_and_audited(
    env: Env, wasm: dict[str, Path], path: str, case: str
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    reply = await env.host.call(pid, "r" + path)
    assert reply.startswith(f"err:{case}:"), reply
    assert "TOP SECRET" not in reply
    assert env.files == []  # the provider never ran
    (record,) = env.decisions(action="hostkit:host/files#read")
    assert record["decision"] == "deny" and record["policies"] == []
    assert record["detail"]


async def test_a_symlink_out_of_the_root_is_refused_by_the_provider(
    env: Env, wasm: dict[str, Path]
) -> None:
    # The policy cannot see symlinks: /data/out/secret.txt is under /data, so
    # the gate allows it (and says so); the provider's containment check refuses.
    pid = await env.spawn(wasm["hostcall"])
    reply = await env.host.call(pid, "r/data/out/secret.txt")
    assert reply.startswith(f"err:{DENIED}:") and "TOP SECRET" not in reply
    (record,) = env.decisions(action="hostkit:host/files#read")
    assert record["decision"] == "allow"


async def test_a_denied_call_never_runs_the_hook(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    for _ in range(5):
        reply = await env.host.call(pid, "gsecret-key")
        assert reply.startswith(f"err:{DENIED}:") and "deny by default" in reply
    assert env.kv.calls == []
    assert await env.host.call(pid, "sok1=v") == "ok:"
    assert await env.host.call(pid, "gok1") == "ok:v"
    assert env.kv.calls == [("set", "ok1"), ("get", "ok1")]
    assert [r["decision"] for r in env.decisions()] == ["deny"] * 5 + ["allow"] * 2


async def test_provider_errors_reach_the_guest_as_wit_errors(
    env: Env, wasm: dict[str, Path]
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    assert await env.host.call(pid, "gok-missing") == f"err:{NOT_FOUND}:no key 'ok-missing'"
    assert (await env.host.call(pid, "r/data/nope")).startswith(f"err:{NOT_FOUND}:")


def _limits() -> CallLimits:
    limits = CallLimits()
    limits.set_rate(RateLimit(rate=0.001, burst=3), plugin="hostcall", action="hostkit:host/kv#get")
    limits.set_max_payload(10, action="hostkit:host/kv#set")
    return limits


@pytest.mark.parametrize(
    "env",
    [{"policies": [*grant(KeyValue("*", write=True), plugin="hostcall")], "limits": _limits()}],
    indirect=True,
)
async def test_rate_limit_and_payload_cap_refuse_without_running_the_hook(
    env: Env, wasm: dict[str, Path]
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    env.kv.data["k"] = "v"
    replies = [await env.host.call(pid, "gk") for _ in range(4)]
    assert replies == ["ok:v"] * 3 + [f"err:{RATE_LIMITED}:"]
    assert await env.host.call(pid, "sk=" + "x" * 10) == "ok:"
    reply = await env.host.call(pid, "sk=" + "x" * 11)
    assert reply.startswith(f"err:{TOO_LARGE}:payload of 11 bytes")
    assert env.kv.calls == [("get", "k")] * 3 + [("set", "k")]
    denied = env.decisions(decision="deny")
    assert [r["action"] for r in denied] == ["hostkit:host/kv#get", "hostkit:host/kv#set"]
    assert "rate limit" in denied[0]["detail"] and denied[0]["policies"] == []


@pytest.mark.parametrize("env", [{"policies": [DEFAULT]}], indirect=True)
async def test_reload_is_atomic_drops_cached_decisions_and_is_audited(
    env: Env, wasm: dict[str, Path]
) -> None:
    pid = await env.spawn(wasm["hostcall"])
    env.kv.data["ok"] = "1"
    assert (await env.host.call(pid, "gok")).startswith(f"err:{DENIED}:")
    env.gate.reload_policies([DEFAULT, *grant(KeyValue("ok"), plugin="hostcall")])
    assert await env.host.call(pid, "gok") == "ok:1"
    with pytest.raises(hostkit.PolicyError):
        env.gate.reload_policies("permit (principal, action, resource) whenn { true };")
    assert await env.host.call(pid, "gok") == "ok:1"  # the old set stays in force
    env.gate.reload_policies([DEFAULT])
    assert (await env.host.call(pid, "gok")).startswith(f"err:{DENIED}:")
    loads = env.records.where(event="policy-load")
    assert [r["outcome"] for r in loads] == ["loaded", "loaded", "rejected", "loaded"]
    assert loads[1]["policies"] == [
        "default:introspection",
        "default:random-bytes",
        "default:log",
        "plugin:hostcall/kv-read:ok",
    ]
    assert "whenn" in loads[2]["detail"] or "unexpected" in loads[2]["detail"]
    assert [r["generation"] for r in loads] == [1, 2, 2, 3]


class FlakySink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def write(self, line: str) -> None:
        if self.fail:
            raise OSError("disk full")
        super().write(line)


_FLAKY = FlakySink()


@pytest.mark.parametrize("env", [{"audit": AuditLog([_FLAKY])}], indirect=True)
async def test_a_call_that_cannot_be_audited_is_denied(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    env.kv.data["ok"] = "1"
    assert await env.host.call(pid, "gok") == "ok:1"
    _FLAKY.fail = True
    reply = await env.host.call(pid, "gok")
    assert reply.startswith(f"err:{DENIED}:the audit log is unavailable")
    assert env.kv.calls == [("get", "ok")]


@pytest.mark.parametrize(
    "env",
    [
        {
            "policies": [
                '@id("partners") permit (principal in Group::"partners", '
                'action == Action::"hostkit:host/kv#get", resource) '
                'when { principal.version == "2.1" && principal.digest != "" };'
            ],
            "identities": {
                "hostcall": PluginIdentity("hostcall", "ignored", "2.1", "acme", ("partners",))
            },
        }
    ],
    indirect=True,
)
async def test_identities_give_policies_version_groups_and_the_real_digest(
    env: Env, wasm: dict[str, Path]
) -> None:
    comp = env.host.load(wasm["hostcall"])
    identity = env.gate.identity_of(comp)
    assert identity.digest == comp.digest and identity.groups == ("partners",)
    pid = await env.host.spawn(comp)
    env.kv.data["k"] = "v"
    assert await env.host.call(pid, "gk") == "ok:v"
    assert env.decisions()[0]["policies"] == ["partners"]


async def test_lifecycle_events_are_audited(env: Env, wasm: dict[str, Path]) -> None:
    pid = await env.spawn(wasm["hostcall"])
    env.host.kill(pid)
    assert (await env.host.wait(pid)).kind == "killed"
    events = [(r["event"], r.get("detail")) for r in env.records if r.get("actor") == str(pid)]
    assert events == [("spawn", None), ("kill", "killed by the host"), ("exit", "killed")]


async def test_audit_record_hookimpls_are_extra_sinks(
    fs: Path, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    got: list[Mapping[str, object]] = []

    class Sink:
        @hookimpl
        def audit_record(self, record: Mapping[str, object]) -> None:
            got.append(record)

    class Broken:
        @hookimpl
        def audit_record(self, record: Mapping[str, object]) -> None:
            raise RuntimeError("a buggy sink")

    pm = _plugins(fs, CountingKv(), [])
    pm.register(Broken())
    pm.register(Sink())
    log = AuditLog([sink := MemorySink()])
    gate = Gate(pm, policies=[DEFAULT], audit=log)
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert (await host.call(pid, "t")).startswith("ok:")
    assert [dict(r) for r in got] == sink.records()
    assert [r["event"] for r in got] == ["policy-load", "spawn", "decision", "exit"]
    with pytest.raises(TypeError):
        got[0]["seq"] = 9  # type: ignore[index]


async def test_imports_nothing_implements_fail_the_load_naming_them(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    pm = pluggy.PluginManager("hostkit")
    pm.register(ClockProvider())
    async with hostkit.open_host(config, capabilities=Gate(pm)) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(wasm["hostcall"])
    text = str(info.value)
    for hook in ("files_read", "kv_get", "kv_set"):
        assert f"no provider implements the hook {hook}" in text
    assert "hostkit:host/kv@0.1.0#get" in text and "clock" not in text


async def test_resolver_and_capabilities_are_exclusive(config: hostkit.HostConfig) -> None:
    gate = Gate(pluggy.PluginManager("hostkit"))
    with pytest.raises(ValueError, match="not both"):
        async with hostkit.open_host(config, capabilities=gate, resolver=lambda *a: None):
            pass


def test_the_plugin_manager_must_be_hostkits() -> None:
    with pytest.raises(ValueError, match="PluginManager\\('hostkit'\\)"):
        Gate(pluggy.PluginManager("pytest"))


# -- messaging, spawning, names ------------------------------------------------------


async def test_sends_calls_and_spawns_are_denied_without_a_grant(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    with capture_audit() as records:
        gate = Gate(pluggy.PluginManager("hostkit"), policies=[DEFAULT])
        async with hostkit.open_host(config, capabilities=gate) as host:
            spawner = await host.spawn(host.load(wasm["spawner"]))
            echo = await host.spawn(host.load(wasm["echo"]))
            assert await host.call(spawner, f"send:{int(echo):016x}x") == "error:3"  # denied
            assert await host.call(spawner, f"relay:{int(echo):016x}x") == "error:0"  # send(..)
            assert await host.call(spawner, f"cast:{int(echo):016x}x") == "queued"
            assert await host.call(spawner, "undeliverable") == "1"
            assert (await host.call(spawner, "spawn:echo")).startswith("error:denied: ")
            assert await host.call(spawner, "nspawn:echo") == "0"  # the `p` frame's error
            assert await host.call(spawner, "whereis:anything") == "none"
            assert await host.call(echo, "count") == "0"  # nothing reached it
            with pytest.raises(hostkit.SpawnError, match="denied"):
                await host.spawn(host.load(wasm["spawner"]), "alpha")  # registers in init
    denied = [r["action"].rsplit("#", 1)[1] for r in records.where(decision="deny")]
    assert denied == ["send", "call", "send", "spawn", "spawn", "whereis", "register"]


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        # the default: every permitted message leaves a record
        (True, ["call"] * 3 + ["register"] + ["send"] * 6 + ["spawn"]),
        # opt-out: a remembered pair is recorded when first decided
        (False, ["call", "register", "send", "spawn"]),
    ],
)
async def test_granted_messaging_is_decided_once_per_pair_and_audited(
    config: hostkit.HostConfig, wasm: dict[str, Path], every: bool, expected: list[str]
) -> None:
    policies = [
        DEFAULT,
        *grant(Messaging("echo"), Spawn("echo"), Register("alpha"), plugin="spawner"),
    ]
    with capture_audit() as records:
        gate = Gate(pluggy.PluginManager("hostkit"), policies=policies, audit_every_message=every)
        async with hostkit.open_host(config, capabilities=gate) as host:
            spawner = await host.spawn(host.load(wasm["spawner"]), "alpha")
            host.load(wasm["echo"])
            child = int(await host.call(spawner, "spawn:echo"))
            for _ in range(3):
                assert await host.call(spawner, f"send:{child:016x}x") == "ok"
                assert await host.call(spawner, f"cast:{child:016x}y") == "queued"
                assert await host.call(spawner, f"relay:{child:016x}ping") == "ping"
            assert await host.call(child, "count") == "6"
            assert await host.call(spawner, "undeliverable") == "0"
            other = await host.spawn(host.load(wasm["spawner"], name="other"))
            assert await host.call(spawner, f"send:{int(other):016x}x") == "error:3"
    allowed = [r["action"].rsplit("#", 1)[1] for r in records.where(decision="allow")]
    assert sorted(allowed) == expected


async def test_a_context_reading_policy_is_decided_per_message(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    policies = [DEFAULT, *grant(Messaging("echo", max_size=3), Spawn("echo"), plugin="spawner")]
    gate = Gate(pluggy.PluginManager("hostkit"), policies=policies)
    async with hostkit.open_host(config, capabilities=gate) as host:
        spawner = await host.spawn(host.load(wasm["spawner"]))
        host.load(wasm["echo"])
        child = int(await host.call(spawner, "spawn:echo"))
        assert await host.call(spawner, f"send:{child:016x}abc") == "ok"
        assert await host.call(spawner, f"send:{child:016x}abcd") == "error:3"
        assert await host.call(spawner, f"send:{child:016x}ab") == "ok"


def test_gate_arguments_that_contradict_each_other_are_refused() -> None:
    from hostkit.capabilities import Authorizer

    pm = pluggy.PluginManager("hostkit")
    with pytest.raises(ValueError, match="not both"):
        Gate(pm, authorizer=Authorizer(), policies=[DEFAULT])
    with pytest.raises(ValueError, match="fixed by the schema"):
        Gate(pm, contexts={"hostkit:host/kv#set": ("size",)})
