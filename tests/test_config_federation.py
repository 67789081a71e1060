"""``[federation]`` in host.toml: checked with the file (errors name the key),
and two real ``hostkit run`` processes that federate from their configs and
exchange messages through the control socket (``send``/``call --node``)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostkit import ConfigError
from hostkit.config import open_configured_host, parse_config
from hostkit.federation import make_cluster_secret, make_node_key

HOSTKIT = Path(sys.executable).with_name("hostkit")

POLICY = """
@id("cluster:connect")
permit (principal in Group::"cluster", action == Action::"hostkit:federation#connect", resource);

@id("cluster:echo")
permit (principal in Group::"cluster",
        action in [Action::"hostkit:plugin/process#send", Action::"hostkit:plugin/process#call",
                   Action::"hostkit:plugin/process#whereis"],
        resource);
"""


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    (tmp_path / "peers.cedar").write_text(POLICY)
    make_cluster_secret(tmp_path / "cluster.secret")
    return tmp_path


def check(directory: Path, federation: str, host: str = 'node = "alpha"') -> None:
    parse_config(f"[host]\n{host}\n\n[federation]\n{federation}\n", directory / "host.toml")


GOOD = 'secret_file = "cluster.secret"\npolicy = ["peers.cedar"]\n'


def test_a_good_federation_table_loads(keys: Path) -> None:
    check(keys, GOOD + 'listen = ["127.0.0.1:0"]\n[[federation.peers]]\nname = "beta"\n'
          'address = "127.0.0.1:7402"\ngroups = ["cluster"]\n')


@pytest.mark.parametrize(
    ("federation", "host", "says"),
    [
        ('policy = ["peers.cedar"]', None,
         "federation: give exactly one credential: secret_file"),
        (GOOD + 'key_file = "cluster.secret"', None, "found secret_file, key_file"),
        ('secret_file = "nope.secret"\npolicy = ["peers.cedar"]', None,
         "federation.secret_file: file not found"),
        ('secret_file = "cluster.secret"', None, "federation.policy: required: Cedar files"),
        ('secret_env = "NOT A VAR"\npolicy = ["peers.cedar"]', None,
         "federation.secret_env: 'NOT A VAR' is not an environment variable name"),
        (GOOD + 'listen = ["0.0.0.0:7401"]', None,
         "federation.listen[0]: 0.0.0.0 is not loopback: set tls_cert and tls_key"),
        (GOOD + 'listen = ["7401"]', None, "federation.listen[0]: '7401' must be HOST:PORT"),
        (GOOD + 'listen = [{ address = "127.0.0.1:0", transport = "quic" }]', None,
         "federation.listen[0]: a QUIC listener needs tls_cert and tls_key"),
        (GOOD + 'transport = "carrier-pigeon"', None, "federation.transport: invalid enum value"),
        (GOOD + 'tls_cert = "cluster.secret"', None,
         "federation.tls_cert: give tls_cert and tls_key together"),
        (GOOD + 'heartbeat = 3', None, "federation.heartbeat: unknown key; expected one of: "),
        (GOOD + '[[federation.peers]]\nname = "beta"\naddress = "10.1.2.3:7402"', None,
         "federation.peers[0].address: 10.1.2.3 is not loopback: set tls_ca"),
        (GOOD + '[[federation.peers]]\nname = "alpha"', None,
         "federation.peers[0].name: 'alpha' is this node"),
        (GOOD + '[[federation.peers]]\nname = "bad name!"', None,
         "federation.peers[0].name: "),
        (GOOD + '[[federation.peers]]\nname = "beta"\npublic_key = "beta.pub"', None,
         "federation.peers[0].public_key: only with key_file"),
        ('key_file = "alpha.key"\npolicy = ["peers.cedar"]\n[[federation.peers]]\nname = "beta"',
         None, "federation.peers[0].public_key: required with key_file"),
        (GOOD, 'node = "not a node!"', "host.node: "),
    ],
)
def test_a_bad_federation_table_is_refused_naming_the_key(
    keys: Path, federation: str, host: str | None, says: str
) -> None:
    make_node_key("alpha", keys) if not (keys / "alpha.key").exists() else None
    with pytest.raises(ConfigError) as info:
        check(keys, federation, host or 'node = "alpha"')
    message = str(info.value)
    assert "host.toml" in message and says in message, message


async def test_a_secret_env_that_is_unset_or_a_secret_file_open_to_others_names_the_key(
    keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HK_TEST_SECRET", raising=False)
    cfg = parse_config('[host]\nnode = "alpha"\n[federation]\nsecret_env = "HK_TEST_SECRET"\n'
                       'policy = ["peers.cedar"]\n', keys / "host.toml")
    with pytest.raises(ConfigError, match=r"federation.secret_env: \$HK_TEST_SECRET is not set"):
        async with open_configured_host(cfg):
            pass
    os.chmod(keys / "cluster.secret", 0o644)
    cfg = parse_config('[host]\nnode = "alpha"\n[federation]\n' + GOOD, keys / "host.toml")
    with pytest.raises(ConfigError, match=r"federation\.secret_file: .*chmod 600"):
        async with open_configured_host(cfg):
            pass


async def test_a_configured_host_is_a_node_named_by_host_node(keys: Path) -> None:
    monkey_secret = (keys / "cluster.secret").read_text().strip()
    os.environ["HK_TEST_SECRET_OK"] = monkey_secret
    try:
        cfg = parse_config(
            '[host]\nnode = "alpha"\n[federation]\nsecret_env = "HK_TEST_SECRET_OK"\n'
            'policy = ["peers.cedar"]\nlisten = ["127.0.0.1:0"]\n', keys / "host.toml",
        )
        async with open_configured_host(cfg) as running:
            assert running.host.node == "alpha"
            assert running.federation is not None
            assert running.federation.federation.node.name == "alpha"
            (address,) = running.federation.listening
            assert address.startswith("ws://127.0.0.1:")
    finally:
        del os.environ["HK_TEST_SECRET_OK"]


# ------------------------------------------------- two `hostkit run` processes


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hkf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Running:
    """A `hostkit run` process whose stdout lines are read by a thread."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [str(HOSTKIT), "run", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {text!r} in {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return err


