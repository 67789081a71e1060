"""hostkit.aio: a host for asyncio apps, with real components, in both modes
(Trio in a thread of its own, Trio as a guest on the asyncio loop).

The tests are sync functions that run ``asyncio.run`` themselves: pytest-trio
owns ``async def`` tests here, and an asyncio app owns its loop."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import trio

import hostkit
import hostkit.aio
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["thread", "guest"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _hostkit_threads() -> set[str]:
    """Threads the host owns; Trio's shared worker cache is not counted
    (see tests/test_blocking.py)."""
    return {t.name for t in threading.enumerate() if t.name.startswith("hostkit")}


async def _eventually(check: Callable[[], Awaitable[bool] | bool]) -> None:
    """Wait for a state change that has no event to wait on (bounded)."""
    async with asyncio.timeout(10):
        while True:
            got = check()
            if not isinstance(got, bool):
                got = await got
            if got:
                return
            await asyncio.sleep(0.005)


def _running(host: hostkit.aio.AsyncioHost) -> int:
    """Jobs the host's Trio side is running for this facade."""
    assert host._bridge.portal is not None
    return host._bridge.portal.running


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


# -- a web-style app -------------------------------------------------------------------


async def _serve_http(
    host: hostkit.aio.AsyncioHost, pids: dict[str, hostkit.Pid]
) -> asyncio.Server:
    """A tiny HTTP/1.0 server: ``GET /<plugin>/<text>`` calls the plugin."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        _, target, _ = request.split(" ", 2)
        _, plugin, text = target.split("/", 2)
        try:
            # A short deadline for the route whose plugin never answers, a
            # generous one elsewhere (no timing assumptions on a busy machine).
            async with asyncio.timeout(0.05 if plugin == "silent" else 60):
                status, body = "200 OK", await host.call(pids[plugin], text)
        except TimeoutError:
            status, body = "504 Gateway Timeout", "the plugin did not answer"
        except hostkit.HostkitError as exc:
            status, body = "502 Bad Gateway", type(exc).__name__
        data = body.encode()
        writer.write(f"HTTP/1.0 {status}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    await writer.wait_closed()
    head, body = response.split("\r\n\r\n", 1)
    return head.split(" ", 1)[1].split("\r\n")[0], body


def test_a_web_app_serves_concurrent_requests_that_call_plugins(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            echo = await host.load(wasm["echo"])
            pids = {
                "echo": await host.spawn(echo),
                "echo2": await host.spawn(echo),
                "silent": await host.spawn(await host.load(wasm["embed_silent"])),
            }
            server = await _serve_http(host, pids)
            port = server.sockets[0].getsockname()[1]
            async with server:
                paths = [f"/echo{'2' if i % 2 else ''}/hello-{i}" for i in range(40)]
                paths += ["/silent/anyone", "/echo/after"]
                results = await asyncio.gather(*(_get(port, p) for p in paths))
                for i in range(40):
                    assert results[i] == ("200 OK", f"hello-{i}")
                assert results[40] == ("504 Gateway Timeout", "the plugin did not answer")
                assert results[41] == ("200 OK", "after")
                assert _running(host) == 0  # the timed-out call was cancelled there too
                await host.kill(pids["echo2"])
                await host.wait(pids["echo2"])
                assert await _get(port, "/echo2/x") == ("502 Bad Gateway", "NoProc")

    run(main)


# -- the methods -----------------------------------------------------------------------


def test_methods_are_coroutines_that_behave_as_the_trio_host(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            assert host.mode == mode and host.pid == hostkit.HOST_PID
            echo = await host.load(wasm["echo"])
            pid = await host.spawn(echo, name="echo")
            assert await host.call(pid, "hello") == "hello"
            assert await host.whereis("echo") == pid
            for _ in range(3):
                await host.send(pid, "tick")
            assert await host.call(pid, "count") == "3"
            other = await host.spawn("echo")
            await host.register(other, "other")
            assert {a["name"] for a in await host.actors()} == {"echo", "other"}
            await host.link(pid, other)
            await host.unlink(pid, other)
            assert await host.set_trap_exit(other, True) is False
            mon = await host.monitor(pid)
            assert mon.down is None
            await host.send(pid, "stop")
            assert (await host.wait(pid)).kind == "normal"
            assert (await mon.wait()).kind == "normal" and mon.down is not None
            assert await host.is_alive(pid) is False
            await host.exit(other, "kill")
            assert (await host.wait(other)).kind == "killed"
            third = await host.spawn("echo")
            await host.stop(third)
            assert (await host.wait(third)).kind == "shutdown"
            fourth = await host.spawn("echo")
            await host.kill(fourth)
            assert (await host.wait(fourth)).kind == "killed"
            fifth = await host.spawn("echo")
            mon = await host.monitor(fifth)
            assert await mon.cancel() is True
            await host.kill(fifth)
            await host.wait(fifth)
            with pytest.raises(RuntimeError, match="cancelled"):
                await mon.wait()

    run(main)


def test_hostkit_errors_surface_unchanged(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            with pytest.raises(hostkit.ComponentLoadError, match="bad"):
                await host.load(b"not wasm", name="bad")
            with pytest.raises(hostkit.SpawnError, match="no component named 'nope'"):
                await host.spawn("nope")
            with pytest.raises(hostkit.NoProc):
                await host.call(4242, "x")
            silent = await host.spawn(await host.load(wasm["embed_silent"]))
            with pytest.raises(hostkit.CallTimeout, match="no reply"):
                await host.call(silent, "x", timeout=0.02)
            with pytest.raises(hostkit.MessageTooLarge):
                await host.send(silent, "x" * (config.max_message_size + 1))

    run(main)


# -- cancellation ----------------------------------------------------------------------


def test_cancelling_a_pending_call_cancels_it_on_the_trio_side(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            silent = await host.spawn(await host.load(wasm["embed_silent"]))
            task = asyncio.create_task(host.call(silent, "hang", timeout=3600))
            await _eventually(lambda: _running(host) == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert _running(host) == 0  # already let go when the cancellation arrived
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.02):
                    await host.call(silent, "hang", timeout=3600)
            assert _running(host) == 0
            echo = await host.spawn(await host.load(wasm["echo"]))
            assert await host.call(echo, "still serving") == "still serving"

    run(main)


def test_a_cancelled_spawn_leaves_no_actor(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    patient = dataclasses.replace(config, activation_timeout=30.0, fuel_per_activation=None)

    async def main() -> None:
        async with hostkit.aio.open_host(patient, mode=mode) as host:  # type: ignore[arg-type]
            spinner = await host.load(wasm["loop"])
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await host.spawn(spinner, "init", name="spinner")

            async def gone() -> bool:  # the name is taken until the actor is gone
                return await host.whereis("spinner") is None

            await _eventually(gone)
            assert await host.actors() == []

    run(main)


# -- closing ---------------------------------------------------------------------------


def test_close_on_normal_exit_and_on_an_exception(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    before = _hostkit_threads()

    class AppBug(Exception):
        pass

    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            pid = await host.spawn(await host.load(wasm["echo"]))
        with pytest.raises(hostkit.HostClosedError, match=r"host\.call\(<0\.1>\).*is closed"):
            await host.call(pid, "x")
        with pytest.raises(AppBug):
            async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
                await host.spawn(await host.load(wasm["echo"]))
                raise AppBug
        with pytest.raises(hostkit.HostClosedError, match="open a new one"):
            await host.spawn("echo")
        await host.aclose()  # idempotent

    run(main)
    assert _hostkit_threads() == before


def test_closing_ends_calls_pending_in_other_tasks(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            silent = await host.spawn(await host.load(wasm["embed_silent"]))
            pending = asyncio.create_task(host.call(silent, "hang", timeout=3600))
            await _eventually(lambda: _running(host) == 1)
        with pytest.raises(hostkit.ActorExited, match="shutdown"):
            await pending

    run(main)


def test_a_cancelled_app_still_closes_the_host(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    before = _hostkit_threads()

    async def app(started: asyncio.Event) -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            silent = await host.spawn(await host.load(wasm["embed_silent"]))
            started.set()
            await host.call(silent, "hang", timeout=3600)

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(app(started))
        await started.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)
    assert _hostkit_threads() == before


# -- misuse ----------------------------------------------------------------------------


def test_a_host_refuses_other_loops_threads_and_trio(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    errors: list[str] = []

    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]

            def elsewhere() -> None:
                try:
                    asyncio.run(host.whereis("x"))
                except RuntimeError as exc:
                    errors.append(str(exc))
                try:
                    trio.run(host.whereis, "x")
                except RuntimeError as exc:
                    errors.append(str(exc))

            thread = threading.Thread(target=elsewhere)
            thread.start()
            await asyncio.to_thread(thread.join)

    run(main)
    assert len(errors) == 2
    for message in errors:
        assert "must be awaited on the asyncio loop that opened it" in message
        assert "hostkit.blocking" in message
    with pytest.raises(ValueError, match="mode must be 'thread' or 'guest'"):
        run(lambda: _enter(hostkit.aio.open_host(config, mode="fibre")))  # type: ignore[arg-type]


async def _enter(acm: Any) -> None:
    async with acm:
        pass


def test_open_errors_come_back_and_leave_nothing_behind(
    config: hostkit.HostConfig, mode: str
) -> None:
    before = _hostkit_threads()

    def resolver(interface: str, function: str, func_type: object) -> None:
        return None

    async def main() -> None:
        with pytest.raises(ValueError, match="not both"):
            await _enter(
                hostkit.aio.open_host(
                    config,
                    resolver=resolver,
                    capabilities=object(),
                    mode=mode,  # type: ignore[arg-type]
                )
            )

    run(main)
    assert _hostkit_threads() == before


# -- supervisors -----------------------------------------------------------------------


def test_supervisors_as_coroutines(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            echo = await host.load(wasm["echo"])
            children = [ChildSpec("counter", ActorStart(echo, name="counter"))]
            async with host.open_supervisor(SupervisorFlags(), children, name="top") as sup:
                first = await host.whereis("counter")
                assert first is not None and (await sup.which_children())[0].pid == first
                mon = await host.monitor(first)
                await host.kill(first)
                assert (await mon.wait()).kind == "killed"

                async def restarted() -> bool:
                    return await host.whereis("counter") not in (None, first)

                await _eventually(restarted)
                assert (await sup.tree()).children[0].restarts == 1
            assert await host.whereis("counter") is None
            reason = await sup.exit_reason()
            assert reason is not None and reason.kind == "shutdown"

            async with host.open_dynamic_supervisor(SupervisorFlags(), name="pool") as pool:
                pid = await pool.start_child(ChildSpec("a", ActorStart(echo)))
                assert isinstance(pid, hostkit.Pid) and await host.call(pid, "hi") == "hi"
                await pool.terminate_child("a")
                assert await pool.which_children() == ()

            flags = SupervisorFlags(intensity=0, period=5)
            with pytest.raises(hostkit.RestartIntensityExceeded, match="gave up"):
                async with host.open_supervisor(flags, children, name="fragile") as sup:
                    pid = await host.whereis("counter")
                    assert pid is not None
                    await host.kill(pid)
                    reason = await sup.wait()
                    # OTP's exit at max intensity: shutdown, with hostkit's detail
                    assert reason.kind == "shutdown"
                    assert "restart intensity" in reason.detail

    run(main)


def test_cancelling_a_supervisor_block_kills_its_children(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            silent = await host.load(wasm["embed_silent"])
            children = [ChildSpec("s", ActorStart(silent, name="s"), shutdown=3600)]
            pids: list[hostkit.Pid] = []
            inside = asyncio.Event()

            async def body() -> None:
                async with host.open_supervisor(SupervisorFlags(), children):
                    pid = await host.whereis("s")
                    assert pid is not None
                    pids.append(pid)
                    inside.set()
                    await asyncio.Event().wait()

            task = asyncio.create_task(body())
            await inside.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await host.wait(pids[0])).kind == "killed"

    run(main)


def test_an_error_in_a_supervisor_block_stops_it_and_propagates(
    wasm: dict[str, Path], config: hostkit.HostConfig, mode: str
) -> None:
    class AppBug(Exception):
        pass

    async def main() -> None:
        async with hostkit.aio.open_host(config, mode=mode) as host:  # type: ignore[arg-type]
            echo = await host.load(wasm["echo"])
            children = [ChildSpec("c", ActorStart(echo, name="c"))]
            with pytest.raises(AppBug):
                async with host.open_supervisor(SupervisorFlags(), children) as sup:
                    raise AppBug
            assert await host.whereis("c") is None
            reason = await sup.exit_reason()
            assert reason is not None and reason.kind == "shutdown"

    run(main)


_CTRL_C_APP = """
import asyncio, os, signal, sys, threading
import hostkit, hostkit.aio

