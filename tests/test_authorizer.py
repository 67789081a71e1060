"""The Cedar authorizer: loading, validation errors, decisions, cache, reload,
agreement with cedarpy, and the call limits."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostkit._errors import CapabilityDenied, PolicyError
from hostkit.capabilities import _authorizer
from hostkit.capabilities._authorizer import Authorizer, Decision
from hostkit.capabilities._entities import Entity, PluginIdentity, entity_json
from hostkit.capabilities._limits import CallLimits, RateLimit
from hostkit.capabilities._policies import PolicyText
from hostkit.capabilities._schema import STOCK_SCHEMA_TEXT, CedarSchema
from hostkit.capabilities._shorthands import (
    Capability,
    FileList,
    FileRead,
    FileWrite,
    KeyValue,
    Messaging,
    NetworkOutbound,
    Spawn,
    grant,
)

REPO = Path(__file__).resolve().parents[1]
READ = "hostkit:host/files#read"
WRITE = "hostkit:host/files#write"
SEND = "hostkit:plugin/process#send"

POLICIES = """\
// Reading data.
@id("read-data")
permit (principal == Plugin::"alpha", action == Action::"hostkit:host/files#read", resource)
when { resource.path like "/data/*" };

@id("no-big-writes")
forbid (principal, action == Action::"hostkit:host/files#write", resource)
when { context.size > 100 };

