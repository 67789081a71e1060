"""Python shapes of the records and enums in ``wit/host/host.wit``.

Enums are :class:`enum.StrEnum` whose values are the WIT case names, so a
case name received from the guest (``"base64"``) converts with ``Encoding(x)``
and compares equal to the member. Records are frozen dataclasses whose fields
are the WIT fields in order, kebab-case turned into snake_case.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

from ._host_errors import HostCallInvalid

__all__ = [
    "DirEntry",
    "Encoding",
    "FileKind",
    "FileStat",
    "HttpRequest",
    "HttpResponse",
    "LogLevel",
    "WriteMode",
    "decode_payload",
    "encode_payload",
]


class Encoding(enum.StrEnum):
    """``hostkit:host/types.encoding``: how bytes travel in a string."""

    UTF8 = "utf8"
    BASE64 = "base64"


class FileKind(enum.StrEnum):
    """``hostkit:host/files.kind``."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"


class WriteMode(enum.StrEnum):
    """``hostkit:host/files.write-mode``."""

    TRUNCATE = "truncate"
    APPEND = "append"


class LogLevel(enum.StrEnum):
    """``hostkit:host/log.level``."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FileStat:
    """``hostkit:host/files.file-stat``."""

    kind: FileKind
    size: int
    modified_ms: int
    read_only: bool


@dataclass(frozen=True, slots=True)
class DirEntry:
    """``hostkit:host/files.dir-entry``."""

    name: str
    kind: FileKind


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """``hostkit:host/http.outgoing-request``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    body_encoding: Encoding = Encoding.UTF8
    response_encoding: Encoding = Encoding.UTF8
    timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """``hostkit:host/http.response``."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: str


def decode_payload(data: str, encoding: str, what: str) -> bytes:
    """The bytes ``data`` carries in ``encoding``.

    Raises:
        HostCallInvalid: ``encoding`` is not a case of ``encoding``, or
            ``data`` is not valid base64 (``what`` names the argument).
    """
    enc = _encoding(encoding, what)
    if enc is Encoding.UTF8:
        # WIT strings are valid UTF-8; a Python caller may still pass lone
        # surrogates, which have no bytes.
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise HostCallInvalid(f"{what} is not valid Unicode text") from None
    try:
        return base64.b64decode(data.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise HostCallInvalid(f"{what} is not valid base64") from None


def encode_payload(data: bytes, encoding: str, what: str) -> str:
    """``data`` as a string in ``encoding``.

    Raises:
        HostCallInvalid: ``encoding`` is ``utf8`` and ``data`` is not UTF-8
            (the message tells the guest to ask for base64).
    """
    enc = _encoding(encoding, what)
    if enc is Encoding.BASE64:
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HostCallInvalid(f"{what} is not valid UTF-8; ask for base64") from None


def _encoding(value: str, what: str) -> Encoding:
    try:
        return Encoding(value)
    except ValueError:
        raise HostCallInvalid(f"unknown encoding {value!r} for {what}") from None
