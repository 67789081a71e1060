"""Exits off the Trio thread's critical path (issue 11, items 5 and 9).

- A supervisor stopping idle actor children reports each one as soon as its
  ``host.exit`` returns, yet still one after another in reverse start order,
  each after the last one exited (trapping actors and task children in the
  middle are still waited for).
- A host monitor's DOWN fires inside the ``host.kill`` that ended an idle actor.
- A dead actor's Store is deleted on the reaper thread, not the Trio thread,
  and a spawn at the pool's ceiling right after an exit still gets the slot
  (the spawn flushes the reaper before giving up).

Timing claims live in ``benchmarks/bench_supervision.py``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import replace
from pathlib import Path

import pytest
import trio

import hostkit
from hostkit import ExitReason, Pid
from hostkit.runtime._reaper import Reaper
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags, TaskStart, open_supervisor


async def test_a_supervisor_stops_its_children_one_by_one_in_reverse_start_order(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    echo = host.load(wasm["echo"])
    ended: list[str] = []  # ids, in the order the children ended
    ids: dict[Pid, str] = {}
    host.add_exit_hook(lambda pid, reason: ended.append(ids.get(pid, "?")))
    reasons: dict[str, ExitReason] = {}
    host.add_exit_hook(lambda pid, reason: reasons.__setitem__(ids.get(pid, "?"), reason))

    async def task_child() -> None:
        try:
            await trio.sleep_forever()
        finally:
            ended.append("task")

    children = [ChildSpec(f"a{i}", ActorStart(echo)) for i in range(4)]
    children.append(ChildSpec("task", TaskStart(task_child)))
    # traps exits: the shutdown arrives as a message echo ignores, so it is
    # killed once its shutdown passes -- the children before it wait for that
    children.append(ChildSpec("trapper", ActorStart(echo, trap_exit=True), shutdown=0.2))
    children += [ChildSpec(f"b{i}", ActorStart(echo)) for i in range(4)]
    async with open_supervisor(host, SupervisorFlags(), children) as s:
        for child in s.which_children():
            if child.pid is not None:
                ids[child.pid] = child.id
        await s.stop()
        assert ended == [spec.id for spec in reversed(children)]
        assert reasons["trapper"].kind == "killed"
        assert all(reasons[f"{p}{i}"].kind == "shutdown" for p in "ab" for i in range(4))
        assert not any(host.is_alive(pid) for pid in ids)
        assert s.exit_reason is not None and s.exit_reason.kind == "shutdown"


async def test_idle_actor_children_are_stopped_within_the_stop_request(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    # Not a scheduling round per child: the stop of a run of idle,
    # non-trapping actors is reported as each host.exit returns, so the
    # whole supervisor is done before the requesting task next yields.
    echo = host.load(wasm["echo"])
    children = [ChildSpec(f"a{i}", ActorStart(echo)) for i in range(20)]
    async with open_supervisor(host, SupervisorFlags(), children) as s:
        pids = [c.pid for c in s.which_children()]
        s._request_stop()  # what stop() does before it waits
        assert s.exit_reason is not None and s.exit_reason.kind == "shutdown"
        assert not any(host.is_alive(pid) for pid in pids if pid is not None)
        await s.stop()  # returns at once; the watchers wake and report nothing more
        assert [c.status.value for c in s.which_children()] == ["terminated"] * 20


async def test_a_host_monitor_gets_its_down_inside_the_kill_of_an_idle_actor(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    monitor = host.monitor(pid)
    host.kill(pid)
    down = monitor.down  # no checkpoint in between
    assert down is not None and down.kind == "killed"
    assert (await monitor.wait()) == down
    assert (await host.wait(pid)).kind == "killed"


async def test_a_dead_actors_store_is_deleted_off_the_trio_thread(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    instance = host._sched.actors[pid.id].instance
    assert instance is not None
    deleted_on: list[int] = []
    weakref.finalize(instance.store, lambda: deleted_on.append(threading.get_ident()))
    del instance
    host.kill(pid)
    await trio.to_thread.run_sync(host.flush_dropped)
    assert len(deleted_on) == 1
    assert deleted_on[0] != threading.get_ident()


class _Blocker:
    """Holds the reaper in its ``__del__`` until released (or 10 s)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def __del__(self) -> None:
        self.release.wait(10)