permit (principal in Group::"writers", action == Action::"hostkit:host/files#write", resource);
"""

ALPHA = PluginIdentity("alpha", "a" * 64, "1.0", "acme", ("writers",))
BETA = PluginIdentity("beta", "b" * 64, "2.0", "other")


@pytest.fixture
def authorizer() -> Authorizer:
    return Authorizer(POLICIES)


def write_ctx(size: int) -> dict[str, Any]:
    return {"size": size, "mode": "truncate"}


# ------------------------------------------------------------------- decisions


def test_permit_names_the_policy_that_allowed(authorizer: Authorizer) -> None:
    decision = authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a.txt"))
    assert decision == Decision(True, ("read-data",))
    assert decision.reason == "permitted by read-data"


def test_deny_is_the_default(authorizer: Authorizer) -> None:
    assert not authorizer.is_authorized(ALPHA, READ, Entity.file("/etc/passwd")).allowed
    decision = authorizer.is_authorized(BETA, READ, Entity.file("/data/a.txt"))
    assert decision == Decision(False)
    assert "deny by default" in decision.reason


def test_forbid_overrides_permit_and_is_named(authorizer: Authorizer) -> None:
    assert authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(10)).allowed
    decision = authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(1000))
    assert decision == Decision(False, ("no-big-writes",))
    assert decision.reason == "forbidden by no-big-writes"


def test_policy_without_id_is_named_by_origin_and_index(authorizer: Authorizer) -> None:
    assert authorizer.policy_ids == ("read-data", "no-big-writes", "<policies>[2]")
    decision = authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(1))
    assert decision.policies == ("<policies>[2]",)


def test_group_membership_comes_from_the_identity(authorizer: Authorizer) -> None:
    outsider = PluginIdentity("alpha2", "c" * 64)
    assert not authorizer.is_authorized(outsider, WRITE, Entity.file("/x"), write_ctx(1)).allowed


def test_context_that_does_not_match_the_schema_is_denied_with_the_reason(
    authorizer: Authorizer,
) -> None:
    missing = authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), {"size": 1})
    assert not missing.allowed
    assert "mode" in missing.errors[0]
    extra = authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a"), {"bogus": 1})
    assert not extra.allowed
    assert "bogus" in extra.errors[0]
    assert "invalid request" in extra.reason


def test_mistyped_context_cannot_disarm_a_forbid(authorizer: Authorizer) -> None:
    # Without request validation Cedar would skip the erroring forbid and allow.
    decision = authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx("1000"))  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.errors


def test_bool_and_int_contexts_are_cached_apart(authorizer: Authorizer) -> None:
    assert authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(1)).allowed
    as_bool = {"size": True, "mode": "truncate"}
    assert not authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), as_bool).allowed


def test_unhashable_context_values_are_decided_and_cached(authorizer: Authorizer) -> None:
    context = {"size": [1], "mode": "truncate"}
    first = authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), context)
    assert not first.allowed and first.errors
    assert authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), context) is first


def test_unknown_action_is_denied_with_the_reason(authorizer: Authorizer) -> None:
    decision = authorizer.is_authorized(ALPHA, "hostkit:host/files#nope", Entity.file("/data/a"))
    assert not decision.allowed
    assert "does not exist" in decision.errors[0]


@pytest.mark.parametrize(
    "path", ["/data/../etc/passwd", "/data/./a", "//data/a", "data/a", "/data/"]
)
def test_unnormalized_paths_are_denied_before_any_policy(authorizer: Authorizer, path: str) -> None:
    decision = authorizer.is_authorized(ALPHA, READ, Entity.file(path))
    assert not decision.allowed
    assert "normalized absolute path" in decision.errors[0]


def test_malformed_host_resource_is_denied() -> None:
    authorizer = Authorizer(grant(NetworkOutbound("*"), plugin="alpha"))
    ok = {"method": "GET", "path": "/", "size": 0}
    assert authorizer.is_authorized(
        ALPHA, "hostkit:host/http#request", Entity.host("a.io", 443), ok
    ).allowed
    upper = Entity.host("A.io", 443)
    assert not authorizer.is_authorized(ALPHA, "hostkit:host/http#request", upper, ok).allowed
    lying = Entity("Host", "a.io:443", (("name", "b.io"), ("port", 443)))
    assert not authorizer.is_authorized(ALPHA, "hostkit:host/http#request", lying, ok).allowed


def test_check_raises_capability_denied_naming_the_request(authorizer: Authorizer) -> None:
    assert authorizer.check(ALPHA, READ, Entity.file("/data/a")).allowed
    with pytest.raises(
        CapabilityDenied, match=r'Plugin::"beta" may not .*files#read on File::"/data/a"'
    ) as info:
        authorizer.check(BETA, READ, Entity.file("/data/a"))
    assert isinstance(info.value, PermissionError)


def test_node_principals_are_decided_like_plugins() -> None:
    authorizer = Authorizer(Messaging("billing-*").for_node("node-7"))
    billing = Entity.plugin(PluginIdentity("billing-eu", "d" * 64))
    assert authorizer.is_authorized(Entity.node("node-7"), SEND, billing, {"size": 3}).allowed
    assert not authorizer.is_authorized(Entity.node("node-8"), SEND, billing, {"size": 3}).allowed


def test_messaging_yourself_uses_one_entity() -> None:
    authorizer = Authorizer(Messaging("alpha").for_plugin("alpha"))
    assert authorizer.is_authorized(ALPHA, SEND, Entity.plugin(ALPHA), {"size": 1}).allowed


def test_extra_entities_are_validated() -> None:
    schema = CedarSchema.stock().extend(
        """
        entity Realm;
        entity Monster in [Realm] { kind: String };
        action "acme:game/world#spawn-monster" appliesTo {
          principal: [Plugin], resource: [Monster], context: { level: Long }
        };
        """
    )
    policy = """@id("orcs") permit (principal, action == Action::"acme:game/world#spawn-monster",
                resource in Realm::"north") when { resource.kind == "orc" && context.level < 5 };"""
    authorizer = Authorizer(policy, schema=schema)
    orc = Entity.of("Monster", "m1", kind="orc", parents=[("Realm", "north")])
    action = "acme:game/world#spawn-monster"
    assert authorizer.is_authorized(ALPHA, action, orc, {"level": 1}).allowed
    assert not authorizer.is_authorized(ALPHA, action, orc, {"level": 9}).allowed
    bad = Entity.of("Monster", "m2", kind=3)
    decision = authorizer.is_authorized(ALPHA, action, bad, {"level": 1})
    assert not decision.allowed
    assert "invalid entities" in decision.errors[0]


def test_permitted_actions_over_approximates_from_scopes() -> None:
    authorizer = Authorizer(
        [
            *grant(FileRead("/data/*"), plugin="alpha"),
            *grant(Messaging("b-*"), group="writers"),
            *grant(Spawn("w-*"), group="nobody"),
            '@id("f") forbid (principal, action == Action::"hostkit:host/files#read", resource);',
            'permit (principal is Plugin in Group::"writers", '
            'action == Action::"hostkit:host/kv#get", resource);',
        ]
    )
    call, stat, kv_get = (
        "hostkit:plugin/process#call",
        "hostkit:host/files#stat",
        "hostkit:host/kv#get",
    )
    assert authorizer.permitted_actions(ALPHA) == {READ, stat, SEND, call, kv_get}
    assert authorizer.permitted_actions(BETA) == frozenset()
    assert authorizer.permitted_actions(Entity.node("n", ["writers"])) == {SEND, call}
    authorizer.reload("permit (principal, action, resource) when { false };")
    assert authorizer.permitted_actions(BETA) is None


# --------------------------------------------------------- loading and errors


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ('like "/data/*"', 'lke "/data/*"'),
        (' };\n\n@id("no-big', ' }\n\n@id("no-big'),
        ("resource.path like", "nofunc(resource.path) like"),
        ('"/data/*"', '"/data/*'),
        ('"/data/*"', '"/data/\\q"'),
    ],
)
def test_syntax_error_names_policy_and_line_column(broken: str, expected: str) -> None:
    text = POLICIES.replace(broken, expected, 1)
    with pytest.raises(PolicyError) as info:
        Authorizer(text)
    message = str(info.value)
    origin, line, column, rest = message.split(":", 3)
    assert origin == "<policies>"
    assert rest.startswith(" policy 'read-data':") or rest.startswith(" policy 'no-big-writes':")
    # the position is at the offending text
    offending = text.splitlines()[int(line) - 1][int(column) - 1 :]
    assert offending.startswith(("lke", "@id", "nofunc", '"/data/*', "\\q")), message


def test_error_in_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.cedar").write_text(POLICIES)
    (tmp_path / "b.cedar").write_text('\n\n  @id("typo")\n  permit (principal, acton, resource);\n')
    with pytest.raises(PolicyError, match=r"b\.cedar:4:22: policy 'typo': ") as info:
        Authorizer(tmp_path)
    assert "a.cedar" not in str(info.value)


def test_directory_loads_every_cedar_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.cedar").write_text("permit (principal, action, resource);")
    (tmp_path / "a.cedar").write_text(POLICIES)
    (tmp_path / "notes.txt").write_text("not a policy")
    authorizer = Authorizer(tmp_path)
    b = str(tmp_path / "b.cedar")
    assert authorizer.policy_ids == (
        "read-data",
        "no-big-writes",
        f"{tmp_path / 'a.cedar'}[2]",
        f"{b}[0]",
    )


def test_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policies"):
        Authorizer(tmp_path / "nope.cedar")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('files#read"', 'files#reed"'), "unrecognized action"),
        (("resource.path", "resource.pth"), "attribute `pth` on entity type `File` not found"),
        (("context.size > 100", 'context.size > "100"'), ""),
        (('Group::"writers"', 'Grup::"writers"'), "unrecognized entity type `Grup`"),
        (("context.size > 100", "context.bytes > 100"), "bytes"),
    ],
)
def test_schema_violation_is_rejected_at_load(change: tuple[str, str], problem: str) -> None:
    with pytest.raises(PolicyError, match=r"<policies>:\d+:\d+: policy '[^']+': ") as info:
        Authorizer(POLICIES.replace(*change))
    assert problem in str(info.value)


def test_schema_violation_points_at_the_attribute() -> None:
    with pytest.raises(PolicyError) as info:
        Authorizer(POLICIES.replace("resource.path", "resource.pth"))
    assert str(info.value).startswith("<policies>:4:17: policy 'read-data': ")


def test_all_errors_of_a_load_are_reported_together() -> None:
    text = POLICIES.replace("lik", "lk").replace("principal in", "principal inn")
    with pytest.raises(PolicyError, match=r"^2 policy errors:\n<policies>:4:") as info:
        Authorizer(text)
    assert "<policies>:10:" in str(info.value)


def test_duplicate_ids_are_rejected() -> None:
    text = POLICIES.replace('"no-big-writes"', '"read-data"')
    with pytest.raises(
        PolicyError,
        match=r"<policies>:6:1: policy 'read-data': duplicate id, already used at <policies>:2:1",
    ):
        Authorizer(text)


def test_templates_are_rejected() -> None:
    with pytest.raises(PolicyError, match="templates"):
        Authorizer("permit (principal == ?principal, action, resource);")


def test_empty_policy_set_denies_everything() -> None:
    authorizer = Authorizer()
    assert authorizer.policy_ids == ()
    assert not authorizer.is_authorized(ALPHA, READ, Entity.file("/a")).allowed


def test_to_cedar_prints_the_policies_with_their_origin(authorizer: Authorizer) -> None:
    text = authorizer.to_cedar()
    assert '// <policies>:2:1\n@id("read-data")' in text
    Authorizer(text)  # and it loads back


def test_policy_text_origin_is_used_in_errors() -> None:
    with pytest.raises(PolicyError, match=r"^ops\.cedar:1:8: "):
        Authorizer(PolicyText("permit(principl, action, resource);", origin="ops.cedar"))


# ---------------------------------------------------------------------- schema


def test_stock_schema_file_matches_the_embedded_copy() -> None:
    assert (REPO / "capabilities" / "schema.cedarschema").read_text() == STOCK_SCHEMA_TEXT


def test_stock_policies_load_against_the_stock_schema() -> None:
    files = sorted((REPO / "capabilities" / "policies").rglob("*.cedar"))
    assert files
    for path in files:
        Authorizer(path)


def test_default_policy_lets_plugins_read_the_clock_and_nothing_else() -> None:
    authorizer = Authorizer(REPO / "capabilities" / "policies" / "default.cedar")
    me = Entity.plugin(ALPHA)
    assert authorizer.is_authorized(ALPHA, "hostkit:host/clock#now-ms", me).allowed
    assert not authorizer.is_authorized(
        ALPHA, "hostkit:host/clock#now-ms", Entity.plugin(BETA)
    ).allowed
    assert not authorizer.is_authorized(ALPHA, READ, Entity.file("/etc/passwd")).allowed


def test_schema_fragment_error_names_fragment_and_position() -> None:
    fragment = "entity Monster {\n  kind: Strng\n};\n"
    with pytest.raises(
        PolicyError, match=r"^game\.cedarschema:2:9: schema error: failed to resolve type: Strng"
    ):
        CedarSchema.stock().extend(fragment, origin="game.cedarschema")
    with pytest.raises(
        PolicyError, match=r"^<fragment 1>:1:8: schema error: `Plugin` is declared twice"
    ):
        CedarSchema.stock().extend("entity Plugin;")
    with pytest.raises(PolicyError, match=r"^<fragment 1>:2:5: schema error: unexpected token `c`"):
        CedarSchema.stock().extend("entity A {\n  b c: Long };")


def test_schema_extension_from_file_and_reload_with_new_schema(tmp_path: Path) -> None:
    path = tmp_path / "game.cedarschema"
    path.write_text(
        'entity Monster;\naction "acme:game/world#roar" appliesTo '
        "{ principal: [Plugin], resource: [Monster] };"
    )
    policy = 'permit (principal, action == Action::"acme:game/world#roar", resource);'
    authorizer = Authorizer()
    with pytest.raises(PolicyError, match="unrecognized action"):
        authorizer.reload(policy)
    schema = CedarSchema.stock().extend(path)
    assert schema.origins == ("capabilities/schema.cedarschema", str(path))
    assert schema.extends_stock and not CedarSchema.from_text("entity A;").extends_stock
    authorizer.reload(policy, schema=schema)
    assert authorizer.schema is schema
    assert authorizer.is_authorized(
        ALPHA, "acme:game/world#roar", Entity.of("Monster", "m")
    ).allowed


def test_action_groups_keep_in_scopes_exact() -> None:
    schema = CedarSchema.stock().extend(
        """
        entity Thing;
        action "acme:t/all";
        action "acme:t/a#x" in ["acme:t/all"] appliesTo { principal: [Plugin], resource: [Thing] };
        action "acme:t/a#y" in ["acme:t/all"] appliesTo { principal: [Plugin], resource: [Thing] };
        """
    )
    assert schema.has_action_groups and not CedarSchema.stock().has_action_groups
    authorizer = Authorizer(
        'permit (principal, action in [Action::"acme:t/all"], resource);', schema=schema
    )
    for action in ("acme:t/a#x", "acme:t/a#y"):
        assert authorizer.is_authorized(ALPHA, action, Entity.of("Thing", "t")).allowed


# ---------------------------------------------------------- cache and reload


@pytest.fixture
def cedar_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = cedarpy.is_authorized

    def counting(request: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(request)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(_authorizer.cedarpy, "is_authorized", counting)
    return calls


def test_cache_hit_returns_the_same_decision(
    authorizer: Authorizer, cedar_calls: list[Any]
) -> None:
    first = authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a"))
    again = authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a"))
    assert again is first
    assert len(cedar_calls) == 1
    assert authorizer.cached_decisions == 1


def test_cache_key_includes_context_and_resource(
    authorizer: Authorizer, cedar_calls: list[Any]
) -> None:
    authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(1))
    authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), write_ctx(1000))
    authorizer.is_authorized(ALPHA, WRITE, Entity.file("/y"), write_ctx(1))
    authorizer.is_authorized(ALPHA, WRITE, Entity.file("/x"), {"mode": "truncate", "size": 1})
    assert len(cedar_calls) == 4  # the reordered context is a miss, never a wrong hit


def test_cache_is_bounded_and_evicts_least_recently_used(cedar_calls: list[Any]) -> None:
    authorizer = Authorizer(POLICIES, cache_size=2)
    a, b, c = (Entity.file(p) for p in ("/data/a", "/data/b", "/data/c"))
    for resource in (a, b, a, c):  # b is now least recently used
        authorizer.is_authorized(ALPHA, READ, resource)
    assert len(cedar_calls) == 3 and authorizer.cached_decisions == 2
    authorizer.is_authorized(ALPHA, READ, a)
    assert len(cedar_calls) == 3
    authorizer.is_authorized(ALPHA, READ, b)
    assert len(cedar_calls) == 4


def test_reload_drops_the_cache_and_flips_decisions(authorizer: Authorizer) -> None:
    resource = Entity.file("/data/a")
    assert authorizer.is_authorized(ALPHA, READ, resource).allowed
    digest = authorizer.digest
    authorizer.reload(POLICIES.replace('"/data/*"', '"/other/*"'))
    assert authorizer.generation == 2 and authorizer.digest != digest
    assert authorizer.cached_decisions == 0
    assert not authorizer.is_authorized(ALPHA, READ, resource).allowed


def test_failed_reload_keeps_the_old_set_and_its_cache(
    authorizer: Authorizer, cedar_calls: list[Any]
) -> None:
    resource = Entity.file("/data/a")
    before = authorizer.is_authorized(ALPHA, READ, resource)
    with pytest.raises(PolicyError, match="unexpected token"):
        authorizer.reload(POLICIES.replace("permit (principal in", "permit (principal inn"))
    with pytest.raises(PolicyError, match="unrecognized action"):
        authorizer.reload(POLICIES.replace("files#read", "files#reed"))
    assert authorizer.generation == 1
    assert authorizer.policy_ids == ("read-data", "no-big-writes", "<policies>[2]")
    assert authorizer.is_authorized(ALPHA, READ, resource) is before
    assert len(cedar_calls) == 1


def test_clear_cache_keeps_the_policies(authorizer: Authorizer, cedar_calls: list[Any]) -> None:
    authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a"))
    authorizer.clear_cache()
    assert authorizer.cached_decisions == 0 and authorizer.generation == 1
    assert authorizer.is_authorized(ALPHA, READ, Entity.file("/data/a")).allowed
    assert len(cedar_calls) == 2


def test_concurrent_decisions_during_reloads_see_one_set_or_the_other() -> None:
    allow = POLICIES
    deny = POLICIES.replace('"/data/*"', '"/other/*"')
    authorizer = Authorizer(allow, cache_size=64)
    errors: list[BaseException] = []
    stop = threading.Event()

    def decide(worker: int) -> None:
        try:
            for i in range(400):
                resource = Entity.file(f"/data/{worker}-{i % 80}")
                decision = authorizer.is_authorized(ALPHA, READ, resource)
                assert decision in (Decision(True, ("read-data",)), Decision(False))
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    def reload() -> None:
        flip = False
        while not stop.is_set():
            authorizer.reload(deny if flip else allow)
            flip = not flip

    reloader = threading.Thread(target=reload)
    workers = [threading.Thread(target=decide, args=(n,)) for n in range(4)]
    reloader.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    reloader.join()
    assert errors == []
    assert authorizer.generation > 2


# ------------------------------------------ agreement with cedarpy (hypothesis)

PLUGINS = [
    PluginIdentity("alpha", "a" * 64, "1", "acme", ("g1",)),
    PluginIdentity("beta", "b" * 64, "2", "acme", ("g2",)),
    PluginIdentity("gamma", "c" * 64, "3", "evil", ("g1", "g2")),
]
SEGMENTS = ["data", "a", "b.txt", "c.log"]

paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map(lambda s: "/" + "/".join(s))
globs = st.lists(st.sampled_from([*SEGMENTS, "*", "*.txt", "a*"]), min_size=1, max_size=3).map(
    lambda s: "/" + "/".join(s)
) | st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=2).map(
    lambda s: "/" + "".join(f"{x}/" for x in s) + "**"
)
names = st.sampled_from(["alpha", "beta", "gamma", "billing-1", "worker-2", "cache/x"])
name_globs = st.sampled_from(["alpha", "billing-*", "worker-*", "*", "cache/*", "*a*"])
hosts = st.sampled_from(["api.example.com", "x.api.example.com", "example.com", "other.io"])

capabilities: st.SearchStrategy[Capability] = st.one_of(
    st.builds(FileRead, globs),
    st.builds(FileList, globs),
    st.builds(
        FileWrite, globs, max_size=st.none() | st.integers(0, 200), append_only=st.booleans()
    ),
    st.builds(
        NetworkOutbound,
        st.sampled_from(["api.example.com", "*.example.com", "*"]),
        port=st.sampled_from([None, 443, 80]),
        methods=st.none() | st.just(("GET",)),
        max_size=st.none() | st.integers(0, 200),
    ),
    st.builds(Messaging, name_globs, call=st.booleans(), max_size=st.none() | st.integers(0, 200)),
    st.builds(Spawn, name_globs),
    st.builds(KeyValue, name_globs, write=st.booleans()),
)


@st.composite
def grants(draw: st.DrawFn) -> list[Any]:
    out: dict[str, Any] = {}
    for capability in draw(st.lists(capabilities, min_size=1, max_size=14)):
        subject = draw(st.sampled_from(["alpha", "beta", "g1", "g2", "any"]))
        if subject == "any":
            g = capability.for_any_plugin()
        elif subject.startswith("g"):
            g = capability.for_group(subject)
        else:
            g = capability.for_plugin(subject)
        out.setdefault(g.id, g)
    return list(out.values())


FORBIDS = [
    '@id("f-size") forbid (principal, action, resource) '
    "when { context has size && context.size > 150 };",
    '@id("f-evil") forbid (principal is Plugin, action, resource) '
    'when { principal.publisher == "evil" };',
    '@id("f-g2-logs") forbid (principal in Group::"g2", action, resource) '
    'when { resource is File && resource.path like "*.log" };',
]


@st.composite
def requests(draw: st.DrawFn) -> tuple[Any, str, Entity, dict[str, Any]]:
    principal = draw(st.sampled_from(PLUGINS))
    size = draw(st.integers(0, 200))
    kind = draw(st.sampled_from(["read", "list", "write", "http", "send", "call", "spawn", "kv"]))
    if kind in ("read", "list"):
        action = READ if kind == "read" else "hostkit:host/files#list-dir"
        return principal, action, Entity.file(draw(paths)), {}
    if kind == "write":
        mode = draw(st.sampled_from(["truncate", "append"]))
        return principal, WRITE, Entity.file(draw(paths)), {"size": size, "mode": mode}
    if kind == "http":
        host = Entity.host(draw(hosts), draw(st.sampled_from([443, 80])))
        method = draw(st.sampled_from(["GET", "POST"]))
        return (
            principal,
            "hostkit:host/http#request",
            host,
            {"method": method, "path": "/", "size": size},
        )
    if kind == "kv":
        verb = draw(st.sampled_from(["get", "set", "delete", "list-keys"]))
        return (
            principal,
            f"hostkit:host/kv#{verb}",
            Entity.key(draw(names)),
            ({"size": size} if verb == "set" else {}),
        )
    target = Entity.plugin(draw(names))
    if kind == "spawn":
        return principal, "hostkit:plugin/process#spawn", target, {"size": size}
    if kind == "call":
        return principal, "hostkit:plugin/process#call", target, {"size": size, "timeout_ms": 5}
    return principal, SEND, target, {"size": size}


SCHEMA_HANDLE = cedarpy.Schema.from_str(STOCK_SCHEMA_TEXT)


def raw_decision(
    policy_text: str,
    principal: PluginIdentity,
    action: str,
    resource: Entity,
    context: dict[str, Any],
) -> tuple[bool, set[str]]:
    """cedarpy on its own: whole policy text, entities as JSON, schema."""
    members = [entity_json(principal.entity)]
    if resource[:2] != principal.entity[:2]:
        members.append(entity_json(resource))
    request = {
        "principal": principal.uid,
        "action": f'Action::"{action}"',
        "resource": {"type": resource.type, "id": resource.id},
        "context": context,
    }
    result = cedarpy.is_authorized(request, policy_text, json.dumps(members), SCHEMA_HANDLE)
    by_reason = result.diagnostics.id_annotations_by_reason
    return result.allowed, {by_reason[r] for r in result.diagnostics.reasons}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grants(),
    st.sets(st.sampled_from(FORBIDS), max_size=2),
    st.lists(requests(), min_size=20, max_size=30),
)
def test_gate_agrees_with_cedarpy(granted: list[Any], forbids: set[str], batch: list[Any]) -> None:
    texts = [g.to_cedar() for g in granted] + sorted(forbids)
    authorizer = Authorizer(
        [*granted, *(PolicyText(f, origin=f"<forbid {i}>") for i, f in enumerate(sorted(forbids)))]
    )
    policy_text = "\n".join(texts)
    for principal, action, resource, context in batch:
        ours = authorizer.is_authorized(principal, action, resource, context)
        allowed, determining = raw_decision(policy_text, principal, action, resource, context)
        assert ours.allowed == allowed, (principal.name, action, resource, context, texts)
        assert set(ours.policies) == determining
        assert ours.errors == ()
        # and the cached answer is the same one
        assert authorizer.is_authorized(principal, action, resource, dict(context)) is ours


# ---------------------------------------------------------------------- limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_payload_cap_gives_a_reason_and_takes_no_token() -> None:
    limits = CallLimits(rate=RateLimit(1, 1), max_payload=10, clock=FakeClock())
    reason = limits.check("alpha", WRITE, size=11)
    assert reason == "payload of 11 bytes from plugin 'alpha' exceeds the 10-byte cap on " + WRITE
    assert limits.check("alpha", WRITE, size=10) is None
    assert limits.check("alpha", WRITE, size=10) is not None  # the one token went to the 10


def test_default_payload_cap_is_one_mebibyte() -> None:
    limits = CallLimits(rate=None)
    assert limits.check("alpha", WRITE, size=1 << 20) is None
    assert limits.check("alpha", WRITE, size=(1 << 20) + 1) is not None


def test_rate_limit_allows_the_burst_then_refills_with_time() -> None:
    clock = FakeClock()
    limits = CallLimits(rate=RateLimit(rate=4, burst=3), clock=clock)
    assert [limits.check("alpha", READ) for _ in range(3)] == [None] * 3
    reason = limits.check("alpha", READ)
    assert reason == f"plugin 'alpha' exceeded the rate limit on {READ}: 4 calls/s, burst 3"
    clock.now += 0.25  # one token
    assert limits.check("alpha", READ) is None
    assert limits.check("alpha", READ) is not None
    clock.now += 60  # refills only up to the burst
    assert [limits.check("alpha", READ) for _ in range(4)] == [None, None, None, reason]


def test_rate_limit_with_explicit_now() -> None:
    limits = CallLimits(rate=RateLimit(rate=1, burst=1))
    assert limits.check("alpha", READ, now=0.0) is None
    assert limits.check("alpha", READ, now=0.5) is not None
    assert limits.check("alpha", READ, now=1.5) is None


def test_buckets_are_per_plugin_and_per_action() -> None:
    limits = CallLimits(rate=RateLimit(rate=1, burst=1), clock=FakeClock())
    assert limits.check("alpha", READ) is None
    assert limits.check("alpha", READ) is not None
    assert limits.check("beta", READ) is None
    assert limits.check("alpha", WRITE) is None


def test_most_specific_setting_wins() -> None:
    limits = CallLimits(rate=RateLimit(1, 1), max_payload=100, clock=FakeClock())
    limits.set_rate(RateLimit(1, 2), action=READ)
    limits.set_rate(RateLimit(1, 3), plugin="alpha")
    limits.set_rate(None, plugin="alpha", action=READ)  # unlimited
    limits.set_max_payload(5, plugin="beta")
    assert all(limits.check("alpha", READ) is None for _ in range(50))
    assert [limits.check("alpha", WRITE) is None for _ in range(4)] == [True] * 3 + [False]
    assert [limits.check("beta", READ, 5) is None for _ in range(3)] == [True, True, False]
    assert limits.check("beta", WRITE, 6) is not None
    assert limits.check("gamma", WRITE, 100) is None


def test_changing_a_limit_keeps_spent_tokens() -> None:
    limits = CallLimits(rate=RateLimit(1, 5), clock=FakeClock())
    for _ in range(5):
        assert limits.check("alpha", READ) is None
    limits.set_rate(RateLimit(1, 10))
    assert limits.check("alpha", READ) is not None  # no fresh burst from reconfiguring
    limits.set_rate(RateLimit(1, 2), plugin="alpha")
    limits.forget("alpha")
    assert [limits.check("alpha", READ) is None for _ in range(3)] == [True, True, False]


def test_limit_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimit(0, 1)
    with pytest.raises(ValueError, match="burst must be >= 1"):
        RateLimit(1, 0.5)
    with pytest.raises(ValueError, match="payload cap"):
        CallLimits(max_payload=-1)


def test_concurrent_checks_never_overspend() -> None:
    limits = CallLimits(rate=RateLimit(rate=1, burst=1000), clock=FakeClock())
    admitted: list[int] = []

    def hammer() -> None:
        admitted.append(sum(limits.check("alpha", READ) is None for _ in range(500)))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 1000
