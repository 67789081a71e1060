"""``init`` and ``terminate`` are preemptible (issue 11): they yield at
slices and suspend in async host functions like ``deliver``, and a guest's
``process.spawn`` waits for the child's ``init`` without holding a thread.

Behaviour, not timing: the hosts here have ONE scheduler thread and 30 s
deadlines, and the spinning guests spin forever, so without preemption
every test fails by timing out (``fail_after(10)``) rather than by a race.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import hostkit
from hostkit.audit import AuditLog
from hostkit.runtime import ComponentLimits
from hostkit.runtime._wasm import Instance
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags, open_supervisor
from hostkit.testing import AuditCapture, capture_audit

pytestmark = pytest.mark.filterwarnings("error")

HOOKS = "hostkit:test/hooks@0.1.0"


@pytest.fixture
def records() -> Any:
    with capture_audit() as captured:
        yield captured


def _one_thread(config: hostkit.HostConfig, **kw: Any) -> hostkit.HostConfig:
    """One scheduler thread; guest calls could spin for 30 s unpreempted."""
    return dataclasses.replace(
        config,
        scheduler_threads=1,
        activation_timeout=30.0,
        fuel_per_activation=None,
        **kw,
    )


async def _until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with trio.fail_after(seconds):
        while not predicate():
            await trio.sleep(0.005)


def _pids_of(host: hostkit.Host, component: str) -> list[hostkit.Pid]:
    return [a["pid"] for a in host.actors() if a["component"] == component]


async def _echoes(host: hostkit.Host, echo: hostkit.Pid, n: int = 20) -> None:
    with trio.fail_after(10):  # without preemption: 30 s
        for i in range(n):
            assert await host.call(echo, f"hi {i}") == f"hi {i}"


#: guests that spin while being spawned: in ``init``, or in a core start
#: function (instantiation runs guest code too), and what a kill then says
SPINNING_SPAWNS = [("initslice_initspin", "init"), ("initslice_startspin", "instantiation")]


@pytest.mark.parametrize(("guest", "step"), SPINNING_SPAWNS)
async def test_an_echo_actor_answers_while_a_spawn_spins_and_a_kill_fails_that_spawn(
    config: hostkit.HostConfig, wasm: dict[str, Path], guest: str, step: str
) -> None:
    async with hostkit.open_host(_one_thread(config)) as host:
        echo = await host.spawn(host.load(wasm["echo"]))
        spin = host.load(wasm[guest])
        errors: list[str] = []

        async def spawn_it() -> None:
            with pytest.raises(hostkit.SpawnError) as info:
                await host.spawn(spin)
            errors.append(str(info.value))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(spawn_it)
            sched = host._sched
            await _until(lambda: sched.yields >= 3)  # it is yielding
            await _echoes(host, echo)
            [pid] = _pids_of(host, guest)
            assert {a["state"] for a in host.actors() if a["pid"] == pid} == {"spawning"}
            host.kill(pid)  # yielded (or running): ended without re-entry
        assert len(errors) == 1 and f"{step} failed (killed)" in errors[0]
        assert not host.is_alive(pid)
        assert await host.call(echo, "still here") == "still here"
    assert host._closed


@pytest.mark.parametrize(("guest", "step"), SPINNING_SPAWNS)
async def test_a_spawn_still_ends_at_its_deadline_across_yields(
    config: hostkit.HostConfig, wasm: dict[str, Path], guest: str, step: str
) -> None:
    cfg = dataclasses.replace(_one_thread(config), activation_timeout=0.3)
    async with hostkit.open_host(cfg) as host:
        with (
            trio.fail_after(10),
            pytest.raises(hostkit.SpawnError, match=rf"{step} failed \(deadline\)"),
        ):
            await host.spawn(host.load(wasm[guest]))
        assert host._sched.yields >= 2  # it did yield before the deadline ended it
        assert _pids_of(host, guest) == []
        echo = await host.spawn(host.load(wasm["echo"]))
        assert await host.call(echo, "after") == "after"


async def test_closing_the_host_ends_an_init_in_flight(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    errors: list[str] = []
    cfg = _one_thread(config, shutdown_timeout=20.0)
    with trio.fail_after(10):  # the init would spin for 30 s, or 20 s of shutdown_timeout
        async with hostkit.open_host(cfg) as host:
            spin = host.load(wasm["initslice_initspin"])

            async def spawn_it() -> None:
                with pytest.raises(hostkit.SpawnError) as info:
                    await host.spawn(spin)
                errors.append(str(info.value))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(spawn_it)
                await _until(lambda: host._sched.yields >= 2)
                await host.aclose()
    assert host._closed
    assert len(errors) == 1 and "init failed" in errors[0]


async def test_an_async_host_function_called_from_init_holds_no_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """One thread: init waits in an async hook for an event that only
    another actor's call (run on that same thread) sets."""
    release = trio.Event()
    waiting = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        if inst.component.name == "preempt_initcall":  # in init: wait for the other actor
            waiting.set()
            await release.wait()
        else:  # the other actor's call
            release.set()
        return x + 1

    cfg = _one_thread(config)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        burner = await host.spawn(host.load(wasm["preempt_burner"]))
        initcall = host.load(wasm["preempt_initcall"])
        pids: list[hostkit.Pid] = []

        async def spawn_it() -> None:
            pids.append(await host.spawn(initcall, "abcd"))

        with trio.fail_after(10):  # without suspension: the init holds the thread 30 s
            async with trio.open_nursery() as nursery:
                nursery.start_soon(spawn_it)
                await waiting.wait()
                [pid] = _pids_of(host, "preempt_initcall")
                assert {a["state"] for a in host.actors() if a["pid"] == pid} == {"spawning"}
                # the burner's call runs on the thread the init would hold
                assert await host.call(burner, "ab") == "5"
        assert await host.call(pids[0], "?") == "5"  # init got its hook's value


