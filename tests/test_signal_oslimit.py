"""The OS limit: a spawn bomb in a process whose address space is capped
(RLIMIT_AS), so the kernel refuses wasmtime's memory reservations. The host
reports each refusal (audited, naming the spawning actor), keeps serving,
and closes cleanly with the limit still in force. Runs in a subprocess: the
limit would otherwise cap the test runner itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, resource, sys
import trio
import hostkit
from hostkit.audit import AuditLog
from hostkit.testing import capture_audit

wasm, cache = sys.argv[1], sys.argv[2]


def vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmSize")


async def main() -> None:
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache, activation_timeout=5.0)
    out = {}
    with capture_audit() as records:
        async with hostkit.open_host(cfg, audit=AuditLog()) as host:
            comp = host.load(wasm, name="sig_hostile")
            bystander = await host.spawn(comp)
            # Room for a few instances' reservations, not for a bomb's.
            limit = vm_size() + (24 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
            root = await host.spawn(comp, "bomb")
            out["root"] = str(root)
            out["live"] = len(host.actors())
            out["bystander"] = await host.call(bystander, "stats")
            try:
                await host.spawn(comp)
            except hostkit.SpawnError as exc:
                out["host_spawn"] = str(exc)
        # closed with the limit still in force
        out["refused"] = records.where(event="spawn-refused")
        out["closed"] = host._closed
    print(json.dumps(out))


trio.run(main)
"""


def test_os_refusing_memory_is_reported_and_the_host_still_closes(
    wasm: dict[str, Path], cache_dir: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wasm["sig_hostile"]), str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["closed"] is True
    assert out["bystander"] == "0 0"  # the host kept serving
    assert out["live"] < 20  # the kernel stopped the bomb early
    assert "Cannot allocate memory" in out.get("host_spawn", "")
    refused = out["refused"]
    assert refused and all("Cannot allocate memory" in r["detail"] for r in refused)
    # the spawns the bomb asked for name the bomb's actors as the requester
    assert any(r.get("actor") for r in refused)