def node_toml(directory: Path, name: str, *, cache_dir: Path, sockets: Path, listen: str,
              peer: str, peer_address: str | None) -> Path:
    dial = f'address = "{peer_address}"\n' if peer_address else ""
    path = directory / f"{name}.toml"
    path.write_text(f"""
[host]
node = "{name}"
cache_dir = "{cache_dir}"
scheduler_threads = 1

[audit]
path = "{name}-audit.log"

[control]
socket_dir = "{sockets}"

[[components]]
name = "echo"
path = "echo.wasm"

[[supervisor.children]]
id = "echo"
component = "echo"
name = "echo"

[federation]
secret_file = "cluster.secret"
policy = ["peers.cedar"]
listen = ["{listen}"]
heartbeat_timeout = 5.0

[[federation.peers]]
name = "{peer}"
groups = ["cluster"]
{dial}""")
    return path


def test_two_hostkit_run_processes_federate_from_config_and_exchange_messages(
    keys: Path, wasm: dict[str, Path], cache_dir: Path, short_dir: Path
) -> None:
    shutil.copy(wasm["echo"], keys / "echo.wasm")
    sockets = short_dir / "ctl"
    beta_toml = node_toml(keys, "beta", cache_dir=cache_dir, sockets=sockets,
                          listen="127.0.0.1:0", peer="alpha", peer_address=None)
    beta = Running(beta_toml)
    alpha = None
    try:
        listen = beta.wait_for("listen").split()[-1]  # ws://127.0.0.1:PORT/
        port = listen.rstrip("/").rsplit(":", 1)[1]
        alpha_toml = node_toml(keys, "alpha", cache_dir=cache_dir, sockets=sockets,
                               listen="127.0.0.1:0", peer="beta",
                               peer_address=f"127.0.0.1:{port}")
        alpha = Running(alpha_toml)
        assert alpha.wait_for("peer      beta").split()[-1] == f"ws://127.0.0.1:{port}/"
        assert "hostkit: peer beta#" in alpha.wait_for("peer beta#")
        assert "up" in beta.wait_for("peer alpha#")

        def hostkit(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(HOSTKIT), *args, "--config", str(alpha_toml)],
                                  capture_output=True, text=True, timeout=60)

        sent = hostkit("send", "--to", "echo", "--node", "beta", "hello beta")
        assert (sent.returncode, sent.stdout) == (0, "sent to echo\n"), sent.stderr
        called = hostkit("call", "--to", "echo", "--node", "beta", "from alpha")
        assert (called.returncode, called.stdout) == (0, "from alpha\n"), called.stderr
        counted = hostkit("call", "--to", "echo", "--node", "beta", "count")
        assert counted.stdout == "1\n"  # the cast reached beta's echo, not alpha's
        local = hostkit("call", "--to", "echo", "count")
        assert local.stdout == "0\n"
        ghost = hostkit("call", "--to", "ghost", "--node", "beta", "x")
        assert ghost.returncode == 1 and "noproc" in ghost.stderr
        nowhere = hostkit("call", "--to", "echo", "--node", "gamma", "x")
        assert nowhere.returncode == 1 and "node-unreachable" in nowhere.stderr
    finally:
        errors = [beta.stop()] + ([alpha.stop()] if alpha else [])
    assert beta.proc.returncode == 0 and (alpha is None or alpha.proc.returncode == 0), errors
    log = [json.loads(line) for line in (keys / "beta-audit.log").read_text().splitlines()]
    connects = [r for r in log if r["event"] == "federation-connect"]
    assert connects and connects[0]["peer"] == "alpha"
    decisions = [r for r in log if r["event"] == "decision" and r.get("peer") == "alpha"]
    assert {r["action"] for r in decisions} >= {
        "hostkit:federation#connect", "hostkit:plugin/process#call",
        "hostkit:plugin/process#whereis",
    }


