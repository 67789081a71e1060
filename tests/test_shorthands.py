"""Shorthand grants: the Cedar text they print and the decisions they make."""

from __future__ import annotations

from typing import Any

import pytest

from hostkit._errors import PolicyError
from hostkit.capabilities._authorizer import Authorizer
from hostkit.capabilities._entities import Entity, PluginIdentity
from hostkit.capabilities._schema import CedarSchema
from hostkit.capabilities._shorthands import (
    Call,
    FileList,
    FileRead,
    FileWrite,
    KeyValue,
    Messaging,
    NetworkOutbound,
    Register,
    Spawn,
    grant,
    grants_to_cedar,
)

READ = "hostkit:host/files#read"
WRITE = "hostkit:host/files#write"
HTTP = "hostkit:host/http#request"
SEND = "hostkit:plugin/process#send"
CALL = "hostkit:plugin/process#call"

X = PluginIdentity("x", "1" * 64, "1.0", "acme", ("workers",))
Y = PluginIdentity("y", "2" * 64, "1.0", "acme")


def allowed(
    authorizer: Authorizer, who: Any, action: str, resource: Entity, **context: Any
) -> bool:
    return authorizer.is_authorized(who, action, resource, context).allowed


def test_file_read_prints_readable_cedar() -> None:
    assert FileRead("/data/*.txt").for_plugin("x").to_cedar() == (
        '@id("plugin:x/file-read:/data/*.txt")\n'
        "permit (\n"
        '  principal == Plugin::"x",\n'
        '  action in [Action::"hostkit:host/files#read", Action::"hostkit:host/files#stat"],\n'
        "  resource\n"
        ")\n"
        "when {\n"
        '  resource.path like "/data/*.txt" &&\n'
        '  // "*" stays inside one path segment\n'
        '  !(resource.path like "*/*/*/*")\n'
        "};"
    )


def test_module_docstring_example_is_exact() -> None:
    from hostkit.capabilities import _shorthands

    doc = _shorthands.__doc__ or ""
    printed = FileRead("/data/*.txt").for_plugin("indexer").to_cedar()
    assert "\n".join("    " + line for line in printed.splitlines()) in doc


def test_file_read_decides_as_intended() -> None:
    authorizer = Authorizer(FileRead("/data/*.txt").for_plugin("x"))
    assert allowed(authorizer, X, READ, Entity.file("/data/a.txt"))
    assert allowed(authorizer, X, "hostkit:host/files#stat", Entity.file("/data/a.txt"))
    assert not allowed(authorizer, X, READ, Entity.file("/data2/a.txt"))
    assert not allowed(authorizer, X, READ, Entity.file("/data/a.txt2"))
    assert not allowed(authorizer, X, READ, Entity.file("/data/sub/a.txt"))  # one segment only
    assert not allowed(authorizer, Y, READ, Entity.file("/data/a.txt"))  # other plugin
    assert not allowed(authorizer, X, WRITE, Entity.file("/data/a.txt"), size=1, mode="append")


def test_double_star_covers_everything_below() -> None:
    authorizer = Authorizer(FileRead("/data/**").for_plugin("x"))
    assert allowed(authorizer, X, READ, Entity.file("/data/a"))
    assert allowed(authorizer, X, READ, Entity.file("/data/a/b/c.txt"))
    assert not allowed(authorizer, X, READ, Entity.file("/data"))
    assert not allowed(authorizer, X, READ, Entity.file("/database/a"))
    # the gate passes normalized paths; anything else is refused outright
    decision = Authorizer(FileRead("/data/**").for_plugin("x")).is_authorized(
        X, READ, Entity.file("/data/../etc/passwd")
    )
    assert not decision.allowed and "normalized" in decision.errors[0]


def test_star_in_a_directory_segment_stays_in_that_segment() -> None:
    authorizer = Authorizer(FileRead("/home/*/public/*").for_plugin("x"))
    assert allowed(authorizer, X, READ, Entity.file("/home/ann/public/a"))
    assert not allowed(authorizer, X, READ, Entity.file("/home/ann/x/public/a"))
    assert not allowed(authorizer, X, READ, Entity.file("/home/ann/public/a/b"))


