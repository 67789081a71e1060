"""Build a Python guest with componentize-py, cached by a digest of its inputs.

    build_python_guest(Path("plugins/python/counter"), Path("plugins/build/counter.wasm"))

The app directory holds ``app.py`` (and any helper modules). It is built
together with the guest SDK (``hostkit/guest/*.py``, bundled as the top-level
package ``hostkit_guest``) against ``wit/plugin``. A build takes seconds, so
the result is kept next to ``<out>.sha256``, a digest over every input: the
sources, the WIT, the world, and componentize-py's version. A matching digest
skips the build.

Self-contained on purpose (stdlib + subprocess): ``plugins/build.py`` imports
it, and so do the tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["GuestBuildError", "build_python_guest", "componentize_py", "host_world_wit"]

ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = ROOT / "hostkit" / "guest"
WIT_DIR = ROOT / "wit" / "plugin"
APP_MODULE = "app"
SDK_PACKAGE = "hostkit_guest"
# Bump when the way a guest is assembled changes, to invalidate old builds.
_RECIPE = b"hostkit-python-guest/1"
# Names componentize-py generates into the build: an app must not shadow them.
_RESERVED = {SDK_PACKAGE, "wit_world", "componentize_py_types", "componentize_py_runtime",
             "componentize_py_async_support", "poll_loop"}


class GuestBuildError(RuntimeError):
    """The guest could not be built: a missing tool, a malformed app
    directory, or componentize-py rejected the app (its output is included)."""


def host_world_wit(dest: Path) -> Path:
    """A WIT directory for the world ``full-plugin``: ``wit/host/host.wit``
    with ``wit/plugin`` as its dependency, assembled at ``dest`` (pass it as
    ``wit_dir`` with ``world="full-plugin"``). Returns ``dest``."""
    dest = Path(dest)
    (dest / "deps" / "plugin").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "wit" / "host" / "host.wit", dest / "host.wit")
    shutil.copyfile(WIT_DIR / "plugin.wit", dest / "deps" / "plugin" / "plugin.wit")
    return dest


def componentize_py() -> str:
    """The componentize-py executable: next to this Python (a venv), else PATH."""
    beside = Path(sys.executable).with_name("componentize-py")
    if beside.exists():
        return str(beside)
    found = shutil.which("componentize-py")
    if found is None:
        raise GuestBuildError(
            "componentize-py not found next to the Python interpreter or on PATH: "
            "pip install 'wasm-hostkit[build]'"
        )
    return found


def _sources(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``directory`` that go into a build, in a stable order."""
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and p.suffix in suffixes
        and not any(part.startswith(".") or part == "__pycache__"
                    for part in p.relative_to(directory).parts)
    )


def _digest(tool_version: bytes, world: str, groups: dict[str, tuple[Path, list[Path]]]) -> str:
    h = hashlib.sha256()
    h.update(_RECIPE + b"\0" + tool_version + b"\0" + world.encode() + b"\0")
    for label, (base, files) in groups.items():
        for f in files:
            name = f"{label}/{f.relative_to(base).as_posix()}".encode()
            h.update(name + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _tool_version(exe: str) -> bytes:
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuestBuildError(f"cannot run {exe} --version: {exc}") from None
    return done.stdout.strip()


def build_python_guest(
    app_dir: Path,
    out: Path,
    *,
    world: str = "plugin",
    wit_dir: Path = WIT_DIR,
    force: bool = False,
) -> Path:
    """Build the app in ``app_dir`` into the component ``out`` (unless the
    cached build is up to date) and return ``out``.

    Args:
        app_dir: a directory with ``app.py`` defining ``Actor`` (usually
            ``Actor = hostkit_guest.export(MyServer)``) plus any helpers.
        out: the ``.wasm`` to write; ``<out>.sha256`` records its inputs.
        world: the WIT world in ``wit_dir`` to target.
        wit_dir: the WIT package directory (default ``wit/plugin``).
        force: rebuild even if the digest matches.

    Raises:
        GuestBuildError: with componentize-py's output when the build fails.
    """
    app_dir, out, wit_dir = Path(app_dir).resolve(), Path(out).resolve(), Path(wit_dir).resolve()
    if not (app_dir / f"{APP_MODULE}.py").is_file():
        raise GuestBuildError(f"{app_dir} has no {APP_MODULE}.py (the guest's entry module)")
    app_files = _sources(app_dir, (".py", ".json", ".txt"))
    clash = {f.relative_to(app_dir).parts[0].removesuffix(".py") for f in app_files} & _RESERVED
    if clash:
        raise GuestBuildError(f"{app_dir} shadows names the build provides: {sorted(clash)}")
    exe = componentize_py()
    groups = {
        SDK_PACKAGE: (SDK_DIR, _sources(SDK_DIR, (".py",))),
        "app": (app_dir, app_files),
        "wit": (wit_dir, _sources(wit_dir, (".wit",))),
    }
    digest = _digest(_tool_version(exe), world, groups)
    stamp = out.with_name(out.name + ".sha256")
    if not force and out.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return out

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hostkit-pyguest-") as tmp_s:
        tmp = Path(tmp_s)
        src = tmp / "src"
        for label, (base, files) in groups.items():
            if label == "wit":
                continue
            dest_root = src / SDK_PACKAGE if label == SDK_PACKAGE else src
            for f in files:
                dest = dest_root / f.relative_to(base)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
        # componentize-py adds $VIRTUAL_ENV's (else the system's) site-packages
        # to the guest's path: point it at an empty one so builds are hermetic.
        venv = tmp / "venv"
        (venv / "lib" / "python3" / "site-packages").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PIPENV_ACTIVE")}
        env["VIRTUAL_ENV"] = str(venv)
        partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        cmd = [exe, "-d", str(wit_dir), "-w", world, "componentize", APP_MODULE,
               "-p", str(src), "-o", str(partial)]
        try:
            done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        except OSError as exc:
            raise GuestBuildError(f"cannot run componentize-py: {exc}") from None
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            output = (done.stderr + done.stdout).strip()
            raise GuestBuildError(
                f"componentize-py failed to build {app_dir} (exit {done.returncode}):\n"
                + "\n".join(output.splitlines()[-40:])
            )
        os.replace(partial, out)
    stamp.write_text(digest + "\n")
    return out


if __name__ == "__main__":
    import time

    if len(sys.argv) != 3:
        raise SystemExit("usage: python plugins/_python_guest.py APP_DIR OUT.wasm")
    t0 = time.perf_counter()
    path = build_python_guest(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{path} ({path.stat().st_size} bytes) in {time.perf_counter() - t0:.2f} s")
