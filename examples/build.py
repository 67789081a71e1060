"""Build the examples' Python plugins into ``examples/build/`` (cached).

    python examples/build.py            # every example plugin
    python examples/build.py goblins    # just some

Each plugin is a componentize-py build (tens of seconds the first time);
a build whose inputs did not change is skipped, so running this again is
instant. Tests and ``scripts/demo.sh`` call it too.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "build"

#: plugin name -> (app directory, world, WIT directory or None for hostkit's own)
PLUGINS: dict[str, tuple[Path, str, Path | None]] = {
    "goblins": (HERE / "game_mods" / "mods" / "goblins", "mod", HERE / "game_mods" / "wit"),
    "griefer": (HERE / "game_mods" / "mods" / "griefer", "mod", HERE / "game_mods" / "wit"),
    "stage": (HERE / "adapters" / "stage", "full-plugin", None),
    "calculator": (HERE / "ai_tools" / "tools" / "calculator", "full-plugin", None),
    "fetcher": (HERE / "ai_tools" / "tools" / "fetcher", "full-plugin", None),
    "notes": (HERE / "ai_tools" / "tools" / "notes", "full-plugin", None),
}


def _builder():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        import _python_guest
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    return _python_guest


def _wit_dir(own: Path | None) -> Path:
    """A WIT directory with hostkit's packages as dependencies (and the
    example's own package, if it has one), under ``examples/build/wit-*``."""
    dest = OUT / ("wit-" + (own.parent.name if own else "hostkit"))
    (dest / "deps" / "plugin").mkdir(parents=True, exist_ok=True)
    (dest / "deps" / "host").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "wit" / "plugin" / "plugin.wit", dest / "deps" / "plugin" / "plugin.wit")
    shutil.copyfile(ROOT / "wit" / "host" / "host.wit", dest / "deps" / "host" / "host.wit")
    if own is None:
        shutil.copyfile(ROOT / "wit" / "host" / "host.wit", dest / "host.wit")
        shutil.rmtree(dest / "deps" / "host")
    else:
        for wit in own.glob("*.wit"):
            shutil.copyfile(wit, dest / wit.name)
    return dest


def build(*names: str, quiet: bool = False) -> dict[str, Path]:
    """Build the named plugins (all by default); returns name -> ``.wasm`` path."""
    builder = _builder()
    unknown = sorted(set(names) - set(PLUGINS))
    if unknown:
        raise SystemExit(f"unknown example plugins {unknown}; known: {sorted(PLUGINS)}")
    built = {}
    for name in names or tuple(PLUGINS):
        app, world, own = PLUGINS[name]
        t0 = time.perf_counter()
        built[name] = builder.build_python_guest(
            app, OUT / f"{name}.wasm", world=world, wit_dir=_wit_dir(own)
        )
        if not quiet:
            print(f"{built[name].relative_to(ROOT)} ({time.perf_counter() - t0:.1f} s)")
    return built


if __name__ == "__main__":
    build(*sys.argv[1:])
