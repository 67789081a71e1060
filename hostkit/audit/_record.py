"""The audit record format: canonical encoding, the hash chain, line checks.

Theory of operation
-------------------
A record is one flat JSON object on one line. Its *canonical encoding* puts
the fields in a fixed order::

    seq time node event  actor plugin action resource decision policies
    duration_us detail  <extra fields, sorted by name>  prev [mac] hash

omits absent fields, sorts the keys of nested objects, has no whitespace and
uses msgspec's escaping (non-ASCII text is written as raw UTF-8). Before
that, every string value is made inert (`hostkit._text.inert`: controls,
ANSI, bidi and separator characters and the backslash become visible
escapes, and a string is cut at 4096 characters), so text a guest chose
reads back as that text and nothing else, wherever the log is shown. ``hash`` is
the SHA-256 (lowercase hex) of the canonical encoding of the record *without*
``hash``; since that includes ``prev``, the hash of the previous record (or
:data:`GENESIS_HASH` for ``seq`` 0), every record commits to the whole chain
before it.

With an audit key (kept outside the log), each record also carries ``mac``:
HMAC-SHA256 under the key of the canonical encoding without ``mac`` and
``hash``. ``hash`` then covers ``mac`` too. Anyone can recompute ``hash``
after editing or deleting records; only the key holder can recompute
``mac``, and since it covers ``prev`` a deleted record breaks it.

The writer emits exactly the canonical encoding, so a checker demands byte
equality with it: any change to a line's bytes -- a value, the field order,
whitespace, a duplicated key -- is caught even when the meaning is unchanged.

Everything here is pure (no I/O, no clock): :func:`prepare_fields` validates
what a caller passes, :func:`seal` numbers, chains and encodes a record
(:func:`seal_encoded` the same for a body its caller already encoded: the
capability gate's per-call fast path, byte-identical), and
:func:`check_line` checks one line's own integrity. Chain checks (``seq`` and
``prev`` against the previous line) live in the verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from .._errors import AuditError
from .._text import DEFAULT_MAX_CHARS, inert

GENESIS_HASH: Final = "0" * 64
"""The ``prev`` of the first record (``seq`` 0) of every log."""

HEAD_FIELDS: Final = ("seq", "time", "node", "event")
OPTIONAL_FIELDS: Final = (
    "actor",
    "plugin",
    "action",
    "resource",
    "decision",
    "policies",
    "duration_us",
    "detail",
)
_OPTIONAL_SET: Final = frozenset(OPTIONAL_FIELDS)
RESERVED_FIELDS: Final = frozenset({*HEAD_FIELDS, "prev", "mac", "hash"})
# Fields that name things: a caller may pass a Pid or similar, written as str().
_NAME_FIELDS: Final = frozenset({"actor", "plugin", "action", "resource"})
_DECISIONS: Final = frozenset({"allow", "deny"})
_HEX: Final = frozenset("0123456789abcdef")

_encode = msgspec.json.Encoder().encode
_sha256 = hashlib.sha256
_decode = msgspec.json.Decoder().decode


class LineProblem(Exception):
    """A line failed a check; ``str(exc)`` says why. Internal: the verifier
    and the tail check turn it into a result or an :class:`AuditError`."""


def is_hash(value: object) -> bool:
    """True if ``value`` looks like a record hash: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


# -- writing -----------------------------------------------------------------