def test_exact_path_and_literal_star() -> None:
    authorizer = Authorizer(grant(FileRead("/etc/motd"), FileList("/data/a\\*b"), plugin="x"))
    assert allowed(authorizer, X, READ, Entity.file("/etc/motd"))
    assert not allowed(authorizer, X, READ, Entity.file("/etc/motd2"))
    assert allowed(authorizer, X, "hostkit:host/files#list-dir", Entity.file("/data/a*b"))
    assert not allowed(authorizer, X, "hostkit:host/files#list-dir", Entity.file("/data/axb"))


@pytest.mark.parametrize(
    "pattern", ["data/*", "/", "/data/../etc", "/data//x", "/data/./x", "/data/**/x", "/a**"]
)
def test_bad_file_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match="file pattern"):
        FileRead(pattern)


def test_file_write_size_and_append_only() -> None:
    authorizer = Authorizer(FileWrite("/out/*", max_size=10, append_only=True).for_plugin("x"))
    assert allowed(authorizer, X, WRITE, Entity.file("/out/log"), size=10, mode="append")
    assert not allowed(authorizer, X, WRITE, Entity.file("/out/log"), size=11, mode="append")
    assert not allowed(authorizer, X, WRITE, Entity.file("/out/log"), size=1, mode="truncate")
    assert not allowed(authorizer, X, READ, Entity.file("/out/log"))


def test_network_outbound() -> None:
    authorizer = Authorizer(
        grant(
            NetworkOutbound("API.example.com"),
            NetworkOutbound("*.cdn.io", port=None, methods=("get",), max_size=0),
            plugin="x",
        )
    )

    def ok(host: str, port: int, method: str = "GET", size: int = 0) -> bool:
        return allowed(
            authorizer, X, HTTP, Entity.host(host, port), method=method, path="/", size=size
        )

    assert ok("api.example.com", 443)
    assert not ok("api.example.com", 80)
    assert not ok("example.com", 443)
    assert ok("a.b.cdn.io", 8443)
    assert not ok("cdn.io", 443)
    assert not ok("evilcdn.io", 443)
    assert not ok("a.cdn.io", 443, method="POST")
    assert not ok("a.cdn.io", 443, size=1)


def test_network_outbound_ipv6_and_any_host() -> None:
    authorizer = Authorizer(grant(NetworkOutbound("[::1]", port=8080), plugin="x"))
    assert allowed(authorizer, X, HTTP, Entity.host("::1", 8080), method="GET", path="/", size=0)
    anywhere = Authorizer(NetworkOutbound("*", port=None).for_plugin("x"))
    assert allowed(anywhere, X, HTTP, Entity.host("a.io", 1), method="PUT", path="/", size=5)


