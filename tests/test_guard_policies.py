"""Guards on shorthand grants (issue 14): an escaped ``\\*`` in a name
pattern is a literal star, alone or next to a wildcard. Each test fails when
its check is removed (`scripts/mutation.py` applies those mutants)."""

from __future__ import annotations

from typing import Any

import pytest

from hostkit.capabilities import (
    Authorizer,
    Entity,
    FileRead,
    FileWrite,
    KeyValue,
    Messaging,
    PluginIdentity,
    Register,
    grant,
)

X = PluginIdentity("x", "1" * 64, "1.0", "acme")
REGISTER = "hostkit:plugin/process#register"
KV_GET = "hostkit:host/kv#get"
READ = "hostkit:host/files#read"


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


@pytest.mark.parametrize("pattern", ["/data/*/**", "/home/*x/**", "/a*/b/**"])
def test_a_star_above_a_final_doublestar_is_refused_rather_than_widened(pattern: str) -> None:
    with pytest.raises(ValueError, match="cannot be enforced within one segment"):
        grant(FileRead(pattern), plugin="x")


def test_an_escaped_star_above_a_final_doublestar_is_a_plain_directory() -> None:
    authorizer = Authorizer(grant(FileRead("/data/a\\*/**"), plugin="x"))
    assert authorizer.is_authorized(X, READ, Entity.file("/data/a*/f")).allowed
    assert not authorizer.is_authorized(X, READ, Entity.file("/data/ab/f")).allowed


@pytest.mark.parametrize(
    "capability", [Messaging("echo", max_size=-1), FileWrite("/data/**", max_size=-1)]
)
def test_a_negative_size_bound_is_refused_when_the_policies_load(capability: Any) -> None:
    with pytest.raises(ValueError, match="max_size must be >= 0, got -1"):
        Authorizer(grant(capability, plugin="x"))


def test_a_name_pattern_with_only_escaped_stars_prints_as_an_exact_name() -> None:
    # Reviewers read the printed policy: an exact name reads as `==`.
    text = Register("job\\*").for_plugin("x").to_cedar()
    assert 'resource.name == "job*"' in text and "like" not in text
