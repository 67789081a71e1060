"""``hostkit node ...``: make a node's keys and development certificates.

Private keys are written with mode 0600 and never overwritten; an existing
key file is an error (exit 2) naming it.
"""

from __future__ import annotations

from pathlib import Path

import click


class _Refused(click.ClickException):
    exit_code = 2


@click.group()
def node() -> None:
    """Manage this node's federation identity: keys and certificates."""


@node.command("keygen")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write the files.",
)
@click.option(
    "--secret",
    "secret",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a new cluster secret to this file (copy it to every node).",
)
def keygen_command(name: str, directory: Path, secret: Path | None) -> None:
    """Make NAME.key (Ed25519, mode 0600) and NAME.pub for node NAME.

    Give NAME.pub to the peers that should accept this node
    (NodeKeys.from_files); keep NAME.key on this node only.
    """
    from hostkit.federation import FederationConfigError, make_cluster_secret, make_node_key

    try:
        key, pub = make_node_key(name, directory)
        click.echo(f"private key: {key} (mode 600)")
        click.echo(f"public key:  {pub}")
        if secret is not None:
            click.echo(f"cluster secret: {make_cluster_secret(secret)} (mode 600)")
    except FederationConfigError as exc:
        raise _Refused(str(exc)) from None


@node.command("dev-cert")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the dev CA is (made if missing) and where to write the files.",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="DNS name or IP the certificate is valid for (repeatable). "
    "Default: localhost, 127.0.0.1, ::1.",
)
@click.option("--days", type=click.IntRange(1, 825), default=30, show_default=True)
def dev_cert_command(name: str, directory: Path, hosts: tuple[str, ...], days: int) -> None:
    """Make a TLS certificate for node NAME, signed by a development CA.

    For test clusters only: use your own CA in production. Peers trust
    dev-ca.pem; the node serves NAME.crt.pem with NAME.crt.key (mode 0600).
    """
    from hostkit.federation import FederationConfigError, make_dev_cert

    try:
        made = make_dev_cert(
            name, directory, hosts=hosts or ("localhost", "127.0.0.1", "::1"), days=days
        )
    except FederationConfigError as exc:
        raise _Refused(str(exc)) from None
    click.echo(f"CA certificate:   {made.ca_cert}")
    click.echo(f"node certificate: {made.cert}")
    click.echo(f"node key:         {made.key} (mode 600)")
