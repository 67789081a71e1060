"""``hostkit audit ...``: inspect and verify audit logs.

Exit codes of ``hostkit audit verify``: 0 the log is whole, 1 it was tampered
with (the message names file, line and problem), 2 usage error (bad option,
missing or unreadable file).
"""

from __future__ import annotations

from pathlib import Path

import click

EXIT_TAMPERED = 1
EXIT_USAGE = 2


class _CannotVerify(click.ClickException):
    """The file could not be read: not a verdict, so not exit code 1."""

    exit_code = EXIT_USAGE


def _head_hash(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise click.BadParameter("expected a SHA-256 hex digest (64 hex digits)")
    return value


@click.group()
def audit() -> None:
    """Inspect and verify hostkit audit logs."""


@audit.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--expect-head",
    metavar="HASH",
    callback=_head_hash,
    help="A head hash recorded earlier; the log must still contain that record.",
)
@click.option(
    "--expect-count",
    metavar="N",
    type=click.IntRange(min=0),
    help="The log must contain at least N records.",
)
def verify_command(file: Path, expect_head: str | None, expect_count: int | None) -> None:
    """Check that the audit log FILE is whole and unedited.

    Prints "OK: N records, head HASH" and exits 0, or names the first bad
    line and why and exits 1. Records removed from the end of a log leave a
    valid, shorter chain: to catch that, pass the head (and count) of an
    earlier verdict, kept somewhere the log's writer cannot change.
    """
    from hostkit._errors import AuditError
    from hostkit.audit import verify

    try:
        result = verify(file, expect_head=expect_head, expect_count=expect_count)
    except AuditError as exc:
        raise _CannotVerify(str(exc)) from exc
    click.echo(str(result))
    if not result.ok:
        raise SystemExit(EXIT_TAMPERED)