def prepare_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and convert a caller's fields into canonical order.

    Fields whose value is ``None`` are left out. Values become plain JSON
    values (``str``, ``int``, finite ``float``, ``bool``, ``None``, lists and
    objects of those); msgspec converts what it knows (enums, datetimes,
    structs, dataclasses, sets, bytes as base64).

    Raises:
        AuditError: a reserved field was given, a well-known field has the
            wrong type, or a value cannot be written as JSON. The message
            names the field.
    """
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in RESERVED_FIELDS:
            raise AuditError(f"audit field {name!r} is assigned by the log; do not pass it")
        if name in _NAME_FIELDS and type(value) is not str:
            value = str(value)
        elif name == "decision" and value not in _DECISIONS:
            raise AuditError(f"audit field 'decision' must be 'allow' or 'deny', not {value!r}")
        elif name == "policies":
            if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
                raise AuditError(
                    f"audit field 'policies' must be a list of policy ids, not {value!r}"
                )
            value = [str(p) for p in value]
        elif name == "duration_us" and (type(value) is not int or value < 0):
            raise AuditError(f"audit field 'duration_us' must be a non-negative int, not {value!r}")
        else:
            value = _plain(value, name)
        values[name] = _inert(value)
    return _ordered(values)


def inert_value(value: Any) -> Any:
    """``value`` with every string in it made inert, as :func:`prepare_fields`
    writes it: for callers of `AuditLog.record_prepared` that build a body
    themselves (a string already inert comes back as itself)."""
    return _inert(value)


def _inert(value: Any) -> Any:
    """Every string in ``value`` made inert (`hostkit._text.inert`): guest
    text (stop reasons, names, resource ids) cannot carry a control, ANSI or
    bidi character into the log, and is cut at 4096 characters. Applied when
    writing only: the checker re-encodes what a line holds, as it is."""
    kind = type(value)
    if kind is str:
        if len(value) <= DEFAULT_MAX_CHARS and value.isprintable() and "\\" not in value:
            return value  # the common case, no copy
        return inert(value)
    if kind is list:
        return [_inert(item) for item in value]
    if kind is dict:
        return {key: _inert(item) for key, item in value.items()}
    return value


def _ordered(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` (no head fields, no prev/hash) in canonical field order."""
    out = {name: body[name] for name in OPTIONAL_FIELDS if name in body}
    for name in sorted(body.keys() - _OPTIONAL_SET):
        out[name] = body[name]
    return out


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data with sorted object keys."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise AuditError(f"audit field {where!r}: {value!r} cannot be written as JSON")
        return value
    if kind is list or kind is tuple:
        return [_plain(item, where) for item in value]
    if kind is dict and all(type(key) is str for key in value):
        return {key: _plain(value[key], where) for key in sorted(value)}
    try:
        converted = msgspec.to_builtins(value, str_keys=True, order="sorted")
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"audit field {where!r}: {type(value).__name__} value cannot be written as JSON "
            f"({exc}); pass str, int, float, bool, None, or lists/dicts of those"
        ) from exc
    return _plain(converted, where)


