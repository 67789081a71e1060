"""The control endpoint of ``hostkit run``: owner-only (0700 directory,
0600 socket, SO_PEERCRED), bounded, every request audited; and the
``hostkit run`` / ``hostkit send`` commands around it, on real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import hostkit
from hostkit.cli._run import call_running, send_to_running
from hostkit.config import ConfiguredHost, load_config, open_configured_host
from hostkit.config._control import ControlServer, private_dir, request, socket_path

HOSTKIT = Path(sys.executable).with_name("hostkit")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A 0700 directory with a short path (Unix socket paths are <= 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host_toml(tmp_path: Path, wasm: dict[str, Path], cache_dir: Path, short_dir: Path) -> Path:
    (tmp_path / "echo.wasm").write_bytes(wasm["echo"].read_bytes())
    path = tmp_path / "host.toml"
    path.write_text(f"""
[host]
cache_dir = "{cache_dir}"
scheduler_threads = 1
max_message_size = 1000

[audit]
path = "audit.log"

[control]
socket_dir = "{short_dir / 'ctl'}"
max_request_bytes = 2000
max_connections = 2
idle_timeout = 30

[[components]]
name = "echo"
path = "echo.wasm"

[[supervisor.children]]
id = "echo"
component = "echo"
name = "echo"
""")
    return path


@pytest.fixture
async def running(host_toml: Path) -> AsyncIterator[ConfiguredHost]:
    async with open_configured_host(host_toml) as r:
        yield r


@pytest.fixture
async def served(running: ConfiguredHost) -> AsyncIterator[Path]:
    path = socket_path(running.config)
    async with trio.open_nursery() as nursery:
        await nursery.start(ControlServer(running, path).serve)
        yield path
        nursery.cancel_scope.cancel()


def records(running: ConfiguredHost) -> list[dict[str, Any]]:
    log = running.config.resolve("audit.log")
    return [json.loads(line) for line in log.read_text().splitlines()]


async def ask(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    return await trio.to_thread.run_sync(lambda: request(path, payload, timeout=10))


async def raw(path: Path, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        await sock.connect(str(path))
        stream = trio.SocketStream(sock)
        await stream.send_all(data)
        out = b""
        try:
            while chunk := await stream.receive_some(65536):
                out += chunk
                if out.endswith(b"\n"):
                    break
        except trio.BrokenResourceError:  # closed with our request unread
            pass
        return out


async def test_send_call_and_ping_reach_the_named_actor(
    running: ConfiguredHost, served: Path
) -> None:
    assert await ask(served, {"op": "ping"}) == {"ok": True, "reply": "pong"}
    assert await ask(served, {"op": "call", "to": "echo", "msg": "hi"}) == {
        "ok": True, "reply": "hi"
    }
    assert (await ask(served, {"op": "send", "to": "echo", "msg": "x"}))["ok"]
    reply = await trio.to_thread.run_sync(lambda: call_running("echo", "count", socket=served))
    assert reply == "1"  # the cast above was delivered
    await trio.to_thread.run_sync(lambda: send_to_running("echo", "y", socket=served))
    assert await running.host.call(running.host.whereis("echo"), "count") == "2"


async def test_every_request_is_audited_before_it_runs(
    running: ConfiguredHost, served: Path
) -> None:
    await ask(served, {"op": "call", "to": "echo", "msg": "hi"})
    await ask(served, {"op": "send", "to": "nobody", "msg": "hi"})
    control = [r for r in records(running) if r["event"] == "control"]
    assert [(r["action"], r["decision"], r["resource"]) for r in control] == [
        ("hostkit:control#call", "allow", "echo"),
        ("hostkit:control#send", "deny", "nobody"),
    ]
    assert control[0]["peer_uid"] == os.getuid() and control[0]["peer_pid"] == os.getpid()
    assert control[0]["bytes"] == 2


async def test_refusals_say_why(served: Path) -> None:
    assert await ask(served, {"op": "send", "to": "nobody", "msg": "x"}) == {
        "ok": False, "error": "noproc", "detail": "no actor is registered as 'nobody'"
    }
    answer = await ask(served, {"op": "call", "to": "echo", "msg": "x" * 1500})
    assert answer["error"] == "message-too-large"  # over the host's max_message_size (1000)
    assert (await ask(served, {"op": "kill", "to": "echo"}))["error"] == "invalid"
    assert (await ask(served, {"op": "send", "to": "", "msg": "x"}))["error"] == "invalid"
    assert (await ask(served, {"op": "send", "to": "echo", "msg": 3}))["error"] == "invalid"
    bad_timeout = {"op": "call", "to": "echo", "msg": "x", "timeout": 0}
    assert (await ask(served, bad_timeout))["error"] == "invalid"
    assert json.loads(await raw(served, b"not json\n"))["error"] == "invalid"


async def test_a_request_line_over_the_limit_is_refused_and_the_connection_closed(
    served: Path,
) -> None:
    answer = json.loads(await raw(served, b"x" * 5000))  # no newline, over 2000 bytes
    assert answer == {
        "ok": False, "error": "too-large", "detail": "a request line is at most 2000 bytes"
    }


async def test_connections_beyond_the_limit_are_turned_away(served: Path) -> None:
    held = []
    for _ in range(2):
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.connect(str(served))
        stream = trio.SocketStream(sock)
        await stream.send_all(b'{"op":"ping"}\n')
        assert b"pong" in await stream.receive_some(100)  # this connection holds a slot
        held.append(stream)
    assert json.loads(await raw(served, b'{"op":"ping"}\n'))["error"] == "busy"
    for stream in held:
        await stream.aclose()


async def test_a_peer_of_another_uid_is_refused_and_audited(
    running: ConfiguredHost, short_dir: Path
) -> None:
    path = short_dir / "other.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(ControlServer(running, path, owner_uid=os.getuid() + 1).serve)
        assert await raw(path, b'{"op":"ping"}\n') == b""  # closed without an answer
        nursery.cancel_scope.cancel()
    refused = [r for r in records(running) if r["event"] == "control"]
    assert refused[-1]["decision"] == "deny" and refused[-1]["detail"] == "peer is another user"


async def test_socket_is_0600_in_a_0700_directory_and_removed_on_exit(
    running: ConfiguredHost,
) -> None:
    path = socket_path(running.config)
    async with trio.open_nursery() as nursery:
        await nursery.start(ControlServer(running, path).serve)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        nursery.cancel_scope.cancel()
    assert not path.exists()


def test_a_socket_directory_open_to_others_or_a_symlink_is_refused(short_dir: Path) -> None:
    open_dir = short_dir / "open"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    with pytest.raises(hostkit.ConfigError, match=r"is open to others .*chmod 700"):
        private_dir(open_dir, create=True)
    link = short_dir / "link"
    link.symlink_to(short_dir)
    with pytest.raises(hostkit.ConfigError, match="not a plain directory"):
        private_dir(link, create=True)
    with pytest.raises(hostkit.ConfigError, match="does not exist"):
        private_dir(short_dir / "absent", create=False)


async def test_an_idle_connection_is_closed(
    running: ConfiguredHost, autojump_clock: trio.testing.MockClock
) -> None:
    path = socket_path(running.config)
    async with trio.open_nursery() as nursery:
        await nursery.start(ControlServer(running, path).serve)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with sock:
            await sock.connect(str(path))
            start = trio.current_time()
            assert await sock.recv(100) == b""  # closed by the server
            assert trio.current_time() - start == pytest.approx(30, abs=1)
        nursery.cancel_scope.cancel()


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.05)


# -- the commands, as a user runs them -----------------------------------------------


def test_hostkit_run_serves_send_and_call_then_stops_cleanly_on_sigterm(
    host_toml: Path,
) -> None:
    proc = subprocess.Popen(
        [str(HOSTKIT), "run", str(host_toml)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("control"):
                break
        assert any("child     echo" in line and "running" in line for line in lines)
        sent = subprocess.run(
            [str(HOSTKIT), "send", "--to", "echo", "hello", "--config", str(host_toml)],
            capture_output=True, text=True, timeout=60,
        )
        assert (sent.returncode, sent.stdout) == (0, "sent to echo\n")
        assert call_running("echo", "count", config=host_toml) == "1"
        called = subprocess.run(
            [str(HOSTKIT), "call", "--to", "echo", "count", "--config", str(host_toml)],
            capture_output=True, text=True, timeout=60,
        )
        assert (called.returncode, called.stdout) == (0, "1\n"), called.stderr
        as_json = subprocess.run(
            [str(HOSTKIT), "call", "--json", "--to", "echo", "ping!", "--config", str(host_toml)],
            capture_output=True, text=True, timeout=60,
        )
        assert json.loads(as_json.stdout) == {"ok": True, "to": "echo", "reply": "ping!"}
        missing = subprocess.run(
            [str(HOSTKIT), "send", "--to", "ghost", "x", "--config", str(host_toml)],
            capture_output=True, text=True, timeout=60,
        )
        assert missing.returncode == 1
        assert "noproc: no actor is registered as 'ghost'" in missing.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped (SIGTERM); audit log closed" in err
    log = [json.loads(line) for line in (host_toml.parent / "audit.log").read_text().splitlines()]
    assert log[-1]["event"] == "exit" and log[-1]["detail"] == "shutdown"
    assert sum(r["event"] == "control" for r in log) == 5
    assert not socket_path(load_config(host_toml)).exists()


def test_hostkit_run_with_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "host.toml"
    bad.write_text("[host]\nscheduler_threads = 'two'\n")
    done = subprocess.run([str(HOSTKIT), "run", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"{bad}: host.scheduler_threads: expected `int`, got `str`" in done.stderr


def test_hostkit_call_to_takes_only_a_message_and_no_one_shot_grants(host_toml: Path) -> None:
    for extra in (["echo", "a", "b"], ["echo", "a", "--allow-host", "example.com"]):
        done = subprocess.run(
            [str(HOSTKIT), "call", "--to", *extra, "--config", str(host_toml)],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2, done.stderr
    done = subprocess.run(
        [str(HOSTKIT), "call", "--to", "echo", "x", "--config", str(host_toml)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "does not exist (is the host running?)" in done.stderr


def test_hostkit_send_without_a_running_host_exits_2(host_toml: Path) -> None:
    done = subprocess.run(
        [str(HOSTKIT), "send", "--to", "echo", "x", "--config", str(host_toml)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "does not exist (is the host running?)" in done.stderr


def test_hostkit_run_check_prints_the_cedar_the_grants_compile_to(tmp_path: Path) -> None:
    cfg = tmp_path / "host.toml"
    (tmp_path / "e.wasm").write_bytes(b"")
    cfg.write_text('[[components]]\nname = "e"\npath = "e.wasm"\n'
                   '[[grants]]\nplugin = "e"\nkv_read = ["k/*"]\n')
    done = subprocess.run([str(HOSTKIT), "run", str(cfg), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"// {cfg}: OK\n// in force with: hostkit's default policy\n")
    assert '@id("plugin:e/kv-read:k/*")' in done.stdout


def test_hostkit_run_exits_1_when_a_component_does_not_load(tmp_path: Path) -> None:
    cfg = tmp_path / "host.toml"
    (tmp_path / "e.wasm").write_bytes(b"not wasm")
    cfg.write_text('[[components]]\nname = "e"\npath = "e.wasm"\n')
    done = subprocess.run([str(HOSTKIT), "run", str(cfg)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "ComponentLoadError: component 'e'" in done.stderr


def test_control_enabled_false_opens_no_socket(host_toml: Path) -> None:
    text = host_toml.read_text().replace("[control]\n", "[control]\nenabled = false\n")
    host_toml.write_text(text)
    proc = subprocess.Popen([str(HOSTKIT), "run", str(host_toml)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("hostkit: running"):
                break
        assert not socket_path(load_config(host_toml)).exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "  control " not in out


def test_without_config_the_only_running_host_is_found_and_several_are_named(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostkit.config._control import find_socket

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir))
    with pytest.raises(hostkit.ConfigError, match="does not exist"):
        find_socket()
    (short_dir / "hostkit").mkdir(mode=0o700)
    with pytest.raises(hostkit.ConfigError, match="no running host found"):
        find_socket()
    socks = []
    for name in ("a-1.sock", "b-2.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(short_dir / "hostkit" / name))
        socks.append(s)
        if name == "a-1.sock":
            assert find_socket() == short_dir / "hostkit" / "a-1.sock"
    with pytest.raises(hostkit.ConfigError, match=r"several hosts are running \(a-1.sock, b-2"):
        find_socket()
    for s in socks:
        s.close()


def test_ctrl_c_stops_hostkit_run_cleanly(host_toml: Path) -> None:
    proc = subprocess.Popen([str(HOSTKIT), "run", str(host_toml), "--no-control"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("hostkit: running"):
                break
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped (SIGINT); audit log closed" in err
    log = (host_toml.parent / "audit.log").read_text().splitlines()
    assert json.loads(log[-1])["detail"] == "shutdown"
