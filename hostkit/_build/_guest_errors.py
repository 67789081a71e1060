"""The guest's own error, found in a failed build.

componentize-py runs the app's top-level code while it builds (to snapshot
the initialised interpreter), so a ``SyntaxError`` or an exception raised on
import ends the build. Its output then holds a Python traceback whose paths
are the guest's view (``/0/app.py``: source root 0, file ``app.py``). This
module maps those back to the author's files and puts file, line and message
first. A pre-flight ``compile()`` of every source catches syntax errors
before componentize-py starts (seconds earlier, with the column).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .._errors import BuildError

__all__ = ["check_syntax", "guest_error"]

_FRAME = re.compile(r'File "/(\d+)/([^"]+)", line (\d+)')
_EXC_LINE = re.compile(
    r"^\s*(?:AssertionError:\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Warning)\b:?.*)$"
)
_TAIL_LINES = 40


def check_syntax(root: Path, files: Sequence[Path]) -> None:
    """Compile each ``.py`` with this Python; raise the first SyntaxError as a
    :class:`BuildError` at its file, line and column."""
    for f in files:
        if f.suffix != ".py":
            continue
        try:
            compile(f.read_bytes(), str(f), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise BuildError(
                f"SyntaxError: {exc.msg}",
                file=str(f),
                line=exc.lineno,
                column=exc.offset,
                detail=_excerpt(exc),
            ) from None
        except ValueError as exc:  # e.g. NUL bytes in the source
            raise BuildError(f"cannot compile: {exc}", file=str(f)) from None


def _excerpt(exc: SyntaxError) -> str:
    text = (exc.text or "").rstrip("\n")
    if not text:
        return ""
    caret = " " * max((exc.offset or 1) - 1, 0) + "^"
    return f"    {text}\n    {caret}"


def guest_error(
    output: str, roots: Sequence[Path], what: str, exit_code: int, *, library: str = ""
) -> BuildError:
    """A :class:`BuildError` for componentize-py's failed ``output``.

    ``roots`` are the source roots in the order given to componentize-py
    (``/0``, ``/1``...), mapped back to the author's directories. The
    location is the innermost frame in the author's code; frames under
    ``library/`` (the bundled SDK) count only when there is no other.
    """
    lines = output.splitlines()
    location: tuple[str, int] | None = None
    fallback: tuple[str, int] | None = None
    for match in _FRAME.finditer(output):
        index, rel, line_no = int(match.group(1)), match.group(2), int(match.group(3))
        if index < len(roots):
            if library and rel.startswith(library + "/"):
                fallback = (str(roots[index] / rel), line_no)
            else:
                location = (str(roots[index] / rel), line_no)
    location = location or fallback
    message = None
    for line in lines:
        if line.strip() == "Caused by:" or line.startswith("Stack backtrace"):
            break
        found = _EXC_LINE.match(line)
        if found and not found.group(1).startswith("AssertionError: "):
            message = found.group(1).strip()
    if message is None or location is None:  # not the guest's code: the tool's own error
        message, tail = _tool_error(lines)
    else:
        tail = "\n".join(_guest_traceback(lines)[-_TAIL_LINES:])
    for index, root in enumerate(roots):
        tail = tail.replace(f'File "/{index}/', f'File "{root}/')
    if location is None:
        text = f"{what} failed (exit {exit_code}): {message}"
        return BuildError(text, detail=tail, output=output)
    file, where = location
    return BuildError(message, file=file, line=where, detail=tail, output=output)


def _tool_error(lines: list[str]) -> tuple[str, str]:
    """componentize-py's own error: its message and the ``Caused by`` chain
    (for a bad WIT: the file, line and problem), without any backtrace."""
    message = ""
    for line in lines:
        if line.startswith("AssertionError: "):
            message = line.removeprefix("AssertionError: ").strip()
            break
        if line.lower().startswith("error: "):
            message = line[7:].strip()
            break
    caused: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == "Caused by:":
            inside = True
            continue
        if inside:
            if line.startswith("Stack backtrace") or (not line.strip() and caused):
                break
            caused.append(line)
    if not message:
        message = next((ln.strip() for ln in lines if ln.strip()), "no output")
    return message, "\n".join(caused[:_TAIL_LINES])


def _guest_traceback(lines: list[str]) -> list[str]:
    """The part of the output about the guest: from its first frame (or the
    start) to Rust's ``Caused by:`` / backtrace, without the tool's own
    Python frames."""
    start = next((i for i, ln in enumerate(lines) if _FRAME.search(ln)), 0)
    end = next(
        (
            i
            for i, ln in enumerate(lines)
            if ln.strip() == "Caused by:" or ln.startswith("Stack backtrace")
        ),
        len(lines),
    )
    kept = [ln.replace("AssertionError: ", "", 1) for ln in lines[start:end]]
    while kept and not kept[-1].strip():
        kept.pop()
    return kept
