"""The host core with real components and real wasmtime."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import trio

import hostkit
from hostkit import ExitReason


async def test_spawn_call_reply(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    echo = host.load(wasm["echo"])
    pid = await host.spawn(echo)
    assert await host.call(pid, "hello") == "hello"
    assert await host.call(pid, "héllo ✓ 日本") == "héllo ✓ 日本"
    assert await host.call(pid, "self") == str(pid.id)


async def test_casts_are_delivered_in_order_and_counted(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    for _ in range(500):
        host.send(pid, "x")
    assert await host.call(pid, "count") == "500"


async def test_guest_stop_request_ends_actor_normally(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    host.send(pid, "stop")
    assert await host.wait(pid) == ExitReason("normal")
    assert not host.is_alive(pid)
    with pytest.raises(hostkit.NoProc):
        host.send(pid, "x")
    assert await host.wait(pid) == ExitReason("normal")  # remembered after exit


async def test_registry(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    echo = host.load(wasm["echo"])
    pid = await host.spawn(echo, name="svc")
    assert host.whereis("svc") == pid
    with pytest.raises(hostkit.SpawnError, match="already registered"):
        await host.spawn(echo, name="svc")
    host.kill(pid)
    await host.wait(pid)
    assert host.whereis("svc") is None
    again = await host.spawn(echo, name="svc")
    assert host.whereis("svc") == again != pid


async def test_guest_registers_and_looks_up_names(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    spawner = host.load(wasm["spawner"])
    a = await host.spawn(spawner, "alpha")
    assert host.whereis("alpha") == a
    assert await host.call(a, "whereis:alpha") == str(a.id)
    assert await host.call(a, "whereis:nobody") == "none"
    with pytest.raises(hostkit.SpawnError, match="already registered"):
        await host.spawn(spawner, "alpha")


async def test_guest_spawns_calls_and_sends(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    host.load(wasm["echo"])
    spawner = await host.spawn(host.load(wasm["spawner"]))
    child = int(await host.call(spawner, "spawn:echo"))
    assert host.is_alive(hostkit.Pid(child))
    # spawner -> child via the synchronous process.call import
    assert await host.call(spawner, f"relay:{child:016x}ping") == "ping"
    assert await host.call(spawner, f"send:{child:016x}x") == "ok"
    assert await host.call(hostkit.Pid(child), "count") == "1"
    # outbox spawn: the reply arrives after the `p` frame
    grandchild = int(await host.call(spawner, "nspawn:echo"))
    assert await host.call(hostkit.Pid(grandchild), "hi") == "hi"
    # errors come back as values
    assert (await host.call(spawner, "spawn:missing")).startswith("error:no component named")
    assert await host.call(spawner, f"send:{999999:016x}x") == "error:0"  # noproc
    assert await host.call(spawner, f"relay:{999999:016x}x") == "error:0"  # send(noproc)
    me = int(await host.call(spawner, "self"))
    assert await host.call(spawner, f"relay:{me:016x}x") == "error:3"  # deadlock


async def test_outbox_send_to_dead_pid_is_reported_back(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    spawner = await host.spawn(host.load(wasm["spawner"]))
    assert await host.call(spawner, f"cast:{424242:016x}lost") == "queued"
    assert await host.call(spawner, "undeliverable") == "1"


async def test_actor_ring_passes_tokens(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    ring = host.load(wasm["ring"])
    pids = [await host.spawn(ring) for _ in range(10)]
    for a, b in zip(pids, pids[1:] + pids[:1], strict=True):
        host.send(a, f"N{b.id:016x}")
    for p in pids:
        host.send(p, f"T{25:08x}")
    total = 0
    with trio.fail_after(10):
        while total < 10:
            await trio.sleep(0.01)
            total = sum([int(await host.call(p, "finished")) for p in pids])
    assert total == 10


async def test_mailbox_full_is_an_error_not_a_drop(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(mailbox_capacity=5, cache_dir=cache_dir, activation_timeout=0.5)
    async with hostkit.open_host(cfg) as host:
        looper = await host.spawn(host.load(wasm["loop"]))
        host.send(looper, "spin")  # keeps the actor busy until its deadline
        await trio.sleep(0.05)
        accepted = 0
        with pytest.raises(hostkit.MailboxFull) as info:
            for _ in range(100):
                host.send(looper, "x")
                accepted += 1
        assert accepted == 5
        assert info.value.pid == looper
        assert "full" in str(info.value)


async def test_message_too_large(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(max_message_size=100, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["echo"]))
        with pytest.raises(hostkit.MessageTooLarge, match="max_message_size"):
            host.send(pid, "x" * 101)
        assert await host.call(pid, "y" * 100) == "y" * 100


async def test_trap_exit_reason_carries_the_cause(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    trap = host.load(wasm["trap"])
    a = await host.spawn(trap)
    host.send(a, "trap")
    reason = await host.wait(a)
    assert reason.kind == "trap"
    assert "unreachable" in reason.detail
    b = await host.spawn(trap)
    host.send(b, "div")
    reason = await host.wait(b)
    assert reason.kind == "trap" and "divide by zero" in reason.detail


async def test_failed_init_fails_the_spawn(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    trap = host.load(wasm["trap"])
    with pytest.raises(hostkit.SpawnError, match="init returned an error: bad config"):
        await host.spawn(trap, "bad config")
    with pytest.raises(hostkit.SpawnError, match=r"init failed \(trap\).*unreachable"):
        await host.spawn(trap, "trap")


async def test_call_to_actor_that_traps_raises_actor_exited(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    a = await host.spawn(host.load(wasm["trap"]))
    host.send(a, "trap")
    with pytest.raises((hostkit.ActorExited, hostkit.NoProc)):
        await host.call(a, "after the trap")


async def test_fuel_exhaustion_ends_actor(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(fuel_per_activation=100_000, activation_timeout=5, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["loop"]))
        host.send(pid, "spin")
        reason = await host.wait(pid)
        assert reason == ExitReason("fuel", "activation ran out of fuel")


async def test_infinite_loop_hits_deadline_while_others_answer(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    spinner = await host.spawn(host.load(wasm["loop"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    host.send(spinner, "spin")
    answered = 0
    ticks = 0
    started = time.monotonic()

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.01)
            ticks += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        while host.is_alive(spinner):
            assert await host.call(echo, "still here") == "still here"
            answered += 1
            await trio.sleep(0.005)
        nursery.cancel_scope.cancel()
    reason = await host.wait(spinner)
    elapsed = time.monotonic() - started
    assert reason.kind == "deadline"
    assert answered > 10  # the other actor kept answering throughout
    assert ticks > elapsed / 0.01 / 4  # the Trio loop stayed responsive
    assert await host.call(echo, "after") == "after"


async def test_infinite_loop_in_init_and_in_start_function(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    with pytest.raises(hostkit.SpawnError, match="deadline"):
        await host.spawn(host.load(wasm["loop"]), "init")
    with pytest.raises(hostkit.SpawnError, match=r"instantiation failed.*deadline"):
        await host.spawn(host.load(wasm["loopstart"]))


async def test_kill_spinning_guest_within_100ms(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(activation_timeout=30, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["loop"]))
        host.send(pid, "spin")
        await trio.sleep(0.1)
        assert host.actors()[0]["state"] == "running"
        started = time.monotonic()
        host.kill(pid)
        reason = await host.wait(pid)
        assert time.monotonic() - started < 0.1
        assert reason.kind == "killed"


async def test_memory_bomb_refused_host_intact(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(max_memory_bytes=4 * 1024 * 1024, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        mem = host.load(wasm["memgrow"])
        pid = await host.spawn(mem)
        assert await host.call(pid, "bomb") == "refused"
        assert await host.call(pid, "grow") == "64"  # 4 MiB / 64 KiB pages
        other = await host.spawn(mem)
        host.send(other, "trap-on-refusal")
        assert (await host.wait(other)).kind == "trap"
        assert await host.call(pid, "bomb") == "refused"  # first actor unharmed


async def test_host_function_exceptions_never_cross_between_threads(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    """Two guests on two scheduler threads raise in host functions at the
    same moment; each exit reason names its own exception."""
    import threading

    import wasmtime.component._enter as enter

    barrier = threading.Barrier(2, timeout=60)  # generous: a loaded CI machine

    class Boom(Exception):
        pass

    def fail(inst: object, x: int) -> int:
        barrier.wait()
        if x == 1:
            raise ValueError("from the first guest")
        raise Boom("from the second guest")

    cfg = hostkit.HostConfig(scheduler_threads=2, cache_dir=cache_dir, activation_timeout=60)
    async with hostkit.open_host(
        cfg, host_functions={"hostkit:test/hooks@0.1.0": {"fail": fail}}
    ) as host:
        raiser = host.load(wasm["raiser"])
        a = await host.spawn(raiser)
        b = await host.spawn(raiser)
        host.send(a, "ignored")  # casts are ignored; the calls below trigger
        async with trio.open_nursery() as nursery:
            for pid, msg in ((a, "1"), (b, "22")):
                nursery.start_soon(_call_expect_exit, host, pid, msg)
        ra, rb = await host.wait(a), await host.wait(b)
        assert ra.kind == rb.kind == "host-error"
        assert "ValueError('from the first guest')" in ra.detail
        assert "Boom('from the second guest')" in rb.detail
        assert enter.LAST_EXCEPTION is None


async def _call_expect_exit(host: hostkit.Host, pid: hostkit.Pid, msg: str) -> None:
    with pytest.raises(hostkit.ActorExited):
        await host.call(pid, msg)


async def test_host_function_returning_value(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(cache_dir=cache_dir)
    funcs = {"hostkit:test/hooks@0.1.0": {"fail": lambda inst, x: x * 2}}
    async with hostkit.open_host(cfg, host_functions=funcs) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        assert await host.call(pid, "abc") == "6"


async def test_host_call_budget(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(host_call_budget=2, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        host.load(wasm["echo"])
        spawner = await host.spawn(host.load(wasm["spawner"]))
        # spawn (1 host call) and self (1) are fine; 3 in one activation are not
        assert await host.call(spawner, "self") == str(spawner.id)
        for _ in range(3):
            host.send(spawner, "x")  # casts are no-ops for the spawner
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(_call_quietly, host, spawner, "self")
        reason = await host.wait(spawner)
        assert reason.kind == "budget"


async def _call_quietly(host: hostkit.Host, pid: hostkit.Pid, msg: str) -> None:
    with contextlib.suppress(hostkit.HostkitError):
        await host.call(pid, msg)


async def test_thousand_actors_spawned_and_messaged(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    echo = host.load(wasm["echo"])
    pids: list[hostkit.Pid] = []

    async def spawn_some(n: int) -> None:
        for _ in range(n):
            pids.append(await host.spawn(echo))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(spawn_some, 100)
    assert len(set(pids)) == 1000
    for p in pids:
        host.send(p, "x")
        host.send(p, "y")
    counts = [await host.call(p, "count") for p in pids]
    assert counts == ["2"] * 1000


async def test_shutdown_with_busy_guests(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(
        scheduler_threads=3, activation_timeout=60, cache_dir=cache_dir, shutdown_timeout=0.2
    )
    async with hostkit.open_host(cfg) as host:
        loop = host.load(wasm["loop"])
        spinners = [await host.spawn(loop) for _ in range(2)]
        echo = await host.spawn(host.load(wasm["echo"]))
        for p in spinners:
            host.send(p, "spin")
        assert await host.call(echo, "x") == "x"  # the third thread still serves
        await trio.sleep(0.05)
        started = time.monotonic()
    # shutdown_timeout, then a kill that lands within a tick: not the 60 s deadline
    assert time.monotonic() - started < 1.0
    with pytest.raises(hostkit.HostClosedError):
        host.send(echo, "x")


async def test_components_compile_once_and_cache_survives_corruption(
    tmp_path: Path, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(cache_dir=tmp_path)
    async with hostkit.open_host(cfg) as host:
        comp = host.load(wasm["echo"])
    entries = list(tmp_path.rglob("*.cwasm"))
    assert [e.name for e in entries] == [f"{comp.digest}.cwasm"]
    blob = entries[0].read_bytes()
    entries[0].write_bytes(blob[:100] + b"garbage" + blob[107:])  # corrupt the body
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["echo"]))
        assert await host.call(pid, "ok") == "ok"
    assert entries[0].read_bytes() != blob[:100] + b"garbage" + blob[107:]  # rewritten
    entries[0].write_bytes(b"short")
    async with hostkit.open_host(cfg) as host:
        assert await host.call(await host.spawn(host.load(wasm["echo"])), "ok") == "ok"


async def test_resolver_binds_imports_at_load(cache_dir: Path, wasm: dict[str, Path]) -> None:
    asked: list[tuple[str, str]] = []

    def resolver(interface: str, function: str, func_type: object) -> object:
        asked.append((interface, function))
        return (lambda inst, x: x + 100) if function == "fail" else None

    cfg = hostkit.HostConfig(cache_dir=cache_dir)
    async with hostkit.open_host(cfg, resolver=resolver) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        assert await host.call(pid, "ab") == "102"
        host.load(wasm["raiser"], name="again")  # already bound: not asked twice
    assert asked == [("hostkit:test/hooks@0.1.0", "fail")]


async def test_resolver_declining_fails_the_load(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(cache_dir=cache_dir)
    async with hostkit.open_host(cfg, resolver=lambda i, f, t: None) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="nothing implements"):
            host.load(wasm["raiser"])


async def test_outbox_frame_splitting_utf8_is_a_protocol_violation(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    """A hostile guest cannot smuggle invalid UTF-8 into another guest (it
    would panic inside wasmtime and take the whole process down)."""
    victim = await host.spawn(host.load(wasm["echo"]))
    evil = await host.spawn(host.load(wasm["spawner"]))
    with pytest.raises(hostkit.ActorExited, match="splits a character"):
        await host.call(evil, f"split:{victim.id:016x}")
    reason = await host.wait(evil)
    assert reason.kind == "protocol" and "protocol violation" in reason.detail
    assert await host.call(victim, "count") == "0"  # nothing reached the victim
    assert await host.call(victim, "still fine ✓") == "still fine ✓"


async def test_stop_requested_while_spawning_is_not_lost(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    echo = host.load(wasm["echo"])
    spawning = host._sched.new_actor(echo, b"")
    host.stop(spawning.pid)  # before it has even been instantiated
    host._sched._global.put(spawning)
    with trio.fail_after(5):
        assert await host.wait(spawning.pid) == ExitReason("shutdown")


async def test_work_stranded_behind_a_blocked_guest_is_taken_by_an_idle_thread(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    """A guest sends a cast (the target is queued on its own thread's local
    deque) and then blocks in a host function: the other, idle scheduler
    thread takes the stranded actor instead of leaving it queued until the
    blocked guest returns."""
    import threading

    entered, release = threading.Event(), threading.Event()

    def fail(inst: object, x: int) -> int:
        entered.set()  # the guest's send to echo has happened
        release.wait(60)  # blocks this scheduler thread until the test says so
        return x

    cfg = hostkit.HostConfig(scheduler_threads=2, cache_dir=cache_dir, activation_timeout=60)
    async with hostkit.open_host(
        cfg, host_functions={"hostkit:test/hooks@0.1.0": {"fail": fail}}
    ) as host:
        strand = await host.spawn(host.load(wasm["sched_strand"]))
        echo = await host.spawn(host.load(wasm["echo"]))

        def echo_state() -> dict[str, object]:
            (entry,) = [a for a in host.actors() if a["pid"] == echo]
            return entry

        async with trio.open_nursery() as nursery:
            nursery.start_soon(host.call, strand, f"{echo.id:016x}")
            try:
                # no call to echo meanwhile: a call would promote it past the
                # stranding; only a thread that steals runs its cast
                with trio.fail_after(10):
                    while not entered.is_set():
                        await trio.sleep(0.01)
                    # echo's cast ran while strand's thread is still blocked
                    while echo_state()["state"] != "idle" or echo_state()["mailbox"]:
                        await trio.sleep(0.01)
                assert not release.is_set()
            finally:
                release.set()
        assert await host.call(echo, "count") == "1"