async def main(path, mode):
    config = hostkit.HostConfig(scheduler_threads=1, cache_dir=None)
    async with hostkit.aio.open_host(config, mode=mode) as host:
        silent = await host.spawn(await host.load(path))
        portal = host._bridge.portal

        async def press_ctrl_c():
            while portal.running == 0:  # until the call is pending on the Trio side
                await asyncio.sleep(0.005)
            os.kill(os.getpid(), signal.SIGINT)

        presser = asyncio.create_task(press_ctrl_c())
        try:
            await host.call(silent, "hang", timeout=3600)
        except asyncio.CancelledError:  # asyncio.run turns Ctrl-C into this
            print("cancelled; pending jobs:", portal.running, flush=True)
            raise

try:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
except KeyboardInterrupt:
    threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("hostkit"))
    print("closed; hostkit threads:", threads, flush=True)
    sys.exit(130)
"""


def test_ctrl_c_under_asyncio_run_cancels_the_call_and_closes_the_host(
    wasm: dict[str, Path], mode: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CTRL_C_APP), str(wasm["embed_silent"]), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.splitlines() == [
        "cancelled; pending jobs: 0",
        "closed; hostkit threads: []",
    ]


def _guide_examples() -> list[tuple[str, str]]:
    """Each ```python block of docs/embedding.md followed by a ```text block
    (its output); FastAPI's is left out (FastAPI is not a dependency)."""
    blocks = re.findall(r"```(\w+)\n(.*?)```", (ROOT / "docs" / "embedding.md").read_text(), re.S)
    return [
        (code, blocks[i + 1][1])
        for i, (lang, code) in enumerate(blocks[:-1])
        if lang == "python" and blocks[i + 1][0] == "text" and "fastapi" not in code
    ]


def test_the_embedding_guide_examples_run_as_shown(wasm: dict[str, Path], tmp_path: Path) -> None:
    examples = _guide_examples()
    assert len(examples) == 3  # Trio, asyncio, blocking
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path)}
    for code, output in examples:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == output, code


def test_one_guest_mode_host_per_thread_the_next_is_told_to_use_a_thread(
    wasm: dict[str, Path], config: hostkit.HostConfig
) -> None:
    async def main() -> None:
        async with hostkit.aio.open_host(config, mode="guest") as first:
            with pytest.raises(RuntimeError, match="use mode='thread'"):
                await _enter(hostkit.aio.open_host(config, mode="guest"))
            async with hostkit.aio.open_host(config, mode="thread") as second:
                a = await first.spawn(await first.load(wasm["echo"]))
                b = await second.spawn(await second.load(wasm["echo"]))
                assert await asyncio.gather(first.call(a, "a"), second.call(b, "b")) == ["a", "b"]

    run(main)
