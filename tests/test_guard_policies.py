"""Guards on shorthand grants (issue 14): an escaped ``\\*`` in a name
pattern is a literal star, alone or next to a wildcard. Each test fails when
its check is removed (`scripts/mutation.py` applies those mutants)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import pytest

import hostkit
from hostkit.capabilities import (
    Authorizer,
    Entity,
    FileRead,
    FileWrite,
    Gate,
    KeyValue,
    Messaging,
    PluginIdentity,
    Register,
    Root,
    grant,
)
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider

X = PluginIdentity("x", "1" * 64, "1.0", "acme")
REGISTER = "hostkit:plugin/process#register"
KV_GET = "hostkit:host/kv#get"
READ = "hostkit:host/files#read"
DENIED = "0"  # the host error case index
DEFAULT = Path(__file__).resolve().parent.parent / "capabilities" / "policies" / "default.cedar"


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


@pytest.mark.parametrize(
    ("encoding", "contents", "allowed"),
    [
        ("0", "abc", True),
        ("0", "abcd", False),
        ("0", "\u00e9a", True),  # 3 bytes in UTF-8
        ("0", "\u00e9\u00e9", False),  # 4 bytes, 2 characters
        ("1", "YWJj", True),  # base64 of 3 bytes
        ("1", "YWJjZA==", False),  # base64 of 4 bytes
        ("1", "YWI=", True),  # base64 of 2 bytes
    ],
)
async def test_a_write_grants_max_size_bounds_the_decoded_bytes_written(
    cache_dir: Path,
    wasm: dict[str, Path],
    tmp_path: Path,
    encoding: str,
    contents: str,
    allowed: bool,
) -> None:
    pm = pluggy.PluginManager("hostkit")
    pm.register(FilesProvider({"/data": Root(tmp_path, writable=True)}))
    pm.register(KvProvider(tmp_path / "kv.db"))
    pm.register(ClockProvider())
    policies = [DEFAULT, *grant(FileWrite("/data/**", max_size=3), plugin="guard_writer")]
    cfg = hostkit.HostConfig(cache_dir=cache_dir)
    async with hostkit.open_host(cfg, capabilities=Gate(pm, policies=policies)) as host:
        pid = await host.spawn(host.load(wasm["guard_writer"]))
        reply = await host.call(pid, f"{encoding}/data/f\n{contents}")
    assert reply == ("ok" if allowed else f"err:{DENIED}")
    assert (tmp_path / "f").exists() is allowed
