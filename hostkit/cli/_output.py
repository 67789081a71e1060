"""Output and exit codes shared by the ``hostkit`` commands.

Every command that reports something takes ``--json``: one JSON document on
stdout, nothing else, so scripts can parse it. Without it, output is for
people (rich tables and colour on a terminal, plain text otherwise).

Exit codes (the same for every command):

=====  ==================================================================
0      success; for decisions: allowed / every request granted
1      the command ran and the answer is "no": a build failed, a policy
       is invalid, a request is denied, a call was refused or its actor
       exited, the audit log is tampered with
2      usage error: a bad option, a missing or unreadable file, a file
       that is not what the command expects
3      a required tool is missing (componentize-py, wasm-tools)
=====  ==================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_TOOL",
    "EXIT_USAGE",
    "UsageFailure",
    "console",
    "emit_json",
    "err_console",
    "json_option",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TOOL = 3


class UsageFailure(click.ClickException):
    """Bad input: a missing file, a file of the wrong kind (exit 2)."""

    exit_code = EXIT_USAGE


def console() -> Console:
    """A console on stdout (rich formatting only on a terminal)."""
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document for scripts."
    )(fn)
