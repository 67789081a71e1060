"""``hostkit audit show`` and ``hostkit audit tail``: read an audit log.

Records are printed one per line, filtered by plugin, action (shell-style
patterns), event and decision. Text that came from plugins (resources,
details) is passed through ``hostkit._text.inert`` and printed without
markup, so a hostile plugin cannot colour, move or rewrite the operator's
terminal. Use ``hostkit audit verify`` to check the chain; these commands
only read.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from ._output import UsageFailure, emit_json, json_option

_COLUMNS = ("seq", "time", "event", "plugin", "action", "resource", "decision", "policies")


def _filters(
    plugin: str | None, action: str | None, decision: str | None, event: str | None
) -> Callable[[dict[str, Any]], bool]:
    def keep(record: dict[str, Any]) -> bool:
        if plugin is not None and not fnmatch.fnmatchcase(str(record.get("plugin", "")), plugin):
            return False
        if action is not None and not fnmatch.fnmatchcase(str(record.get("action", "")), action):
            return False
        if decision is not None and record.get("decision") != decision:
            return False
        return event is None or fnmatch.fnmatchcase(str(record.get("event", "")), event)

    return keep


def _parse(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or "seq" not in record or "hash" not in record:
        raise UsageFailure(
            f"{path}:{number}: not an audit log record (a JSON object with seq and hash); "
            "is this an audit log?"
        )
    return record


def _records(lines: Iterable[str], path: Path, start: int = 1) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start):
        if line.strip():
            yield _parse(line, path, number)


def _line(record: dict[str, Any]) -> str:
    from hostkit._text import inert

    parts = [f"#{record.get('seq')}", str(record.get("time", ""))[:23], str(record.get("event"))]
    for key in ("plugin", "action", "resource"):
        if record.get(key) is not None:
            parts.append(inert(str(record[key]), 200))
    if record.get("decision"):
        parts.append(str(record["decision"]).upper())
    if record.get("policies"):
        parts.append("by " + ",".join(inert(str(p), 100) for p in record["policies"]))
    if record.get("detail"):
        parts.append("(" + inert(str(record["detail"]), 300) + ")")
    return " ".join(parts)


def _emit(record: dict[str, Any], as_json: bool) -> None:
    if as_json:  # one record per line (JSON Lines): a stream scripts can read
        click.echo(json.dumps(record, ensure_ascii=True))
    else:
        click.echo(_line(record))


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--plugin", default=None, help="Only this plugin (shell pattern).")(fn)
    fn = click.option("--action", default=None, help="Only this action (shell pattern).")(fn)
    fn = click.option("--decision", type=click.Choice(["allow", "deny"]), default=None)(fn)
    fn = click.option("--event", default=None, help="Only this event (decision, exit, ...).")(fn)
    return json_option(fn)


def _open(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageFailure(f"cannot read {path}: {exc.strerror}") from None


@click.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N matches.")
@_common
def show_command(
    file: Path,
    last: int | None,
    plugin: str | None,
    action: str | None,
    decision: str | None,
    event: str | None,
    as_json: bool,
) -> None:
    """Print the records of the audit log FILE, oldest first, filtered.

    With --json: one JSON array of the matching records. Exit 0, or 2 if FILE
    is not an audit log.
    """
    keep = _filters(plugin, action, decision, event)
    with _open(file) as stream:
        matches: Iterable[dict[str, Any]] = (r for r in _records(stream, file) if keep(r))
        selected = list(deque(matches, maxlen=last) if last else matches)
    if as_json:
        emit_json(selected)
        return
    for record in selected:
        _emit(record, False)
    click.echo(f"{len(selected)} record(s)", err=True)


@click.command("tail")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-n", "lines", type=click.IntRange(min=0), default=10, show_default=True,
              help="Matching records to show first.")  # fmt: skip
@click.option("--follow", "-f", is_flag=True, help="Keep printing records as they are appended.")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.25, hidden=True)
@_common
def tail_command(
    file: Path,
    lines: int,
    follow: bool,
    interval: float,
    plugin: str | None,
    action: str | None,
    decision: str | None,
    event: str | None,
    as_json: bool,
) -> None:
    """Print the last records of the audit log FILE; with --follow, keep
    printing new ones until interrupted (Ctrl-C).

    With --json: JSON Lines, one record per line. Exit 0, or 2 if FILE is
    not an audit log.
    """
    keep = _filters(plugin, action, decision, event)
    with _open(file) as stream:
        number = 0
        recent: deque[dict[str, Any]] = deque(maxlen=lines or None)
        for number, text in enumerate(iter(stream.readline, ""), 1):
            if text.strip():
                record = _parse(text, file, number)
                if keep(record):
                    recent.append(record)
        for record in recent if lines else ():
            _emit(record, as_json)
        sys.stdout.flush()
        if not follow:
            return
        partial = ""
        try:
            while True:
                chunk = stream.readline()
                if not chunk:
                    time.sleep(interval)
                    continue
                partial += chunk
                if not partial.endswith("\n"):  # a line still being written
                    continue
                number += 1
                text, partial = partial, ""
                if text.strip():
                    record = _parse(text, file, number)
                    if keep(record):
                        _emit(record, as_json)
                        sys.stdout.flush()
        except KeyboardInterrupt:
            return


def register(audit: click.Group) -> None:
    """Add ``show`` and ``tail`` to the ``hostkit audit`` group."""
    audit.add_command(show_command)
    audit.add_command(tail_command)


__all__ = ["register", "show_command", "tail_command"]
