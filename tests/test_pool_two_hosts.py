"""Two pooled hosts open in one process at once. Each pool reserves its
fiber stacks (two kernel mappings each) when its engine is built, and
wasmtime aborts the whole process if that fails: the second pool must size
its stacks by what the process has left, not by ``vm.max_map_count``
alone. Runs in a subprocess: the failure is an abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys
import trio
import hostkit

wasm, cache = sys.argv[1], sys.argv[2]


async def main() -> None:
    cfg = hostkit.HostConfig(
        scheduler_threads=1, cache_dir=cache, pool_instances=100_000, max_memory_bytes=1 << 20
    )
    async with hostkit.open_host(cfg) as a, hostkit.open_host(cfg) as b:
        for host in (a, b):
            pid = await host.spawn(host.load(wasm))
            assert await host.call(pid, "pooled") == "pooled"
    print("both served")


trio.run(main)
"""


def test_a_second_pooled_host_fits_its_stacks_in_what_the_process_has_left(
    wasm: dict[str, Path], cache_dir: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wasm["echo"]), str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("both served")
