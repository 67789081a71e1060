"""Timers: ``Host.send_after`` / ``cancel_timer`` and a guest's ``t`` / ``k``
outbox frames (see ``hostkit/runtime/_timers.py``).

Time is trio's ``mock_clock``: it stands still until the test jumps it, so
"has not fired yet" and "fired" are exact. The mailbox is FIFO, so a call
queued after a fired timer's message is answered after that message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

import hostkit
from hostkit import MessageTooLarge, NoProc, TimerRef, TooManyTimers

SLACK = 0.001  # Trio's clock is a float: jump a hair past the due time


@pytest.fixture
async def thost(config: hostkit.HostConfig) -> AsyncIterator[hostkit.Host]:
    cfg = hostkit.HostConfig(
        scheduler_threads=2,
        cache_dir=config.cache_dir,
        mailbox_capacity=1000,
        max_timers_per_actor=4,
    )
    async with hostkit.open_host(cfg) as h:
        yield h


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def log_of(host: hostkit.Host, pid: hostkit.Pid) -> str:
    return await host.call(pid, "log")


async def test_host_timers_fire_in_due_order_at_their_time(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send_after(pid, "third", 3)
    thost.send_after(pid, "first", 1)
    thost.send_after(pid, "second", 2)
    thost.send_after(pid, "also-second", 2)  # same time: in the order set
    mock_clock.jump(1 - SLACK)
    await settle()
    assert await log_of(thost, pid) == ""
    mock_clock.jump(SLACK * 2)
    await settle()
    assert await log_of(thost, pid) == "c0:first;"
    mock_clock.jump(2)
    await settle()
    assert await log_of(thost, pid) == "c0:first;c0:second;c0:also-second;c0:third;"


async def test_a_cancelled_host_timer_never_fires(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    keep = thost.send_after(pid, "kept", 2)
    drop = thost.send_after(pid, "dropped", 1)
    mock_clock.jump(0.25)
    assert thost.cancel_timer(drop) == pytest.approx(0.75)
    assert thost.cancel_timer(drop) is None  # already cancelled
    mock_clock.jump(5)
    await settle()
    assert await log_of(thost, pid) == "c0:kept;"
    assert thost.cancel_timer(keep) is None  # already fired
    assert isinstance(keep, TimerRef) and keep.pid == pid


async def test_the_per_actor_timer_cap_holds_for_host_timers(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    comp = thost.load(wasm["sched_timer"])
    pid, other = await thost.spawn(comp), await thost.spawn(comp)
    refs = [thost.send_after(pid, f"m{i}", 1) for i in range(4)]
    with pytest.raises(TooManyTimers, match="max_timers_per_actor 4"):
        thost.send_after(pid, "one too many", 1)
    thost.send_after(other, "another actor has its own cap", 1)
    thost.cancel_timer(refs[0])  # a cancelled timer frees its slot
    thost.send_after(pid, "m4", 1)
    mock_clock.jump(1 + SLACK)
    await settle()
    assert await log_of(thost, pid) == "c0:m1;c0:m2;c0:m3;c0:m4;"


async def test_pending_timers_count_against_the_hosts_mailbox_budget(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(
        scheduler_threads=1, cache_dir=config.cache_dir, host_mailbox_bytes=10 * (1000 + 160)
    )
    async with hostkit.open_host(cfg) as h:
        pid = await h.spawn(h.load(wasm["sched_timer"]))
        for _ in range(10):
            h.send_after(pid, "x" * 1000, 60)
        with pytest.raises(TooManyTimers, match="host_mailbox_bytes"):
            h.send_after(pid, "x", 60)


async def test_send_after_refuses_bad_input_by_name(
    thost: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    for delay in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="send_after delay"):
            thost.send_after(pid, "x", delay)
    with pytest.raises(TypeError, match="send_after delay"):
        thost.send_after(pid, "x", "1")  # type: ignore[arg-type]
    with pytest.raises(MessageTooLarge):
        thost.send_after(pid, "x" * (thost.config.max_message_size + 1), 1)
    with pytest.raises(TypeError, match="TimerRef"):
        thost.cancel_timer(1)  # type: ignore[arg-type]
    thost.kill(pid)
    await thost.wait(pid)
    with pytest.raises(NoProc):
        thost.send_after(pid, "x", 1)


async def test_a_dead_actors_timers_are_dropped(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    ref = thost.send_after(pid, "never", 5)
    thost.send(pid, "5000\nnever either")  # a guest timer too
    assert await log_of(thost, pid) == ""  # its `t` frame is carried out by now
    timers = thost._sched.timers
    assert len(timers) == 2
    thost.kill(pid)
    await thost.wait(pid)
    await settle()
    assert len(timers) == 0 and not timers.by_actor and timers.bytes == 0
    assert thost.cancel_timer(ref) is None


async def test_guest_timers_fire_in_order_as_i_frames_with_their_tags(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send(pid, "2000\nlate")  # tag 1
    thost.send(pid, "1000\nearly")  # tag 2
    thost.send(pid, "1\nsoon")  # tag 3
    assert await log_of(thost, pid) == ""  # the clock has not moved
    mock_clock.jump(0.001 + SLACK)
    await settle()
    assert await log_of(thost, pid) == "i3:soon;"
    mock_clock.jump(2)
    await settle()
    assert await log_of(thost, pid) == "i3:soon;i2:early;i1:late;"


async def test_a_guest_cancels_its_timer_with_a_k_frame(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send(pid, "1000\nkept")  # tag 1
    thost.send(pid, "1000\ncancelled")  # tag 2
    thost.send(pid, "cancel")  # cancels tag 2
    assert await log_of(thost, pid) == ""
    mock_clock.jump(5)
    await settle()
    assert await log_of(thost, pid) == "i1:kept;"


async def test_the_per_actor_timer_cap_holds_for_guest_timers(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send_after(pid, "host", 1)  # host and guest timers share the cap
    for i in range(4):
        thost.send(pid, f"1000\ng{i}")  # tags 1..4; tag 4 is one too many
    assert await log_of(thost, pid) == ""
    mock_clock.jump(1 + SLACK)
    await settle()
    assert await log_of(thost, pid) == "u4:too-many-timers;c0:host;i1:g0;i2:g1;i3:g2;"


async def test_a_guest_cannot_reach_host_timers_with_k_frames(
    thost: hostkit.Host, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send_after(pid, "host", 1)
    thost.send(pid, "cancel")  # `k` with tag 0: the guest's own namespace
    assert await log_of(thost, pid) == ""
    mock_clock.jump(1 + SLACK)
    await settle()
    assert await log_of(thost, pid) == "c0:host;"


@pytest.mark.parametrize(
    "payload", ["bad", "4294967296\nover the max", "5", "0x5\nhex", "00000000001\n11 digits"]
)
async def test_a_malformed_timer_frame_ends_the_guest(
    thost: hostkit.Host, wasm: dict[str, Path], payload: str
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send(pid, payload)
    reason = await thost.wait(pid)
    assert reason.kind == "protocol"
    assert "timer frame (tag 1)" in str(reason)
    assert len(thost._sched.timers) == 0


async def test_the_largest_guest_delay_is_accepted(
    thost: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await thost.spawn(thost.load(wasm["sched_timer"]))
    thost.send(pid, "4294967295\nin 49.7 days")
    assert await log_of(thost, pid) == ""
    assert len(thost._sched.timers) == 1


async def test_100k_pending_timers_fire_in_order_and_cancel_lazily(
    config: hostkit.HostConfig, wasm: dict[str, Path], mock_clock: trio.testing.MockClock
) -> None:
    n = 100_000
    cfg = hostkit.HostConfig(
        scheduler_threads=2,
        cache_dir=config.cache_dir,
        mailbox_capacity=n,
        max_timers_per_actor=n,
    )
    async with hostkit.open_host(cfg) as h:
        pid = await h.spawn(h.load(wasm["echo"]))
        refs = [h.send_after(pid, "t", (i * 7919 % n) / 1000) for i in range(n)]
        timers = h._sched.timers
        assert len(timers) == n
        for i, ref in enumerate(refs):
            if i % 4:
                assert h.cancel_timer(ref) is not None
        live = n // 4
        assert len(timers) == live
        assert len(timers.heap) <= 2 * live + 1025  # compacted: dead entries do not pile up
        mock_clock.jump(n / 1000 / 2)
        await settle()
        half = int(await h.call(pid, "count"))
        assert 0 < half < live
        mock_clock.jump(n / 1000)
        await settle()
        assert await h.call(pid, "count") == str(live)
        assert len(timers) == 0 and not timers.heap


async def test_a_guest_churning_set_and_cancel_cannot_grow_the_heap(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=config.cache_dir)
    async with hostkit.open_host(cfg) as h:
        pid = await h.spawn(h.load(wasm["sched_timer"]))
        timers = h._sched.timers
        h.send_after(pid, "keep", 30)  # a live head: dead entries behind it stay put
        for _ in range(30):
            for _ in range(200):
                h.send(pid, "60000\nx")
                h.send(pid, "cancel")
            assert await h.call(pid, "log") == ""  # all carried out by now
            assert len(timers) == 1
            assert len(timers.heap) <= 2 * 1 + 1025  # dead entries are swept, not kept
