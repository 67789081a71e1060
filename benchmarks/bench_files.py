"""The files provider per call: descriptor-based lookup (openat2 and the
per-component walk) against the string-resolution code it replaced.

    .venv/bin/python benchmarks/bench_files.py [--quick]

Reads a 64-byte file three directories below a root, through the provider
object (no gate, no guest): what the lookup itself costs per call. The old
path (realpath, open O_NOFOLLOW, realpath + lstat again) is rebuilt here
from its steps, as it was on main before the descriptor walk.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hostkit.capabilities import Root
from hostkit.capabilities._context import CallContext
from hostkit.capabilities.providers import FilesProvider
from hostkit.capabilities.providers._fsopen import OPENAT2


def old_read(root: str, rel: str) -> bytes:
    """The replaced check-then-open sequence (string resolution)."""
    root_real = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root_real, rel))
    if os.path.commonpath([root_real, target]) != root_real:
        raise PermissionError(rel)
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        opened = os.fstat(fd)
        again = os.path.realpath(target)
        now = os.stat(again, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            raise PermissionError(rel)
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def per_call_us(fn: object, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    quick = "--quick" in sys.argv
    n, rounds = (2000, 3) if quick else (20000, 7)
    with tempfile.TemporaryDirectory() as tmp:
        deep = Path(tmp, "a", "b", "c")
        deep.mkdir(parents=True)
        (deep / "f.txt").write_bytes(b"x" * 64)
        ctx = CallContext(plugin="bench", pid=1)
        cases = {"old: realpath, open, re-check": lambda: old_read(tmp, "a/b/c/f.txt")}
        for label, method in (("openat2", True), ("per-component walk", False)):
            if method and not OPENAT2:
                continue
            files = FilesProvider({"/data": Root(tmp)}, use_openat2=method)
            cases[f"new: {label} (provider.files_read)"] = lambda files=files: files.files_read(
                ctx, "/data/a/b/c/f.txt", "utf8"
            )
        print(f"load: {os.getloadavg()[0]:.2f}; {n} calls x {rounds} rounds; median [range]")
        for label, fn in cases.items():
            runs = [per_call_us(fn, n) for _ in range(rounds)]
            print(
                f"{label:45s} {statistics.median(runs):7.2f} us [{min(runs):.2f}-{max(runs):.2f}]"
            )


if __name__ == "__main__":
    main()
