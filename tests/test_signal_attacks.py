"""Real hostile guests against the signal path (issue 7): each test asserts
the attacker is stopped, the victim and the host are fine, and the audit log
names the attacker. Guest: ``plugins/wat/sig_hostile.wat``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import trio

import hostkit
from hostkit.audit import AuditLog
from hostkit.capabilities import CallLimits, DenialLimits, Gate, Messaging, RateLimit, grant
from hostkit.testing import AuditCapture, capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"


@pytest.fixture
def records() -> Any:
    with capture_audit() as captured:
        yield captured


@pytest.fixture
async def audited(config: hostkit.HostConfig, records: AuditCapture) -> AsyncIterator[hostkit.Host]:
    """A host with an audit log and no capability gate."""
    async with hostkit.open_host(config, audit=AuditLog()) as h:
        yield h


def _gate(*policies: Any) -> Gate:
    return Gate(pluggy.PluginManager("hostkit"), policies=[DEFAULT, *policies])


def _names(records: AuditCapture, event: str, actor: hostkit.Pid) -> list[dict[str, Any]]:
    return records.where(event=event, actor=str(actor))


async def test_forged_reply_ends_the_forger_and_the_caller_gets_the_genuine_one(
    audited: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = audited
    comp = host.load(wasm["sig_hostile"])
    victim, attacker = await host.spawn(comp), await host.spawn(comp)
    answer: list[str] = []

    async def caller() -> None:
        answer.append(await host.call(victim, "hold"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        with trio.fail_after(5):
            while not host._router.calls:
                await trio.sleep(0.001)
        (ref,) = host._router.calls  # even the real ref does not help the forger
        host.send(attacker, f"forge:{ref:016x}")
        reason = await host.wait(attacker)
        assert reason.kind == "protocol" and "never sent" in reason.detail
        assert not answer  # the forged reply reached nobody
        host.send(victim, "release")
    assert answer == ["genuine"]
    assert host.is_alive(victim)
    (violation,) = _names(records, "protocol-violation", attacker)
    assert f"{ref:016x}" in violation["detail"]
    assert _names(records, "exit", attacker)[0]["detail"].startswith("protocol")


async def test_guessed_reply_refs_are_violations_not_silently_ignored(
    audited: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = audited
    attacker = await host.spawn(host.load(wasm["sig_hostile"]))
    host.send(attacker, f"forge:{1:016x}")  # the old, sequential first ref
    assert (await host.wait(attacker)).kind == "protocol"
    assert _names(records, "protocol-violation", attacker)


async def test_link_kill_by_a_plugin_without_grants_is_denied_and_audited(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    async with hostkit.open_host(config, capabilities=_gate()) as host:
        echo = host.load(wasm["echo"])
        victims = [await host.spawn(echo) for _ in range(5)]
        attacker = await host.spawn(host.load(wasm["sig_hostile"]))
        # pids 1..10: five victims, itself (a self-link is a no-op, Erlang's
        # rule) and four that never existed
        assert await host.call(attacker, f"linkall:{10:016x}") == "1"
        host.send(attacker, "crash")
        assert (await host.wait(attacker)).kind == "trap"
        for v in victims:
            assert await host.call(v, "still here") == "still here"
        denials = records.where(
            event="decision", action="hostkit:plugin/process#link", decision="deny"
        )
        assert {d["actor"] for d in denials} == {str(attacker)}
        assert len(denials) == len(victims)  # dead or unknown pids are not even decided


async def test_links_granted_by_policy_still_carry_exit_signals(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    policy = """
    @id("let-hostile-link")
    permit (principal == Plugin::"sig_hostile",
            action == Action::"hostkit:plugin/process#link", resource);
    """
    async with hostkit.open_host(config, capabilities=_gate(policy)) as host:
        echo = host.load(wasm["echo"])
        victim = await host.spawn(echo)
        attacker = await host.spawn(host.load(wasm["sig_hostile"]))
        assert await host.call(attacker, f"linkall:{victim.id:016x}") != "0"
        host.send(attacker, "crash")
        assert (await host.wait(victim)).kind == "trap"
        (exit_record,) = records.where(event="exit", actor=str(victim))
        assert exit_record["cause"] == str(attacker)  # the exit names who caused it


async def test_exit_amplification_ends_the_amplifier_not_the_host(
    audited: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = audited
    comp = host.load(wasm["sig_hostile"])
    dead = await host.spawn(comp)
    host.kill(dead)
    await host.wait(dead)
    attacker = await host.spawn(comp)
    bystander = await host.spawn(host.load(wasm["echo"]))
    host.send(attacker, f"amplify:{dead.id:016x}")
    with trio.fail_after(30):
        reason = await host.wait(attacker)
    assert reason.kind == "limit" and "system frame" in reason.detail
    assert host._router.queued_bytes() == sum(a["mailbox_bytes"] for a in host.actors())
    assert await host.call(bystander, "ok") == "ok"
    assert len(_names(records, "limit", attacker)) == 1  # one record, not one per frame


@pytest.fixture
async def patient(config: hostkit.HostConfig, records: AuditCapture) -> AsyncIterator[hostkit.Host]:
    """Audited, and time for a guest to write a million frames on a busy machine."""
    cfg = dataclasses.replace(config, activation_timeout=30.0)
    async with hostkit.open_host(cfg, audit=AuditLog()) as h:
        yield h


async def test_million_frame_outbox_routes_nothing(
    patient: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = patient
    victim = await host.spawn(host.load(wasm["echo"]))
    attacker = await host.spawn(host.load(wasm["sig_hostile"]))
    host.send(attacker, f"flood:{victim.id:016x}{1_000_000:016x}")
    with trio.fail_after(60):
        reason = await host.wait(attacker)
    assert reason.kind == "limit" and "outbox_max_bytes" in reason.detail
    assert await host.call(victim, "count") == "0"
    (violation,) = _names(records, "protocol-violation", attacker)
    assert "42000000 bytes" in violation["detail"]


async def test_outbox_past_its_frame_cap_is_cut_at_the_cap(
    patient: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = patient
    victim = await host.spawn(host.load(wasm["echo"]))
    attacker = await host.spawn(host.load(wasm["sig_hostile"]))
    host.send(attacker, f"flood:{victim.id:016x}{100_000:016x}")
    with trio.fail_after(30):
        reason = await host.wait(attacker)
    cap = host.config.outbox_frames
    assert reason.kind == "limit" and f"outbox_max_frames ({cap})" in reason.detail
    assert int(await host.call(victim, "count")) == cap  # the frames before the cap only
    (violation,) = _names(records, "protocol-violation", attacker)
    assert "outbox_max_frames" in violation["detail"]


async def test_outbox_over_its_byte_cap_routes_nothing(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    small = dataclasses.replace(config, outbox_max_bytes=4096)
    async with hostkit.open_host(small, audit=AuditLog()) as host:
        victim = await host.spawn(host.load(wasm["echo"]))
        attacker = await host.spawn(host.load(wasm["sig_hostile"]))
        host.send(attacker, f"flood:{victim.id:016x}{1000:016x}")
        reason = await host.wait(attacker)
        assert reason.kind == "limit" and "outbox_max_bytes (4096)" in reason.detail
        assert await host.call(victim, "count") == "0"
        assert _names(records, "protocol-violation", attacker)


async def test_byte_flood_into_a_busy_actor_is_bounded_in_bytes(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    # One scheduler thread: while the attacker runs, its victim cannot drain.
    cfg = dataclasses.replace(
        config, scheduler_threads=1, mailbox_capacity=10_000, activation_timeout=30.0
    )
    gate = _gate(*grant(Messaging("echo"), plugin="sig_hostile"))
    async with hostkit.open_host(cfg, capabilities=gate) as host:
        victim = await host.spawn(host.load(wasm["echo"]))
        attacker = await host.spawn(host.load(wasm["sig_hostile"]))
        host.send(attacker, f"bytes:{victim.id:016x}{100:016x}")
        sent, refused = map(int, (await host.call(attacker, "stats", timeout=30)).split())
        per_frame = 41 + (1 << 20)
        assert sent == cfg.mailbox_max_bytes // per_frame  # 15 fit in 16 MiB
        assert refused == 100 - sent  # the rest got mailbox-full, nothing queued
        assert await host.call(victim, "count", timeout=30) == str(sent)
        allowed = records.where(
            event="decision", action="hostkit:plugin/process#send", actor=str(attacker)
        )
        assert len(allowed) == 100  # every attempt is in the log, under the attacker's pid


async def test_host_byte_budget_bounds_all_mailboxes_together(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(
        config,
        host_mailbox_bytes=3 << 20,
        scheduler_threads=1,
        slice_seconds=config.activation_timeout,  # the spinner keeps the thread (no preemption)
    )
    async with hostkit.open_host(cfg) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        echo = host.load(wasm["echo"])
        a, b, c = [await host.spawn(echo) for _ in range(3)]
        host.send(spinner, "spin")  # the only scheduler thread is now busy
        big = "y" * ((1 << 20) - 64)
        host.send(a, big)
        host.send(b, big)
        host.send(c, big)  # each mailbox is far below its own byte bound...
        with pytest.raises(hostkit.MailboxFull):
            host.send(c, big)  # ...but the host's budget is spent
        assert host._router.queued_bytes() <= cfg.host_mailbox_bytes
        assert (await host.wait(spinner)).kind == "deadline"
        for pid in (a, b, c):
            assert await host.call(pid, "count") == "1"
        assert host._router.queued_bytes() == 0


async def test_nested_spawn_bomb_is_bounded_by_caps_depth_and_the_parents_deadline(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    cfg = dataclasses.replace(
        config, max_actors_per_plugin=40, max_spawn_depth=6, activation_timeout=30.0
    )
    async with hostkit.open_host(cfg, audit=AuditLog()) as host:
        comp = host.load(wasm["sig_hostile"])
        bystander = await host.spawn(host.load(wasm["echo"]))
        with trio.fail_after(30):
            root = await host.spawn(comp, "bomb")
        live = [a for a in host.actors() if a["component"] == "sig_hostile"]
        assert len(live) <= cfg.max_actors_per_plugin
        refused = records.where(event="spawn-refused", plugin="sig_hostile")
        assert refused, "the bomb never hit a limit"
        assert all(r["actor"].startswith("<") for r in refused)  # the requesting actor
        cap = f"is at max_actors_per_plugin ({cfg.max_actors_per_plugin} live actors)"
        for r in refused:
            assert cap in r["detail"] or r["detail"].startswith("spawn depth limit")
        spawned = records.where(event="spawn", plugin="sig_hostile")
        assert all(r.get("parent") or r["actor"] == str(root) for r in spawned)
        assert await host.call(bystander, "fine") == "fine"
    assert host._closed


async def test_spawn_depth_limit_names_the_depth(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    cfg = dataclasses.replace(config, max_spawn_depth=3, activation_timeout=30.0)
    async with hostkit.open_host(cfg, audit=AuditLog()) as host:
        await host.spawn(host.load(wasm["sig_hostile"]), "bomb")
        live = [a for a in host.actors() if a["component"] == "sig_hostile"]
        assert len(live) == 1 + 2 + 4 + 8  # depths 0..3 of a binary tree
        refused = records.where(event="spawn-refused")
        assert len(refused) == 16
        assert all("max_spawn_depth is 3" in r["detail"] for r in refused)


async def test_a_childs_init_gets_only_what_its_parent_has_left(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    # No actor caps in the way: only the inherited host-call budget stops it.
    cfg = dataclasses.replace(config, host_call_budget=10, activation_timeout=30.0)
    async with hostkit.open_host(cfg, audit=AuditLog()) as host:
        with pytest.raises(hostkit.SpawnError, match="budget"):
            await host.spawn(host.load(wasm["sig_hostile"]), "bomb")
        # every spawn in the tree paid from the root's 10 host calls
        assert len(host.actors()) <= cfg.host_call_budget
        assert records.where(event="spawn-refused", plugin="sig_hostile")


async def test_call_limits_count_outbox_sends_like_process_send(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    limits = CallLimits()
    limits.set_rate(RateLimit(rate=0.001, burst=5), action="hostkit:plugin/process#send")
    gate = Gate(
        pluggy.PluginManager("hostkit"),
        policies=[DEFAULT, *grant(Messaging("echo"), plugin="sig_hostile")],
        limits=limits,
        # every denial gets its own record here (no storm summaries), so they
        # can be counted one by one
        denials=DenialLimits(audit=RateLimit(rate=1000, burst=1000)),
    )
    cfg = dataclasses.replace(config, activation_timeout=30.0)
    async with hostkit.open_host(cfg, capabilities=gate) as host:
        victim = await host.spawn(host.load(wasm["echo"]))
        attacker = await host.spawn(host.load(wasm["sig_hostile"]))
        # One batch: the 10 process.send calls run inside `deliver`, the 100
        # outbox sends are routed after it returns; one bucket for both.
        host.send(attacker, f"flood:{victim.id:016x}{100:016x}")
        host.send(attacker, f"bytes:{victim.id:016x}{10:016x}")
        assert await host.call(attacker, "stats") == "5 5"  # the burst of 5, then empty
        assert await host.call(victim, "count") == "5"
        over = [
            d
            for d in records.where(event="decision", actor=str(attacker), decision="deny")
            if "rate limit" in (d.get("detail") or "")
        ]
        assert len(over) == 5 + 100  # every outbox send was counted too


async def test_a_late_reply_to_its_own_call_is_not_a_violation(
    audited: hostkit.Host, wasm: dict[str, Path], records: AuditCapture
) -> None:
    host = audited
    slow = await host.spawn(host.load(wasm["sig_hostile"]))
    with pytest.raises(hostkit.CallTimeout):
        await host.call(slow, "hold", timeout=0.05)
    host.send(slow, "release")  # answers the call that timed out
    assert await host.call(slow, "stats") == "0 0"  # still alive and serving
    assert not records.where(event="protocol-violation")
