"""The gate's per-call fast path writes exactly what the checked path writes.

An allowed host call's audit record is built by ``Gate._allowed_body`` in
the audit log's own form and written with `AuditLog.record_prepared`, which
skips `prepare_fields`. These tests hold that shortcut to the checked path
(``Gate._audit_decision`` -> `AuditLog.record`): byte-identical lines,
hash chain and HMAC, for any plugin, action, resource and policy ids --
hostile text included -- and through a real guest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pluggy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostkit
from hostkit.audit import AuditLog, MemorySink, verify_lines
from hostkit.capabilities import (
    CallContext,
    Decision,
    Entity,
    Gate,
    KeyValue,
    PluginIdentity,
    _gate_audit,
    grant,
    hookimpl,
)
from hostkit.capabilities._gate import _Who

KEY = b"k" * 32
CLOCK = 1_700_000_000.123456
# Text a guest (or a careless operator) might choose: controls, ANSI, bidi,
# quotes, backslashes, separators, lone surrogates, long runs.
HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(['"', "\\", "\x1b", "[", "\u202e", "\u2028", "\x00", "\n", "\udc80"]),
    ),
    max_size=40,
) | st.text(alphabet="ab\\", min_size=4090, max_size=4200)


class Kv:
    """What the ``hostcall`` guest imports; only kv.get is called."""

    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        return "v"

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> bool:
        return True

    @hookimpl
    def files_read(self, ctx: CallContext, path: str, encoding: str) -> str:
        return ""

    @hookimpl
    def clock_now_ms(self, ctx: CallContext) -> int:
        return 0


def _plugins() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hostkit")
    pm.register(Kv())
    return pm


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate(_plugins(), policies=grant(KeyValue("*"), plugin="p"))


@pytest.fixture
def fixed_now() -> Iterator[None]:
    real = _gate_audit._now_ns
    _gate_audit._now_ns = lambda: 7_000_123_456
    try:
        yield
    finally:
        _gate_audit._now_ns = real


@settings(
    max_examples=300,
    deadline=None,  # a shared, loaded machine: what is tested is bytes, not time
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plugin=HOSTILE,
    action=HOSTILE,
    kind=st.sampled_from(["Key", "File", "Monster", "Odd\u202eType"]),
    ident=HOSTILE,
    policies=st.lists(HOSTILE, max_size=3),
    keyed=st.booleans(),
    started=st.integers(0, 7_000_123_456),
)
def test_the_fast_record_is_byte_identical_to_the_checked_one(
    gate: Gate,
    fixed_now: None,
    plugin: str,
    action: str,
    kind: str,
    ident: str,
    policies: list[str],
    keyed: bool,
    started: int,
) -> None:
    who = _Who(PluginIdentity(plugin, "d" * 64, "1.0", "acme", ("g",)), frozenset())
    resource = Entity.of(kind, ident, name=ident)
    decision = Decision(True, tuple(policies))
    lines = []
    for fast in (False, True):
        sink = MemorySink()
        gate.audit = AuditLog([sink], clock=lambda: CLOCK, key=KEY if keyed else None)
        gate._fresh_caches()
        for caller in ("<0.1>", "<0.2>"):  # the second hits the per-action/policy caches
            if fast:
                gate._audit_allowed(action, caller, who, resource, decision, started)
            else:
                gate._audit_decision(action, caller, who, resource, decision, started, None)
        lines.append(sink.lines)
    checked, prepared = lines
    assert prepared == checked
    assert verify_lines(prepared, key=KEY if keyed else None).ok


def test_hooks_get_the_same_record_and_cannot_change_the_next(gate: Gate, fixed_now: None) -> None:
    seen: list[dict[str, object]] = []

    class Hook:
        @hookimpl
        def audit_record(self, record: Mapping[str, object]) -> None:
            seen.append(dict(record))
            policies = record["policies"]
            assert isinstance(policies, list)
            policies.append("tampered")  # a list the next record must not share

    sink = MemorySink()
    gate.audit = AuditLog([sink], clock=lambda: CLOCK)
    gate._fresh_caches()
    hook = Hook()
    gate.plugins.register(hook)
    try:
        who = _Who(PluginIdentity("p", "d" * 64, "", "", ()), frozenset())
        decision = Decision(True, ("plugin:p/kv-read:*",))
        for _ in range(2):
            gate._audit_allowed("hostkit:host/kv#get", "<0.1>", who, Entity.key("k"), decision, 0)
    finally:
        gate.plugins.unregister(hook)
    records = sink.records()
    assert [r["policies"] for r in records] == [["plugin:p/kv-read:*"]] * 2
    assert [r["hash"] for r in seen] == [r["hash"] for r in records]


async def test_a_real_guest_s_hostile_keys_are_recorded_inert_and_chained(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    sink = MemorySink()
    gate = Gate(
        _plugins(),
        policies=grant(KeyValue("*"), plugin="hostcall"),
        audit=AuditLog([sink], key=KEY),
    )
    keys = ["plain", 'quo"te', "back\\slash", "esc\x1b[31mred", "bidi\u202eflip", "x" * 5000]
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        for key in keys:
            assert await host.call(pid, f"g{key}") == "ok:v"
    decisions = [r for r in sink.records() if r["event"] == "decision"]
    assert [r["resource"] for r in decisions] == [
        _gate_audit.inert_value(_gate_audit._uid(Entity.key(k))) for k in keys
    ]
    assert all(r["decision"] == "allow" and r["actor"] == str(pid) for r in decisions)
    for record in decisions:
        assert all(ch.isprintable() for ch in record["resource"])
    assert verify_lines(sink.lines, key=KEY).ok


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_the_integer_clock_timestamp_is_rfc3339_rounded_to_the_microsecond(ns: int) -> None:
    from datetime import UTC, datetime, timedelta

    from hostkit.audit._log import _rfc3339_ns

    micros = (ns + 500) // 1000
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert _rfc3339_ns(ns) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_default_clock_log_stamps_records_now() -> None:
    import time
    from datetime import datetime

    sink = MemorySink()
    log = AuditLog([sink])
    before = time.time()
    log.record_encoded(b'"decision"', b'"decision":"allow"')
    log.record("decision", decision="allow")
    after = time.time()
    for record in sink.records():
        text = record["time"]
        assert text.endswith("Z")
        stamp = datetime.strptime(text[:-1] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        assert before - 1e-3 <= stamp <= after + 1e-3
    assert verify_lines(sink.lines).ok


async def test_a_remembered_call_writes_the_same_record_as_its_first(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """The second and later identical calls reuse the decided call (resource,
    decision, encoded record tail); their records differ from the first's
    only in what is per record."""
    sink = MemorySink()
    gate = Gate(
        _plugins(), policies=grant(KeyValue("*"), plugin="hostcall"), audit=AuditLog([sink])
    )
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        for _ in range(3):
            assert await host.call(pid, "gsame") == "ok:v"
        assert len(gate._admitted) == 1  # remembered once, reused twice
    decisions = [r for r in sink.records() if r["event"] == "decision"]
    per_record = {"seq", "time", "prev", "hash", "duration_us"}
    first, *later = [{k: v for k, v in r.items() if k not in per_record} for r in decisions]
    assert len(later) == 2 and all(r == first for r in later)
    assert first["resource"] == 'Key::"same"' and first["actor"] == str(pid)
    assert verify_lines(sink.lines).ok


async def test_a_remembered_call_is_decided_afresh_after_any_policy_change(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    gate = Gate(_plugins(), policies=grant(KeyValue("*"), plugin="hostcall"))
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        assert await host.call(pid, "gk") == "ok:v"
        assert await host.call(pid, "gk") == "ok:v"  # remembered
        # reloading the authorizer itself, not through the gate, still counts
        gate.authorizer.reload(grant(KeyValue("other"), plugin="hostcall"))
        reply = await host.call(pid, "gk")
        assert reply.startswith("err:0:")  # denied
        gate.reload_policies(grant(KeyValue("*"), plugin="hostcall"))
        assert await host.call(pid, "gk") == "ok:v"
