"""hostkit.blocking: a host for synchronous apps, with real components on a
real Trio thread. These tests are plain (sync) functions, as an app would be."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

import hostkit
import hostkit.blocking
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags, TaskStart

ROOT = Path(__file__).resolve().parent.parent


def _hostkit_threads() -> set[str]:
    """Threads the host owns (its Trio thread, scheduler threads, the epoch
    ticker). Trio's process-wide worker-thread cache ("Trio thread N") is
    not counted: its idle workers are shared by every trio.run and exit on
    their own."""
    return {t.name for t in threading.enumerate() if t.name.startswith("hostkit")}


def _eventually(check: Callable[[], bool]) -> None:
    """Wait for a state change that has no event to wait on (bounded)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "the state never changed"
        time.sleep(0.005)


def test_methods_block_and_behave_as_the_trio_host(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        assert host.pid == hostkit.HOST_PID and host.config == config
        echo = host.load(wasm["echo"])
        pid = host.spawn(echo, name="echo")
        assert host.call(pid, "hello") == "hello"
        assert host.whereis("echo") == pid and host.whereis("nobody") is None
        for _ in range(3):
            host.send(pid, "tick")
        assert host.call(pid, "count") == "3"
        other = host.spawn("echo")
        host.register(other, "other")
        assert {a["name"] for a in host.actors()} == {"echo", "other"}
        host.link(pid, other)
        host.unlink(pid, other)
        assert host.set_trap_exit(other, True) is False
        mon = host.monitor(pid)
        assert mon.down is None
        host.send(pid, "stop")
        assert host.wait(pid) == hostkit.ExitReason("normal")
        assert mon.wait() == hostkit.ExitReason("normal") and mon.down is not None
        assert host.is_alive(pid) is False and host.is_alive(other) is True
        host.exit(other, "kill")
        assert host.wait(other).kind == "killed"
        third = host.spawn("echo")
        host.stop(third)
        assert host.wait(third).kind == "shutdown"
        fourth = host.spawn("echo")
        host.kill(fourth)
        assert host.wait(fourth).kind == "killed"


def test_hostkit_errors_surface_unchanged(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="bad"):
            host.load(b"not wasm", name="bad")
        with pytest.raises(hostkit.SpawnError, match="no component named 'nope'"):
            host.spawn("nope")
        with pytest.raises(hostkit.NoProc):
            host.call(4242, "x")
        with pytest.raises(hostkit.NoProc):
            host.wait(4242)
        echo = host.load(wasm["echo"])
        pid = host.spawn(echo, name="taken")
        with pytest.raises(ValueError, match="taken"):
            host.register(host.spawn(echo), "taken")
        with pytest.raises(hostkit.MessageTooLarge):
            host.send(pid, "x" * (config.max_message_size + 1))
        with pytest.raises(ValueError, match="timeout must be a non-negative number"):
            host.wait(pid, timeout=-1)
        trap = host.spawn(host.load(wasm["trap"]))
        with pytest.raises(hostkit.SpawnError, match="failed"):
            host.spawn("trap", "trap")
        host.send(trap, "trap")
        assert host.wait(trap).kind == "trap"


def test_several_threads_call_at_once(wasm: dict[str, Path], config: hostkit.HostConfig) -> None:
    errors: list[BaseException] = []
    replies: dict[int, list[str]] = {}
    with hostkit.blocking.open_host(config) as host:
        echo = host.load(wasm["echo"])
        shared = host.spawn(echo)
        start = threading.Barrier(8)

        def worker(n: int) -> None:
            try:
                own = host.spawn(echo)  # spawns race each other too
                start.wait()
                got = replies.setdefault(n, [])
                for i in range(25):
                    got.append(host.call(shared, f"{n}:{i}"))
                    got.append(host.call(own, f"own {n}:{i}"))
                host.send(own, "stop")
                assert host.wait(own).kind == "normal"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for n in range(8):
            expected = [x for i in range(25) for x in (f"{n}:{i}", f"own {n}:{i}")]
            assert replies[n] == expected
        assert [a["pid"] for a in host.actors()] == [shared]


def test_call_timeout_is_a_call_timeout_and_the_host_goes_on(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        silent = host.spawn(host.load(wasm["embed_silent"]))
        with pytest.raises(hostkit.CallTimeout, match="no reply"):
            host.call(silent, "anyone?", timeout=0.05)
        echo = host.spawn(host.load(wasm["echo"]))
        assert host.call(echo, "still here") == "still here"


def test_wait_timeout_raises_timeout_error_and_cancels_the_wait(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        pid = host.spawn(host.load(wasm["embed_silent"]))
        with pytest.raises(TimeoutError, match=r"host\.wait\(<0\.1>\) did not finish within"):
            host.wait(pid, timeout=0.02)
        assert host._bridge.portal is not None
        assert host._bridge.portal.running == 0  # the Trio side let go of it
        mon = host.monitor(pid)
        with pytest.raises(TimeoutError, match="no DOWN"):
            mon.wait(timeout=0.01)
        host.send(pid, "stop")
        assert host.wait(pid, timeout=30).kind == "normal"
        assert mon.wait(timeout=30).kind == "normal"


def test_a_spawn_that_times_out_leaves_no_actor(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    patient = dataclasses.replace(config, activation_timeout=30.0, fuel_per_activation=None)
    with hostkit.blocking.open_host(patient) as host:
        spinner = host.load(wasm["loop"])
        with pytest.raises(TimeoutError, match=r"host\.spawn\(\) did not finish"):
            host.spawn(spinner, "init", name="spinner", timeout=0.05)
        # The name is taken from the start of the spawn until the actor is gone.
        _eventually(lambda: host.whereis("spinner") is None)
        assert host.actors() == []


def test_a_cancelled_monitor_reports_no_down(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        pid = host.spawn(host.load(wasm["echo"]))
        mon = host.monitor(pid)
        assert mon.cancel() is True
        host.kill(pid)
        assert host.wait(pid).kind == "killed"
        with pytest.raises(RuntimeError, match="cancelled"):
            mon.wait(timeout=30)
        assert mon.down is None
        dead = host.monitor(pid)  # a dead pid: DOWN noproc at once
        assert dead.wait(timeout=30).kind == "noproc"
        assert dead.cancel() is False


def test_close_on_normal_exit_and_on_an_exception_joins_every_thread(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    before = _hostkit_threads()
    with hostkit.blocking.open_host(config) as host:
        pid = host.spawn(host.load(wasm["echo"]))
        assert "hostkit-trio" in _hostkit_threads()
    assert _hostkit_threads() == before
    with pytest.raises(hostkit.HostClosedError, match=r"host\.call\(<0\.1>\).*is closed"):
        host.call(pid, "x")

    class AppBug(Exception):
        pass

    with pytest.raises(AppBug), hostkit.blocking.open_host(config) as host:
        host.spawn(host.load(wasm["echo"]))
        raise AppBug
    assert _hostkit_threads() == before
    with pytest.raises(hostkit.HostClosedError, match="open a new one"):
        host.spawn("echo")
    host.close()  # idempotent


def test_closing_ends_calls_pending_in_other_threads(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    outcome: list[BaseException] = []
    with hostkit.blocking.open_host(config) as host:
        silent = host.spawn(host.load(wasm["embed_silent"]))
        waiting = host.spawn("embed_silent")

        def caller() -> None:
            try:
                host.call(silent, "forever?", timeout=3600)
            except BaseException as exc:
                outcome.append(exc)

        def waiter() -> None:
            try:
                host.wait(waiting)
            except BaseException as exc:
                outcome.append(exc)

        threads = [threading.Thread(target=caller), threading.Thread(target=waiter)]
        for t in threads:
            t.start()
        assert host._bridge.portal is not None
        portal = host._bridge.portal
        _eventually(lambda: portal.running == 2)
    for t in threads:
        t.join()
    assert [type(e) for e in outcome] == [hostkit.ActorExited]
    assert "shutdown" in str(outcome[0])


def test_blocking_methods_refuse_the_hosts_own_trio_thread(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    seen: list[str] = []
    with hostkit.blocking.open_host(config) as host:

        async def on_the_trio_thread() -> None:
            try:
                host.whereis("x")
            except RuntimeError as exc:
                seen.append(str(exc))
            try:
                host.close()
            except RuntimeError as exc:
                seen.append(str(exc))
            await trio.sleep_forever()

        flags = SupervisorFlags()
        children = [ChildSpec("task", TaskStart(on_the_trio_thread))]
        with host.open_supervisor(flags, children, name="top") as sup:
            _eventually(lambda: len(seen) == 2)
            assert sup.which_children()[0].id == "task"
    assert "use the Trio host (hostkit.Host)" in seen[0]
    assert "from its own Trio thread" in seen[1]


def test_supervisors_block_too(wasm: dict[str, Path], config: hostkit.HostConfig) -> None:
    with hostkit.blocking.open_host(config) as host:
        echo = host.load(wasm["echo"])
        children = [ChildSpec("counter", ActorStart(echo, name="counter"))]
        with host.open_supervisor(SupervisorFlags(), children, name="top") as sup:
            first = host.whereis("counter")
            assert first is not None and sup.which_children()[0].pid == first
            mon = host.monitor(first)
            host.kill(first)
            assert mon.wait(timeout=30).kind == "killed"
            _eventually(lambda: host.whereis("counter") not in (None, first))
            assert sup.tree().children[0].restarts == 1
        assert host.whereis("counter") is None
        assert sup.exit_reason is not None and sup.exit_reason.kind == "shutdown"
        with pytest.raises(hostkit.NoProc, match="not running"):
            sup.start_child(ChildSpec("late", ActorStart(echo)))

        with host.open_dynamic_supervisor(SupervisorFlags(), name="pool") as pool:
            pid = pool.start_child(ChildSpec("a", ActorStart(echo)))
            assert isinstance(pid, hostkit.Pid) and host.call(pid, "hi") == "hi"
            pool.terminate_child("a")
            assert pool.which_children() == ()
            with pytest.raises(hostkit.SupervisorSpecError):
                pool.start_child(ChildSpec("a", ActorStart("nope")))


def test_a_supervisor_that_gives_up_raises_on_leaving_the_block(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        echo = host.load(wasm["echo"])
        children = [ChildSpec("c", ActorStart(echo, name="c"))]
        flags = SupervisorFlags(intensity=0, period=5)
        with (
            pytest.raises(hostkit.RestartIntensityExceeded, match="gave up"),
            host.open_supervisor(flags, children, name="fragile") as sup,
        ):
            pid = host.whereis("c")
            assert pid is not None
            host.kill(pid)
            reason = sup.wait(timeout=30)
            # OTP's exit at max intensity: shutdown, with hostkit's detail
            assert reason.kind == "shutdown"
            assert "restart intensity" in reason.detail
            with pytest.raises(hostkit.NoProc):
                sup.start_child(ChildSpec("d", ActorStart(echo)))
        host.load(wasm["trap"])
        doomed = [ChildSpec("t", ActorStart("trap", "no"))]  # its init fails
        with (
            pytest.raises(hostkit.SpawnError, match="failed to start"),
            host.open_supervisor(SupervisorFlags(), doomed),
        ):
            raise AssertionError("never entered")


def test_open_errors_come_back_and_leave_no_thread(config: hostkit.HostConfig) -> None:
    before = _hostkit_threads()

    def resolver(interface: str, function: str, func_type: object) -> None:
        return None

    with (
        pytest.raises(ValueError, match="not both"),
        hostkit.blocking.open_host(config, resolver=resolver, capabilities=object()),
    ):
        pass
    assert _hostkit_threads() == before


_CTRL_C_APP = """
import os, signal, sys, threading
import hostkit, hostkit.blocking

config = hostkit.HostConfig(scheduler_threads=1, cache_dir=None)
try:
    with hostkit.blocking.open_host(config) as host:
        silent = host.spawn(host.load(sys.argv[1]))
        portal = host._bridge.portal
        main = threading.main_thread().ident

        def press_ctrl_c():
            while portal.running == 0:  # until the call is pending on the Trio side
                threading.Event().wait(0.005)
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=press_ctrl_c).start()
        try:
            host.call(silent, "hang", timeout=3600)
        except KeyboardInterrupt:
            print("interrupted; pending jobs:", portal.running, flush=True)
            raise
except KeyboardInterrupt:
    threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("hostkit"))
    print("closed; hostkit threads:", threads, flush=True)
    sys.exit(130)
"""


def test_ctrl_c_cancels_the_pending_call_and_closes_the_host(wasm: dict[str, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CTRL_C_APP), str(wasm["embed_silent"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.splitlines() == [
        "interrupted; pending jobs: 0",
        "closed; hostkit threads: []",
    ]
    assert signal.SIGINT  # the real signal, delivered to the real main thread


def test_an_error_in_a_supervisor_block_stops_it_and_propagates(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    class AppBug(Exception):
        pass

    with hostkit.blocking.open_host(config) as host:
        echo = host.load(wasm["echo"])
        children = [ChildSpec("c", ActorStart(echo, name="c"))]
        with pytest.raises(AppBug), host.open_supervisor(SupervisorFlags(), children) as sup:
            raise AppBug
        assert host.whereis("c") is None
        assert sup.exit_reason is not None and sup.exit_reason.kind == "shutdown"


def test_ctrl_c_in_a_supervisor_block_kills_its_children_at_once(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    with hostkit.blocking.open_host(config) as host:
        echo = host.load(wasm["echo"])
        children = [ChildSpec("c", ActorStart(echo, name="c"), shutdown=3600)]
        with pytest.raises(KeyboardInterrupt), host.open_supervisor(SupervisorFlags(), children):
            pid = host.whereis("c")
            assert pid is not None
            mon = host.monitor(pid)
            raise KeyboardInterrupt  # as the signal handler would, here
        assert mon.wait(timeout=30).kind == "killed"  # not the orderly "shutdown"
