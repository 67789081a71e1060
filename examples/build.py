"""Build the examples' Python plugins into ``examples/build/`` (cached).

    python examples/build.py            # every example plugin
    python examples/build.py goblins    # just some

Each plugin is a componentize-py build (``hostkit.build.build_python``), tens
of seconds the first time; a build whose inputs did not change is skipped,
so running this again is instant. Tests and ``scripts/demo.sh`` call it too.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hostkit.build import build_python

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "build"

FULL = "hostkit:host/full-plugin"  # hostkit's actor contract + every stock host function

#: plugin name -> (app directory, world, WIT package directory or None for hostkit's own)
PLUGINS: dict[str, tuple[Path, str, Path | None]] = {
    "goblins": (HERE / "game_mods" / "mods" / "goblins", "mod", HERE / "game_mods" / "wit"),
    "griefer": (HERE / "game_mods" / "mods" / "griefer", "mod", HERE / "game_mods" / "wit"),
    "stage": (HERE / "adapters" / "stage", FULL, None),
    "calculator": (HERE / "ai_tools" / "tools" / "calculator", FULL, None),
    "fetcher": (HERE / "ai_tools" / "tools" / "fetcher", FULL, None),
    "notes": (HERE / "ai_tools" / "tools" / "notes", FULL, None),
}


def build(*names: str, quiet: bool = False) -> dict[str, Path]:
    """Build the named plugins (all by default); returns name -> ``.wasm`` path."""
    unknown = sorted(set(names) - set(PLUGINS))
    if unknown:
        raise SystemExit(f"unknown example plugins {unknown}; known: {sorted(PLUGINS)}")
    built = {}
    for name in names or tuple(PLUGINS):
        app, world, own = PLUGINS[name]
        t0 = time.perf_counter()
        result = build_python(app, OUT / f"{name}.wasm", world=world, wit=own)
        built[name] = result.path
        if not quiet:
            how = "cached" if result.cached else f"built in {time.perf_counter() - t0:.1f} s"
            print(f"{result.path.relative_to(ROOT)} ({how})")
    return built


if __name__ == "__main__":
    build(*sys.argv[1:])
