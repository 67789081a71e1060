"""Suspending host functions: an ``impl`` that returns an awaitable runs it
on the host's Trio loop while the guest's call waits without a thread
(issue 11, item 2). ``process.call`` waits the same way.

The ``raiser`` guest answers a call by calling ``hooks#fail(len(payload))``
and replying with its result in decimal.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel

import hostkit
from hostkit.runtime._wasm import Instance

HOOKS = "hostkit:test/hooks@0.1.0"


def _host(config: hostkit.HostConfig, fail: Callable[..., Any], **kw: Any) -> Any:
    cfg = dataclasses.replace(config, activation_timeout=30.0, **kw)
    return hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}})


async def _until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with trio.fail_after(seconds):
        while not predicate():
            await trio.sleep(0.005)


async def test_an_async_host_function_runs_on_the_trio_loop_and_the_guest_gets_its_value(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    trio_thread = threading.get_ident()
    token = trio.lowlevel.current_trio_token()
    seen: list[tuple[bool, bool, int]] = []

    async def fail(inst: Instance, x: int) -> int:
        await trio.lowlevel.checkpoint()  # a real await: this is a Trio task
        seen.append(
            (
                trio.lowlevel.current_trio_token() is token,
                threading.get_ident() == trio_thread,
                inst.owner.pid.id,  # type: ignore[attr-defined]
            )
        )
        return x + 1

    async with _host(config, fail) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        assert await host.call(pid, "abc") == "4"
        assert await host.call(pid, "abcdef") == "7"
    assert seen == [(True, True, pid.id)] * 2


async def test_an_async_exception_ends_the_actor_like_a_sync_one(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async def fail_async(inst: Instance, x: int) -> int:
        await trio.lowlevel.checkpoint()
        raise ValueError("boom")

    def fail_sync(inst: Instance, x: int) -> int:
        raise ValueError("boom")

    reasons = []
    for impl in (fail_async, fail_sync):
        async with _host(config, impl) as host:
            pid = await host.spawn(host.load(wasm["raiser"]))
            with pytest.raises(hostkit.ActorExited):
                await host.call(pid, "x")
            reasons.append(await host.wait(pid))
    assert reasons[0] == reasons[1]
    assert reasons[0].kind == "host-error"
    assert "ValueError('boom')" in str(reasons[0])


async def test_an_async_value_out_of_range_is_refused_like_a_sync_one(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async def fail(inst: Instance, x: int) -> int:
        return -1  # not a u32

    async with _host(config, fail) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        with pytest.raises(hostkit.ActorExited):
            await host.call(pid, "x")
        reason = await host.wait(pid)
    assert reason.kind == "host-error"
    assert "cannot hold" in str(reason) and "-1" in str(reason)


async def test_a_hundred_guests_waiting_on_a_slow_host_function_hold_no_threads(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    release = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        await release.wait()
        return x

    async with _host(config, fail, scheduler_threads=2) as host:
        raiser = host.load(wasm["raiser"])
        pids = [await host.spawn(raiser) for _ in range(100)]
        echo = await host.spawn(host.load(wasm["echo"]))
        replies: list[str] = []
        async with trio.open_nursery() as nursery:
            for pid in pids:

                async def one(pid: hostkit.Pid = pid) -> None:
                    replies.append(await host.call(pid, "xy", timeout=30))

                nursery.start_soon(one)
            slots = host.engine.pending_slots
            await _until(lambda: slots.used == 100)

            def states() -> set[str]:
                return {a["state"] for a in host.actors() if a["pid"] in pids}

            # the last one takes its pending slot a moment before it parks
            await _until(lambda: states() == {"suspended"})
            with trio.fail_after(10):  # both threads are free
                for i in range(10):
                    assert await host.call(echo, f"e{i}") == f"e{i}"
            release.set()
        assert replies == ["2"] * 100
        assert slots.used == 0


async def test_the_per_host_cap_on_pending_async_calls(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    release = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        await release.wait()
        return x

    async with _host(config, fail, max_pending_host_calls=3) as host:
        raiser = host.load(wasm["raiser"])
        pids = [await host.spawn(raiser) for _ in range(4)]
        replies: list[str] = []
        async with trio.open_nursery() as nursery:
            for pid in pids[:3]:

                async def one(pid: hostkit.Pid = pid) -> None:
                    replies.append(await host.call(pid, "abc"))

                nursery.start_soon(one)
            await _until(lambda: host.engine.pending_slots.used == 3)
            with pytest.raises(hostkit.ActorExited):
                await host.call(pids[3], "abc")
            reason = await host.wait(pids[3])
            assert reason.kind == "limit"
            assert "max_pending_host_calls is 3" in str(reason)
            release.set()
        assert replies == ["3"] * 3


async def test_kill_while_suspended_cancels_the_coroutine(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cancelled = trio.Event()
    started = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    async with _host(config, fail) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        async with trio.open_nursery() as nursery:

            async def caller() -> None:
                with pytest.raises(hostkit.ActorExited):
                    await host.call(pid, "x")

            nursery.start_soon(caller)
            with trio.fail_after(10):
                await started.wait()
                host.kill(pid)
                await cancelled.wait()
                assert (await host.wait(pid)).kind == "killed"
        assert host.engine.pending_slots.used == 0


async def test_a_host_call_that_never_completes_ends_at_the_deadline(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cancelled = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    cfg = dataclasses.replace(config, activation_timeout=0.3)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        with trio.fail_after(10), pytest.raises(hostkit.ActorExited):
            await host.call(pid, "x")
        reason = await host.wait(pid)
        with trio.fail_after(10):
            await cancelled.wait()
    assert reason.kind == "deadline"


async def test_closing_the_host_with_pending_async_calls_ends_them_all(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cancelled: list[int] = []
    exits: dict[int, hostkit.ExitReason] = {}
    failures: list[BaseException] = []

    async def fail(inst: Instance, x: int) -> int:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(x)
        raise AssertionError("unreachable")

    # the host closes first (ending its actors), then the callers' nursery
    async with trio.open_nursery() as nursery, _host(config, fail, shutdown_timeout=0.2) as host:
        host.add_exit_hook(lambda pid, reason: exits.__setitem__(pid.id, reason))
        raiser = host.load(wasm["raiser"])
        pids = [await host.spawn(raiser) for _ in range(3)]
        for pid in pids:

            async def one(pid: hostkit.Pid = pid) -> None:
                try:
                    await host.call(pid, "abcd", timeout=30)
                except hostkit.ActorExited as exc:
                    failures.append(exc)

            nursery.start_soon(one)
        await _until(lambda: host.engine.pending_slots.used == 3)
    # closed: every suspended actor ended, every coroutine cancelled
    assert sorted(exits) == sorted(p.id for p in pids)
    assert {r.kind for r in exits.values()} == {"shutdown"}
    assert cancelled == [4, 4, 4]
    assert len(failures) == 3


async def test_an_async_host_function_calling_its_own_actor_is_a_deadlock_at_once(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    box: list[hostkit.Host] = []
    seen: list[BaseException] = []

    async def fail(inst: Instance, x: int) -> int:  # re-enters its own (suspended) guest
        try:
            await box[0].call(inst.owner.pid, "again", timeout=20)  # type: ignore[attr-defined]
        except hostkit.CallDeadlock as exc:
            seen.append(exc)
        return 7

    async with _host(config, fail) as host:
        box.append(host)
        pid = await host.spawn(host.load(wasm["raiser"]))
        with trio.fail_after(10):  # far below the call's own 20 s timeout
            assert await host.call(pid, "x") == "7"
    assert len(seen) == 1 and "wait for itself" in str(seen[0])


async def test_process_call_waits_without_holding_a_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    release = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        await release.wait()
        return x

    async with _host(config, fail, scheduler_threads=1) as host:
        callee = await host.spawn(host.load(wasm["raiser"]))
        spawner = await host.spawn(host.load(wasm["spawner"]))
        echo = await host.spawn(host.load(wasm["echo"]))
        async with trio.open_nursery() as nursery:
            replies: list[str] = []

            async def relay() -> None:  # spawner -> process.call(callee) -> async fail
                replies.append(await host.call(spawner, f"relay:{callee.id:016x}hello"))

            nursery.start_soon(relay)

            def state(pid: hostkit.Pid) -> str:
                return next(a["state"] for a in host.actors() if a["pid"] == pid)

            await _until(lambda: state(spawner) == "suspended" == state(callee))
            assert await host.call(echo, "the one thread is free") == "the one thread is free"
            release.set()
        assert replies == ["5"]


async def test_an_async_host_function_called_from_init_blocks_only_that_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async def fail(inst: Instance, x: int) -> int:
        await trio.sleep(0.01)
        return x * 10

    async with _host(config, fail) as host:
        pid = await host.spawn(host.load(wasm["preempt_initcall"]), "abc")
        assert await host.call(pid, "?") == "30"


async def test_an_async_host_function_that_never_completes_in_init_fails_the_spawn(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cancelled = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    cfg = dataclasses.replace(config, activation_timeout=0.3)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        with trio.fail_after(10), pytest.raises(hostkit.SpawnError, match="deadline"):
            await host.spawn(host.load(wasm["preempt_initcall"]), "abc")
        with trio.fail_after(10):
            await cancelled.wait()


async def test_a_suspended_process_call_times_out_and_the_guest_gets_timeout(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async def fail(inst: Instance, x: int) -> int:  # the callee never answers
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async with _host(config, fail) as host:
        callee = await host.spawn(host.load(wasm["raiser"]))
        spawner = await host.spawn(host.load(wasm["spawner"]))
        with trio.fail_after(10):  # spawner's process.call has a 1 s timeout
            reply = await host.call(spawner, f"relay:{callee.id:016x}hello", timeout=20)
        assert reply == "error:1"  # call-error case 1: timeout
        assert host.is_alive(spawner)
        host.kill(callee)


async def test_a_call_cycle_across_two_threads_is_a_deadlock_not_a_timeout(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(config, scheduler_threads=2, activation_timeout=30.0)
    async with hostkit.open_host(cfg) as host:
        spawner = host.load(wasm["spawner"])
        a, b = await host.spawn(spawner), await host.spawn(spawner)
        # a calls b (a suspends), b calls a back: a cycle of waiting calls
        with trio.fail_after(10):  # each process.call's own timeout is 1 s
            reply = await host.call(a, f"relay:{b.id:016x}relay:{a.id:016x}hi", timeout=25)
        assert reply == "error:3"  # call-error case 3: deadlock
