"""The audit key: where it comes from, and the rules it must meet.

The key makes the chain *keyed* (see ``_record``): each record carries an
HMAC-SHA256 under it. It must live outside the log and outside reach of
whoever can write the log (a secrets manager, a file only the host's user
and the auditor can read, an environment variable set by the service
manager); a key stored next to the log proves nothing.
"""

from __future__ import annotations

import os
from typing import Final

from .._errors import AuditError

__all__ = ["MIN_KEY_BYTES", "load_audit_key"]

MIN_KEY_BYTES: Final = 16
"""Shortest audit key accepted (128 bits)."""


def load_audit_key(*, file: str | os.PathLike[str] | None = None, env: str | None = None) -> bytes:
    """The audit key from a key file or an environment variable (one of them).

    A key file holds the key's bytes; surrounding whitespace (a trailing
    newline) is stripped. An environment variable holds it as text, encoded
    as UTF-8. Generate one with ``head -c 32 /dev/urandom | base64``.

    Raises:
        AuditError: neither or both given, the file cannot be read, the
            variable is unset, or the key is shorter than 16 bytes.
    """
    if (file is None) == (env is None):
        raise AuditError("give the audit key as a key file or an environment variable (one)")
    if file is not None:
        try:
            with open(file, "rb") as handle:
                key = handle.read(1 << 16).strip()
        except OSError as exc:
            raise AuditError(f"cannot read the audit key file {os.fspath(file)!r}: {exc}") from exc
        where = f"key file {os.fspath(file)!r}"
    else:
        assert env is not None
        value = os.environ.get(env)
        if value is None:
            raise AuditError(f"the environment variable {env!r} holding the audit key is not set")
        key = value.strip().encode("utf-8", "surrogateescape")
        where = f"environment variable {env!r}"
    return check_key(key, where)


def check_key(key: bytes, where: str = "audit key") -> bytes:
    """``key`` if it is long enough to be a key.

    Raises:
        AuditError: it is not bytes or shorter than :data:`MIN_KEY_BYTES`.
    """
    if not isinstance(key, bytes | bytearray):
        raise AuditError(f"the audit key must be bytes, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise AuditError(
            f"the audit key from {where} has {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. head -c 32 /dev/urandom | base64)"
        )
    return bytes(key)