async def test_an_async_host_function_called_from_terminate_holds_no_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """One thread: terminate waits in an async hook for an event that only
    another actor's call (run on that same thread) sets; the exit completes
    when terminate returns."""
    release = trio.Event()
    waiting = trio.Event()

    async def fail(inst: Instance, x: int) -> int:
        if inst.component.name == "initslice_termhook":  # in terminate
            waiting.set()
            await release.wait()
        else:  # the other actor's call
            release.set()
        return x + 1

    cfg = _one_thread(config)
    async with hostkit.open_host(cfg, host_functions={HOOKS: {"fail": fail}}) as host:
        burner = await host.spawn(host.load(wasm["preempt_burner"]))
        stopping = await host.spawn(host.load(wasm["initslice_termhook"]))
        host.stop(stopping)
        with trio.fail_after(10):  # without suspension: terminate holds the thread 30 s
            await waiting.wait()
            assert host.is_alive(stopping)
            assert await host.call(burner, "ab") == "5"
            assert await host.wait(stopping) == hostkit.ExitReason("shutdown")


async def test_an_echo_actor_answers_while_a_terminate_spins_and_a_kill_ends_it(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    async with hostkit.open_host(_one_thread(config), audit=AuditLog()) as host:
        echo = await host.spawn(host.load(wasm["echo"]))
        stubborn = await host.spawn(host.load(wasm["initslice_termspin"]))
        host.stop(stubborn)
        sched = host._sched
        await _until(lambda: sched.yields >= 3)  # its terminate is yielding
        await _echoes(host, echo)
        assert host.is_alive(stubborn)  # the exit completes when terminate ends
        host.kill(stubborn)
        with trio.fail_after(10):
            reason = await host.wait(stubborn)
        assert reason.kind == "killed"
        assert await host.call(echo, "still here") == "still here"
    exits = records.where(event="exit", actor=str(stubborn))
    assert len(exits) == 1 and exits[0]["detail"].startswith("killed")


async def test_a_terminate_still_ends_at_its_deadline_with_the_stop_reason(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(_one_thread(config), activation_timeout=0.3)
    async with hostkit.open_host(cfg) as host:
        stubborn = await host.spawn(host.load(wasm["initslice_termspin"]))
        host.stop(stubborn, "normal")
        with trio.fail_after(10):
            assert await host.wait(stubborn) == hostkit.ExitReason("normal")
        assert host._sched.yields >= 2


async def test_a_supervisor_stops_children_whose_terminate_spins_within_their_shutdown(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_one_thread(config)) as host:
        host.load(wasm["initslice_termspin"])
        echo = await host.spawn(host.load(wasm["echo"]))
        reasons: dict[hostkit.Pid, hostkit.ExitReason] = {}
        host.add_exit_hook(reasons.__setitem__)
        children = [
            ChildSpec(f"c{i}", ActorStart("initslice_termspin"), shutdown=0.2) for i in range(3)
        ]
        with trio.fail_after(10):  # without preemption: 3 x 30 s
            async with open_supervisor(host, SupervisorFlags("one_for_one"), children) as sup:
                pids = [c.pid for c in sup.which_children()]
                assert len(pids) == 3
        # each trapped the exit signal, stopped itself, spun in terminate
        # and was killed at the end of its shutdown time
        assert [reasons[p].kind for p in pids if p is not None] == ["killed"] * 3
        assert await host.call(echo, "still here") == "still here"


async def test_a_guest_spawn_whose_child_init_spins_holds_no_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path], records: AuditCapture
) -> None:
    async with hostkit.open_host(_one_thread(config), audit=AuditLog()) as host:
        host.load(wasm["initslice_initspin"])
        echo = await host.spawn(host.load(wasm["echo"]))
        spawner = await host.spawn(host.load(wasm["spawner"]))
        other = await host.spawn(host.load(wasm["spawner"]))
        answers: list[str] = []

        async def ask() -> None:
            answers.append(await host.call(spawner, "spawn:initslice_initspin", timeout=60))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await _until(lambda: len(_pids_of(host, "initslice_initspin")) == 1)
            await _until(lambda: host._sched.yields >= 3)  # the child's init yields
            await _echoes(host, echo)
            with trio.fail_after(10):  # another guest of the same plugin is served too
                assert await host.call(other, "self") == str(other.id)
            [child] = _pids_of(host, "initslice_initspin")
            host.kill(child)
        assert len(answers) == 1 and answers[0].startswith("error:init failed (killed)")
        with trio.fail_after(10):
            assert await host.call(spawner, "self") == str(spawner.id)
        refused = records.where(event="spawn-refused", plugin="initslice_initspin")
        assert [r["actor"] for r in refused] == [str(spawner)]  # attributed to the spawner


