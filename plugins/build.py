"""Build hostkit's example and test plugins. Nothing built is committed.

    python plugins/build.py            # build everything into plugins/build/
    python plugins/build.py echo ring  # just these

WAT guests: ``plugins/wat/<name>.wat`` with the shared prelude spliced in at
``;;PRELUDE``; a guest names its world on a line ``;; world: NAME`` (a world
of package ``hostkit:test``, or ``none`` for a bare core module), else it is
looked up in ``WAT_GUESTS``. The test package is ``plugins/wit/test.wit``
plus every ``plugins/wit/test-*.wit`` (same package, more worlds). Both kinds
are built by :mod:`hostkit.build` (``build_wat``: wasm-tools parse, embed,
new; ``build_python``: componentize-py), which caches every output next to a
digest of its inputs and rebuilds only when they change.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hostkit.build import HOSTKIT_PACKAGES, BuildError, find_tool
from hostkit.build import build_python as _build_python
from hostkit.build import build_wat as _build_wat

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
WAT = PLUGINS / "wat"
BUILD = PLUGINS / "build"

# guest name -> world in the hostkit:test package (None: a bare core module),
# for guests that do not say ``;; world: NAME`` themselves.
_LISTED_WAT_GUESTS: dict[str, str | None] = {
    "echo": "probe-actor",
    "ring": "actor",
    "spawner": "actor",
    "loop": "actor",
    "loopstart": "actor",
    "memgrow": "actor",
    "trap": "actor",
    "raiser": "raiser",
    "linker": "actor",
    "noactor": "probe-only",
    "core": None,
    "hostcall": "host-caller",
    "gamemod": "game-mod",
}
PYTHON_GUESTS = {"counter": PLUGINS / "python" / "counter"}
_WORLD_LINE = re.compile(r"^;; world: ([a-z0-9-]+)\s*$", re.MULTILINE)


def _discover_wat() -> dict[str, str | None]:
    guests = dict(_LISTED_WAT_GUESTS)
    for path in sorted(WAT.glob("*.wat")):
        match = _WORLD_LINE.search(path.read_text())
        if match:
            guests[path.stem] = None if match.group(1) == "none" else match.group(1)
    return guests


WAT_GUESTS: dict[str, str | None] = _discover_wat()


def tool(name: str) -> str:
    """A toolchain binary (next to this Python first, then PATH); exits
    with the install hint if it is missing."""
    try:
        return find_tool(name)
    except BuildError as exc:
        raise SystemExit(str(exc)) from None


def _test_wit_files() -> list[Path]:
    return [PLUGINS / "wit" / "test.wit", *sorted((PLUGINS / "wit").glob("test-*.wit"))]


# The packages test.wit's worlds use: dependency name -> source. hostkit's
# own (plugin, host) are listed for readers; hostkit.build adds them itself
# from its package data (the same files), so only the others are passed on.
WIT_DEPS: dict[str, Path] = {
    "plugin": ROOT / "wit" / "plugin" / "plugin.wit",
    "host": ROOT / "wit" / "host" / "host.wit",
    "acme-game": PLUGINS / "wit" / "acme-game.wit",
}


def app_deps() -> dict[str, Path]:
    """``WIT_DEPS`` without hostkit's own packages (``deps=`` of hostkit.build)."""
    return {k: v for k, v in WIT_DEPS.items() if k not in HOSTKIT_PACKAGES}


def wat_source(name: str) -> str:
    text = (WAT / f"{name}.wat").read_text()
    if ";;PRELUDE" in text:
        match = re.search(r";;HEAP_BASE=(\d+)", text)
        prelude = (WAT / "prelude.wat").read_text()
        prelude = prelude.replace("HEAP_BASE", match.group(1) if match else "1024")
        text = text.replace("  ;;PRELUDE\n", prelude)
    return text


def build_wat(name: str, out_dir: Path = BUILD) -> Path:
    """Build one WAT guest; returns the path of the ``.wasm``."""
    world = WAT_GUESTS[name]
    return _build_wat(
        wat_source(name),
        out_dir / f"{name}.wasm",
        world=None if world is None else f"hostkit:test/{world}",
        wit=_test_wit_files(),
        deps=app_deps(),
    ).path


def build_python(name: str, out_dir: Path = BUILD) -> Path:
    """Build one componentize-py guest (slow the first time, then cached)."""
    return _build_python(PYTHON_GUESTS[name], out_dir / f"{name}.wasm").path


def build(name: str, out_dir: Path = BUILD) -> Path:
    if name in WAT_GUESTS:
        return build_wat(name, out_dir)
    if name in PYTHON_GUESTS:
        return build_python(name, out_dir)
    raise SystemExit(f"unknown plugin {name!r}; known: {', '.join([*WAT_GUESTS, *PYTHON_GUESTS])}")


def main(argv: list[str]) -> int:
    names = argv or [*WAT_GUESTS, *PYTHON_GUESTS]
    for name in names:
        try:
            print(build(name))
        except BuildError as exc:
            print(f"building {name}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
