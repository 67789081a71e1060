"""Guest paths: normalization (pure) and resolution inside granted roots.

Theory of operation. A guest names files with *guest paths*. The Cedar gate
decides on ``File::"<normalized guest path>"`` before anything touches the
disk, so normalization is a pure function of the string: it must give one
spelling per file a policy can name, and must refuse every spelling whose
meaning depends on the filesystem or on who reads it. Hence:

- ``..`` is refused outright, not collapsed. Collapsing ``a/link/..`` to ``a``
  is wrong when ``link`` is a symlink, and the policy would then judge a
  different file from the one opened.
- Control and invisible formatting characters are refused (they make audit
  lines and policy reviews lie), as are strings not in Unicode NFC (on a
  normalizing filesystem two spellings would name one file, and a ``forbid``
  on one could be bypassed with the other) and components that turn into
  ``.``, ``..`` or contain ``/`` under NFKC (fullwidth dots and slashes, for
  any tool downstream that folds compatibility characters).
- ``\\`` is an ordinary character, as on every POSIX filesystem.

:func:`select_root` then maps the normalized path into the longest matching
root, touching no file. Opening it is the provider's job, and it never
resolves a path string: it walks from a descriptor of the root, refusing
symlinks (``providers/_fsopen.py``). :func:`resolve_in_roots` (string
resolution with :func:`os.path.realpath`) remains for display and tools.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from ._host_errors import HostCallInvalid

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "PathOutsideRoot",
    "PathRejected",
    "ResolvedPath",
    "Root",
    "normalize_guest_path",
    "resolve_in_roots",
    "select_root",
]

MAX_PATH_BYTES = 4096
"""Longest guest path accepted, in UTF-8 bytes (Linux's PATH_MAX)."""

MAX_COMPONENT_BYTES = 255
"""Longest path component accepted, in UTF-8 bytes (Linux's NAME_MAX)."""

DEFAULT_ROOT_MAX_BYTES = 64 * 1024 * 1024
"""Default per-plugin byte quota of a writable root."""

DEFAULT_ROOT_MAX_FILES = 4096
"""Default per-plugin file-count quota of a writable root."""

# Unicode categories refused anywhere in a path: controls (Cc, includes C0,
# DEL and C1), invisible formatting such as bidi overrides and zero-width
# characters (Cf), and lone surrogates (Cs).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


class PathRejected(HostCallInvalid):
    """A guest path is malformed: the guest's fault. ``reason`` says how.

    The guest receives ``error.invalid``.
    """

    def __init__(self, path: str, reason: str) -> None:
        shown = path if len(path) <= 200 else path[:200] + "..."
        super().__init__(f"path {shown!r}: {reason}")
        self.path = path
        self.reason = reason


class PathOutsideRoot(PathRejected):
    """A guest path lies outside every granted root, or a symlink on the way
    leads out of its root. The guest receives ``error.denied``."""

    wit_case = "denied"


@dataclass(frozen=True, slots=True)
class Root:
    """A host directory granted to guests under some guest path prefix.

    Args:
        host_dir: The directory on the host. Symlinks in *this* path (the
            operator's) are followed each time the root is opened; symlinks
            found *below* it are never followed (the guest gets ``denied``).
        writable: Whether guests may write below it.
        hardlinks: Whether guests may read or write a regular file that has
            more than one hard link. Off by default: a hard link inside a
            root can name a file outside it, and no path check can tell.
        max_bytes: Quota per plugin on a writable root: the most bytes the
            plugin's writes may add to it (default 64 MiB).
        max_files: Quota per plugin on a writable root: the most files the
            plugin may create in it (default 4096).
    """

    host_dir: str | os.PathLike[str]
    writable: bool = False
    hardlinks: bool = False
    max_bytes: int = DEFAULT_ROOT_MAX_BYTES
    max_files: int = DEFAULT_ROOT_MAX_FILES

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Root {name} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """Where a guest path lands on the host.

    Attributes:
        guest_path: The normalized guest path (the Cedar resource id).
        prefix: The guest prefix of the root it lies in.
        root: That root.
        root_real: The root's host directory with symlinks resolved.
        host_path: The target with symlinks resolved; inside ``root_real``.
    """

    guest_path: str
    prefix: str
    root: Root
    root_real: str
    host_path: str


def normalize_guest_path(path: str) -> str:
    """The normalized absolute form of guest path ``path``.

    Repeated ``/``, ``.`` components and trailing ``/`` are removed; a relative
    path is taken relative to ``/``. The result is ``/`` or ``/``-joined
    components with no trailing ``/``.

    Raises:
        PathRejected: ``path`` is empty, too long, not valid Unicode, not in
            NFC, or contains NUL, a control or formatting character, a ``..``
            component or a component that NFKC folds into ``.``/``..``/``/``.
    """
    if not isinstance(path, str):
        raise PathRejected(repr(path), "a path must be a string")
    if not path:
        raise PathRejected(path, "empty path")
    if "\x00" in path:
        raise PathRejected(path, "contains a NUL byte")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathRejected(path, "not valid Unicode (lone surrogate)") from None
    if size > MAX_PATH_BYTES:
        raise PathRejected(path, f"longer than {MAX_PATH_BYTES} bytes ({size})")
    for ch in path:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise PathRejected(path, f"contains control or formatting character U+{ord(ch):04X}")
    if not unicodedata.is_normalized("NFC", path):
        raise PathRejected(path, "not in Unicode NFC; normalize it to NFC first")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise PathRejected(path, "contains a '..' component; parent references are refused")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise PathRejected(path, f"a component is longer than {MAX_COMPONENT_BYTES} bytes")
        folded = unicodedata.normalize("NFKC", part)
        if folded in (".", "..") or "/" in folded:
            raise PathRejected(
                path, f"component {part!r} reads as {folded!r} under NFKC (a look-alike)"
            )
        parts.append(part)
    return "/" + "/".join(parts)


def select_root(path: str, roots: Mapping[str, Root]) -> tuple[str, str, Root, str]:
    """Normalize ``path`` and pick the root with the longest matching guest
    prefix, touching no file.

    Returns:
        ``(guest path, prefix, root, rest)`` where ``rest`` is the path below
        the root, ``/``-joined plain components, ``""`` for the root itself.

    Raises:
        PathRejected: ``path`` is malformed (see :func:`normalize_guest_path`).
        PathOutsideRoot: no root contains it.
    """
    guest = normalize_guest_path(path)
    best: tuple[str, Root] | None = None
    for raw_prefix, root in roots.items():
        prefix = normalize_guest_path(raw_prefix)
        inside = prefix == "/" or guest == prefix or guest.startswith(prefix + "/")
        if inside and (best is None or len(prefix) > len(best[0])):
            best = (prefix, root)
    if best is None:
        raise PathOutsideRoot(guest, "not inside any granted root")
    prefix, root = best
    return guest, prefix, root, guest[len(prefix) :].lstrip("/")


def resolve_in_roots(path: str, roots: Mapping[str, Root]) -> ResolvedPath:
    """Normalize ``path`` and map it into the root with the longest matching
    guest prefix, resolving symlinks on the host.

    For display and tools only: a path string resolved now may name another
    file a moment later. The stock files provider never uses it; it opens
    every path beneath a descriptor of its root (``providers/_fsopen.py``).

    Args:
        path: A guest path, normalized or not.
        roots: Guest path prefix -> root. Prefixes are normalized here too.

    Raises:
        PathRejected: ``path`` is malformed (see :func:`normalize_guest_path`).
        PathOutsideRoot: no root contains it, or symlinks lead out of the root.
    """
    guest, prefix, root, rest = select_root(path, roots)
    root_real = os.path.realpath(root.host_dir)
    target = os.path.realpath(os.path.join(root_real, rest)) if rest else root_real
    if not is_within(target, root_real):
        raise PathOutsideRoot(guest, f"a symlink leads outside the root {prefix!r}")
    return ResolvedPath(guest, prefix, root, root_real, target)


def is_within(path: str, directory: str) -> bool:
    """Whether absolute ``path`` is ``directory`` or below it (no resolution)."""
    try:
        return os.path.commonpath([directory, path]) == directory
    except ValueError:  # mixes absolute and relative paths (cannot happen here)
        return False
