"""Denial storms (issue 8.8): bounded in size, complete in count, and an
actor that keeps probing ends with reason ``denied``. Real guest, real gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest
import trio

import hostkit
from hostkit.capabilities import DenialLimits, FileRead, Gate, RateLimit, Root, grant
from hostkit.capabilities._limits import DenialStorms
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider
from hostkit.testing import capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
SLOW = 1e-6  # tokens per second: nothing refills during a test


@pytest.fixture
def plugins(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pluggy.PluginManager]:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "a").write_text("A")
    (tmp_path / "secret").write_text("S")
    pm = pluggy.PluginManager("hostkit")
    pm.register(FilesProvider({"/data": Root(tmp_path)}))
    pm.register(ClockProvider())
    with KvProvider(tmp_path_factory.mktemp("kv") / "kv.db") as kv:
        pm.register(kv)
        yield pm


POLICIES = [DEFAULT, *grant(FileRead("/data/pub/*"), plugin="fs_race")]


async def test_a_denial_storm_is_bounded_in_size_and_exact_in_count(
    plugins: pluggy.PluginManager, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    limits = DenialLimits(audit=RateLimit(rate=SLOW, burst=10), summary_interval=3600, actor=None)
    storm = 500
    with capture_audit() as records:
        gate = Gate(plugins, policies=POLICIES, denials=limits)
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["fs_race"]))
            for _ in range(storm):
                assert (await host.call(pid, "r/data/secret")).startswith("err:0:")
            assert await host.call(pid, "r/data/pub/a") == "ok:A"  # allows are not limited
            assert host.is_alive(pid)
            gate.flush_denials()
    denied = records.where(event="decision", decision="deny")
    summaries = records.where(event="denials-suppressed")
    assert len(denied) == 10  # the burst, then counted
    assert [s["suppressed"] for s in summaries] == [storm - 10]
    assert summaries[0]["plugin"] == "fs_race"
    assert summaries[0]["action"] == "hostkit:host/files#read"
    assert len(denied) + sum(s["suppressed"] for s in summaries) == storm  # complete in count
    assert len(records.where(event="decision", decision="allow")) == 1


async def test_an_actor_past_its_denial_budget_ends_denied(
    plugins: pluggy.PluginManager, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    limits = DenialLimits(actor=RateLimit(rate=SLOW, burst=5))
    with capture_audit() as records:
        gate = Gate(plugins, policies=POLICIES, denials=limits)
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["fs_race"]))
            for _ in range(5):
                assert (await host.call(pid, "r/data/secret")).startswith("err:0:")
            with pytest.raises(hostkit.ActorExited, match="denial budget"):
                await host.call(pid, "r/data/secret")
            reason = await host.wait(pid)
            assert reason.kind == "denied"
            # a new actor of the same plugin starts with a fresh budget
            fresh = await host.spawn(host.load(wasm["fs_race"]))
            assert (await host.call(fresh, "r/data/secret")).startswith("err:0:")
    assert len(records.where(event="decision", decision="deny")) == 7
    (exit_record,) = records.where(event="exit", actor=str(pid))
    assert "denial budget" in exit_record["detail"]


def test_summaries_fall_due_per_interval_and_pairs_are_separate() -> None:
    now = [0.0]
    storms = DenialStorms(
        DenialLimits(audit=RateLimit(rate=1, burst=2), summary_interval=10), lambda: now[0]
    )
    assert [storms.admit("p", "a") for _ in range(3)] == [(True, 0), (True, 0), (False, 0)]
    assert storms.admit("q", "a") == (True, 0)  # another plugin's bucket
    now[0] = 0.5
    assert storms.admit("p", "a") == (False, 0)
    assert storms.due() == []
    now[0] = 10.0  # the interval has passed: due, and the bucket refilled
    assert storms.due() == [("p", "a", 2)]
    assert storms.admit("p", "a") == (True, 0)
    assert storms.due(everything=True) == []


async def test_denied_sends_past_the_budget_end_the_sender_denied(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """The denial budget holds on the messaging path too: a plugin with no
    grant flooding sends (outbox frames) is ended with reason ``denied``; its
    victim never sees a message and keeps running."""
    limits = DenialLimits(actor=RateLimit(rate=SLOW, burst=5))
    with capture_audit() as records:
        gate = Gate(pluggy.PluginManager("hostkit"), policies=[DEFAULT], denials=limits)
        async with hostkit.open_host(config, capabilities=gate) as host:
            victim = await host.spawn(host.load(wasm["echo"]))
            attacker = await host.spawn(host.load(wasm["sig_hostile"]))
            host.send(attacker, f"flood:{victim.id:016x}{100:016x}")
            with trio.fail_after(30):  # a hang guard: it ends after one activation
                reason = await host.wait(attacker)
            assert reason.kind == "denied"
            assert "denial budget" in reason.detail
            assert await host.call(victim, "count") == "0"
    (exit_record,) = records.where(event="exit", actor=str(attacker))
    assert "denial budget" in exit_record["detail"]
    # ended once: the denials after the budget add no record per frame
    assert len(records.where(event="protocol-violation", actor=str(attacker))) == 1


async def test_closing_the_host_writes_the_last_denial_summary(
    plugins: pluggy.PluginManager, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """Suppressed denials still pending when the host closes are written
    then: the log is complete in count without anyone calling
    ``flush_denials``."""
    limits = DenialLimits(audit=RateLimit(rate=SLOW, burst=3), summary_interval=3600, actor=None)
    with capture_audit() as records:
        gate = Gate(plugins, policies=POLICIES, denials=limits)
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["fs_race"]))
            for _ in range(20):
                assert (await host.call(pid, "r/data/secret")).startswith("err:0:")
            assert records.where(event="denials-suppressed") == []  # not due yet
    denied = records.where(event="decision", decision="deny")
    (summary,) = records.where(event="denials-suppressed")
    assert len(denied) + summary["suppressed"] == 20
