"""The adapters example: a supervised CSV -> JSON pipeline in which one
partner's stage crashes on bad rows and no row is lost.

    python examples/adapters/pipeline.py

boots the host that ``host.toml`` (next to this file) describes -- the same
file ``hostkit run examples/adapters/host.toml`` serves -- and drives it once:

1. ``ingest`` (may list and read ``/in``) lists the CSV files and reads
   their rows;
2. ``transform`` (no capabilities) turns each row into a record; on a row it
   cannot parse it crashes, the supervisor starts a fresh instance, and the
   row is tried once more before it is set aside with the crash's reason;
3. ``writer`` (may write ``/out``) writes ``<file>.json`` with the records
   and ``<file>.rejected.json`` with the rows set aside.

Every row ends up in exactly one of the two files: the script checks it.
The audit log (``state/audit.log``) has every file access, every exit and
every restart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio

import hostkit
from hostkit.config import ConfiguredHost, open_configured_host

HERE = Path(__file__).resolve().parent
ATTEMPTS = 2  # a crash may be a fluke: one retry, then the row is set aside


async def call(running: ConfiguredHost, stage: str, request: dict[str, Any]) -> Any:
    """Call a stage by its registered name; a host-call error is an exception."""
    host = running.host
    pid = host.whereis(stage)
    if pid is None:
        raise RuntimeError(f"stage {stage} is not running")
    answer = json.loads(await host.call(pid, json.dumps(request), timeout=10))
    if "error" in answer:
        raise RuntimeError(f"{stage}: {answer['error']}: {answer['detail']}")
    return answer["ok"]


async def restarted(running: ConfiguredHost, stage: str, old: hostkit.Pid) -> None:
    """Wait until the supervisor has a new instance of ``stage`` registered."""
    with trio.fail_after(5):
        while running.host.whereis(stage) in (None, old):  # noqa: ASYNC110 (no restart event)
            await trio.sleep(0.01)


async def transform(running: ConfiguredHost, row: dict[str, str]) -> tuple[Any, str | None]:
    """``(record, None)``, or ``(None, why)`` after ``ATTEMPTS`` crashes."""
    why = ""
    for _ in range(ATTEMPTS):
        pid = running.host.whereis("transform")
        assert pid is not None
        try:
            return await call(running, "transform", {"op": "transform", "row": row}), None
        except hostkit.ActorExited as exc:
            why = str(exc.reason)
            await restarted(running, "transform", pid)
    return None, why


async def run_pipeline(config: str | Path = HERE / "host.toml") -> dict[str, Any]:
    """Run every CSV file of the inbox through the pipeline once.

    Returns per-file counts: ``{"files": {name: {"rows", "written",
    "rejected"}}, "restarts": n}``.
    """
    report: dict[str, Any] = {"files": {}}
    async with open_configured_host(config) as running:
        for name in await call(running, "ingest", {"op": "list"}):
            rows = await call(running, "ingest", {"op": "read", "file": name})
            records, rejected = [], []
            for line, row in enumerate(rows, start=2):  # line 1 is the header
                record, why = await transform(running, row)
                if why is None:
                    records.append(record)
                else:
                    rejected.append({"line": line, "row": row, "reason": why})
            stem = name.removesuffix(".csv")
            await call(running, "writer", {"op": "write", "file": f"{stem}.json",
                                           "records": records})
            await call(running, "writer", {"op": "write", "file": f"{stem}.rejected.json",
                                           "records": rejected})
            if len(records) + len(rejected) != len(rows):
                raise AssertionError(f"{name}: rows were lost")
            report["files"][name] = {
                "rows": len(rows), "written": len(records), "rejected": len(rejected),
            }
        children = {c.id: c for c in running.supervisor.which_children()}
        report["restarts"] = children["transform"].restarts
        report["audit"] = str(running.config.resolve(running.config.tables.audit.path or ""))
    return report


def main() -> None:
    config = sys.argv[1] if len(sys.argv) > 1 else HERE / "host.toml"
    report = trio.run(run_pipeline, config)
    for name, counts in report["files"].items():
        print(f"{name}: {counts['rows']} rows -> {counts['written']} written, "
              f"{counts['rejected']} rejected")
    print(f"transform was restarted {report['restarts']} times; no row was lost")
    print(f"outputs in {HERE / 'state' / 'out'}; audit log {report['audit']}")


if __name__ == "__main__":
    main()
