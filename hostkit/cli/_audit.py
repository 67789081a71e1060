"""``hostkit audit ...``: inspect and verify audit logs.

Exit codes of ``hostkit audit verify``: 0 the log is whole, 1 it was tampered
with (the message names file, line and problem), 2 usage error (bad option,
missing or unreadable file or key), 3 the file is not an audit log at all.
"""

from __future__ import annotations

from pathlib import Path

import click

EXIT_TAMPERED = 1
EXIT_USAGE = 2
EXIT_NOT_A_LOG = 3


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
@click.option(
    "--anchor",
    metavar="COUNT:HASH",
    help="An anchor shipped earlier (AuditLog.anchor): --expect-count and --expect-head in one.",
)
@click.option(
    "--key",
    "key_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The audit key file the log was written with: check every record's HMAC.",
)
@click.option(
    "--key-env",
    metavar="NAME",
    help="Like --key, the key taken from the environment variable NAME.",
)
def verify_command(
    file: Path,
    expect_head: str | None,
    expect_count: int | None,
    anchor: str | None,
    key_file: Path | None,
    key_env: str | None,
) -> None:
    """Check that the audit log FILE is whole and unedited.

    Prints "OK: N records, head HASH" and exits 0, or names the first bad
    line and why and exits 1. Without a key this proves the chain is
    consistent, not who wrote it: someone who can write the file can delete
    a record and re-hash the rest. With --key (or --key-env) every record's
    HMAC is checked too, which only the key holder can forge. Records
    removed from the end leave a valid, shorter chain: to catch that, pass
    an anchor (--anchor, or --expect-head and --expect-count) kept somewhere
    the log's writer cannot change.
    """
    from hostkit._errors import AuditError
    from hostkit.audit import load_audit_key, parse_anchor, verify

    try:
        if anchor is not None:
            if expect_head is not None or expect_count is not None:
                raise AuditError("pass --anchor or --expect-head/--expect-count, not both")
            expect_count, expect_head = parse_anchor(anchor)
        key = None
        if key_file is not None or key_env is not None:
            key = load_audit_key(file=key_file, env=key_env)
        result = verify(file, expect_head=expect_head, expect_count=expect_count, key=key)
    except AuditError as exc:
        raise _CannotVerify(str(exc)) from exc
    click.echo(str(result))
    if result.not_a_log:
        raise SystemExit(EXIT_NOT_A_LOG)
    if not result.ok:
        raise SystemExit(EXIT_TAMPERED)
