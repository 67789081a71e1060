"""Host spawns grouped into batches (``hostkit/runtime/_spawn.py``): every
spawner gets its pid or its SpawnError, every spawn is audited once, nothing
is left SPAWNING, and a batch wakes the Trio thread once, not per spawn."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import hostkit
from hostkit.audit import AuditLog, MemorySink
from hostkit.runtime import _handles, _spawn

HOOKS = "hostkit:test/hooks@0.1.0"


def _records(sink: MemorySink, event: str) -> list[dict[str, Any]]:
    return [r for r in sink.records() if r["event"] == event]


async def _settle(host: hostkit.Host) -> None:
    """Wait until no actor is SPAWNING (a killed spawn ends on its thread)."""
    with trio.fail_after(10):
        while any(a["state"] == "spawning" for a in host.actors()):
            await trio.sleep(0.01)


async def test_concurrent_spawns_some_failing_each_get_a_pid_or_an_error_and_one_record(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    sink = MemorySink()
    async with hostkit.open_host(config, audit=AuditLog([sink])) as host:
        echo = host.load(wasm["echo"])
        trap = host.load(wasm["trap"])
        pids: list[hostkit.Pid] = []
        errors: list[str] = []

        async def spawner(k: int) -> None:
            for i in range(10):
                # every third spawn fails: its init traps or returns an error
                comp, args = (trap, ("trap", "nope")[i % 2]) if (k + i) % 3 == 0 else (echo, "")
                try:
                    pids.append(await host.spawn(comp, args))
                except hostkit.SpawnError as exc:
                    errors.append(str(exc))

        async with trio.open_nursery() as nursery:
            for k in range(24):
                nursery.start_soon(spawner, k)
        assert len(pids) + len(errors) == 240
        assert len(errors) == 80
        assert all("failed" in e for e in errors)
        assert len(set(pids)) == len(pids)
        for pid in pids[:: len(pids) // 10]:
            assert await host.call(pid, "still here") == "still here"
        assert {a["pid"] for a in host.actors()} == set(pids)
        spawned = Counter(r["actor"] for r in _records(sink, "spawn"))
        assert spawned == Counter(str(p) for p in pids)  # one record per pid
        assert len(_records(sink, "spawn-refused")) == 80


async def test_cancelled_spawners_leave_nothing_spawning_and_every_spawn_is_recorded(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    sink = MemorySink()
    async with hostkit.open_host(config, audit=AuditLog([sink])) as host:
        echo = host.load(wasm["echo"])
        pids: list[hostkit.Pid] = []
        cancelled = 0

        async def spawner(k: int) -> None:
            nonlocal cancelled
            for i in range(8):
                with trio.CancelScope() as scope:
                    if (k + i) % 4 == 0:
                        scope.cancel()  # cancelled while its actor waits in a batch
                    pids.append(await host.spawn(echo))
                cancelled += scope.cancelled_caught

        async with trio.open_nursery() as nursery:
            for k in range(16):
                nursery.start_soon(spawner, k)
        assert cancelled == 32 and len(pids) == 96
        await _settle(host)
        live = {a["pid"] for a in host.actors()}
        assert live == set(pids)  # the cancelled spawns' actors were killed
        # each of the 128 spawns is recorded once, as a spawn or a refusal,
        # whether or not its spawner was still there to hear of it
        spawns, refused = _records(sink, "spawn"), _records(sink, "spawn-refused")
        assert len(spawns) + len(refused) == 128
        assert {r["actor"] for r in spawns} >= {str(p) for p in pids}
        exits = {r["actor"] for r in _records(sink, "exit")}
        assert {r["actor"] for r in spawns} - {str(p) for p in pids} <= exits


async def test_spawns_of_one_batch_wake_the_trio_thread_once(
    cache_dir: Path, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # one thread and no time cap: 16 spawns queued together run as one batch
    monkeypatch.setattr(_spawn, "_BATCH_SECONDS", 3600.0)
    wakes = 0
    wake = _handles.TrioInbox.wake

    def counting(self: _handles.TrioInbox, fn: Any) -> None:
        nonlocal wakes
        wakes += 1
        wake(self, fn)

    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        await host.spawn(echo)  # warm
        monkeypatch.setattr(_handles.TrioInbox, "wake", counting)
        pids: list[hostkit.Pid] = []

        async def one() -> None:
            pids.append(await host.spawn(echo))

        async with trio.open_nursery() as nursery:
            for _ in range(16):
                nursery.start_soon(one)
        assert len(set(pids)) == 16
        # 16 without batching (a flush per activation); the first spawn may
        # start before the others join its batch, so allow one more
        assert wakes <= 2


async def test_a_running_batch_leaves_half_to_an_idle_thread_once_inits_are_long(
    config: hostkit.HostConfig, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_spawn, "_BATCH_SECONDS", 3600.0)
    monkeypatch.setattr(_spawn, "_SERIAL_INIT_SECONDS", 3600.0)  # inits count as short
    first = threading.Event()
    threads: Counter[int] = Counter()

    def fail(inst: Any, x: int) -> int:  # what preempt_initcall's init calls
        threads[threading.get_ident()] += 1
        first.wait(10)  # the first init waits until all 16 spawns are queued
        time.sleep(0.005)  # every init is slow: one thread alone would take all
        return x

    cfg = dataclasses.replace(config, scheduler_threads=2, activation_timeout=30.0)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        comp = host.load(wasm["preempt_initcall"])
        first.set()
        async with trio.open_nursery() as nursery:
            for _ in range(4):  # some run inline in a batch: the lane measures them
                nursery.start_soon(host.spawn, comp)
        first.clear()  # from here one batch at a time: inits count as short
        threads.clear()
        pids: list[hostkit.Pid] = []

        async def one() -> None:
            pids.append(await host.spawn(comp))

        async with trio.open_nursery() as nursery:
            for _ in range(16):
                nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()  # one batch of 16, one running
            monkeypatch.setattr(_spawn, "_SERIAL_INIT_SECONDS", 0.0)  # now inits are long
            first.set()
        assert len(set(pids)) == 16
        assert len(threads) == 2, threads  # the running batch shared its rest


async def test_spawns_of_a_component_not_measured_yet_start_on_every_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    both = threading.Barrier(2, timeout=10)

    def fail(inst: Any, x: int) -> int:
        both.wait()  # returns only once two inits run at the same time
        return x

    cfg = dataclasses.replace(config, scheduler_threads=2, activation_timeout=30.0)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        comp = host.load(wasm["preempt_initcall"])
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(host.spawn, comp)
        assert not both.broken


async def test_a_host_error_mid_spawn_fails_that_spawn_and_not_its_batch(
    config: hostkit.HostConfig, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dataclasses.replace(config, scheduler_threads=1)
    sink = MemorySink()
    async with hostkit.open_host(config, audit=AuditLog([sink])) as host:
        echo = host.load(wasm["echo"])
        sched = host._sched
        build = sched._build  # a host spawn's instantiation step
        broken: set[int] = set()

        def flaky(actor: Any, start: bool = True) -> Any:
            if actor.init_args == b"boom":
                broken.add(actor.id)
                raise RuntimeError("a bug in the host")  # not a guest fault
            return build(actor, start)

        monkeypatch.setattr(sched, "_build", flaky)
        results: list[object] = []

        async def one(args: str) -> None:
            try:
                results.append(await host.spawn(echo, args))
            except hostkit.SpawnError as exc:
                results.append(exc)

        with trio.fail_after(10):  # a spawner left waiting fails here
            async with trio.open_nursery() as nursery:
                for i in range(12):
                    nursery.start_soon(one, "boom" if i in (0, 5) else "")
        errors = [r for r in results if isinstance(r, hostkit.SpawnError)]
        assert len(results) == 12 and len(errors) == 2 and len(broken) == 2
        assert all("host-error" in str(e) for e in errors)
        await _settle(host)
        assert len(host.actors()) == 10
        assert len(_records(sink, "spawn")) == 10
        assert len(_records(sink, "spawn-refused")) == 2


async def test_closing_the_host_ends_queued_spawns_with_an_error(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    config = dataclasses.replace(config, scheduler_threads=1)
    outcomes: list[object] = []
    async with trio.open_nursery() as nursery, hostkit.open_host(config) as host:
        echo = host.load(wasm["echo"])

        async def one() -> None:
            try:
                outcomes.append(await host.spawn(echo))
            except hostkit.SpawnError as exc:
                outcomes.append(exc)

        for _ in range(40):
            nursery.start_soon(one)
        await trio.testing.wait_all_tasks_blocked()  # all 40 queued; close at once
    assert len(outcomes) == 40  # none left waiting
    assert all(isinstance(o, hostkit.Pid | hostkit.SpawnError) for o in outcomes)


async def test_a_component_with_short_inits_spawns_on_one_thread_at_a_time(
    cache_dir: Path, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # every init counts as short, and no time cap: one lane, one thread
    monkeypatch.setattr(_spawn, "_SERIAL_INIT_SECONDS", 3600.0)
    monkeypatch.setattr(_spawn, "_BATCH_SECONDS", 3600.0)
    cfg = hostkit.HostConfig(scheduler_threads=2, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        sched = host._sched
        build = sched._build  # a host spawn's instantiation step
        lock = threading.Lock()
        running = most = 0

        def counting(actor: Any, start: bool = True) -> Any:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                return build(actor, start)
            finally:
                with lock:
                    running -= 1

        async def burst() -> list[hostkit.Pid]:
            pids: list[hostkit.Pid] = []

            async def one() -> None:
                pids.append(await host.spawn(echo))

            async with trio.open_nursery() as nursery:
                for _ in range(48):
                    nursery.start_soon(one)
            return pids

        await burst()  # the lane learns that echo's inits are short
        monkeypatch.setattr(sched, "_build", counting)
        assert len(set(await burst())) == 48
        assert most == 1  # two threads instantiating tiny guests only fight for the GIL


async def test_a_slow_init_does_not_hold_up_another_components_spawns(
    config: hostkit.HostConfig, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_spawn, "_SERIAL_INIT_SECONDS", 3600.0)  # every lane one-wide
    release = threading.Event()

    def fail(inst: Any, x: int) -> int:
        release.wait(10)
        return x

    cfg = dataclasses.replace(config, scheduler_threads=2, activation_timeout=30.0)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        slow = host.load(wasm["preempt_initcall"])
        echo = host.load(wasm["echo"])
        async with trio.open_nursery() as nursery:
            for _ in range(8):  # some run inline in a batch: echo's lane measures them
                nursery.start_soon(host.spawn, echo)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(host.spawn, slow)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(5):  # lanes are per component
                pids = [await host.spawn(echo) for _ in range(5)]
            release.set()
        assert len(set(pids)) == 5


async def test_a_batch_goes_on_while_its_first_spawns_init_spins(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """The first spawn of a batch runs the rest when it reports; an init
    that yields at a slice (it spins) reports only when it ends, so the
    rest of its batch must run when it parks, not behind it."""
    cfg = dataclasses.replace(
        config, scheduler_threads=1, activation_timeout=30.0, fuel_per_activation=None
    )
    async with hostkit.open_host(cfg) as host:
        loop = host.load(wasm["loop"])  # init args "init": init spins (to its deadline)
        spinner: list[hostkit.Pid] = []
        pids: list[hostkit.Pid] = []

        async def spin() -> None:
            spinner.append(await host.spawn(loop, "init"))

        async def one() -> None:
            pids.append(await host.spawn(loop))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(spin)
            await trio.lowlevel.checkpoint()  # queued first: it leads the batch
            with trio.fail_after(10):  # not the spinner's 30 s deadline
                async with trio.open_nursery() as others:
                    for _ in range(10):
                        others.start_soon(one)
            assert len(pids) == 10 and not spinner
            for pid in pids:
                assert await host.call(pid, "hi") == "hi"
            nursery.cancel_scope.cancel()  # the spinner's spawn: its actor is killed
