"""The game-mods example: a 60 fps game loop with two player mods, one of
them hostile.

    python examples/game_mods/game.py [--seconds 3]

The game boots ``host.toml`` (next to this file) with its own API plugged
in: the WIT package ``acme:game`` (``wit/acme-game.wit``), implemented by the
pluggy plugin :class:`World` below. Once per frame it casts
``{"event": "frame", "n": N}`` to every mod. The mods are Python components:

- ``goblins`` spawns a goblin every 30 frames;
- ``griefer`` at frame 30 reads another player's save and ``/etc/passwd``
  (denied), at frame 60 sends 1000 messages to ``goblins`` (refused: it has
  no messaging grant), at frame 90 loops forever (ended at its 250 ms
  activation deadline, then restarted by the supervisor).

The game keeps its frame rate throughout: wasm runs on scheduler threads,
never on the game's Trio thread. At the end it prints the frame times, what
each mod saw, the supervisor's children and a summary of the audit log.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio

import hostkit
from hostkit.capabilities import CallContext, HostCallInvalid, hookimpl, hookspec
from hostkit.config import ConfiguredHost, HostFile, load_config, open_configured_host

HERE = Path(__file__).resolve().parent
FPS = 60
SPAWN = "acme:game/world#spawn-monster"
MODS = ("mod.goblins", "mod.griefer")


class AcmeSpecs:
    """The game's hookspecs: one per WIT function of ``acme:game/world``."""

    @hookspec(firstresult=True)
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int | None:
        """``acme:game/world#spawn-monster``: spawn a monster; returns its id."""

    @hookspec(firstresult=True)
    def world_tick(self, ctx: CallContext) -> int | None:
        """``acme:game/world#tick``: the current frame number."""


class World:
    """The game's side of ``acme:game/world``. Hooks run on the host's
    scheduler threads, after the gate allowed the call."""

    def __init__(self) -> None:
        self.tick = 0
        self.monsters: list[tuple[str, int, int, str]] = []

    @hookimpl
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int:
        if kind not in ("goblin", "troll"):
            raise HostCallInvalid(f"unknown monster kind {kind!r}")
        self.monsters.append((kind, x, y, ctx.plugin))
        return len(self.monsters)

    @hookimpl
    def world_tick(self, ctx: CallContext) -> int:
        return self.tick

    @hookimpl
    def hostkit_resource(
        self, ctx: CallContext, action: str, args: Mapping[str, object]
    ) -> tuple[str, str] | None:
        # Policies talk about monsters (Acme::Monster::"goblin"), not plugins.
        if action == SPAWN:
            return ("Acme::Monster", str(args["kind"]))
        return None


async def game_loop(running: ConfiguredHost, world: World, seconds: float) -> dict[str, Any]:
    """Run ``seconds`` of frames; returns frame intervals and work times (ms)."""
    host = running.host
    period = 1 / FPS
    intervals: list[float] = []
    work: list[float] = []
    dropped = 0
    start = last = trio.current_time()
    for n in range(1, int(seconds * FPS) + 1):
        await trio.sleep_until(start + n * period)
        now = trio.current_time()
        intervals.append((now - last) * 1000)
        last = now
        world.tick = n
        frame = json.dumps({"event": "frame", "n": n})
        for name in MODS:
            pid = host.whereis(name)
            try:
                if pid is None:
                    raise hostkit.NoProc(name)
                host.send(pid, frame)
            except (hostkit.NoProc, hostkit.MailboxFull):
                dropped += 1  # restarting, or too far behind: it misses this frame
        work.append((trio.current_time() - now) * 1000)
    return {"intervals": intervals, "work": work, "dropped": dropped}


def _records_in(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def frame_stats(times: list[float]) -> dict[str, float]:
    """Median, 99th percentile and maximum of frame times, in ms."""
    ordered = sorted(times)
    return {
        "median": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def audit_summary(path: Path, first: int = 0) -> collections.Counter[str]:
    """Count audit records from ``seq`` ``first`` on by event, plugin, action
    and decision (the log is JSON lines; see docs/audit.md)."""
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["seq"] < first:
                continue
            key = " ".join(str(r[k]) for k in ("event", "plugin", "action", "decision") if k in r)
            counts[key] += 1
    return counts


async def play(
    seconds: float = 3.0, config: HostFile | Path = HERE / "host.toml"
) -> dict[str, Any]:
    """Boot the game's host, play ``seconds`` of frames, return what happened."""
    world = World()
    host_file = config if isinstance(config, HostFile) else load_config(config)
    audit_path = host_file.resolve(host_file.tables.audit.path or "audit.log")
    first_record = _records_in(audit_path)  # the log resumes where an earlier run stopped
    async with open_configured_host(host_file, plugins=[world], hookspecs=[AcmeSpecs]) as running:
        frames = await game_loop(running, world, seconds)
        await trio.sleep(0.3)  # let the last frames drain
        host = running.host
        status = {}
        for name in MODS:
            pid = host.whereis(name)
            status[name] = None if pid is None else json.loads(await host.call(pid, '"status"'))
        children = {
            c.id: {"restarts": c.restarts, "last_exit": str(c.last_exit), "pid": str(c.pid)}
            for c in running.supervisor.which_children()
        }
    worst = max(range(len(frames["intervals"])), key=frames["intervals"].__getitem__)
    return {
        "worst_frame": worst + 1,
        "frames": len(frames["intervals"]),
        "interval_ms": frame_stats(frames["intervals"]),
        "work_ms": frame_stats(frames["work"]),
        "dropped_frames": frames["dropped"],
        "status": status,
        "children": children,
        "monsters": len(world.monsters),
        "audit_path": str(audit_path),
        "audit": audit_summary(audit_path, first_record),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to play")
    args = parser.parse_args()
    r = trio.run(play, args.seconds)
    iv, wk = r["interval_ms"], r["work_ms"]
    print(f"{r['frames']} frames at {FPS} fps (target {1000 / FPS:.1f} ms): interval median "
          f"{iv['median']:.1f} ms, p99 {iv['p99']:.1f} ms, max {iv['max']:.1f} ms "
          f"(frame {r['worst_frame']}); "
          f"frame work median {wk['median']:.2f} ms, max {wk['max']:.2f} ms; "
          f"{r['dropped_frames']} frame messages not delivered")
    for name, status in r["status"].items():
        print(f"{name}: {json.dumps(status)}")
    for cid, child in r["children"].items():
        print(f"child {cid}: restarts={child['restarts']} last_exit={child['last_exit']}")
    print(f"monsters spawned: {r['monsters']}")
    print(f"audit log {r['audit_path']}:")
    for key, count in sorted(r["audit"].items()):
        print(f"  {count:5}  {key}")


if __name__ == "__main__":
    main()