async def test_a_spawn_at_the_pool_ceiling_right_after_a_kill_gets_the_freed_slot(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = replace(config, max_memory_bytes=16 * 1024 * 1024, pool_instances=2)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        first, second = await host.spawn(echo), await host.spawn(echo)
        release = threading.Event()
        host._reaper.reap(_Blocker(release))  # the reaper is busy...
        host.kill(first)  # ...so first's slot is not given back yet
        async with trio.open_nursery() as nursery:

            async def spawn() -> None:
                fresh = await host.spawn(echo)
                assert await host.call(fresh, "mine") == "mine"

            nursery.start_soon(spawn)
            await trio.sleep(0.05)  # the spawn meets the full pool and flushes
            release.set()
        assert await host.call(second, "still here") == "still here"
        with pytest.raises(hostkit.SpawnError, match="pool_instances=2"):
            await host.spawn(echo)


def test_the_reaper_deletes_inline_when_not_running_and_flush_waits() -> None:
    reaper = Reaper()
    gone: list[str] = []

    class Thing:
        def __init__(self, name: str) -> None:
            self.name = name

        def __del__(self) -> None:
            gone.append(self.name)

    reaper.reap(Thing("before start"))
    assert gone == ["before start"]
    reaper.start()
    for i in range(100):
        reaper.reap(Thing(str(i)))
    reaper.flush()
    assert gone[1:] == [str(i) for i in range(100)]
    reaper.stop()
    reaper.stop()  # idempotent
    reaper.reap(Thing("after stop"))
    assert gone[-1] == "after stop"


async def test_a_host_call_times_out_or_is_cancelled_cleanly_and_the_next_gets_its_own_reply(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    with pytest.raises(hostkit.CallTimeout, match="within 0 s"):
        await host.call(pid, "too late", timeout=0)
    with trio.CancelScope() as scope:
        scope.cancel()
        await host.call(pid, "cancelled")
    assert scope.cancelled_caught
    for i in range(50):
        assert await host.call(pid, f"m{i}") == f"m{i}"
    assert not host._router.calls  # no reply slot left behind


async def test_the_core_instance_pool_refuses_a_spawn_cleanly_and_the_host_serves_and_closes(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    # (instances and memories: test_pool.py; tables: no WAT guest defines
    # one, their message is checked in test_pool.py)
    field, what = "pool_core_instances", "core instance slots"
    cfg = replace(config, max_memory_bytes=16 * 1024 * 1024, pool_instances=64)
    tight = replace(cfg, **{field: 6})  # type: ignore[arg-type]
    async with hostkit.open_host(tight) as host:
        echo = host.load(wasm["echo"])
        live: list[Pid] = []
        with pytest.raises(hostkit.SpawnError, match=f"{what}.*HostConfig.{field}=6") as info:
            for _ in range(64):  # until that pool is full
                live.append(await host.spawn(echo))
        assert "instance pool is full" in str(info.value)
        assert live, f"not even one echo fits in 6 {what}"
        with pytest.raises(hostkit.SpawnError, match=f"HostConfig.{field}=6"):
            await host.spawn(echo)  # a second refusal is as clean
        assert len(host.actors()) == len(live)
        assert [await host.call(pid, "up") for pid in live] == ["up"] * len(live)
        host.kill(live[0])  # its slots come back for the next spawn
        again = await host.spawn(echo)
        assert await host.call(again, "again") == "again"
    assert not any(host.is_alive(pid) for pid in [*live, again])


async def test_a_guest_spawn_at_the_pool_ceiling_gets_an_error_and_both_keep_running(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = replace(config, max_memory_bytes=16 * 1024 * 1024, pool_instances=2)
    async with hostkit.open_host(cfg) as host:
        host.load(wasm["echo"])
        spawner = await host.spawn(host.load(wasm["spawner"]))
        child = await host.call(spawner, "spawn:echo")
        assert child.isdigit()  # the second slot
        refused = await host.call(spawner, "spawn:echo")
        assert refused.startswith("error:") and "pool_instances=2" in refused
        assert await host.call(spawner, "self") == str(spawner.id)
        assert await host.call(Pid(int(child), host.node, host.creation), "hi") == "hi"


def test_a_flush_racing_the_reapers_stop_returns() -> None:
    reaper = Reaper()
    reaper.start()
    thread = reaper._thread
    assert thread is not None
    waiters = [threading.Thread(target=reaper.flush) for _ in range(8)]
    for w in waiters:
        w.start()
    reaper.stop()
    for w in waiters:
        w.join(5)
    assert not any(w.is_alive() for w in waiters)
    assert not thread.is_alive()