async def test_an_outbox_spawn_whose_child_init_spins_holds_no_thread(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_one_thread(config)) as host:
        host.load(wasm["initslice_initspin"])
        echo = await host.spawn(host.load(wasm["echo"]))
        spawner = await host.spawn(host.load(wasm["spawner"]))
        other = await host.spawn(host.load(wasm["spawner"]))
        answers: list[str] = []

        async def ask(what: str) -> None:
            answers.append(await host.call(spawner, what, timeout=60))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "nspawn:initslice_initspin")
            await _until(lambda: len(_pids_of(host, "initslice_initspin")) == 1)
            await _until(lambda: host._sched.yields >= 3)
            await _echoes(host, echo)
            with trio.fail_after(10):  # another guest of the same plugin is served too
                assert await host.call(other, "self") == str(other.id)
            # the spawner itself is held (no thread) until the spawn reports:
            # what follows the `n` frame in its outbox happens after the `p`
            # frame, and it takes no delivery meanwhile (a frame sent to it
            # waits, as it waited while the child's init ran nested)
            assert {a["state"] for a in host.actors() if a["pid"] == spawner} == {"suspended"}
            nursery.start_soon(ask, "self")
            await trio.sleep(0.05)
            assert answers == []
            [child] = _pids_of(host, "initslice_initspin")
            host.kill(child)
        # "0": the `p` frame carries no pid (the spawn failed)
        assert sorted(answers) == sorted(["0", str(spawner.id)])


async def test_a_childs_init_gets_only_what_is_left_of_its_spawners_deadline(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """The child's own deadline is 30 s; its spawner's activation has 0.5 s:
    the child's init (running on its own, after the spawner's activation
    returned) ends when the spawner's deadline does."""
    async with hostkit.open_host(_one_thread(config)) as host:
        host.load(wasm["initslice_initspin"])
        short = ComponentLimits(activation_timeout=0.5)
        spawner = await host.spawn(host.load(wasm["spawner"], limits=short))
        with trio.fail_after(10):  # a fresh deadline: 30 s
            assert await host.call(spawner, "nspawn:initslice_initspin", timeout=60) == "0"
        assert _pids_of(host, "initslice_initspin") == []


async def test_a_spawner_killed_while_waiting_takes_the_childs_init_with_it(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """Nobody could learn the pid of a child whose spawner's call was
    dropped: a child still in init is killed with it."""
    async with hostkit.open_host(_one_thread(config)) as host:
        host.load(wasm["initslice_initspin"])
        spawner = await host.spawn(host.load(wasm["spawner"]))
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                with pytest.raises(hostkit.ActorExited):
                    await host.call(spawner, "spawn:initslice_initspin", timeout=60)

            nursery.start_soon(ask)
            await _until(lambda: len(_pids_of(host, "initslice_initspin")) == 1)
            [child] = _pids_of(host, "initslice_initspin")
            host.kill(spawner)
        with trio.fail_after(10):
            assert (await host.wait(child)).kind == "killed"


async def test_a_spawner_waits_for_its_child_in_the_deadlock_check(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """While a spawner waits in ``process.spawn``, a call from the child's
    init to it could never be answered: the deadlock check (``waits_for``,
    which ``process.call`` consults) sees the spawner waiting on the child,
    as it saw the init running nested on the spawner's thread before."""
    async with hostkit.open_host(_one_thread(config)) as host:
        host.load(wasm["spawner"])
        parent = await host.spawn(host.load(wasm["spawner"]))
        sched = host._sched
        parent_actor = sched.actors[parent.id]
        assert not sched.waits_for(parent.id, parent.id + 1)
        async with trio.open_nursery() as nursery:
            host.load(wasm["initslice_initspin"])

            async def ask() -> None:
                await host.call(parent, "spawn:initslice_initspin", timeout=60)

            nursery.start_soon(ask)
            await _until(lambda: len(_pids_of(host, "initslice_initspin")) == 1)
            [child] = _pids_of(host, "initslice_initspin")
            assert parent_actor.waiting_on == child.id
            assert sched.waits_for(parent.id, child.id)
            host.kill(child)
        assert parent_actor.waiting_on == 0
