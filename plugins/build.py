"""Build hostkit's example and test plugins. Nothing built is committed.

    python plugins/build.py            # build everything into plugins/build/
    python plugins/build.py echo ring  # just these

WAT guests: ``plugins/wat/<name>.wat`` with the shared prelude spliced in at
``;;PRELUDE``; a guest names its world on a line ``;; world: NAME`` (a world
of package ``hostkit:test``, or ``none`` for a bare core module), else it is
looked up in ``WAT_GUESTS``. The test package is ``plugins/wit/test.wit``
plus every ``plugins/wit/test-*.wit`` (same package, more worlds). Guests
are assembled with ``wasm-tools parse``, given the WIT of their world with
``wasm-tools component embed`` and wrapped with ``wasm-tools component new``.
Python guests: componentize-py (see ``_python_guest.py``). Every output is
cached next to a digest of its inputs and rebuilt only when they change.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _test_wit_files() -> list[Path]:
    return [PLUGINS / "wit" / "test.wit", *sorted((PLUGINS / "wit").glob("test-*.wit"))]


def tool(name: str) -> str:
    """A toolchain binary: next to this Python first (a venv), then PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install 'wasm-hostkit[build]'")
    return found


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


# The packages test.wit's worlds use: dependency name -> source.
WIT_DEPS: dict[str, Path] = {
    "plugin": ROOT / "wit" / "plugin" / "plugin.wit",
    "host": ROOT / "wit" / "host" / "host.wit",
    "acme-game": PLUGINS / "wit" / "acme-game.wit",
}


def _wit_dir(tmp: Path) -> Path:
    """The hostkit:test package files as the main package, WIT_DEPS as its
    dependencies."""
    wit = tmp / "wit"
    wit.mkdir()
    for source in _test_wit_files():
        shutil.copy(source, wit / source.name)
    for dep, source in WIT_DEPS.items():
        (wit / "deps" / dep).mkdir(parents=True)
        shutil.copy(source, wit / "deps" / dep / source.name)
    return wit


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
    source = wat_source(name)
    inputs = [source.encode(), (world or "").encode()]
    if world is not None:
        inputs += [source.read_bytes() for source in _test_wit_files()]
        inputs += [source.read_bytes() for source in WIT_DEPS.values()]
    digest = _digest(*inputs)
    out = out_dir / f"{name}.wasm"
    stamp = out_dir / f"{name}.wasm.sha256"
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    wasm_tools = tool("wasm-tools")
    with tempfile.TemporaryDirectory(prefix="hostkit-build-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "guest.wat").write_text(source)
        core = tmp / "core.wasm"
        _run([wasm_tools, "parse", str(tmp / "guest.wat"), "-o", str(core)], name)
        if world is None:
            shutil.copy(core, out)
        else:
            wit = _wit_dir(tmp)
            embedded = tmp / "embedded.wasm"
            _run(
                [
                    wasm_tools,
                    "component",
                    "embed",
                    str(wit),
                    "--world",
                    f"hostkit:test/{world}",
                    str(core),
                    "-o",
                    str(embedded),
                ],
                name,
            )
            _run([wasm_tools, "component", "new", str(embedded), "-o", str(out)], name)
    stamp.write_text(digest)
    return out


def build_python(name: str, out_dir: Path = BUILD) -> Path:
    """Build one componentize-py guest (slow the first time, then cached)."""
    sys.path.insert(0, str(PLUGINS))
    try:
        from _python_guest import build_python_guest
    finally:
        sys.path.remove(str(PLUGINS))
    return build_python_guest(PYTHON_GUESTS[name], out_dir / f"{name}.wasm")


def build(name: str, out_dir: Path = BUILD) -> Path:
    if name in WAT_GUESTS:
        return build_wat(name, out_dir)
    if name in PYTHON_GUESTS:
        return build_python(name, out_dir)
    raise SystemExit(f"unknown plugin {name!r}; known: {', '.join([*WAT_GUESTS, *PYTHON_GUESTS])}")


def _run(cmd: list[str], name: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"building {name}: {' '.join(cmd[:3])} failed:\n{proc.stderr}")


def main(argv: list[str]) -> int:
    names = argv or [*WAT_GUESTS, *PYTHON_GUESTS]
    for name in names:
        print(build(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
