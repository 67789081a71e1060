"""Build the examples' plugins into ``examples/build/`` (cached).

    python examples/build.py            # every example plugin
    python examples/build.py goblins    # just some

Each plugin is a ``hostkit new``-style project (a ``hostkit.toml`` next to
its ``app.py``), and this runs ``hostkit build`` on each: a componentize-py
build, tens of seconds the first time, then compiled into the host's cache
so the first load is fast. A plugin whose inputs did not change is skipped,
so running this again is instant. Tests and ``scripts/demo.sh`` call it too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "build"

#: plugin name -> its project directory (with hostkit.toml)
PROJECTS: dict[str, Path] = {
    "goblins": HERE / "game_mods" / "mods" / "goblins",
    "griefer": HERE / "game_mods" / "mods" / "griefer",
    "stage": HERE / "adapters" / "stage",
    "calculator": HERE / "ai_tools" / "tools" / "calculator",
    "fetcher": HERE / "ai_tools" / "tools" / "fetcher",
    "notes": HERE / "ai_tools" / "tools" / "notes",
}


def build(*names: str, quiet: bool = False) -> dict[str, Path]:
    """Run ``hostkit build`` on the named projects (all by default); returns
    name -> ``.wasm`` path.

    Raises:
        SystemExit: a name is unknown, or a build failed (its output shown).
    """
    unknown = sorted(set(names) - set(PROJECTS))
    if unknown:
        raise SystemExit(f"unknown example plugins {unknown}; known: {sorted(PROJECTS)}")
    hostkit = Path(sys.executable).with_name("hostkit")
    built = {}
    for name in names or tuple(PROJECTS):
        cmd = [str(hostkit), "build", str(PROJECTS[name])] + (["--quiet"] if quiet else [])
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        if done.returncode != 0:
            raise SystemExit(f"hostkit build {PROJECTS[name]} failed:\n{done.stdout}{done.stderr}")
        built[name] = OUT / f"{name}.wasm"
    return built


if __name__ == "__main__":
    build(*sys.argv[1:])
