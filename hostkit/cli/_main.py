"""The root ``hostkit`` command group.

Each area of hostkit adds a sub-group in its own private module (``_audit``
for ``hostkit audit ...``) and registers it here with ``main.add_command``.
Sub-commands import what they need inside the command, so ``hostkit --help``
stays fast and works without wasmtime.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

from ._audit import audit
from ._audit_view import register as _register_audit_view
from ._build_cmds import build_command, new_command
from ._call import call_command
from ._demo import demo
from ._inspect import inspect_command
from ._node import node
from ._policy import policy
from ._run import run, send


def _version() -> str:
    try:
        return version("wasm-hostkit")
    except PackageNotFoundError:
        return "unknown (not installed)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="hostkit")
def main() -> None:
    """Run untrusted WebAssembly components as supervised, capability-gated actors."""


main.add_command(audit)
main.add_command(demo)
# The plugin author's workflow (new, build, call, inspect, policy, audit show/tail).
for _command in (new_command, build_command, call_command, inspect_command, policy):
    main.add_command(_command)
_register_audit_view(audit)
main.add_command(run)
main.add_command(send)
main.add_command(node)
