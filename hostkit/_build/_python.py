"""Python guests: an app directory + the guest SDK -> a component.

The app directory holds ``app.py`` (which assigns ``Actor``) and any helper
modules. It is built together with the guest SDK (``hostkit/guest/*.py``,
bundled as the top-level package ``hostkit_guest``) by componentize-py
against a WIT world laid out by :func:`~._wit.assemble_wit`. A build takes
seconds to a minute, so the result is cached next to ``<out>.sha256``, a
digest over every input: the sources, the WIT, the world and the tool's
version.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .._errors import BuildError
from ._cache import Digest, is_fresh, sources, write_stamp
from ._guest_errors import check_syntax, guest_error
from ._tools import find_tool, run_tool, tool_version
from ._wit import assemble_wit

__all__ = ["APP_MODULE", "SDK_PACKAGE", "BuildResult", "Progress", "build_python"]

#: The module componentize-py imports from the app directory.
APP_MODULE = "app"
#: The name the guest SDK has inside a guest (``import hostkit_guest``).
SDK_PACKAGE = "hostkit_guest"
#: Called with one line of text at each step of a long build.
Progress = Callable[[str], object]

# Bump when the way a guest is assembled changes, to invalidate old builds.
_RECIPE = "hostkit-python-guest/2"
# Names componentize-py generates into the build: an app must not shadow them.
_RESERVED = {
    SDK_PACKAGE,
    "wit_world",
    "componentize_py_types",
    "componentize_py_runtime",
    "componentize_py_async_support",
    "poll_loop",
}
_APP_SUFFIXES = (".py", ".json", ".txt")
_BUILD_TIMEOUT = 900.0


@dataclass(frozen=True)
class BuildResult:
    """What a build produced.

    Attributes:
        path: the component written (or found up to date).
        digest: SHA-256 over every input of the build.
        cached: the inputs had not changed, nothing was rebuilt.
        seconds: wall-clock time the call took.
    """

    path: Path
    digest: str
    cached: bool
    seconds: float


def _sdk_files() -> tuple[Path, list[Path]]:
    sdk = Path(str(resources.files("hostkit").joinpath("guest")))
    return sdk, sources(sdk, (".py",))


def _quiet(progress: Progress | None) -> Progress:
    return progress if progress is not None else (lambda _line: None)


def build_python(
    app_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    world: str = "hostkit:plugin/plugin",
    wit: str | Path | Sequence[Path] | None = None,
    deps: Mapping[str, str | Path] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the Python guest in ``app_dir`` into the component ``out``,
    unless the cached build is up to date.

    Args:
        app_dir: a directory with ``app.py`` assigning ``Actor``
            (usually ``Actor = hostkit_guest.export(MyServer)``).
        out: the ``.wasm`` to write; ``<out>.sha256`` records its inputs.
        world: the WIT world to target (see :func:`assemble_wit`).
        wit: the package defining ``world`` if it is not one of hostkit's.
        deps: more WIT packages the world uses, ``{name: path}``.
        force: rebuild even if the digest matches.
        progress: called with a line of text at each step.

    Raises:
        BuildError: the guest's own error first (file, line, message) when
            its code failed; or a missing tool or a malformed app directory.
    """
    started = time.perf_counter()
    say = _quiet(progress)
    app = Path(app_dir).resolve()
    target = Path(out).resolve()
    if not (app / f"{APP_MODULE}.py").is_file():
        raise BuildError(
            f"{app} has no {APP_MODULE}.py (the guest's entry module): "
            "create one, e.g. with `hostkit new`"
        )
    app_files = sources(app, _APP_SUFFIXES)
    clash = {f.relative_to(app).parts[0].removesuffix(".py") for f in app_files} & _RESERVED
    if clash:
        raise BuildError(f"{app} shadows names the build provides: {sorted(clash)}; rename them")
    exe = find_tool("componentize-py")
    sdk_dir, sdk_files = _sdk_files()
    with tempfile.TemporaryDirectory(prefix="hostkit-pyguest-") as tmp_s:
        tmp = Path(tmp_s)
        wit_dir, world_name = assemble_wit(tmp / "wit", world=world, wit=wit, deps=deps)
        digest = Digest(_RECIPE)
        digest.add("tool", tool_version(exe).encode())
        digest.add("world", world_name.encode())
        digest.add_files(SDK_PACKAGE, sdk_dir, sdk_files)
        digest.add_files("app", app, app_files)
        digest.add_files("wit", wit_dir, sorted(wit_dir.rglob("*.wit")))
        key = digest.hexdigest()
        if not force and is_fresh(target, key):
            say(f"{target.name}: up to date (inputs unchanged)")
            return BuildResult(target, key, True, time.perf_counter() - started)

        say(f"checking {len(app_files)} source file(s) in {app.name}/")
        check_syntax(app, app_files)
        src = tmp / "src"
        for f in app_files:
            dest = src / f.relative_to(app)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        for f in sdk_files:
            dest = src / SDK_PACKAGE / f.relative_to(sdk_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        # componentize-py adds $VIRTUAL_ENV's (else the system's) site-packages
        # to the guest's path: point it at an empty one so builds are hermetic.
        venv = tmp / "venv"
        (venv / "lib" / "python3" / "site-packages").mkdir(parents=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        cmd = [exe, "-d", str(wit_dir), "-w", world_name, "componentize", APP_MODULE,
               "-p", str(src), "-o", str(partial)]  # fmt: skip
        say(f"componentize-py: building {target.stem} against {world_name} (first build: ~10-60 s)")
        done = run_tool(cmd, cwd=tmp, env={"VIRTUAL_ENV": str(venv)}, timeout=_BUILD_TIMEOUT)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            output = (done.stderr + "\n" + done.stdout).strip()
            # Source root /0 is `src`, the copy of the app (and of the SDK).
            error = guest_error(
                output, [app], f"componentize-py on {app}", done.returncode, library=SDK_PACKAGE
            )
            raise _map_sdk(error, app, sdk_dir)
        os.replace(partial, target)
    write_stamp(target, key)
    say(f"{target.name}: built ({target.stat().st_size // 1024} KiB)")
    return BuildResult(target, key, False, time.perf_counter() - started)


def _map_sdk(error: BuildError, app: Path, sdk_dir: Path) -> BuildError:
    """Frames in the bundled SDK point at ``app/hostkit_guest/...``: show the
    SDK's real file instead."""
    if error.file is None:
        return error
    rel = Path(error.file).relative_to(app) if Path(error.file).is_relative_to(app) else None
    if rel is None or rel.parts[0] != SDK_PACKAGE:
        return error
    real = sdk_dir.joinpath(*rel.parts[1:])
    return BuildError(
        error.message, file=str(real), line=error.line, detail=error.detail, output=error.output
    )
