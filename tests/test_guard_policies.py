"""Guards on shorthand grants (issue 14): an escaped ``\\*`` in a name
pattern is a literal star, alone or next to a wildcard. Each test fails when
its check is removed (`scripts/mutation.py` applies those mutants)."""

from __future__ import annotations

import pytest

from hostkit.capabilities import Authorizer, Entity, KeyValue, PluginIdentity, Register, grant

X = PluginIdentity("x", "1" * 64, "1.0", "acme")
REGISTER = "hostkit:plugin/process#register"
KV_GET = "hostkit:host/kv#get"


@pytest.mark.parametrize(
    ("pattern", "name", "allowed"),
    [
        ("job\\*", "job*", True),  # the escaped star alone: an exact name
        ("job\\*", "job1", False),
        ("job\\*", "job", False),
        ("job\\*-*", "job*-1", True),  # next to a wildcard: still literal
        ("job\\*-*", "jobx-1", False),
        ("job\\*-*", "job-1", False),
    ],
)
def test_an_escaped_star_in_a_registered_name_pattern_matches_only_a_star(
    pattern: str, name: str, allowed: bool
) -> None:
    authorizer = Authorizer(grant(Register(pattern), plugin="x"))
    assert authorizer.is_authorized(X, REGISTER, Entity.name(name)).allowed is allowed


@pytest.mark.parametrize(("key", "allowed"), [("a*b", True), ("axb", False), ("ab", False)])
def test_an_escaped_star_in_a_key_pattern_matches_only_a_star(key: str, allowed: bool) -> None:
    authorizer = Authorizer(grant(KeyValue("a\\*b"), plugin="x"))
    assert authorizer.is_authorized(X, KV_GET, Entity.key(key)).allowed is allowed