def seal(
    seq: int,
    time: str,
    node: str,
    event: str,
    body: Mapping[str, Any],
    prev: str,
    key: bytes | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Number, chain and encode one record.

    Args:
        seq: the record's sequence number.
        time: RFC 3339 UTC timestamp.
        node: the writing node's name.
        event: what happened (``"decision"``, ``"spawn"``, ...).
        body: the output of :func:`prepare_fields`.
        prev: the previous record's hash, or :data:`GENESIS_HASH`.
        key: the audit key: adds ``mac``, HMAC-SHA256 of the encoding without
            ``mac`` and ``hash`` (so it covers ``prev``, hence the chain).

    Returns:
        The record (with ``hash``) and its canonical line, without newline.
    """
    record: dict[str, Any] = {"seq": seq, "time": time, "node": node, "event": event, **body}
    record["prev"] = prev
    unsealed = _encode(record)
    if key is not None:
        # hmac.digest: OpenSSL's one-shot HMAC, same bytes as hmac.new(...)
        mac = hmac.digest(key, unsealed, "sha256").hex()
        record["mac"] = mac
        unsealed = _with_field(unsealed, "mac", mac)
    digest = _sha256(unsealed).hexdigest()
    record["hash"] = digest
    return record, b'%s,"hash":"%s"}' % (unsealed[:-1], digest.encode())


encode_value: Final = _encode
"""``encode_value(value)``: ``value`` in the canonical encoding, for a record
built as bytes (see :func:`seal_encoded`); pass it through
:func:`inert_value` first. The encoder itself: no wrapper on the per-call path."""


def seal_encoded(
    seq: int,
    time: str,
    node: bytes,
    event: bytes,
    fields: bytes,
    prev: str,
    key: bytes | None = None,
) -> tuple[bytes, str]:
    """:func:`seal` for a record whose parts are already encoded, without
    building it as a dict: the per-call fast path.

    ``node`` and ``event`` are :func:`encode_value` of the strings;
    ``fields`` is the canonical encoding of the body (what
    :func:`prepare_fields` returns) without its braces, non-empty, e.g.
    ``b'"actor":"<0.1>","decision":"allow"'``. The line is then the one
    :func:`seal` writes, byte for byte: msgspec writes an object as its
    members joined by commas, and each member's encoding does not depend on
    its neighbours. ``time`` is ASCII (an RFC 3339 timestamp) and ``prev`` a
    hex digest, so neither needs escaping.

    Returns:
        The canonical line, without newline, and its ``hash``.
    """
    unsealed = b'{"seq":%d,"time":"%s","node":%s,"event":%s,%s,"prev":"%s"}' % (
        seq,
        time.encode(),
        node,
        event,
        fields,
        prev.encode(),
    )
    if key is not None:
        unsealed = _with_field(unsealed, "mac", hmac.digest(key, unsealed, "sha256").hex())
    digest = _sha256(unsealed).hexdigest()
    return b'%s,"hash":"%s"}' % (unsealed[:-1], digest.encode()), digest


# -- checking ----------------------------------------------------------------


def check_line(raw: bytes, key: bytes | None = None) -> dict[str, Any]:
    """Check one line on its own: JSON, shape, canonical form, own hash, and
    with ``key`` its ``mac``.

    Args:
        raw: the line's bytes, without the newline.
        key: the audit key; the record must then carry a matching ``mac``.

    Returns:
        The decoded record.

    Raises:
        LineProblem: the line is not an intact record; the message says why.
    """
    if not raw.strip():
        raise LineProblem("empty line")
    try:
        record = _decode(raw)
    except msgspec.DecodeError as exc:
        raise LineProblem(f"not valid JSON ({exc})") from None
    if type(record) is not dict:
        raise LineProblem("not a JSON object")
    for name in (*HEAD_FIELDS, "prev", "hash"):
        if name not in record:
            raise LineProblem(f"missing field {name!r}")
    seq = record["seq"]
    if type(seq) is not int or seq < 0:
        raise LineProblem(f"'seq' is not a non-negative integer: {seq!r}")
    for name in ("time", "node", "event"):
        if type(record[name]) is not str:
            raise LineProblem(f"{name!r} is not a string")
    for name in ("prev", "hash"):
        if not is_hash(record[name]):
            raise LineProblem(f"{name!r} is not a SHA-256 hex digest")
    if "mac" in record and not is_hash(record["mac"]):
        raise LineProblem("'mac' is not an HMAC-SHA256 hex digest")
    unsealed = _unsealed(record)
    if _sealed(unsealed, record["hash"]) != raw:
        raise LineProblem(
            "not in canonical form (fields reordered, whitespace or escapes changed, "
            "or a key duplicated): the line was edited"
        )
    if hashlib.sha256(unsealed).hexdigest() != record["hash"]:
        raise LineProblem("'hash' does not match the record's contents: the record was edited")
    if key is not None:
        if "mac" not in record:
            raise LineProblem("no 'mac': the record was not written with the audit key")
        bare = _unsealed(record, with_mac=False)
        if not hmac.compare_digest(hmac.new(key, bare, hashlib.sha256).hexdigest(), record["mac"]):
            raise LineProblem(
                "'mac' does not match under this key: the record or its place in the chain "
                "was changed by someone without the key (or the key is wrong)"
            )
    return record


def _unsealed(record: Mapping[str, Any], *, with_mac: bool = True) -> bytes:
    """The canonical encoding of a decoded ``record`` without ``hash`` (and
    without ``mac`` unless ``with_mac``)."""
    body = {
        name: _plain(value, name) for name, value in record.items() if name not in RESERVED_FIELDS
    }
    out: dict[str, Any] = {name: record[name] for name in HEAD_FIELDS}
    out.update(_ordered(body))
    out["prev"] = record["prev"]
    if with_mac and "mac" in record:
        out["mac"] = record["mac"]
    return _encode(out)


def _with_field(encoded: bytes, name: str, value: str) -> bytes:
    return b'%s,"%s":"%s"}' % (encoded[:-1], name.encode(), value.encode())


def _sealed(unsealed: bytes, digest: str) -> bytes:
    # The canonical encoding with ``hash`` is the one without it plus one
    # last field, so nothing is encoded twice.
    return b'%s,"hash":"%s"}' % (unsealed[:-1], digest.encode())