async def test_configured_hosts_federate_over_quic_with_node_keys(
    keys: Path, wasm: dict[str, Path], cache_dir: Path
) -> None:
    """QUIC both ways, Ed25519 node keys instead of a secret, from config only."""
    import trio

    from hostkit.federation import make_dev_cert

    shutil.copy(wasm["echo"], keys / "echo.wasm")
    for name in ("alpha", "beta"):
        make_node_key(name, keys)
        make_dev_cert(name, keys, hosts=("localhost", "127.0.0.1"))

    def toml(name: str, peer: str, address: str | None) -> str:
        dial = f'address = "{address}"\n' if address else ""
        return f"""
[host]
node = "{name}"
cache_dir = "{cache_dir}"
scheduler_threads = 1

[[components]]
name = "echo"
path = "echo.wasm"

[[supervisor.children]]
id = "echo"
component = "echo"
name = "echo"

[federation]
transport = "quic"
listen = ["127.0.0.1:0"]
key_file = "{name}.key"
tls_cert = "{name}.crt.pem"
tls_key = "{name}.crt.key"
tls_ca = "dev-ca.pem"
policy = ["peers.cedar"]

[[federation.peers]]
name = "{peer}"
public_key = "{peer}.pub"
groups = ["cluster"]
{dial}"""

    beta_cfg = parse_config(toml("beta", "alpha", None), keys / "beta.toml")
    async with open_configured_host(beta_cfg) as beta:
        assert beta.federation is not None
        (bound,) = beta.federation.listening
        assert bound.startswith("quic://127.0.0.1:")
        port = bound.rsplit(":", 1)[1]
        alpha_cfg = parse_config(
            toml("alpha", "beta", f"localhost:{port}"), keys / "alpha.toml"
        )
        async with open_configured_host(alpha_cfg) as alpha:
            assert alpha.federation is not None
            assert alpha.federation.dialling == {"beta": f"quic://localhost:{port}"}
            fed = alpha.federation.federation
            with trio.fail_after(20):
                await fed.wait_up("beta")
            remote = await fed.whereis("beta", "echo")
            assert remote is not None
            from hostkit import Pid

            pid = Pid(remote.id, remote.node, remote.creation)
            assert await alpha.host.call(pid, "over quic") == "over quic"
            assert set(fed.link_to("beta").connection.flags) >= {"credit", "tls-binding"}
