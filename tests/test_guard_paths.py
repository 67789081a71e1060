"""Guards on root containment (issue 14): a root contains its own subtree,
never a sibling whose name merely starts with the same characters
(``/data2`` is not inside ``/data``; ``/srv/root2`` is not within
``/srv/root``). Each test fails when its check is removed
(`scripts/mutation.py` applies those mutants)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostkit.capabilities import CallContext, HostCallError, Root, resolve_in_roots
from hostkit.capabilities.providers import FilesProvider

CTX = CallContext(plugin="alpha", pid=7, actor="worker")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``root/`` granted as /data, holding a file named ``2`` (what
    ``/data2`` would reach if /data matched it by string prefix), and a
    sibling ``root2/`` with a secret."""
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "2").write_text("inside, under another name")
    (tmp_path / "root2").mkdir()
    (tmp_path / "root2" / "secret.txt").write_text("TOP SECRET")
    return tmp_path / "root"


@pytest.mark.parametrize("path", ["/data2", "/data2/", "/datax/2"])
def test_a_guest_path_that_only_starts_like_a_root_is_outside_it(root: Path, path: str) -> None:
    files = FilesProvider({"/data": root})
    with pytest.raises(HostCallError, match="not inside any granted root"):
        files.files_read(CTX, path, "utf8")
    assert files.files_read(CTX, "/data/2", "utf8") == "inside, under another name"


def test_resolve_in_roots_refuses_a_sibling_sharing_the_roots_prefix(root: Path) -> None:
    with pytest.raises(HostCallError, match="not inside any granted root"):
        resolve_in_roots("/data2/secret.txt", {"/data": Root(root)})


def test_a_symlink_to_a_sibling_sharing_the_roots_prefix_leads_outside(root: Path) -> None:
    os.symlink(root.parent / "root2", root / "link")
    with pytest.raises(HostCallError, match="symlink leads outside"):
        resolve_in_roots("/data/link/secret.txt", {"/data": Root(root)})


@pytest.mark.parametrize("path", ["/data/../root2/secret.txt", "/data/sub/..", "../x"])
def test_a_parent_reference_is_refused_naming_the_rule(root: Path, path: str) -> None:
    files = FilesProvider({"/data": root})
    with pytest.raises(HostCallError, match=r"'\.\.' component; parent references are refused"):
        files.files_read(CTX, path, "utf8")
