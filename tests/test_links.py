"""Links, monitors and trap-exit with Erlang's rules, for host code and guests."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

import hostkit
from hostkit import ExitReason


async def _linker(host: hostkit.Host, wasm: dict[str, Path]) -> hostkit.Pid:
    return await host.spawn(host.load(wasm["linker"]))


async def _events(host: hostkit.Host, pid: hostkit.Pid) -> list[str]:
    return [line for line in (await host.call(pid, "events")).splitlines() if line]


async def test_abnormal_exit_kills_non_trapping_links_both_ways(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    a, b, c = [await _linker(host, wasm) for _ in range(3)]
    assert await host.call(a, f"link:{b.id:016x}") == "ok"
    host.link(c, a)  # host code links too
    host.send(b, "crash")
    ra, rb, rc = await host.wait(a), await host.wait(b), await host.wait(c)
    assert rb.kind == "trap"
    assert ra == rb  # the link carries the same reason
    assert rc == rb  # and on through the next link


async def test_normal_exit_does_not_propagate(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    a, b = await _linker(host, wasm), await _linker(host, wasm)
    host.link(a, b)
    host.send(b, "stop")
    assert await host.wait(b) == ExitReason("normal")
    assert await host.call(a, "events") == ""  # no signal, still alive
    assert host.is_alive(a)


async def test_trapping_turns_exit_signals_into_messages(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    a, b, c = [await _linker(host, wasm) for _ in range(3)]
    assert await host.call(a, "trap:1") == "0"
    assert await host.call(a, "trap:1") == "1"
    host.link(a, b)
    host.link(a, c)
    host.send(b, "crash")
    host.send(c, "stop")
    await host.wait(b)
    await host.wait(c)
    with trio.fail_after(5):
        while len(await _events(host, a)) < 2:
            await trio.sleep(0.01)
    # b and c exit on different scheduler threads: either order is correct.
    events = sorted(await _events(host, a))
    assert len(events) == 2
    assert events[0].startswith(f"e {b.id:016x} trap: wasm trap: wasm `unreachable`")
    assert events[1] == f"e {c.id:016x} normal"  # trapped, even a normal exit arrives
    assert host.is_alive(a)


async def test_kill_is_untrappable_and_arrives_as_killed(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    a, b = await _linker(host, wasm), await _linker(host, wasm)
    await host.call(a, "trap:1")
    await host.call(b, "trap:1")
    host.link(a, b)
    host.exit(b, "kill")  # trapping does not save b
    assert await host.wait(b) == ExitReason("killed")
    with trio.fail_after(5):
        while not await _events(host, a):
            await trio.sleep(0.01)
    assert await _events(host, a) == [f"e {b.id:016x} killed"]  # a traps `killed`


async def test_exit_signal_with_reason(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    a, b = await _linker(host, wasm), await _linker(host, wasm)
    host.exit(a, "normal")  # ignored by a non-trapping actor
    await trio.sleep(0.05)
    assert host.is_alive(a)
    host.exit(a, ExitReason("error", "bad state"))
    assert await host.wait(a) == ExitReason("error", "bad state")
    await host.call(b, "trap:1")
    host.exit(b, "shutdown")
    with trio.fail_after(5):
        while not await _events(host, b):
            await trio.sleep(0.01)
    assert await _events(host, b) == [f"e {0:016x} shutdown"]


async def test_monitor_delivers_exactly_one_down(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    watcher, target = await _linker(host, wasm), await _linker(host, wasm)
    ref = int(await host.call(watcher, f"monitor:{target.id:016x}"))
    ref2 = int(await host.call(watcher, f"monitor:{target.id:016x}"))
    host_mon = host.monitor(target)
    host.send(target, "crash")
    reason = await host_mon.wait()
    assert reason.kind == "trap"
    with trio.fail_after(5):
        while len(await _events(host, watcher)) < 2:
            await trio.sleep(0.01)
    await trio.sleep(0.05)
    events = await _events(host, watcher)
    assert sorted(events) == sorted(
        [f"d {target.id:016x} {r:016x} {reason}" for r in (ref, ref2)]
    )  # one DOWN per monitor, never more
    assert host.is_alive(watcher)  # monitors never kill


async def test_monitor_dead_or_unknown_pid_is_noproc_at_once(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    watcher = await _linker(host, wasm)
    ref = int(await host.call(watcher, f"monitor:{987654:016x}"))
    assert await _events(host, watcher) == [f"d {987654:016x} {ref:016x} noproc"]
    mon = host.monitor(hostkit.Pid(987654))
    with trio.fail_after(1):
        assert await mon.wait() == ExitReason("noproc")


async def test_demonitor_with_flush_removes_queued_down(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    watcher, target = await _linker(host, wasm), await _linker(host, wasm)
    ref = int(await host.call(watcher, f"monitor:{target.id:016x}"))
    assert await host.call(watcher, f"demonitor:{ref:016x}n") == "1"
    assert await host.call(watcher, f"demonitor:{ref:016x}n") == "0"
    host.send(target, "crash")
    await host.wait(target)
    await trio.sleep(0.05)
    assert await _events(host, watcher) == []  # demonitored: no DOWN
    # flush: a DOWN already queued is removed along with the monitor
    other = await _linker(host, wasm)
    ref = int(await host.call(watcher, f"monitor:{other.id:016x}"))
    host.kill(other)
    await host.wait(other)
    # The DOWN was delivered before the demonitor ran (then it is logged and
    # the monitor is gone), or it is removed by the flush; never both, and
    # nothing arrives afterwards.
    flushed = await host.call(watcher, f"demonitor:{ref:016x}f")
    await trio.sleep(0.05)
    events = await _events(host, watcher)
    assert (flushed, events) in (("0", [f"d {other.id:016x} {ref:016x} killed"]), ("1", []))


async def test_link_to_dead_pid_fails_with_noproc(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    a = await _linker(host, wasm)
    assert await host.call(a, f"link:{555555:016x}") == "error:0"
    with pytest.raises(hostkit.NoProc):
        host.link(a, hostkit.Pid(555555))


async def test_unlink_stops_propagation(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    a, b = await _linker(host, wasm), await _linker(host, wasm)
    host.link(a, b)
    assert await host.call(a, f"unlink:{b.id:016x}") == "ok"
    host.send(b, "crash")
    await host.wait(b)
    await trio.sleep(0.05)
    assert host.is_alive(a)


async def test_host_monitor_cancel(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    target = await _linker(host, wasm)
    mon = host.monitor(target)
    assert mon.cancel() is True
    assert mon.cancel() is False
    host.kill(target)
    await host.wait(target)
    await trio.sleep(0.02)
    assert mon.down is None
