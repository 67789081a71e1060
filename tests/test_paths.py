"""Guest path normalization and resolution inside granted roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostkit.capabilities._host_errors import HostCallInvalid, wit_error_of
from hostkit.capabilities._paths import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    PathOutsideRoot,
    PathRejected,
    Root,
    normalize_guest_path,
    resolve_in_roots,
)

# --- normalization --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/data/x.txt", "/data/x.txt"),
        ("data/x.txt", "/data/x.txt"),
        ("//data///x.txt", "/data/x.txt"),
        ("/data/./x.txt", "/data/x.txt"),
        ("/data/dir/", "/data/dir"),
        ("/data/dir//", "/data/dir"),
        ("/", "/"),
        (".", "/"),
        ("./", "/"),
        ("/data/..foo", "/data/..foo"),
        ("/data/foo..", "/data/foo.."),
        ("/data/...", "/data/..."),
        ("/data/caf\u00e9", "/data/caf\u00e9"),
        # On POSIX a backslash is an ordinary character, not a separator.
        ("/data/a\\..\\b", "/data/a\\..\\b"),
        ("/data\\..\\etc", "/data\\..\\etc"),
    ],
)
def test_normalize_accepts_and_canonicalizes(raw: str, normalized: str) -> None:
    assert normalize_guest_path(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("..", "'..'"),
        ("../..", "'..'"),
        ("../../etc/passwd", "'..'"),
        ("/..", "'..'"),
        ("/data/..", "'..'"),
        ("/data/../etc", "'..'"),
        ("/data/sub/../x", "'..'"),
        ("data/../../etc", "'..'"),
        ("/data/\x00/etc", "NUL"),
        ("/data/x.txt\x00.png", "NUL"),
        ("/data/new\nline", "U+000A"),
        ("/data/\x1b[31m", "U+001B"),
        ("/data/\x7f", "U+007F"),
        ("/data/\x85", "U+0085"),
        ("/data/\u202etxt.exe", "U+202E"),  # bidi override
        ("/data/secret\u200b", "U+200B"),  # zero-width space
        ("/data/\udc80", "surrogate"),
        ("/data/cafe\u0301", "NFC"),  # decomposed e + combining acute
        ("/data/\u2025/etc", "NFKC"),  # two dot leader folds to '..'
        ("/data/\uff0e\uff0e/etc", "NFKC"),  # fullwidth full stops
        ("/data/\uff0e", "NFKC"),
        ("/data/a\uff0fb", "NFKC"),  # fullwidth solidus folds to '/'
        ("/" + "a" * (MAX_PATH_BYTES), f"longer than {MAX_PATH_BYTES}"),
        ("/data/" + "\u00e9" * 2100, f"longer than {MAX_PATH_BYTES}"),
        ("/data/" + "b" * (MAX_COMPONENT_BYTES + 1), f"longer than {MAX_COMPONENT_BYTES}"),
        ("/data/" + "\u00e9" * 128, f"longer than {MAX_COMPONENT_BYTES}"),
    ],
)
def test_normalize_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(PathRejected) as info:
        normalize_guest_path(raw)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)
    assert wit_error_of(info.value) == ("invalid", info.value.detail)


def test_normalize_limits_are_inclusive() -> None:
    component = "c" * MAX_COMPONENT_BYTES
    assert normalize_guest_path("/" + component) == "/" + component
    longest = "/" + "/".join(["d" * 100] * 40)
    longest += "/" + "e" * (MAX_PATH_BYTES - len(longest) - 1)
    assert len(longest.encode()) == MAX_PATH_BYTES
    assert normalize_guest_path(longest) == longest


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(PathRejected, match="string"):
        normalize_guest_path(b"/data/x")  # type: ignore[arg-type]


def test_rejected_path_message_is_bounded() -> None:
    with pytest.raises(PathRejected) as info:
        normalize_guest_path("/" + "a" * 10_000)
    assert len(str(info.value)) < 400


def test_normalize_is_idempotent() -> None:
    for raw in ["//a/./b/", "x", "/", "/a\\b/c"]:
        once = normalize_guest_path(raw)
        assert normalize_guest_path(once) == once


# --- resolution -----------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/ (the root) with files, nested dirs and symlinks in and out."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "file.txt").write_text("inside")
    (data / "cache").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (data / "alias").symlink_to(data / "sub")  # stays inside: fine
    (data / "rel-alias").symlink_to("sub")
    (data / "escape").symlink_to(outside)  # leaves the root
    (data / "rel-escape").symlink_to("../outside")
    (data / "secret-link.txt").symlink_to(outside / "secret.txt")
    (data / "dangling-out").symlink_to(tmp_path / "nowhere" / "x")
    (data / "hop1").symlink_to("hop2")
    (data / "hop2").symlink_to("../outside")
    (data / "etc").symlink_to("/etc")
    return tmp_path


def roots_of(tree: Path) -> dict[str, Root]:
    return {"/data": Root(tree / "data", writable=True)}


def test_resolve_maps_into_the_root(tree: Path) -> None:
    got = resolve_in_roots("/data/sub/file.txt", roots_of(tree))
    assert got.guest_path == "/data/sub/file.txt"
    assert got.prefix == "/data"
    assert got.host_path == os.path.realpath(tree / "data" / "sub" / "file.txt")


def test_resolve_root_itself(tree: Path) -> None:
    got = resolve_in_roots("/data/", roots_of(tree))
    assert got.host_path == got.root_real == os.path.realpath(tree / "data")


def test_resolve_nonexistent_file_inside_root_is_fine(tree: Path) -> None:
    got = resolve_in_roots("/data/new/file", roots_of(tree))
    assert got.host_path == os.path.join(got.root_real, "new", "file")


@pytest.mark.parametrize("path", ["/data/alias/file.txt", "/data/rel-alias/file.txt"])
def test_symlink_inside_root_is_followed(tree: Path, path: str) -> None:
    got = resolve_in_roots(path, roots_of(tree))
    assert got.guest_path == path  # the policy judges the name the guest used
    assert got.host_path == os.path.realpath(tree / "data" / "sub" / "file.txt")


@pytest.mark.parametrize(
    "path",
    [
        "/data/escape/secret.txt",
        "/data/escape",
        "/data/rel-escape/secret.txt",
        "/data/secret-link.txt",
        "/data/dangling-out",
        "/data/hop1/secret.txt",
        "/data/etc/passwd",
    ],
)
def test_symlink_escaping_the_root_is_denied(tree: Path, path: str) -> None:
    with pytest.raises(PathOutsideRoot) as info:
        resolve_in_roots(path, roots_of(tree))
    assert "symlink" in info.value.reason
    assert wit_error_of(info.value) == ("denied", info.value.detail)


@pytest.mark.parametrize("path", ["/etc/passwd", "/", "/database/x", "/dat", "relative/x"])
def test_path_outside_every_root_is_denied(tree: Path, path: str) -> None:
    with pytest.raises(PathOutsideRoot, match="not inside any granted root"):
        resolve_in_roots(path, roots_of(tree))


def test_traversal_is_rejected_before_resolution(tree: Path) -> None:
    with pytest.raises(PathRejected, match=r"'\.\.'") as info:
        resolve_in_roots("/data/../outside/secret.txt", roots_of(tree))
    assert not isinstance(info.value, PathOutsideRoot)
    assert isinstance(info.value, HostCallInvalid)


def test_longest_prefix_wins(tree: Path) -> None:
    roots = {
        "/data": Root(tree / "data"),
        "/data/cache": Root(tree / "outside", writable=True),
    }
    got = resolve_in_roots("/data/cache/secret.txt", roots)
    assert got.prefix == "/data/cache"
    assert got.root.writable
    assert got.host_path == os.path.realpath(tree / "outside" / "secret.txt")
    assert resolve_in_roots("/data/cachex", roots).prefix == "/data"


def test_root_prefixes_are_normalized(tree: Path) -> None:
    got = resolve_in_roots("/data/sub", {"data/": Root(tree / "data")})
    assert got.prefix == "/data"


def test_root_given_through_a_symlink(tree: Path) -> None:
    (tree / "data-link").symlink_to(tree / "data")
    got = resolve_in_roots("/d/sub/file.txt", {"/d": Root(tree / "data-link")})
    assert got.host_path == os.path.realpath(tree / "data" / "sub" / "file.txt")


def test_whole_filesystem_root(tree: Path) -> None:
    got = resolve_in_roots(str(tree / "data" / "sub"), {"/": Root("/")})
    assert got.host_path == os.path.realpath(tree / "data" / "sub")


# --- property: rejected, or inside the root -------------------------------

_SEGMENTS = st.sampled_from(
    [
        "",
        ".",
        "..",
        "...",
        "sub",
        "file.txt",
        "alias",
        "escape",
        "rel-escape",
        "secret-link.txt",
        "hop1",
        "etc",
        "data",
        "outside",
        "passwd",
        "\\..",
        "a\\b",
        "\x00",
        "\u2025",
        "\uff0e\uff0e",
        "cafe\u0301",
        "caf\u00e9",
        "\u202e",
        "x" * 300,
    ]
)


@pytest.fixture(scope="module")
def shared_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("prop")
    data = base / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "file.txt").write_text("x")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    (data / "alias").symlink_to(data / "sub")
    (data / "escape").symlink_to(outside)
    (data / "rel-escape").symlink_to("../outside")
    (data / "secret-link.txt").symlink_to(outside / "secret.txt")
    (data / "hop1").symlink_to("escape")
    (data / "etc").symlink_to("/etc")
    (data / "sub" / "up").symlink_to("..")
    (data / "sub" / "upup").symlink_to("../..")
    return base


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    absolute=st.booleans(),
    segments=st.lists(
        st.one_of(_SEGMENTS, st.sampled_from(["up", "upup"]), st.text(max_size=6)), max_size=8
    ),
)
def test_any_path_is_rejected_or_lands_inside_the_root(
    shared_tree: Path, absolute: bool, segments: list[str]
) -> None:
    path = ("/" if absolute else "") + "data/" + "/".join(segments)
    root_real = os.path.realpath(shared_tree / "data")
    try:
        got = resolve_in_roots(path, {"/data": Root(shared_tree / "data")})
    except PathRejected:
        return
    assert got.root_real == root_real
    real = os.path.realpath(got.host_path)
    assert os.path.commonpath([root_real, real]) == root_real
    assert got.guest_path == normalize_guest_path(got.guest_path)
