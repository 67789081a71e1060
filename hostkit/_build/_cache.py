"""Build outputs cached next to a digest of every input.

``out.wasm`` is accompanied by ``out.wasm.sha256``; when the digest of the
inputs matches the stamp, the build is skipped. Outputs are written to a
temporary name and renamed into place, so an interrupted build never leaves
a truncated component behind a valid stamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["Digest", "is_fresh", "sources", "stamp_path", "write_stamp"]


class Digest:
    """A SHA-256 over labelled parts: each part is length-framed, so no two
    different input sets hash alike."""

    def __init__(self, recipe: str) -> None:
        self._h = hashlib.sha256()
        self.add("recipe", recipe.encode())

    def add(self, label: str, data: bytes) -> None:
        self._h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    def add_files(self, label: str, base: Path, files: Iterable[Path]) -> None:
        for f in files:
            self.add(f"{label}/{f.relative_to(base).as_posix()}", f.read_bytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def sources(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``directory`` that go into a build, in a stable order
    (hidden files, ``__pycache__`` and build outputs left out)."""
    skip = {"__pycache__", "build"}
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file()
        and p.suffix in suffixes
        and not any(
            part.startswith(".") or part in skip for part in p.relative_to(directory).parts[:-1]
        )
        and not p.name.startswith(".")
    )


def stamp_path(out: Path) -> Path:
    return out.with_name(out.name + ".sha256")


def is_fresh(out: Path, digest: str) -> bool:
    stamp = stamp_path(out)
    try:
        return out.is_file() and stamp.read_text().strip() == digest
    except OSError:
        return False


def write_stamp(out: Path, digest: str) -> None:
    stamp_path(out).write_text(digest + "\n")
