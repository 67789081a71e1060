"""The files provider against a racing directory swap (issue 12.1).

A host process swaps a directory inside a granted root with a symlink to a
directory outside it, atomically (``renameat2(RENAME_EXCHANGE)``), as fast
as it can, while reads, overwrites and creates run through the provider, and
through a real guest behind the gate. Every result must be the inside file,
or a WIT error value: never the outside file, never a file created or
changed outside the root, never a host exception (``host-error`` exit).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pluggy
import pytest

import hostkit
from hostkit.capabilities import FileRead, FileWrite, Gate, Root, grant
from hostkit.capabilities._context import CallContext
from hostkit.capabilities._host_errors import HostCallError
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider
from hostkit.capabilities.providers._fsopen import OPENAT2

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
ITERATIONS = 3000
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, stop = (os.fsencode(x) for x in sys.argv[1:4])
print("ready", flush=True)
n = 0
while not os.path.exists(stop):
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        raise SystemExit(os.strerror(ctypes.get_errno()))
    n += 1
print(n, flush=True)
"""


def _exchange(libc: ctypes.CDLL, a: bytes, b: bytes) -> None:
    if libc.renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/dir/f.txt ("inside"), outside/f.txt ("secret"), and
    links/dir -> outside: the symlink the swapper exchanges with root/dir."""
    (tmp_path / "root" / "dir").mkdir(parents=True)
    (tmp_path / "root" / "dir" / "f.txt").write_text("inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_text("secret")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "dir").symlink_to(tmp_path / "outside")
    return tmp_path


@contextmanager
def thread_swapper(tree: Path) -> Iterator[list[int]]:
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = os.fsencode(tree / "root" / "dir"), os.fsencode(tree / "links" / "dir")
    stop = threading.Event()
    count = [0]

    def run() -> None:
        while not stop.is_set():
            _exchange(libc, a, b)
            count[0] += 1

    worker = threading.Thread(target=run)
    worker.start()
    try:
        yield count
    finally:
        stop.set()
        worker.join()


@contextmanager
def process_swapper(tree: Path) -> Iterator[list[int]]:
    stop = tree / "stop"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SWAPPER,
            str(tree / "root" / "dir"),
            str(tree / "links" / "dir"),
            str(stop),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    count = [0]
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield count
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        count[0] = int(out.split()[-1])


SWAPPERS = {"thread": thread_swapper, "process": process_swapper}
METHODS = [pytest.param(True, id="openat2"), pytest.param(False, id="walk")]


def _provider(tree: Path, use_openat2: bool) -> FilesProvider:
    if use_openat2 and not OPENAT2:
        pytest.skip("this kernel has no openat2")
    return FilesProvider({"/data": Root(tree / "root", writable=True)}, use_openat2=use_openat2)


def _outside_untouched(tree: Path) -> None:
    assert sorted(p.name for p in (tree / "outside").iterdir()) == ["f.txt"]
    assert (tree / "outside" / "f.txt").read_text() == "secret"
    assert sorted(p.name for p in tree.iterdir()) == ["links", "outside", "root", "stop"] or sorted(
        p.name for p in tree.iterdir()
    ) == ["links", "outside", "root"]


def _run(op: Callable[[int], str], n: int) -> dict[str, int]:
    """Run ``op`` n times; tally results and WIT error cases. Anything that
    is not a HostCallError propagates and fails the test."""
    tally: dict[str, int] = {}
    for i in range(n):
        try:
            got = op(i)
        except HostCallError as exc:
            got = f"error:{exc.wit_case}"
        tally[got] = tally.get(got, 0) + 1
    return tally


@pytest.mark.parametrize("swapper", SWAPPERS)
@pytest.mark.parametrize("use_openat2", METHODS)
def test_reads_never_leave_the_root_while_a_directory_is_swapped(
    tree: Path, swapper: str, use_openat2: bool
) -> None:
    files = _provider(tree, use_openat2)
    ctx = CallContext(plugin="racer", pid=1)
    with SWAPPERS[swapper](tree) as swaps:
        tally = _run(lambda i: files.files_read(ctx, "/data/dir/f.txt", "utf8"), ITERATIONS)
    assert "secret" not in tally, tally
    assert set(tally) <= {"inside", "error:denied", "error:not-found"}, tally
    assert tally.get("inside", 0) > 0, tally  # the race was on: both sides seen
    assert tally.get("error:denied", 0) > 0, tally
    assert swaps[0] > 0
    _outside_untouched(tree)


@pytest.mark.parametrize("swapper", SWAPPERS)
@pytest.mark.parametrize("use_openat2", METHODS)
def test_writes_and_creates_never_leave_the_root_while_a_directory_is_swapped(
    tree: Path, swapper: str, use_openat2: bool
) -> None:
    files = _provider(tree, use_openat2)
    ctx = CallContext(plugin="racer", pid=1)

    def write(i: int) -> str:
        path = "/data/dir/f.txt" if i % 2 else f"/data/dir/new-{i}"
        return str(files.files_write(ctx, path, "pwned", "utf8", "truncate"))

    with SWAPPERS[swapper](tree) as swaps:
        tally = _run(write, ITERATIONS)
    assert set(tally) <= {"5", "error:denied", "error:not-found"}, tally
    assert tally.get("5", 0) > 0 and tally.get("error:denied", 0) > 0, tally
    assert swaps[0] > 0
    _outside_untouched(tree)
    swapped = (tree / "root" / "dir").is_symlink()
    inside = tree / ("links" if swapped else "root") / "dir"
    assert (inside / "f.txt").read_text() == "pwned"


@pytest.mark.parametrize("use_openat2", METHODS)
def test_list_and_stat_never_leave_the_root_while_a_directory_is_swapped(
    tree: Path, use_openat2: bool
) -> None:
    files = _provider(tree, use_openat2)
    ctx = CallContext(plugin="racer", pid=1)
    (tree / "outside" / "only-outside").mkdir()

    def probe(i: int) -> str:
        if i % 2:
            return ",".join(e.name for e in files.files_list_dir(ctx, "/data/dir"))
        return str(files.files_stat(ctx, "/data/dir/only-outside").kind)

    with process_swapper(tree):
        tally = _run(probe, ITERATIONS)
    assert set(tally) <= {"f.txt", "error:denied", "error:not-found"}, tally
    assert tally.get("f.txt", 0) > 0 and tally.get("error:denied", 0) > 0, tally


# --- through a real guest, behind the gate -------------------------------------


@pytest.fixture
def guest_plugins(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pluggy.PluginManager]:
    pm = pluggy.PluginManager("hostkit")
    pm.register(FilesProvider({"/data": Root(tree / "root", writable=True)}))
    pm.register(ClockProvider())  # fs_race imports the host-caller world's kv and clock too
    with KvProvider(tmp_path_factory.mktemp("kv") / "kv.db") as kv:
        pm.register(kv)
        yield pm


@pytest.mark.parametrize("swapper", SWAPPERS)
async def test_a_real_guest_racing_a_swap_never_escapes_and_never_dies(
    tree: Path,
    guest_plugins: pluggy.PluginManager,
    config: hostkit.HostConfig,
    wasm: dict[str, Path],
    swapper: str,
) -> None:
    policies = [DEFAULT, *grant(FileRead("/data/**"), FileWrite("/data/**"), plugin="fs_race")]
    gate = Gate(guest_plugins, policies=policies)
    tally: dict[str, int] = {}
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["fs_race"]))
        with SWAPPERS[swapper](tree) as swaps:
            for i in range(ITERATIONS):
                if i % 3 == 0:
                    request = "r/data/dir/f.txt"
                else:
                    request = f"w/data/dir/{'f.txt' if i % 3 == 1 else f'g-{i}'}"
                reply = await host.call(pid, request)
                key = reply if reply.startswith("ok:") else reply[:5]
                tally[key] = tally.get(key, 0) + 1
        assert host.is_alive(pid)
    assert "ok:secret" not in tally, tally
    assert set(tally) <= {"ok:inside", "ok:pwned", "ok:5", "err:0", "err:1"}, tally
    assert tally.get("err:0", 0) > 0, tally  # a swap was seen and refused
    assert swaps[0] > 0
    _outside_untouched(tree)
