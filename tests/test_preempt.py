"""Preemption: activations yield their thread at slice ends (issue 11).

Behaviour, not timing: every deadline here is far longer than what the
behaviour needs, and the guests spin forever, so without preemption the
tests fail by timing out rather than by a close race.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from wasmtime import _ffi as ffi

import hostkit
from hostkit._frames import frame
from hostkit.runtime._wasm import (
    DONE,
    SUSPENDED,
    YIELDED,
    HostFunction,
    Instance,
    Limits,
    WasmEngine,
    _capi,
    current_instance,
)

pytestmark = pytest.mark.filterwarnings("error")


def _spinning(config: hostkit.HostConfig, threads: int, **kw: object) -> hostkit.HostConfig:
    """A host whose activations could spin for 30 s without preemption."""
    return dataclasses.replace(
        config,
        scheduler_threads=threads,
        activation_timeout=30.0,
        fuel_per_activation=None,
        **kw,  # type: ignore[arg-type]
    )


async def _until(predicate: object, seconds: float = 10.0) -> None:
    with trio.fail_after(seconds):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.005)


async def test_an_echo_actor_answers_while_two_spinners_hold_both_threads(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_spinning(config, 2)) as host:
        loop = host.load(wasm["loop"])
        spinners = [await host.spawn(loop), await host.spawn(loop)]
        echo = await host.spawn(host.load(wasm["echo"]))
        for pid in spinners:
            host.send(pid, "spin")
        sched = host._sched
        await _until(lambda: sched.yields >= 4)  # both are spinning, and yielding
        with trio.fail_after(10):  # without preemption: 30 s
            for i in range(20):
                assert await host.call(echo, f"hi {i}") == f"hi {i}"
        assert all(host.is_alive(pid) for pid in spinners)
        assert {a["state"] for a in host.actors() if a["pid"] in spinners} <= {
            "queued",
            "running",
        }
        for pid in spinners:
            host.kill(pid)


async def test_kill_ends_a_yielded_spinner_without_resuming_it(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_spinning(config, 1)) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        echo = await host.spawn(host.load(wasm["echo"]))
        host.send(spinner, "spin")
        await _until(lambda: host._sched.yields >= 2)
        assert await host.call(echo, "still served") == "still served"
        with trio.fail_after(10):
            host.kill(spinner)
            reason = await host.wait(spinner)
        assert reason.kind == "killed"
        assert await host.call(echo, "after") == "after"


async def test_the_deadline_keeps_counting_across_yields(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(_spinning(config, 1), activation_timeout=0.5)
    async with hostkit.open_host(cfg) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        echo = await host.spawn(host.load(wasm["echo"]))
        host.send(spinner, "spin")
        await _until(lambda: host._sched.yields >= 2)
        assert await host.call(echo, "served meanwhile") == "served meanwhile"
        with trio.fail_after(10):  # a deadline re-armed at every resume never comes
            reason = await host.wait(spinner)
        assert reason.kind == "deadline"
        assert host._sched.yields >= 10  # it was yielding all along


async def test_fuel_keeps_counting_across_yields(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(_spinning(config, 1), fuel_per_activation=300_000_000)
    async with hostkit.open_host(cfg) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        echo = await host.spawn(host.load(wasm["echo"]))
        host.send(spinner, "spin")
        await _until(lambda: host._sched.yields >= 2)
        assert await host.call(echo, "served meanwhile") == "served meanwhile"
        with trio.fail_after(20):  # fuel re-armed at every resume never runs out
            reason = await host.wait(spinner)
        assert reason.kind == "fuel"


async def test_a_yielded_call_resumes_on_whichever_thread_is_free(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_spinning(config, 2)) as host:
        loop = host.load(wasm["loop"])
        spinners = [await host.spawn(loop) for _ in range(3)]
        for pid in spinners:
            host.send(pid, "spin")
        await _until(lambda: host._sched.migrations >= 3)
        for pid in spinners:
            host.kill(pid)
            assert (await host.wait(pid)).kind == "killed"


async def test_a_stop_request_lets_a_yielded_call_finish_first(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(_spinning(config, 1), activation_timeout=0.5)
    async with hostkit.open_host(cfg) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        host.send(spinner, "spin")
        await _until(lambda: host._sched.yields >= 2)
        host.stop(spinner)  # graceful: never re-enters the suspended instance
        with trio.fail_after(10):
            assert (await host.wait(spinner)).kind == "deadline"


def test_slice_seconds_is_validated() -> None:
    with pytest.raises(ValueError, match="slice_seconds"):
        hostkit.HostConfig(slice_seconds=0)
    with pytest.raises(ValueError, match="slice_seconds"):
        hostkit.HostConfig(slice_seconds=3.0, activation_timeout=2.0)
    with pytest.raises(ValueError, match="max_pending_host_calls"):
        hostkit.HostConfig(max_pending_host_calls=0)


# -- one suspended call, resumed on alternating threads thousands of times -----


class _NoProcess:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the guest called process.{name}")


def test_a_call_resumed_on_alternating_threads_thousands_of_times(
    wasm: dict[str, Path],
) -> None:
    """Drive one deliver of ``preempt_burner`` from two threads taking
    turns, with an epoch callback that yields at every epoch check (so at
    every loop iteration: ~3,000 yields): its host imports must see their
    own instance (TLS is set on every poll) and the result must be exactly
    what an uninterrupted run gives."""
    seen: list[tuple[int, bool]] = []
    box: list[Instance] = []

    def bump(inst: object, x: int) -> int:
        seen.append((threading.get_ident(), current_instance() is box[0]))
        return x * 3 + 1

    engine = WasmEngine(
        process_api=_NoProcess(),  # type: ignore[arg-type]
        host_functions=[HostFunction("hostkit:test/hooks@0.1.0", "fail", bump)],
        cache_dir=None,
        tick_seconds=0.01,
        fuel=True,
        wasi=False,
        max_component_bytes=1 << 26,
    )
    comp = engine.compile("preempt_burner", wasm["preempt_burner"].read_bytes())
    limits = Limits(1 << 26, 10_000, 64, 64, 16)
    far = time.monotonic() + 120
    inst = Instance(
        engine, comp, limits=limits, fuel=10**9, deadline=far,
        host_call_budget=100, stdio=None, owner=None,
    )  # fmt: skip
    box.append(inst)

    @_capi.DeadlineCb  # type: ignore[misc]
    def always_yield(ctx: object, data: object, delta: Any, kind: Any) -> int:
        delta[0] = 0  # the deadline is "now" again once resumed
        kind[0] = 1  # WASMTIME_UPDATE_DEADLINE_YIELD
        return 0

    ffi.wasmtime_store_epoch_deadline_callback(
        inst.store.ptr(), always_yield, 0, _capi.noop_finalizer
    )

    turns = [queue.SimpleQueue[int](), queue.SimpleQueue[int]()]
    polls: list[tuple[int, int]] = []
    outcome: list[int] = []

    def poller(me: int) -> None:
        while turns[me].get():
            state = inst.step()
            polls.append((threading.get_ident(), state))
            if state == DONE:
                outcome.append(state)
                turns[1 - me].put(0)
                return
            turns[1 - me].put(1)

    threads = [threading.Thread(target=poller, args=(i,), daemon=True) for i in (0, 1)]
    for t in threads:
        t.start()
    inst.begin_deliver(frame(b"q", 1, 7, b"abcd"), 10**9, far)
    engine.engine.increment_epoch()  # past the armed deadline: the callback runs from now on
    turns[0].put(1)
    for t in threads:
        t.join(60)
    assert outcome == [DONE]
    assert not any(s == SUSPENDED for _, s in polls)
    yields = sum(1 for _, s in polls if s == YIELDED)
    assert yields >= 3000, yields
    assert len({ident for ident, _ in polls}) == 2
    switches = sum(1 for a, b in itertools.pairwise(polls) if a[0] != b[0])
    assert switches == len(polls) - 1  # every poll ran on the other thread
    # x: 4 -> 13 -> 40 -> 121, each host call on its own instance
    assert inst.take_outbox() == frame(b"r", 1, 7, b"121")
    assert len(seen) == 3 and all(ok for _, ok in seen)
    inst.drop()
    engine.close()


async def test_a_large_pool_reserves_fiber_stacks_within_the_mapping_limit(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """Every guest call runs on a fiber stack and a Store keeps its last one,
    so the pool reserves one per actor; each has a guard-page mapping, made
    when the engine is built (wasmtime aborts the process if that fails)."""
    from hostkit.runtime._wasm._pool import fiber_stacks

    with open("/proc/sys/vm/max_map_count") as f:
        limit = int(f.read())
    assert fiber_stacks(1_000_000) <= (limit - 16_384) // 2
    assert fiber_stacks(10) == 10
    cfg = dataclasses.replace(config, pool_instances=100_000, max_memory_bytes=1 << 20)
    async with hostkit.open_host(cfg) as host:  # before the bound: the process aborted here
        pid = await host.spawn(host.load(wasm["echo"]))
        assert await host.call(pid, "pooled") == "pooled"


async def test_a_host_send_runs_while_guests_keep_one_thread_busy_with_local_work(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """Two ring actors pass a token back and forth for ever on the only
    thread's local deque; a cast from host code (the shared queue, where
    yielded actors go too) must still get its turn, not wait for the ring
    to stop (which it never does)."""
    async with hostkit.open_host(_spinning(config, 1)) as host:
        ring = host.load(wasm["ring"])
        a, b = await host.spawn(ring), await host.spawn(ring)
        echo = await host.spawn(host.load(wasm["echo"]))
        host.send(a, f"N{b.id:016x}")
        host.send(b, f"N{a.id:016x}")
        host.send(a, f"T{0x7FFFFFFF:08x}")  # ~2 billion hops
        await trio.sleep(0.05)  # the token is circulating
        host.send(echo, "stop")  # handled only if the shared queue gets a turn
        with trio.fail_after(10):
            reason = await host.wait(echo)
        assert reason.kind == "normal"
        assert host.is_alive(a) and host.is_alive(b)
        host.kill(a)
        host.kill(b)
