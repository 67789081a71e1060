"""File grants mean what they say (issue 8.6): globs as documented in the
compiled Cedar, decisions that hold for the file actually opened (symlinks
below a root are refused), and the hard-link rule."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

import hostkit
from hostkit.capabilities import FileRead, FileWrite, Gate, PolicyText, Root, grant
from hostkit.capabilities._authorizer import Authorizer
from hostkit.capabilities._context import CallContext
from hostkit.capabilities._entities import Entity, PluginIdentity
from hostkit.capabilities._host_errors import HostCallDenied
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider
from hostkit.testing import capture_audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
READ = "hostkit:host/files#read"
X = PluginIdentity("x", "1" * 64)


# --- globs ----------------------------------------------------------------


def reference_match(pattern: str, path: str) -> bool:
    """The documented meaning, written independently: ``*`` within one
    segment, a final ``/**`` one or more segments below."""
    pat, segs = pattern.split("/")[1:], path.split("/")[1:]
    if pat[-1] == "**":
        pat = pat[:-1]
        if len(segs) <= len(pat):
            return False
        segs = segs[: len(pat)]
    elif len(segs) != len(pat):
        return False
    for p, s in zip(pat, segs, strict=True):
        regex = "".join(".*" if c == "*" else re.escape(c) for c in p)
        if not re.fullmatch(regex, s):
            return False
    return True


PATTERNS = ["/a/*", "/a/*/b", "/*/b/*", "/a/b*", "/a/*b*/c", "/a/**", "/a/b/**", "/*", "/*/*"]
PATHS = [
    "/" + "/".join(p) for n in range(1, 4) for p in itertools.product(["a", "b", "ab"], repeat=n)
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_compiled_globs_agree_with_the_documented_meaning_on_every_path(pattern: str) -> None:
    authorizer = Authorizer(FileRead(pattern).for_plugin("x"))
    for path in PATHS:
        got = authorizer.is_authorized(X, READ, Entity.file(path), {}).allowed
        assert got == reference_match(pattern, path), (pattern, path)


@pytest.mark.parametrize("pattern", ["/home/*/public/**", "/*/**", "/a/b*/c/**"])
def test_a_star_above_a_double_star_is_refused_not_widened(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"cannot be enforced.*grant each directory"):
        FileRead(pattern)
    with pytest.raises(ValueError, match="cannot be enforced"):
        FileWrite(pattern)


def test_the_issue_example_cannot_reach_a_private_directory() -> None:
    # What the refused pattern was meant to grant, written out per directory:
    authorizer = Authorizer(FileRead("/home/alice/public/**").for_plugin("x"))
    assert authorizer.is_authorized(X, READ, Entity.file("/home/alice/public/x"), {}).allowed
    private = Entity.file("/home/alice/private/public/x")
    assert not authorizer.is_authorized(X, READ, private, {}).allowed


# --- symlinks and hard links, through a real guest behind the gate -------------


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """/data/pub (granted), /data/secret (forbidden), a link from one to the other."""
    root = tmp_path / "data"
    (root / "pub").mkdir(parents=True)
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("TOP SECRET")
    (root / "pub" / "ok.txt").write_text("public")
    (root / "pub" / "link").symlink_to("../secret/key")
    (root / "pub" / "dirlink").symlink_to("../secret")
    return tmp_path


@pytest.fixture
def plugins(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pluggy.PluginManager]:
    pm = pluggy.PluginManager("hostkit")
    pm.register(FilesProvider({"/data": Root(data / "data", writable=True)}))
    pm.register(ClockProvider())
    with KvProvider(tmp_path_factory.mktemp("kv") / "kv.db") as kv:
        pm.register(kv)
        yield pm


FORBID_SECRET = PolicyText(
    '@id("no-secrets")\n'
    'forbid (principal, action, resource is File) when { resource.path like "/data/secret/*" };'
)


async def test_a_symlink_to_a_forbidden_file_is_not_followed(
    data: Path, plugins: pluggy.PluginManager, config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    policies = [
        DEFAULT,
        FORBID_SECRET,
        *grant(FileRead("/data/pub/**"), FileWrite("/data/pub/**"), plugin="fs_race"),
    ]
    with capture_audit() as records:
        gate = Gate(plugins, policies=policies)
        async with hostkit.open_host(config, capabilities=gate) as host:
            pid = await host.spawn(host.load(wasm["fs_race"]))
            assert await host.call(pid, "r/data/pub/ok.txt") == "ok:public"
            # the guest path is allowed, the file behind it is not: refused
            for request in ("r/data/pub/link", "r/data/pub/dirlink/key", "w/data/pub/link"):
                reply = await host.call(pid, request)
                assert reply.startswith("err:0:") and "symlink" in reply, reply
            # the forbid itself still holds for the direct path
            assert (await host.call(pid, "r/data/secret/key")).startswith("err:0:")
            assert host.is_alive(pid)
    assert (data / "data" / "secret" / "key").read_text() == "TOP SECRET"
    denied = records.where(event="decision", decision="deny")
    assert [r["resource"] for r in denied] == ['File::"/data/secret/key"']


def test_a_hard_link_in_a_read_root_is_refused_unless_the_root_allows_it(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    os.link(tmp_path / "outside.txt", tmp_path / "root" / "alias.txt")
    (tmp_path / "root" / "plain.txt").write_text("plain")
    ctx = CallContext(plugin="p", pid=1)
    strict = FilesProvider({"/r": Root(tmp_path / "root", writable=True)})
    assert strict.files_read(ctx, "/r/plain.txt", "utf8") == "plain"
    with pytest.raises(HostCallDenied, match="2 hard links"):
        strict.files_read(ctx, "/r/alias.txt", "utf8")
    with pytest.raises(HostCallDenied, match="hard links"):
        strict.files_write(ctx, "/r/alias.txt", "pwned", "utf8", "truncate")
    with pytest.raises(HostCallDenied, match="hard links"):
        strict.files_write(ctx, "/r/alias.txt", "more", "utf8", "append")
    assert (tmp_path / "outside.txt").read_text() == "secret"
    lenient = FilesProvider({"/r": Root(tmp_path / "root", hardlinks=True)})
    assert lenient.files_read(ctx, "/r/alias.txt", "utf8") == "secret"
