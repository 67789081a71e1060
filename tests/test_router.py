"""The router's seams and conventions: pure modules without wasmtime, pids
that carry their node, the remote seam, wrong-thread and asyncio misuse,
the event stream and the host's own audit, re-entry, process.log."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest
import trio

import hostkit
import hostkit.events
from hostkit import events as _events
from hostkit.audit import AuditLog
from hostkit.capabilities import CallLimits, Gate, RateLimit
from hostkit.runtime._router import Signal
from hostkit.testing import capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"

BLOCK_WASMTIME = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "wasmtime" or name.startswith("wasmtime."):
            raise ImportError("wasmtime is unimportable in this test")
sys.meta_path.insert(0, Block())
from hostkit._pid import Pid, ExitReason
from hostkit._frames import decode_frames, encode_frames, Frame
from hostkit._events import EventBus, ActorExited
import hostkit
assert hostkit.Pid is Pid and hostkit.ExitReason is ExitReason
assert decode_frames(encode_frames([Frame("c", 1, 2, "x")])) == [Frame("c", 1, 2, "x")]
assert "wasmtime" not in sys.modules
try:
    hostkit.Host
except ImportError:
    print("ok")
"""


def test_pid_exit_reason_codec_and_events_import_without_wasmtime() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_WASMTIME], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


