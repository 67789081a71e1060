"""``hostkit inspect X.wasm``: what a component imports, exports and asks for.

The component is untrusted input: it is parsed by ``wasm-tools component
wit --json`` (no compiling, nothing run) and its embedded manifest is read
with bounds checks. Every imported function is a Cedar action
(``hostkit:host/files#read``); with ``--policies`` each is checked:
actions whose resource is the plugin itself (clocks, random, ``process``
introspection) get a real Cedar decision, the others an analysis of the
policies' scopes ("some policy may permit it" vs "no policy can").
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from ._output import EXIT_FAILED, EXIT_TOOL, UsageFailure, console, emit_json, json_option

_SELF_RESOURCE = {
    "hostkit:plugin/process#self",
    "hostkit:plugin/process#now",
    "hostkit:host/clock#now-ms",
    "hostkit:host/clock#monotonic-ns",
    "hostkit:host/random#next-u64",
}


def _wit_json(path: Path) -> dict[str, Any]:
    from hostkit._build._tools import run_tool
    from hostkit.build import ToolNotFound, find_tool

    try:
        exe = find_tool("wasm-tools")
    except ToolNotFound as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_TOOL)
    done = run_tool([exe, "component", "wit", "--json", str(path)], timeout=120)
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise UsageFailure(f"{path} is not a readable component: {' '.join(first)}")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _interfaces(data: dict[str, Any], side: str) -> list[dict[str, Any]]:
    """The world's imports or exports as ``{name, functions}``."""
    packages = data["packages"]
    interfaces = data["interfaces"]
    world = next(w for w in data["worlds"] if w["name"] == "root")
    found: list[dict[str, Any]] = []
    for key, item in world[side].items():
        if "interface" in item:
            iface = interfaces[item["interface"]["id"]]
            pkg = packages[iface["package"]]["name"] if iface.get("package") is not None else ""
            versionless = re.sub(r"@.*$", "", pkg)
            name = f"{versionless}/{iface['name']}" if iface.get("name") else key
            version = pkg.partition("@")[2]
            found.append({"name": name, "version": version, "functions": list(iface["functions"])})
        elif "function" in item:
            found.append({"name": key, "version": "", "functions": [key]})
    return found


def inspect_component(path: Path) -> dict[str, Any]:
    """Imports, exports, requested actions and the embedded manifest of ``path``."""
    from hostkit._build._manifest import parse_manifest, read_embedded_manifest

    data = _wit_json(path)
    imports = _interfaces(data, "imports")
    exports = _interfaces(data, "exports")
    actions = [
        f"{i['name']}#{f}"
        for i in imports
        if not i["name"].startswith("wasi:")
        for f in i["functions"]
    ]
    manifest: dict[str, Any] | None = None
    try:
        text = read_embedded_manifest(path.read_bytes())
    except ValueError as exc:
        raise UsageFailure(f"{path}: {exc}") from None
    source = "embedded"
    if text is None:
        beside = path.with_name(path.stem + ".hostkit.toml")
        if beside.is_file():
            text, source = beside.read_text("utf-8"), str(beside)
    if text is not None:
        from hostkit.build import BuildError

        try:
            m = parse_manifest(text, root=path.parent, origin=f"{path} ({source} manifest)")
            manifest = {
                "source": source,
                "name": m.name,
                "version": m.version,
                "world": m.world,
                "capabilities": {k: list(v) for k, v in m.capabilities.items()},
            }
        except BuildError as exc:
            manifest = {"source": source, "error": str(exc)}
    return {
        "component": str(path),
        "size": path.stat().st_size,
        "digest": hashlib.sha256(path.read_bytes()).hexdigest(),
        "imports": imports,
        "exports": exports,
        "actions": actions,
        "wasi": any(i["name"].startswith("wasi:") for i in imports),
        "manifest": manifest,
    }


def _sample(pattern: str) -> str:
    """A concrete name a pattern matches (``/in/**`` -> ``/in/x``)."""
    return pattern.replace("**", "x").replace("*", "x")


