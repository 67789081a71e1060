"""Node identity, key files, remote pid slots, the node CLI and Cedar peer policy."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from hostkit.capabilities import Authorizer, Entity
from hostkit.cli import main
from hostkit.federation import (
    CedarPeerPolicy,
    ClusterSecret,
    FederationConfigError,
    LocalActor,
    NodeId,
    NodeKeys,
    PidSlots,
    RegisteredName,
    RemotePid,
    ThisNode,
    check_node_name,
    federation_schema,
    new_creation,
)
from hostkit.federation._identity import read_private
from hostkit.federation._policy import SCHEMA_FRAGMENT
from hostkit.testing import capture_audit

ROOT = Path(__file__).resolve().parents[1]


def test_federation_all_lists_each_public_name_once():
    module = importlib.import_module("hostkit.federation")
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    assert all(hasattr(module, name) for name in exported)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, type(importlib))
    }
    assert public == set(exported)


def test_pid_slots_pack_remote_pids_into_u64_and_keep_old_creations_apart():
    slots = PidSlots()
    old, new = RemotePid("b", 1, 7), RemotePid("b", 2, 7)
    wire_old, wire_new = slots.encode(old), slots.encode(new)
    assert wire_old >> 48 == 1 and wire_new >> 48 == 2 and wire_old & (2**48 - 1) == 7
    assert slots.decode(wire_old) == old and slots.decode(wire_new) == new
    assert slots.encode(old) == wire_old  # stable
    assert slots.decode(42) == 42  # slot 0: a local actor
    with pytest.raises(FederationConfigError, match="unknown node slot 9"):
        slots.decode(9 << 48 | 1)
    with pytest.raises(FederationConfigError, match="does not fit in 48 bits"):
        slots.encode(RemotePid("b", 1, 2**48))
    with pytest.raises(FederationConfigError, match="not a u64"):
        slots.decode(-1)


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 129, "ä", 'a"b', "a\nb"])
def test_invalid_node_names_are_refused(bad):
    with pytest.raises(FederationConfigError, match="invalid node name"):
        check_node_name(bad)


def test_creation_is_random_and_nonzero():
    draws = {new_creation() for _ in range(50)}
    assert 0 not in draws and len(draws) > 45


def test_key_files_are_private_and_others_are_refused(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "node",
            "keygen",
            "alpha",
            "--dir",
            str(tmp_path),
            "--secret",
            str(tmp_path / "cluster.secret"),
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("alpha.key", "cluster.secret"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert ClusterSecret.from_file(tmp_path / "cluster.secret")
    keys = NodeKeys.from_files(tmp_path / "alpha.key", {"alpha": tmp_path / "alpha.pub"})
    assert keys.verify("alpha", "initiator", b"t", keys.prove("initiator", b"t"))
    assert not keys.verify("alpha", "acceptor", b"t", keys.prove("initiator", b"t"))
    again = runner.invoke(main, ["node", "keygen", "alpha", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    os.chmod(tmp_path / "alpha.key", 0o644)
    with pytest.raises(FederationConfigError, match="chmod 600"):
        read_private(tmp_path / "alpha.key")


def test_short_or_garbled_secrets_are_refused(tmp_path):
    with pytest.raises(FederationConfigError, match="32"):
        ClusterSecret(b"short")
    path = tmp_path / "s"
    path.write_text("not hex")
    path.chmod(0o600)
    with pytest.raises(FederationConfigError, match="not a hex cluster secret"):
        ClusterSecret.from_file(path)
    assert "hidden" in repr(ClusterSecret(bytes(32)))


def test_dev_cert_command_makes_a_ca_and_a_node_certificate(tmp_path):
    import ssl

    result = CliRunner().invoke(main, ["node", "dev-cert", "alpha", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "alpha.crt.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "dev-ca.key").stat().st_mode) == 0o600
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "alpha.crt.pem", tmp_path / "alpha.crt.key")
    second = CliRunner().invoke(main, ["node", "dev-cert", "beta", "--dir", str(tmp_path)])
    assert second.exit_code == 0  # reuses the CA
    bad = CliRunner().invoke(main, ["node", "dev-cert", "bad name", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "invalid node name" in bad.output


def test_embedded_schema_fragment_equals_the_file():
    assert (ROOT / "capabilities" / "federation.cedarschema").read_text() == SCHEMA_FRAGMENT


POLICY = """
@id("cluster:connect")
permit (principal in Group::"cluster", action == Action::"hostkit:federation#connect", resource);

@id("cluster:billing")
permit (principal in Group::"cluster", action == Action::"hostkit:plugin/process#send", resource)
when { resource.name like "billing-*" && context.size <= 1024 };

@id("cluster:link")
permit (principal in Group::"cluster", action in [Action::"hostkit:federation#link",
        Action::"hostkit:federation#monitor"], resource);

@id("cluster:news")
permit (principal in Group::"cluster", action == Action::"hostkit:federation#pg-publish",
        resource == ProcessGroup::"news");
