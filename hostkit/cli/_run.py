"""``hostkit run`` and ``hostkit send``: serve a host.toml, talk to it.

``hostkit run host.toml`` boots the host the file describes
(:func:`hostkit.config.open_configured_host`), listens on its control
socket and runs until Ctrl-C or SIGTERM, then stops the supervision tree,
the host and the audit log in that order.

``hostkit send --to NAME MESSAGE`` casts to an actor of the running host
(by registered name); :func:`call_running` is the request/reply form that
``hostkit call --to NAME MESSAGE`` uses.

Exit codes: 0 done; 1 the host or the target refused or failed (the
message says why); 2 usage error (a bad host.toml is one: the message
names file and key); 130/143 after SIGINT/SIGTERM is *not* used: a clean
stop on a signal exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import click

EXIT_FAILED = 1
EXIT_USAGE = 2


class _UsageError(click.ClickException):
    exit_code = EXIT_USAGE


def _socket(config: str | os.PathLike[str] | None, socket: str | os.PathLike[str] | None) -> Path:
    from hostkit.config._control import find_socket

    return Path(socket) if socket is not None else find_socket(config)


def _request(
    payload: dict[str, Any],
    config: str | os.PathLike[str] | None,
    socket: str | os.PathLike[str] | None,
    timeout: float,
) -> Any:
    from hostkit._errors import HostkitError
    from hostkit.config._control import request

    answer = request(_socket(config, socket), payload, timeout=timeout)
    if not answer.get("ok"):
        raise HostkitError(f"{answer.get('error', 'error')}: {answer.get('detail', '')}")
    return answer.get("reply")


def send_to_running(
    name: str,
    message: str,
    *,
    config: str | os.PathLike[str] | None = None,
    socket: str | os.PathLike[str] | None = None,
    node: str | None = None,
) -> None:
    """Cast ``message`` to the actor registered as ``name`` in a running
    ``hostkit run`` (or, with ``node``, on that peer of it: looked up with
    ``Federation.whereis`` under the peer's policy).

    Args:
        name: The registered name (``[[supervisor.children]] name``).
        message: The payload, as the actor expects it (often JSON text).
        config: The host.toml the host was started with; needed only when
            several hosts run.
        socket: The control socket path, instead of ``config``.
        node: A federation peer of the running host to find ``name`` on.

    Raises:
        ConfigError: no host is running, or its socket directory is not
            private to you.
        HostkitError: the host refused (``noproc``, ``mailbox-full``,
            ``message-too-large``, ...); the message says which.
    """
    request: dict[str, Any] = {"op": "send", "to": name, "msg": message}
    if node is not None:
        request["node"] = node
    _request(request, config, socket, 30.0)


def call_running(
    name: str,
    message: str,
    *,
    timeout: float = 5.0,
    config: str | os.PathLike[str] | None = None,
    socket: str | os.PathLike[str] | None = None,
    node: str | None = None,
) -> str:
    """Call the actor registered as ``name`` in a running ``hostkit run``
    and return its reply. Arguments and errors as :func:`send_to_running`;
    ``timeout`` is the call's (``call-timeout`` when it passes)."""
    request: dict[str, Any] = {"op": "call", "to": name, "msg": message, "timeout": timeout}
    if node is not None:
        request["node"] = node
    reply = _request(request, config, socket, timeout + 5.0)
    return str(reply)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-control", is_flag=True, help="Do not open the control socket.")
@click.option(
    "--check", is_flag=True,
    help="Only check CONFIG and print the Cedar policies its [[grants]] compile to.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
    show_default=True, help="Host log level (guest logs and stdout are 'info').",
)
def run(config: Path, no_control: bool, check: bool, log_level: str) -> None:
    """Boot the host CONFIG (a host.toml) describes and serve until Ctrl-C.

    Exit 0 after a clean stop (SIGINT or SIGTERM), 1 if the host failed
    (a component that does not load, a supervisor that gave up), 2 if
    CONFIG is malformed (the message names the file and the key).
    """
    import trio

    from hostkit._errors import ConfigError, HostkitError
    from hostkit.capabilities import grants_to_cedar
    from hostkit.config import load_config

    try:
        host_file = load_config(config)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    if check:
        pol = host_file.tables.policies
        click.echo(f"// {host_file.path}: OK")
        sources = (["hostkit's default policy"] if pol.default else []) + [
            str(host_file.resolve(p)) for p in pol.files
        ]
        click.echo(f"// in force with: {', '.join(sources) or 'nothing else'}")
        click.echo(grants_to_cedar(host_file.grants))
        return
    logging.basicConfig(level=log_level.upper(), format="%(name)s: %(message)s")
    try:
        control = host_file.tables.control.enabled and not no_control
        stopped_by = trio.run(_serve, host_file, control)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    except HostkitError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    click.echo(f"hostkit: stopped ({stopped_by}); audit log closed", err=True)


async def _serve(host_file: Any, control: bool) -> str:
    import trio

    from hostkit.config import open_configured_host
    from hostkit.config._control import serve_control

    say = click.echo
    async with open_configured_host(host_file) as running:
        t = host_file.tables
        say(f"hostkit: host {t.host.node!r} from {host_file.path}")
        for name, comp in running.components.items():
            say(f"  component {name:<14} {comp.digest[:12]}  {host_file.component_paths[name]}")
        for child in running.supervisor.which_children():
            say(f"  child     {child.id:<14} {child.status.value:<8} pid={child.pid}")
        say(f"  audit     {host_file.resolve(t.audit.path) if t.audit.path else '(memory only)'}")
        fed = running.federation
        if fed is not None:
            say(f"  node      {running.host.node}#{running.host.creation:08x}")
            for address in fed.listening:
                say(f"  listen    {address}")
            for name, address in fed.dialling.items():
                say(f"  peer      {name:<14} {address}")
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                if fed is not None:
                    nursery.start_soon(_watch_peers, fed.federation)
                if control:
                    path = await nursery.start(serve_control, running)
                    say(f"  control   {path}")
                say("hostkit: running; Ctrl-C or SIGTERM stops it", err=True)
                async for signum in signals:
                    nursery.cancel_scope.cancel()
                    return signal.Signals(signum).name
    return "closed"


async def _watch_peers(federation: Any) -> None:
    """Print each peer coming up or going down (node monitor events)."""
    from hostkit.federation import NodeUp

    with federation.watch_nodes() as events:
        async for event in events:
            if isinstance(event, NodeUp):
                click.echo(f"hostkit: peer {event.node} up")
            else:
                click.echo(f"hostkit: peer {event.node} down ({event.reason})")


@click.command()
@click.option("--to", "name", required=True, help="Registered name of the target actor.")
@click.argument("message")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The host.toml of the running host (when several run).")
@click.option("--socket", type=click.Path(path_type=Path), default=None,
              help="The control socket, instead of --config.")
@click.option("--node", default=None,
              help="The federation node NAME is registered on (default: the running host).")
def send(
    name: str, message: str, config: Path | None, socket: Path | None, node: str | None
) -> None:
    """Cast MESSAGE to the actor NAME of a running `hostkit run` (or of a
    peer of it, with --node)."""
    from hostkit._errors import ConfigError, HostkitError

    try:
        send_to_running(name, message, config=config, socket=socket, node=node)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    except HostkitError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent to {name}")
