"""Development keys and certificates (``hostkit node keygen`` / ``dev-cert``).

For production, use certificates from your own CA; these are for a test
cluster on one machine or a private network. Private keys are written with
mode 0600 and never overwritten.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import FederationConfigError
from ._identity import check_node_name, write_cluster_secret, write_private


@dataclass(frozen=True)
class DevCert:
    """Where :func:`make_dev_cert` put things."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def make_node_key(name: str, directory: Path) -> tuple[Path, Path]:
    """Write ``NAME.key`` (Ed25519 private, 0600) and ``NAME.pub`` into ``directory``.

    Give ``NAME.pub`` to every peer that should accept this node.

    Raises:
        FederationConfigError: bad name, or ``NAME.key`` exists.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    check_node_name(name)
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    write_private(key_path, private)
    pub_path.write_bytes(public)
    return key_path, pub_path


def make_cluster_secret(path: Path) -> Path:
    """Write a new cluster secret file (0600); copy it to every node."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cluster_secret(path)
    return path


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def make_dev_cert(
    name: str,
    directory: Path,
    *,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
    days: int = 30,
) -> DevCert:
    """Make (or reuse) a development CA in ``directory`` and a TLS cert for node ``name``.

    The CA is ``dev-ca.pem``/``dev-ca.key``; the node gets ``NAME.crt.pem`` and
    ``NAME.crt.key``, valid for ``hosts`` (DNS names or IP addresses). Peers
    trust ``dev-ca.pem``.

    Raises:
        FederationConfigError: bad name or host, or the node's cert exists.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    check_node_name(name)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_cert_path, ca_key_path = directory / "dev-ca.pem", directory / "dev-ca.key"
    if ca_cert_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise FederationConfigError(f"{ca_key_path} is not an EC key made by dev-cert")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostkit dev CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        write_private(ca_key_path, _pem_key(ca_key))
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() for c in host):
                raise FederationConfigError(f"invalid certificate host {host!r}") from None
            sans.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt.pem", directory / f"{name}.crt.key"
    write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return DevCert(ca_cert_path, ca_key_path, cert_path, key_path)
