"""WAT guests: text -> core module -> component, with wasm-tools.

``wasm-tools parse`` assembles the text, ``component embed`` attaches the
WIT of the world the module implements and ``component new`` wraps it into a
component. ``world=None`` keeps a bare core module (for tests that check
core modules are refused).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._errors import BuildError
from ._cache import Digest, is_fresh, write_stamp
from ._python import BuildResult, Progress
from ._tools import find_tool, run_tool, tool_version
from ._wit import assemble_wit

__all__ = ["build_wat"]

_RECIPE = "hostkit-wat-guest/1"
_ERROR_LINE_LIMIT = 40


def build_wat(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    world: str | None = "hostkit:plugin/plugin",
    wit: str | Path | Sequence[Path] | None = None,
    deps: Mapping[str, str | Path] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build a WAT guest into the component ``out`` unless it is up to date.

    Args:
        source: a ``.wat`` file, or the WAT text itself (a ``str`` holding
            a ``(`` or a newline).
        out: the ``.wasm`` to write; ``<out>.sha256`` records its inputs.
        world: the WIT world the module implements; ``None`` writes the bare
            core module.
        wit: the package defining ``world`` if it is not one of hostkit's.
        deps: more WIT packages the world uses, ``{name: path}``.
        force: rebuild even if the digest matches.
        progress: called with a line of text at each step.

    Raises:
        BuildError: wasm-tools' error (file, line, column of the WAT first).
    """
    started = time.perf_counter()
    say = progress if progress is not None else (lambda _line: None)
    if isinstance(source, str) and ("(" in source or "\n" in source):
        text, label = source, "<wat>"
    else:
        path = Path(source)
        try:
            text, label = path.read_text("utf-8"), str(path)
        except OSError as exc:
            raise BuildError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    target = Path(out).resolve()
    exe = find_tool("wasm-tools")
    with tempfile.TemporaryDirectory(prefix="hostkit-wat-") as tmp_s:
        tmp = Path(tmp_s)
        digest = Digest(_RECIPE)
        digest.add("tool", tool_version(exe).encode())
        digest.add("wat", text.encode())
        wit_dir: Path | None = None
        world_name = ""
        if world is not None:
            wit_dir, world_name = assemble_wit(tmp / "wit", world=world, wit=wit, deps=deps)
            digest.add("world", world_name.encode())
            digest.add_files("wit", wit_dir, sorted(wit_dir.rglob("*.wit")))
        key = digest.hexdigest()
        if not force and is_fresh(target, key):
            say(f"{target.name}: up to date (inputs unchanged)")
            return BuildResult(target, key, True, time.perf_counter() - started)
        target.parent.mkdir(parents=True, exist_ok=True)
        wat = tmp / "guest.wat"
        wat.write_text(text, "utf-8")
        core = tmp / "core.wasm"
        say(f"wasm-tools: assembling {Path(label).name}")
        _run([exe, "parse", str(wat), "-o", str(core)], label, wat)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if wit_dir is None:
            os.replace(core, partial)
        else:
            embedded = tmp / "embedded.wasm"
            say(f"wasm-tools: embedding {world_name} and wrapping into a component")
            _run([exe, "component", "embed", str(wit_dir), "--world", world_name, str(core),
                  "-o", str(embedded)], label, wat)  # fmt: skip
            _run([exe, "component", "new", str(embedded), "-o", str(partial)], label, wat)
        os.replace(partial, target)
    write_stamp(target, key)
    return BuildResult(target, key, False, time.perf_counter() - started)


def _run(cmd: list[str], label: str, wat: Path) -> None:
    done = run_tool(cmd, timeout=300)
    if done.returncode == 0:
        return
    output = (done.stderr or done.stdout).strip()
    # wasm-tools names positions as `--> /tmp/.../guest.wat:12:5`: show the author's file.
    output = output.replace(str(wat), label)
    first = next((ln for ln in output.splitlines() if ln.strip()), "no output")
    location = None
    for ln in output.splitlines():
        if "-->" in ln and label in ln:
            location = ln.split("-->", 1)[1].strip()
            break
    lines = "\n".join(output.splitlines()[:_ERROR_LINE_LIMIT])
    message = first.removeprefix("error: ")
    if location:
        file, _, rest = location.rpartition(":")
        file2, _, line = file.rpartition(":")
        if line.isdigit() and rest.isdigit():
            raise BuildError(message, file=file2, line=int(line), column=int(rest),
                             detail=lines, output=output)  # fmt: skip
    step = " ".join(cmd[1:3] if cmd[1] == "component" else cmd[1:2])
    raise BuildError(
        f"wasm-tools {step} failed for {label}: {message}", detail=lines, output=output
    )