"""


def cedar_policy(audit=None):
    authorizer = Authorizer(POLICY, schema=federation_schema())
    plugins = {1: Entity.plugin("billing-eu"), 2: Entity.plugin("payroll")}
    return CedarPeerPolicy(
        authorizer,
        plugin_of_pid=plugins.get,
        groups_of=lambda name: ("cluster",) if name in ("a", "b") else (),
        audit=audit,
    )


def test_cedar_peer_policy_decides_with_the_federation_schema():
    policy = cedar_policy()
    a, stranger = NodeId("a", 1), NodeId("x", 1)
    assert policy.allows(a, "hostkit:federation#connect", ThisNode("b"), {})
    assert not policy.allows(stranger, "hostkit:federation#connect", ThisNode("b"), {})
    assert policy.allows(a, "hostkit:plugin/process#send", LocalActor(1), {"size": 10})
    assert not policy.allows(a, "hostkit:plugin/process#send", LocalActor(1), {"size": 5000})
    assert not policy.allows(a, "hostkit:plugin/process#send", LocalActor(2), {"size": 10})
    assert not policy.allows(a, "hostkit:plugin/process#send", LocalActor(99), {"size": 1})
    assert policy.allows(a, "hostkit:federation#link", LocalActor(2), {})
    assert not policy.allows(a, "hostkit:plugin/process#whereis", RegisteredName("x"), {})


def test_cedar_peer_policy_audits_every_decision():
    from hostkit.audit import AuditLog
    from hostkit.federation import GroupRef

    policy = cedar_policy(AuditLog(node="b"))
    with capture_audit() as records:
        policy.allows(
            NodeId("a", 5), "hostkit:federation#pg-publish", GroupRef("news"), {"size": 3}
        )
        policy.allows(
            NodeId("x", 6), "hostkit:federation#pg-publish", GroupRef("news"), {"size": 3}
        )
    allow, deny = records.where(event="decision")
    assert allow["decision"] == "allow" and allow["policies"] == ["cluster:news"]
    assert allow["resource"] == 'ProcessGroup::"news"' and allow["peer"] == "a"
    assert deny["decision"] == "deny" and deny["peer"] == "x"


async def test_peer_denied_by_policy_or_unknown_is_refused_and_audited():
    from test_federation_nodes import SECRET, Actors

    from hostkit.audit import AuditLog
    from hostkit.federation import open_federation
    from hostkit.testing import MemoryNetwork

    net = MemoryNetwork()
    log = AuditLog(node="b")
    with capture_audit() as records:
        async with (
            open_federation(
                "b",
                authenticator=ClusterSecret(SECRET, peers=frozenset({"a", "x"})),
                transport=net,
                local=Actors(),
                policy=cedar_policy(log),
                audit=log,
            ) as fb,
            open_federation(
                "x",
                authenticator=ClusterSecret(SECRET),
                transport=net,
                local=Actors(),
                policy=cedar_policy(),
                audit=AuditLog(node="x"),
            ) as fx,
            open_federation(
                "y",
                authenticator=ClusterSecret(SECRET),
                transport=net,
                local=Actors(),
                policy=cedar_policy(),
            ) as fy,
        ):
            await fb.listen("b")
            fx.add_peer("b", "b")  # authenticates, but Cedar says no
            fy.add_peer("b", "b")  # not a known node name at all
            with trio.fail_after(5):
                while len(records.where(event="federation-refuse", node="b")) < 2:
                    await trio.sleep(0.01)
            assert fb.peers() == []
    refusals = records.where(event="federation-refuse", node="b")
    reasons = {r["peer"]: (r["reason"], r["detail"]) for r in refusals}
    assert reasons["x"] == ("denied", "not authorized to connect")
    assert reasons["y"][0] == "auth-failed" and "unknown node 'y'" in reasons["y"][1]
    deny = records.where(event="decision", decision="deny", peer="x")
    assert deny and deny[0]["action"] == "hostkit:federation#connect"


def test_federation_imports_without_wasmtime():
    import subprocess
    import sys

    code = "import sys, hostkit.federation, hostkit.testing; assert 'wasmtime' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heartbeat_timeout": 0}, "heartbeat_timeout"),
        ({"fragment_size": 100}, "fragment_size"),
        ({"fragment_size": 65536}, "fragment_size"),
        ({"max_message": 1000}, "max_message"),
    ],
)
def test_bad_link_settings_are_refused_by_name(kwargs, match):
    from hostkit.federation import LinkConfig

    with pytest.raises(FederationConfigError, match=match):
        LinkConfig(**kwargs)


def test_bad_transport_settings_are_refused_by_name():
    from hostkit.federation import QuicTransport

    with pytest.raises(FederationConfigError, match="max_datagram_size"):
        QuicTransport(max_datagram_size=100)
    with pytest.raises(FederationConfigError, match="needs ca_file"):
        QuicTransport()._config(client=True, host="127.0.0.1")
    with pytest.raises(FederationConfigError, match="certificate and private_key"):
        QuicTransport()._config(client=False, host="127.0.0.1")


async def test_bad_addresses_are_refused_by_name():
    from hostkit.federation import WebsocketTransport

    with pytest.raises(FederationConfigError, match="ws:// or wss://"):
        async with WebsocketTransport().open_channel("http://127.0.0.1:1/"):
            pass  # pragma: no cover
    with pytest.raises(FederationConfigError, match="HOST:PORT"):
        await WebsocketTransport().serve("nowhere", lambda channel: None)