@pytest.mark.parametrize("host", ["api.*.com", "a b", "foo*.com", "-x.com", ""])
def test_bad_hosts_are_rejected(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        NetworkOutbound(host)


def test_bad_port_is_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        NetworkOutbound("a.io", port=70000)


def test_messaging_send_and_call() -> None:
    authorizer = Authorizer(
        grant(Messaging("billing-*", max_size=100), Messaging("audit", call=False), plugin="x")
    )
    billing = Entity.plugin(PluginIdentity("billing-eu", "3" * 64))
    audit = Entity.plugin("audit")
    assert allowed(authorizer, X, SEND, billing, size=100)
    assert allowed(authorizer, X, CALL, billing, size=1, timeout_ms=50)
    assert not allowed(authorizer, X, SEND, billing, size=101)
    assert not allowed(authorizer, X, SEND, Entity.plugin("payroll"), size=1)
    assert allowed(authorizer, X, SEND, audit, size=1)
    assert not allowed(authorizer, X, CALL, audit, size=1, timeout_ms=50)


def test_spawn_register_and_key_value() -> None:
    authorizer = Authorizer(
        grant(
            Spawn("worker-*"),
            Register("svc-x"),
            KeyValue("cache/*"),
            KeyValue("state", write=True),
            plugin="x",
        )
    )
    assert allowed(authorizer, X, "hostkit:plugin/process#spawn", Entity.plugin("worker-1"), size=0)
    assert not allowed(
        authorizer, X, "hostkit:plugin/process#spawn", Entity.plugin("admin"), size=0
    )
    assert allowed(authorizer, X, "hostkit:plugin/process#register", Entity.name("svc-x"))
    assert not allowed(authorizer, X, "hostkit:plugin/process#register", Entity.name("billing"))
    assert allowed(authorizer, X, "hostkit:host/kv#get", Entity.key("cache/a"))
    assert allowed(authorizer, X, "hostkit:host/kv#list-keys", Entity.key("cache/"))
    assert not allowed(authorizer, X, "hostkit:host/kv#set", Entity.key("cache/a"), size=1)
    assert allowed(authorizer, X, "hostkit:host/kv#set", Entity.key("state"), size=1)
    assert allowed(authorizer, X, "hostkit:host/kv#delete", Entity.key("state"))


def test_call_for_an_application_action() -> None:
    schema = CedarSchema.stock().extend(
        """
        entity Monster { kind: String };
        action "acme:game/world#spawn-monster" appliesTo {
          principal: [Plugin], resource: [Monster], context: { level: Long }
        };
        """
    )
    action = "acme:game/world#spawn-monster"
    authorizer = Authorizer(
        grant(Call(action, resource="Monster", when="context.level <= 10"), group="workers"),
        schema=schema,
    )
    orc = Entity.of("Monster", "m1", kind="orc")
    assert allowed(authorizer, X, action, orc, level=10)
    assert not allowed(authorizer, X, action, orc, level=11)
    assert not allowed(authorizer, Y, action, orc, level=1)  # not in the group
    one = Authorizer(Call(action, resource=orc).for_any_plugin(), schema=schema)
    assert allowed(one, Y, action, orc, level=99)
    assert not allowed(one, Y, action, Entity.of("Monster", "m2", kind="orc"), level=1)


def test_call_when_must_be_one_expression() -> None:
    with pytest.raises(ValueError, match="one Cedar expression"):
        Call("a", when="true }; permit (principal, action, resource) when { true")


def test_bad_call_condition_is_a_policy_error_naming_the_grant() -> None:
    bad = Call(READ, when="context.nope == 1").for_plugin("x")
    with pytest.raises(
        PolicyError,
        match=r"^<grant plugin:x/call:hostkit:host/files#read when context\.nope == 1>:\d+:\d+: ",
    ):
        Authorizer(bad)


def test_grant_binds_to_exactly_one_principal() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        grant(FileRead("/a"))
    with pytest.raises(ValueError, match="exactly one"):
        grant(FileRead("/a"), plugin="x", group="g")


def test_grant_ids_are_stable_and_duplicates_collapse() -> None:
    grants = grant(
        FileRead("/a/*"), FileRead("/a/*"), NetworkOutbound("a.io", port=None), group="g"
    )
    assert [g.id for g in grants] == ["group:g/file-read:/a/*", "group:g/http:a.io:*"]
    assert FileRead("/a").for_node("n1").id == "node:n1/file-read:/a"
    assert FileRead("/a").for_any_plugin(id="everyone-reads-a").id == "everyone-reads-a"


def test_group_and_any_plugin_grants() -> None:
    authorizer = Authorizer(
        [
            *grant(FileRead("/shared/*"), group="workers"),
            *grant(FileRead("/pub/*"), any_plugin=True),
        ]
    )
    assert allowed(authorizer, X, READ, Entity.file("/shared/a"))
    assert not allowed(authorizer, Y, READ, Entity.file("/shared/a"))
    assert allowed(authorizer, Y, READ, Entity.file("/pub/a"))
    decision = authorizer.is_authorized(Y, READ, Entity.file("/pub/a"))
    assert decision.policies == ("any-plugin/file-read:/pub/*",)


def test_awkward_names_are_escaped() -> None:
    name = 'we"ird\\name'
    authorizer = Authorizer(grant(Messaging('odd"*'), plugin=name))
    who = PluginIdentity(name, "4" * 64)
    assert allowed(authorizer, who, SEND, Entity.plugin('odd"one'), size=1)
    assert not allowed(authorizer, X, SEND, Entity.plugin('odd"one'), size=1)


def test_grants_to_cedar_loads_back() -> None:
    grants = grant(FileRead("/a/**"), Spawn("w-*"), plugin="x")
    text = grants_to_cedar(grants)
    assert text.count("@id(") == 2
    assert Authorizer(text).policy_ids == tuple(g.id for g in grants)