async def test_pids_carry_the_node_and_its_boot(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    assert pid.node == host.node == "nonode@nohost"
    assert pid.creation == host.creation != 0
    assert host.pid == hostkit.Pid(0, host.node, host.creation)
    assert await host.call(hostkit.Pid(pid.id), "bare ids are local") == "bare ids are local"


async def test_a_pid_of_an_earlier_boot_never_names_an_actor(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    stale = hostkit.Pid(pid.id, pid.node, pid.creation ^ 1)
    with pytest.raises(hostkit.NoProc, match="earlier boot"):
        host.send(stale, "x")
    with pytest.raises(hostkit.NoProc, match="earlier boot"):
        await host.call(stale, "x")
    assert not host.is_alive(stale)
    assert await host.call(pid, "x") == "x"


async def test_a_pid_of_another_node_is_noproc_without_federation(host: hostkit.Host) -> None:
    remote = hostkit.Pid(5, "other@elsewhere", 7)
    with pytest.raises(hostkit.NoProc, match="no federation is attached"):
        host.send(remote, "x")
    mon = host.monitor(remote)
    with trio.fail_after(5):
        assert await mon.wait() == hostkit.ExitReason("noconnection")
    with pytest.raises(hostkit.NoProc):
        host.link(host.pid, remote)


async def test_the_remote_seam_gets_every_signal_for_another_node(host: hostkit.Host) -> None:
    routed: list[Signal] = []

    class Federation:
        def route(self, signal: Signal) -> str | None:
            routed.append(signal)
            return None if signal.payload == b"ok" else "mailbox-full"

    host._router.remote = Federation()
    remote = hostkit.Pid(5, "other@elsewhere", 7)
    host.send(remote, "ok")
    with pytest.raises(hostkit.MailboxFull):
        host.send(remote, "push back")
    assert routed == [
        Signal("send", host.pid, remote, 0, b"ok"),
        Signal("send", host.pid, remote, 0, b"push back"),
    ]


async def test_remote_calls_and_monitors_go_through_the_seam(host: hostkit.Host) -> None:
    routed: list[Signal] = []

    class Federation:
        def route(self, signal: Signal) -> str | None:
            routed.append(signal)
            if signal.kind == "call":  # answer at once, as a peer would later
                host._router.remote_reply(signal.ref, b"pong")
            return None

    host._router.remote = Federation()
    remote = hostkit.Pid(5, "other@elsewhere", 7)
    assert await host.call(remote, "ping") == "pong"
    mon = host.monitor(remote)
    assert [s.kind for s in routed] == ["call", "monitor"]
    assert routed[1].ref == mon.ref and routed[1].sender == host.pid
    assert not host._router.remote_reply(routed[0].ref, b"again")  # answered once only
    host._sched.links.remote_down(mon.ref, remote.id, hostkit.ExitReason("noconnection"))
    with trio.fail_after(5):
        assert (await mon.wait()).kind == "noconnection"
    assert not mon.cancel()


async def test_the_host_from_another_thread_names_the_blocking_api(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    errors: list[BaseException] = []

    def use() -> None:
        try:
            host.send(pid, "x")
        except BaseException as exc:
            errors.append(exc)

    await trio.to_thread.run_sync(use)
    (error,) = errors
    assert isinstance(error, hostkit.WrongThreadError)
    assert "hostkit.blocking" in str(error)


def test_open_host_under_asyncio_names_the_aio_api(cache_dir: Path) -> None:
    async def main() -> None:
        async with hostkit.open_host(hostkit.HostConfig(cache_dir=cache_dir)):
            pass

    with pytest.raises(hostkit.WrongThreadError, match=r"hostkit\.aio"):
        asyncio.run(main())


def test_host_config_takes_str_paths(tmp_path: Path) -> None:
    cfg = hostkit.HostConfig(cache_dir=str(tmp_path))
    assert cfg.cache_dir == tmp_path
    with pytest.raises(TypeError, match="cache_dir"):
        hostkit.HostConfig(cache_dir=42)  # type: ignore[arg-type]


async def test_events_name_who_ended_an_actor(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    seen: list[Any] = []
    async with hostkit.open_host(config) as host:
        host.events.subscribe(seen.append)
        linker = host.load(wasm["linker"])
        a, b = await host.spawn(linker), await host.spawn(linker)
        host.link(a, b)
        host.send(b, "crash")
        await host.wait(a)
        host_killed = await host.spawn(linker)
        host.kill(host_killed)
        await host.wait(host_killed)
    exits = {e.pid: e for e in seen if isinstance(e, _events.ActorExited)}
    assert exits[b].cause is None and exits[b].reason.kind == "trap"
    assert exits[a].cause == b  # a died of b's exit signal
    assert exits[host_killed].cause == host.pid
    assert [e.pid for e in seen if isinstance(e, _events.ActorSpawned)] == [a, b, host_killed]
    assert any(isinstance(e, _events.ActorKilled) for e in seen)


async def test_the_host_audits_lifecycles_without_a_gate(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    with capture_audit() as records:
        async with hostkit.open_host(config, audit=AuditLog()) as host:
            pid = await host.spawn(host.load(wasm["echo"]))
            host.kill(pid)
            await host.wait(pid)
            host.audit("restart", actor=str(pid), detail="by a supervisor")
    assert [r["event"] for r in records if r["actor"] == str(pid)] == [
        "spawn",
        "kill",
        "exit",
        "restart",
    ]
    assert records.where(event="exit")[0]["cause"] == str(host.pid)


async def test_a_host_function_calling_its_own_actor_fails_at_once(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    token = trio.lowlevel.current_trio_token()
    box: list[hostkit.Host] = []
    seen: list[BaseException] = []

    def reenter(inst: Any, x: int) -> int:
        try:
            trio.from_thread.run(box[0].call, inst.owner.pid, "again", trio_token=token)
        except BaseException as exc:
            seen.append(exc)
        return 7

    cfg = dataclasses.replace(config, activation_timeout=30)
    funcs = {"hostkit:test/hooks@0.1.0": {"fail": reenter}}
    async with hostkit.open_host(cfg, host_functions=funcs) as host:
        box.append(host)
        pid = await host.spawn(host.load(wasm["raiser"]))
        with trio.fail_after(20):  # far below the 30 s deadline and the 5 s call timeout
            assert await host.call(pid, "x", timeout=25) == "7"
    (error,) = seen
    assert isinstance(error, hostkit.CallDeadlock)
    assert "wait for itself" in str(error)


async def test_process_log_is_escaped_decided_and_rate_limited(
    config: hostkit.HostConfig, wasm: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    limits = CallLimits()
    limits.set_rate(RateLimit(rate=0.001, burst=2), action="hostkit:plugin/process#log")
    gate = Gate(pluggy.PluginManager("hostkit"), policies=[DEFAULT], limits=limits)
    caplog.set_level(logging.INFO, logger="hostkit.runtime")
    with capture_audit() as records:
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["sig_logger"]))
            host.send(pid, "ok\n2026 CRITICAL hostkit: audit log tampered\x1b[2J")
            for i in range(3):
                host.send(pid, f"line {i}")
            assert await host.call(pid, "sync") == "sync"
    lines = [r.getMessage() for r in caplog.records if r.name == "hostkit.runtime"]
    assert len(lines) == 2  # the burst; the rest were over the rate
    assert "\\n2026 CRITICAL" in lines[0] and "\\x1b[2J" in lines[0]
    assert all("\n" not in line and "\x1b" not in line for line in lines)
    decided = records.where(event="decision", action="hostkit:plugin/process#log")
    assert [d["decision"] for d in decided] == ["allow", "allow", "deny", "deny"]
    assert {d["actor"] for d in decided} == {str(pid)}


async def test_send_wait_waits_for_room(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    # one slice as long as the deadline: the spinner holds the thread (no preemption)
    cfg = dataclasses.replace(
        config, scheduler_threads=1, mailbox_capacity=2, slice_seconds=config.activation_timeout
    )
    async with hostkit.open_host(cfg) as host:
        spinner = await host.spawn(host.load(wasm["loop"]))
        echo = await host.spawn(host.load(wasm["echo"]))
        host.send(spinner, "spin")  # the one thread is busy until its deadline
        host.send(echo, "1")
        host.send(echo, "2")
        with pytest.raises(hostkit.MailboxFull):
            host.send(echo, "3")
        with trio.fail_after(10):
            await host.send_wait(echo, "3")  # returns once the spinner is gone
        assert await host.call(echo, "count") == "3"
        with pytest.raises(hostkit.NoProc):
            await host.send_wait(spinner, "x")


@pytest.mark.parametrize(
    "field",
    [
        "mailbox_max_bytes",
        "host_mailbox_bytes",
        "outbox_max_bytes",
        "max_actors",
        "max_actors_per_plugin",
        "max_spawn_depth",
    ],
)
def test_host_config_refuses_nonpositive_bounds(field: str) -> None:
    with pytest.raises(ValueError, match=f"HostConfig.{field}"):
        hostkit.HostConfig(**{field: 0})


def test_host_config_resolves_the_outbox_frame_default() -> None:
    assert hostkit.HostConfig(batch_size=10).outbox_frames == 80
    assert hostkit.HostConfig(outbox_max_frames=3).outbox_frames == 3
    with pytest.raises(ValueError, match="outbox_max_frames"):
        hostkit.HostConfig(outbox_max_frames=0)
    with pytest.raises(ValueError, match="node_name"):
        hostkit.HostConfig(node_name="two\nlines")


async def test_a_call_cycle_on_one_thread_is_a_deadlock_not_a_timeout(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = dataclasses.replace(config, scheduler_threads=1, activation_timeout=30.0)
    async with hostkit.open_host(cfg) as host:
        spawner = host.load(wasm["spawner"])
        a, b = await host.spawn(spawner), await host.spawn(spawner)
        # a calls b; b runs on a's thread while a waits, and calls a back
        with trio.fail_after(20):  # the inner call's own timeout is 1 s
            reply = await host.call(a, f"relay:{b.id:016x}relay:{a.id:016x}hi", timeout=25)
        assert reply == "error:3"  # call-error case 3: deadlock


async def test_a_broken_audit_log_never_unwinds_an_exit(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    class Broken:
        def record(self, event: str, /, **fields: Any) -> None:
            raise hostkit.AuditError("disk full")

    async with hostkit.open_host(config, audit=Broken()) as host:
        linker = host.load(wasm["linker"])
        a, b = await host.spawn(linker), await host.spawn(linker)
        host.link(a, b)
        host.send(b, "crash")
        assert (await host.wait(a)).kind == "trap"  # the link still fired
        with pytest.raises(hostkit.AuditError):
            host.audit("restart", actor=str(a))  # host code hears about it


def test_hostkit_events_lists_each_public_name_once() -> None:
    exported = hostkit.events.__all__
    assert len(exported) == len(set(exported))
    assert all(hasattr(hostkit.events, name) for name in exported)