def _requests(manifest: dict[str, Any]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(request, action, resource, context) for each requested capability."""
    from hostkit.capabilities import Entity

    rows: list[tuple[str, str, Any, dict[str, Any]]] = []
    caps = manifest.get("capabilities", {})
    for p in caps.get("files-read", []):
        rows.append((f"files-read {p}", "hostkit:host/files#read", Entity.file(_sample(p)), {}))
    for p in caps.get("files-write", []):
        ctx = {"size": 0, "mode": "truncate"}
        rows.append((f"files-write {p}", "hostkit:host/files#write", Entity.file(_sample(p)), ctx))
    for spec in caps.get("http", []):
        host, _, port = spec.rpartition(":") if ":" in spec else (spec, "", "443")
        ctx = {"method": "GET", "path": "/", "size": 0}
        rows.append(
            (
                f"http {spec}",
                "hostkit:host/http#request",
                Entity.host(_sample(host), int(port)),
                ctx,
            )
        )
    for p in caps.get("kv", []):
        rows.append((f"kv {p} (read)", "hostkit:host/kv#get", Entity.key(_sample(p)), {}))
        rows.append((f"kv {p} (write)", "hostkit:host/kv#set", Entity.key(_sample(p)), {"size": 0}))
    for p in caps.get("messaging", []):
        target = Entity.plugin(_sample(p))
        rows.append((f"messaging {p}", "hostkit:plugin/process#send", target, {"size": 0}))
    return rows


def _schema(schemas: tuple[Path, ...]) -> Any:
    """hostkit's stock schema plus each application fragment, in order."""
    from hostkit.capabilities import CedarSchema

    schema = CedarSchema.stock()
    for path in schemas:
        schema = schema.extend(path)
    return schema


def check_grants(
    report: dict[str, Any],
    policies: tuple[Path, ...],
    plugin: str,
    schemas: tuple[Path, ...] = (),
    groups: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    from hostkit.capabilities import Authorizer, Entity, PluginIdentity

    authorizer = Authorizer(list(policies), schema=_schema(schemas))
    version = (report.get("manifest") or {}).get("version", "")
    who = PluginIdentity(plugin, report["digest"], version or "", groups=groups)
    maybe = authorizer.permitted_actions(who)
    declared = authorizer.schema.text
    rows: list[dict[str, Any]] = []
    for action in report["actions"]:
        if f'action "{action}"' not in declared:
            rows.append(
                {
                    "action": action,
                    "granted": "n/a",
                    "how": "not a Cedar action in the schema: not gated by policy",
                    "policies": [],
                }
            )
        elif action in _SELF_RESOURCE:
            decision = authorizer.is_authorized(who, action, Entity.plugin(who))
            rows.append(
                {
                    "action": action,
                    "granted": "yes" if decision.allowed else "no",
                    "how": "cedar decision",
                    "policies": list(decision.policies),
                }
            )
        else:
            granted = "maybe" if maybe is None or action in maybe else "no"
            rows.append(
                {
                    "action": action,
                    "granted": granted,
                    "how": "a permit names it; the decision depends on the resource",
                    "policies": [],
                }
            )
    return rows


def check_requests(
    report: dict[str, Any],
    policies: tuple[Path, ...],
    plugin: str,
    schemas: tuple[Path, ...] = (),
    groups: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """A real Cedar decision for each capability the manifest requests, on a
    sample resource its pattern matches."""
    from hostkit.capabilities import Authorizer, PluginIdentity

    manifest = report.get("manifest") or {}
    authorizer = Authorizer(list(policies), schema=_schema(schemas))
    who = PluginIdentity(plugin, report["digest"], manifest.get("version", "") or "", groups=groups)
    rows = []
    for request, action, resource, context in _requests(manifest):
        decision = authorizer.is_authorized(who, action, resource, context)
        rows.append(
            {
                "request": request,
                "action": action,
                "resource": resource.uid,
                "granted": decision.allowed,
                "policies": list(decision.policies),
                "reason": decision.reason,
            }
        )
    return rows


@click.command("inspect")
@click.argument("component", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policies",
    "policies",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Cedar policy files or directories to check the requests against. Repeatable.",
)
@click.option(
    "--default-policy",
    is_flag=True,
    help="Add hostkit's default policy (what `hostkit call` grants every plugin).",
)
@click.option(
    "--schema",
    "schemas",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An application's Cedar schema fragment, added to hostkit's stock schema "
    "so --policies checks the app's own actions too. Repeatable.",
)
@click.option("--plugin", default=None, help="Plugin name for --policies (default: manifest).")
@click.option(
    "--group", "groups", multiple=True, help="A group the plugin is in, for --policies. Repeatable."
)
@json_option
def inspect_command(
    component: Path,
    policies: tuple[Path, ...],
    default_policy: bool,
    schemas: tuple[Path, ...],
    plugin: str | None,
    groups: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show COMPONENT's imports, exports and the capabilities it requests.

    Requests come from its imports (each imported function is a Cedar
    action) and from its manifest (embedded by `hostkit build`, or a
    NAME.hostkit.toml beside it). With --policies, whether each action is
    granted: each manifest request gets a real Cedar decision on a sample
    resource its pattern matches; each imported action a yes (Cedar) or a
    yes/maybe/no from the policies' scopes; --schema adds an application's
    schema fragment so its own actions are checked too. Exit 0; 1 with --policies when a
    requested capability is denied; 2 not a component; 3 wasm-tools missing.
    """
    from hostkit import PolicyError

    report = inspect_component(component)
    name = plugin or (report["manifest"] or {}).get("name") or component.stem
    if default_policy:
        from ._call import DEFAULT_POLICY

        policies = (DEFAULT_POLICY, *policies)
    if schemas and not policies:
        raise click.BadParameter("needs --policies (or --default-policy)", param_hint="--schema")
    if policies:
        try:
            report["grants"] = check_grants(report, policies, name, schemas, groups)
            report["requests"] = check_requests(report, policies, name, schemas, groups)
        except PolicyError as exc:
            raise UsageFailure(str(exc)) from None
        report["plugin"] = name
    code = EXIT_FAILED if any(not r["granted"] for r in report.get("requests", [])) else 0
    if as_json:
        emit_json(report)
        sys.exit(code)
    _print(report)
    sys.exit(code)


def _print(report: dict[str, Any]) -> None:
    from hostkit._text import inert

    out = console()
    size, digest = report["size"], report["digest"][:16]
    out.print(f"[bold]{report['component']}[/bold] ({size} bytes, sha256 {digest}...)")
    for side in ("imports", "exports"):
        items = report[side]
        wasi = [i for i in items if i["name"].startswith("wasi:")]
        out.print(f"{side}:")
        if wasi:
            out.print(
                f"  wasi:* ({len(wasi)} interfaces; hostkit offers an empty WASI: no files, "
                "env, args or network)"
            )
        for item in items:
            if item in wasi:
                continue
            version = f"@{item['version']}" if item["version"] else ""
            funcs = ", ".join(item["functions"]) if item["functions"] else "(types only)"
            out.print(f"  {item['name']}{version}: {funcs}")
    m = report["manifest"]
    if m is None:
        out.print("manifest: none (build with `hostkit build` to embed one)")
    elif "error" in m:
        out.print(f"manifest ({m['source']}): [red]invalid[/red]: ", end="")
        out.print(m["error"], markup=False)
    else:  # the manifest came with the component: untrusted text, printed inert
        head = f"manifest ({m['source']}): {m['name']} {m['version']}, world {m['world']}"
        out.print(inert(head, 500), markup=False)
        for kind, values in m["capabilities"].items():
            out.print(
                inert(f"  requests {kind}: {', '.join(values) or '(none)'}", 500), markup=False
            )
        if not m["capabilities"]:
            out.print("  requests no capabilities")
    if "grants" not in report:
        out.print("actions it may call (each one a Cedar action):")
        for action in report["actions"]:
            out.print(f"  {action}")
        return
    out.print(f'requested capabilities, for Plugin::"{report["plugin"]}":')
    for r in report["requests"]:
        mark = "[green]granted[/green]" if r["granted"] else "[red]DENIED[/red] "
        out.print(f"  {mark} ", end="")
        line = f"{r['request']} ({r['action']} on {r['resource']}): {r['reason']}"
        out.print(inert(line, 500), markup=False)
    if not report["requests"]:
        out.print("  (none)")
    out.print("imported actions:")
    colours = {"yes": "green", "no": "red", "maybe": "yellow", "n/a": "dim"}
    for g in report["grants"]:
        colour = colours[g["granted"]]
        why = f"cedar: {', '.join(g['policies'])}" if g["policies"] else g["how"]
        if g["granted"] == "no":
            why = "no permit policy names it"
        out.print(f"  [{colour}]{g['granted']:5}[/{colour}] {g['action']}  ({why})")
