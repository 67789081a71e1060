"""``hostkit call X.wasm MESSAGE``: try a plugin from the shell.

A one-shot host: the stock providers, hostkit's default policy and exactly
the grants given on the command line (deny by default for everything else),
an audit log in memory (or ``--audit FILE``). It loads the component,
spawns one actor, calls it with MESSAGE, prints the reply and every denial
the call met, with its reason, then closes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from ._output import EXIT_FAILED, EXIT_USAGE, console, emit_json, err_console, json_option

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "_build" / "default.cedar"


def _mount(spec: str, writable: bool = True) -> tuple[str, Path, bool]:
    guest, sep, host_dir = spec.partition("=")
    if not sep:
        host_dir, guest = spec, ""
    path = Path(host_dir).expanduser().resolve()
    if not path.is_dir():
        raise click.BadParameter(f"{host_dir!r} is not a directory", param_hint="--allow-path")
    from hostkit.capabilities import PathRejected, normalize_guest_path

    guest = guest or path.as_posix()
    hint = "--allow-path" if writable else "--allow-read"
    if not guest.startswith("/") or "*" in guest:
        raise click.BadParameter(
            f"guest path {guest!r} must be absolute, without '*' (e.g. /data)", param_hint=hint
        )
    try:  # the grant's pattern and the mount use the same normalized path
        guest = normalize_guest_path(guest)
    except PathRejected as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    return guest, path, writable


def _host_spec(spec: str) -> tuple[str, int | None]:
    host, sep, port = spec.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return spec, None


def _is_local_literal(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _plugin_name(path: Path, name: str | None) -> str:
    if name:
        return name
    from hostkit._build._manifest import parse_manifest, read_embedded_manifest
    from hostkit.build import BuildError

    try:
        text = read_embedded_manifest(path.read_bytes())
        if text is not None:
            return parse_manifest(text, root=path.parent).name
    except (OSError, ValueError, BuildError):  # a bad manifest: fall back to the file name
        pass
    return path.stem


@click.command("call")
@click.argument("target", nargs=-1, required=True, metavar="[COMPONENT] MESSAGE")
@click.option(
    "--to",
    "to",
    default=None,
    metavar="NAME",
    help="Call the actor NAME of a running `hostkit run` instead of a component file.",
)
@click.option(
    "--node",
    "to_node",
    default=None,
    metavar="NODE",
    help="With --to: NAME is registered on this federation peer of the running host.",
)
@click.option(
    "--config",
    "run_config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --to: the host.toml of the running host (when several run).",
)
@click.option(
    "--socket",
    "run_socket",
    type=click.Path(path_type=Path),
    default=None,
    help="With --to: the control socket, instead of --config.",
)
@click.option(
    "--allow-host",
    "hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Grant HTTP requests to HOST (port 443 unless given). Repeatable.",
)
@click.option(
    "--allow-path",
    "paths",
    multiple=True,
    metavar="[GUEST=]DIR",
    help="Mount DIR at GUEST (default: DIR's own absolute path), read and write. Repeatable.",
)
@click.option(
    "--allow-read",
    "read_paths",
    multiple=True,
    metavar="[GUEST=]DIR",
    help="Like --allow-path, read only. Repeatable.",
)
@click.option("--allow-kv", "kv", multiple=True, metavar="PATTERN", help="Grant kv keys.")
@click.option("--name", default=None, help="The plugin name policies see (default: manifest).")
@click.option("--args", "init_args", default="", help="Init arguments for the actor.")
@click.option(
    "--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.01), help="Seconds."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The compile cache (default: the one HostConfig() uses, which `hostkit build` fills).",
)
@click.option(
    "--audit", "audit_path", type=click.Path(dir_okay=False, path_type=Path), help="Audit log file."
)
@json_option
def call_command(
    target: tuple[str, ...],
    to: str | None,
    to_node: str | None,
    run_config: Path | None,
    run_socket: Path | None,
    hosts: tuple[str, ...],
    paths: tuple[str, ...],
    read_paths: tuple[str, ...],
    kv: tuple[str, ...],
    name: str | None,
    init_args: str,
    timeout: float,
    cache_dir: Path | None,
    audit_path: Path | None,
    as_json: bool,
) -> None:
    """Call the plugin COMPONENT once with MESSAGE and print its reply, or
    with --to NAME, call the actor NAME of a running `hostkit run`.

    MESSAGE is sent as given (Python guests expect JSON). A COMPONENT gets
    hostkit's default policy plus exactly the --allow-* grants; every
    denial is printed with its reason. Exit 0 replied, 1 the call failed
    (the actor exited, timed out or the load was refused), 2 bad usage.
    """
    import trio

    if to is not None:
        if len(target) != 1:
            raise click.UsageError("with --to NAME give exactly one argument: the MESSAGE")
        if hosts or paths or read_paths or kv or init_args or name or audit_path or cache_dir:
            raise click.UsageError(
                "--allow-*, --name, --args, --cache-dir and --audit configure a one-shot "
                "host; the running host's grants come from its host.toml"
            )
        _call_running(to, target[0], timeout, run_config, run_socket, as_json, to_node)
        return
    if run_config is not None or run_socket is not None or to_node is not None:
        raise click.UsageError("--config, --socket and --node go with --to NAME")
    if len(target) != 2:
        raise click.UsageError("give COMPONENT and MESSAGE (or --to NAME and MESSAGE)")
    component, message = Path(target[0]), target[1]
    if not component.is_file():
        raise click.BadParameter(f"{target[0]!r} is not a component file", param_hint="COMPONENT")
    mounts = [_mount(p) for p in paths] + [_mount(p, writable=False) for p in read_paths]
    plugin = _plugin_name(component, name)
    try:
        outcome = trio.run(
            _call,
            component,
            plugin,
            message,
            init_args,
            mounts,
            hosts,
            kv,
            timeout,
            cache_dir,
            audit_path,
        )
    except click.ClickException:
        raise
    _report(plugin, outcome, as_json)


def _call_running(
    name: str,
    message: str,
    timeout: float,
    config: Path | None,
    socket: Path | None,
    as_json: bool,
    node: str | None = None,
) -> None:
    from hostkit._errors import ConfigError, HostkitError

    from ._run import call_running

    try:
        reply = call_running(
            name, message, timeout=timeout, config=config, socket=socket, node=node
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except HostkitError as exc:
        if as_json:
            emit_json({"ok": False, "to": name, "error": str(exc)})
            sys.exit(EXIT_FAILED)
        raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "to": name, "reply": reply})
    else:
        click.echo(reply)


async def _call(
    component: Path,
    plugin: str,
    message: str,
    init_args: str,
    mounts: list[tuple[str, Path, bool]],
    hosts: tuple[str, ...],
    kv: tuple[str, ...],
    timeout_s: float,
    cache_dir: Path | None,
    audit_path: Path | None,
) -> dict[str, Any]:
    import pluggy

    import hostkit
    from hostkit.audit import AuditLog, MemorySink
    from hostkit.capabilities import (
        FileList,
        FileRead,
        FileWrite,
        Gate,
        KeyValue,
        NetworkOutbound,
        Root,
        grant,
    )
    from hostkit.capabilities.providers import (
        ClockProvider,
        FilesProvider,
        HttpProvider,
        KvProvider,
        LogProvider,
        RandomProvider,
    )

    caps: list[Any] = []
    for guest, _dir, writable in mounts:
        pattern = "/**" if guest == "/" else f"{guest}/**"
        caps += [FileRead(pattern), FileList(pattern), FileList(guest)]
        caps += [FileWrite(pattern)] if writable else []
    private: set[str] = set()
    for spec in hosts:
        host, port = _host_spec(spec)
        try:
            caps.append(NetworkOutbound(host, port=port) if port else NetworkOutbound(host))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--allow-host") from None
        if _is_local_literal(host):
            # Named explicitly by the operator: let the private-address guard
            # pass it. A host *name* is never added, so DNS cannot rebind a
            # granted name onto a private address.
            private.add(host)
    caps += [KeyValue(p, write=True) for p in kv]
    default = DEFAULT_POLICY
    policies: list[Any] = [default, *(grant(*caps, plugin=plugin) if caps else ())]
    memory = MemorySink()
    audit = AuditLog([memory], path=audit_path)
    outcome: dict[str, Any] = {"component": str(component), "plugin": plugin}
    with tempfile.TemporaryDirectory(prefix="hostkit-call-") as tmp:
        pm = pluggy.PluginManager("hostkit")
        async with HttpProvider(allow_private=private, timeout=timeout_s) as web:
            with KvProvider(Path(tmp) / "kv.sqlite3") as kv_store:
                roots = {guest: Root(host_dir, writable=w) for guest, host_dir, w in mounts}
                for provider in (
                    FilesProvider(roots),
                    web,
                    kv_store,
                    ClockProvider(),
                    RandomProvider(),
                    LogProvider(),
                ):
                    pm.register(provider)
                gate = Gate(pm, policies=policies, audit=audit)
                config = hostkit.HostConfig(activation_timeout=max(timeout_s, 1.0))
                if cache_dir is not None:
                    config = dataclasses.replace(config, cache_dir=cache_dir)
                try:
                    async with hostkit.open_host(config, capabilities=gate) as running:
                        loaded = await running.load_async(component, name=plugin)
                        pid = await running.spawn(loaded, init_args)
                        outcome["reply"] = await running.call(pid, message, timeout=timeout_s)
                except (hostkit.ComponentLoadError, hostkit.SpawnError) as exc:
                    outcome["error"] = str(exc)
                    outcome["exit_code"] = EXIT_FAILED
                except (hostkit.ActorExited, hostkit.CallTimeout, hostkit.HostkitError) as exc:
                    outcome["error"] = f"{type(exc).__name__}: {exc}"
                    outcome["exit_code"] = EXIT_FAILED
    audit.close()
    outcome["denials"] = [
        {k: r.get(k) for k in ("action", "resource", "detail", "policies", "errors")}
        for r in memory.records()
        if r.get("event") == "decision" and r.get("decision") == "deny"
    ]
    return outcome


def _report(plugin: str, outcome: dict[str, Any], as_json: bool) -> None:
    from hostkit._text import inert

    code = outcome.pop("exit_code", 0)
    if as_json:
        emit_json({"ok": code == 0, **outcome})
        sys.exit(code)
    out = console()
    if "reply" in outcome:
        # The reply is the plugin's text: raw for a pipe, inert on a terminal
        # (no escape sequences or bidi tricks reach the operator's screen).
        reply = outcome["reply"]
        click.echo(inert(reply, None) if out.is_terminal else reply)
    for d in outcome["denials"]:
        what = d["detail"] or f"{plugin} {d['action']} on {d['resource']}"
        by = f" (forbidden by {', '.join(d['policies'])})" if d["policies"] else ""
        err_console().print("[yellow]denied:[/yellow] ", end="", markup=True)
        err_console().print(inert(what, 500) + by, markup=False)
    if "error" in outcome:
        err_console().print("[bold red]error:[/bold red] ", end="", markup=True)
        err_console().print(inert(outcome["error"], 2000), markup=False)
    if code not in (0, EXIT_FAILED, EXIT_USAGE):
        code = EXIT_FAILED
    sys.exit(code)
