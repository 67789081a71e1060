"""``hostkit policy check`` and ``hostkit policy explain``: Cedar, offline.

Both use the same `hostkit.capabilities.Authorizer` a host uses, so a
policy that checks here loads there, and an explanation is the decision the
gate would make for that request.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from ._output import EXIT_FAILED, UsageFailure, console, emit_json, json_option

# An entity type is a Cedar path: one identifier, or namespaces joined by
# ``::`` (``Acme::Monster``); the id is the quoted tail.
_UID = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)::"(.*)"$', re.DOTALL)


def _schema(path: Path | None) -> Any:
    from hostkit import PolicyError
    from hostkit.capabilities import CedarSchema

    if path is None:
        return None
    try:  # an application's fragment, on top of the stock schema
        return CedarSchema.stock().extend(path)
    except PolicyError as exc:
        raise UsageFailure(f"invalid schema: {exc}") from None


_schema_option = click.option(
    "--schema",
    "schema_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A Cedar schema (default: hostkit's stock schema).",
)


@click.group("policy")
def policy() -> None:
    """Check Cedar policies and explain decisions, offline.

    --schema adds an application's schema fragment to hostkit's stock one.
    """


@policy.command("check")
@click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_schema_option
@json_option
def check_command(policies: tuple[Path, ...], schema_path: Path | None, as_json: bool) -> None:
    """Parse POLICIES (.cedar files or directories) and validate them against
    the schema. Errors name FILE:LINE:COLUMN. Exit 0 valid, 1 invalid."""
    from hostkit import PolicyError
    from hostkit.capabilities import Authorizer

    try:
        authorizer = Authorizer(list(policies), schema=_schema(schema_path))
    except PolicyError as exc:
        if as_json:
            emit_json({"ok": False, "errors": str(exc).splitlines()})
        else:
            click.echo(f"invalid: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    ids = list(authorizer.policy_ids)
    if as_json:
        emit_json({"ok": True, "policies": len(ids), "ids": ids})
        return
    console().print(f"[green]ok[/green]: {len(ids)} policies valid against the schema")
    for pid in ids:
        console().print(f"  {pid}")


def _resource(text: str, plugin: Any) -> Any:
    from hostkit.capabilities import Entity

    if text.startswith("/"):
        return Entity.file(text)
    match = _UID.match(text.strip())
    if match is None:
        raise click.BadParameter(
            'expected an entity uid like File::"/data/a.txt", Host::"api.example.com:443" '
            'or Acme::Monster::"troll", or an absolute path',
            param_hint="--resource",
        )
    kind, ident = match.group(1), match.group(2)
    if kind == "File":
        return Entity.file(ident)
    if kind == "Host":
        name, _, port = ident.rpartition(":")
        if not port.isdigit():
            raise click.BadParameter('Host needs a port: Host::"name:443"', param_hint="--resource")
        return Entity.host(name, int(port))
    if kind == "Key":
        return Entity.key(ident)
    if kind == "Name":
        return Entity.name(ident)
    if kind == "Plugin":
        return plugin.entity if ident == plugin.name else Entity.plugin(ident)
    return Entity.of(kind, ident)


@policy.command("explain")
@click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--plugin", required=True, help="The plugin's name (principal Plugin::NAME).")
@click.option("--action", required=True, help='The action, e.g. "hostkit:host/files#read".')
@click.option(
    "--resource",
    required=True,
    help='The resource: File::"/data/a.txt", Host::"api.example.com:443", Key::"k", '
    'Plugin::"name", an application\'s own (namespaced) type such as '
    'Acme::Monster::"troll", or an absolute path (a File).',
)
@click.option("--context", "context_json", default=None, help="The request context, as JSON.")
@click.option("--digest", default="", help="The plugin's sha256 (principal attribute).")
@click.option("--plugin-version", default="", help="The plugin's version attribute.")
@click.option("--group", "groups", multiple=True, help="A group the plugin is in. Repeatable.")
@_schema_option
@json_option
def explain_command(
    policies: tuple[Path, ...],
    plugin: str,
    action: str,
    resource: str,
    context_json: str | None,
    digest: str,
    plugin_version: str,
    groups: tuple[str, ...],
    schema_path: Path | None,
    as_json: bool,
) -> None:
    """Decide whether plugin --plugin may do --action on --resource under
    POLICIES, and name the policies that made the decision.

    Exit 0 allowed, 1 denied, 2 bad input (including invalid policies).
    """
    from hostkit import PolicyError
    from hostkit.capabilities import Authorizer, PluginIdentity

    try:
        context = json.loads(context_json) if context_json else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--context") from None
    if not isinstance(context, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--context")
    try:
        authorizer = Authorizer(list(policies), schema=_schema(schema_path))
    except PolicyError as exc:
        raise UsageFailure(f"invalid policies: {exc}") from None
    who = PluginIdentity(plugin, digest, plugin_version, groups=groups)
    target = _resource(resource, who)
    decision = authorizer.is_authorized(who, action, target, context)
    result = {
        "decision": "allow" if decision.allowed else "deny",
        "principal": who.uid,
        "action": action,
        "resource": target.uid,
        "context": context,
        "policies": list(decision.policies),
        "errors": list(decision.errors),
        "reason": decision.reason,
    }
    if as_json:
        emit_json(result)
    else:
        colour = "green" if decision.allowed else "red"
        out = console()
        out.print(f"[{colour}]{result['decision'].upper()}[/{colour}] ", end="")
        out.print(f"{who.uid} {action} on {target.uid}", markup=False)
        out.print(f"  {decision.reason}", markup=False)
    sys.exit(0 if decision.allowed else EXIT_FAILED)
