"""Build a Python guest of this checkout: a thin shim over :mod:`hostkit.build`.

    python plugins/_python_guest.py plugins/python/counter plugins/build/counter.wasm

Kept so existing scripts and tests that call ``build_python_guest`` and
``host_world_wit`` keep working; new code uses ``hostkit.build`` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hostkit.build import BuildError, assemble_wit, build_python, find_tool

__all__ = ["GuestBuildError", "build_python_guest", "componentize_py", "host_world_wit"]

#: Old name of :class:`hostkit.build.BuildError`.
GuestBuildError = BuildError


def host_world_wit(dest: Path) -> Path:
    """A WIT directory for the world ``full-plugin`` (``hostkit:host`` with
    ``hostkit:plugin`` as its dependency), assembled at ``dest``."""
    return assemble_wit(dest, world="hostkit:host/full-plugin")[0]


def componentize_py() -> str:
    """The componentize-py executable (raises :class:`BuildError` if missing)."""
    return find_tool("componentize-py")


def build_python_guest(
    app_dir: Path,
    out: Path,
    *,
    world: str = "plugin",
    wit_dir: Path | None = None,
    force: bool = False,
) -> Path:
    """:func:`hostkit.build.build_python`, returning the output path."""
    return build_python(app_dir, out, world=world, wit=wit_dir, force=force).path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python plugins/_python_guest.py APP_DIR OUT.wasm")
    result = build_python(Path(sys.argv[1]), Path(sys.argv[2]), progress=print)
    print(f"{result.path} ({result.path.stat().st_size} bytes) in {result.seconds:.2f} s")
