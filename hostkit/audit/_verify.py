"""Verification: is an audit log whole and unedited?

A log verifies if every line is an intact record (valid JSON in canonical
form whose ``hash`` matches its contents), the ``seq`` values run 0, 1, 2, ...
without gaps, and every ``prev`` equals the previous record's ``hash``
(:data:`GENESIS_HASH` for the first). Verification stops at the first line
that fails and says why.

What it cannot see on its own: records cut from the *end* (the shorter log is
a valid chain), or a chain rewritten from some point on by someone able to
write the file (delete a record, renumber and re-hash the rest: the hashes
are unkeyed, anyone can recompute them). The first is caught against an
anchor kept elsewhere: a head hash (``expect_head``) and a record count
(``expect_count``). The second also by the anchor if it predates the
rewrite, and always by a *keyed* verify (``key``): each record's ``mac`` is
an HMAC under a key the rewriter does not hold.

A file whose first line is not a record at all is reported as not an audit
log (:attr:`VerifyResult.not_a_log`), not as tampered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from .._errors import AuditError
from ._key import check_key
from ._record import GENESIS_HASH, LineProblem, check_line, is_hash


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :func:`verify`. ``str(result)`` is a one-line verdict.

    Attributes:
        source: the file (or ``source`` name) that was verified.
        count: records that verified, before the first problem if any.
        head: hash of the last record that verified (:data:`GENESIS_HASH`
            if none did).
        line: 1-based number of the first bad line; ``None`` if the log is
            whole, or if the problem is not at one line (an anchor that
            matches no record).
        problem: why verification failed; ``None`` if it passed.
        not_a_log: the first line is not an audit record at all: the file
            is something else (a wrong path), not a tampered log.
        keyed: every record's ``mac`` was checked under a key.
    """

    source: str
    count: int
    head: str
    line: int | None = None
    problem: str | None = None
    not_a_log: bool = False
    keyed: bool = False

    @property
    def ok(self) -> bool:
        """True if the log is whole, unedited, and matches the anchors given."""
        return self.problem is None

    def __str__(self) -> str:
        if self.problem is None:
            keyed = ", keyed" if self.keyed else ""
            return f"OK: {self.count} records{keyed}, head {self.head}"
        where = self.source if self.line is None else f"{self.source} line {self.line}"
        if self.not_a_log:
            return f"NOT AN AUDIT LOG: {where}: {self.problem}"
        return f"TAMPERED: {where}: {self.problem}"


def verify(
    path: str | os.PathLike[str],
    *,
    expect_head: str | None = None,
    expect_count: int | None = None,
    key: bytes | None = None,
) -> VerifyResult:
    """Verify the audit log file at ``path``.

    Args:
        path: the log file.
        expect_head: a head hash taken earlier (``AuditLog.head``, or the
            ``head`` of an earlier ``OK`` verdict). The log must still hold
            that record; records after it are fine (the log grew).
        expect_count: the log must hold at least this many records.
        key: the audit key the log was written with (`load_audit_key`):
            every record must then carry a ``mac`` that matches under it.

    Returns:
        The verdict; check :attr:`VerifyResult.ok`. A tampered log is a
        result, not an exception.

    Raises:
        AuditError: the file cannot be read, or an anchor is malformed.
    """
    source = os.fspath(path)
    checker = _Checker(source, expect_head, expect_count, key)
    try:
        with open(source, "rb") as file:
            for lineno, raw in enumerate(file, 1):
                if not raw.endswith(b"\n"):
                    return checker.fail(
                        lineno,
                        "incomplete (no trailing newline): the writer stopped in the middle "
                        "of a record, or the file was cut",
                    )
                if (result := checker.feed(lineno, raw[:-1])) is not None:
                    return result
    except OSError as exc:
        raise AuditError(f"cannot read audit log {source!r}: {exc}") from exc
    return checker.finish()


def verify_lines(
    lines: Iterable[str | bytes],
    *,
    source: str = "<lines>",
    expect_head: str | None = None,
    expect_count: int | None = None,
    key: bytes | None = None,
) -> VerifyResult:
    """Like :func:`verify`, for lines already in memory (e.g.
    :attr:`MemorySink.lines`); one trailing newline per line is ignored."""
    checker = _Checker(source, expect_head, expect_count, key)
    for lineno, line in enumerate(lines, 1):
        raw = line.encode() if isinstance(line, str) else line
        if (result := checker.feed(lineno, raw.removesuffix(b"\n"))) is not None:
            return result
    return checker.finish()


class _Checker:
    """Checks a chain one line at a time (no I/O)."""

    def __init__(
        self,
        source: str,
        expect_head: str | None,
        expect_count: int | None,
        key: bytes | None = None,
    ) -> None:
        if expect_head is not None:
            expect_head = expect_head.lower()
            if not is_hash(expect_head):
                raise AuditError(
                    f"expected head {expect_head!r} is not a SHA-256 hex digest (64 hex digits)"
                )
        if expect_count is not None and (type(expect_count) is not int or expect_count < 0):
            raise AuditError(f"expected count must be a non-negative int, not {expect_count!r}")
        self.key = None if key is None else check_key(key)
        self.source = source
        self.expect_head = expect_head
        self.expect_count = expect_count
        self.head_seen = expect_head is None
        self.count = 0
        self.head = GENESIS_HASH

    def feed(self, lineno: int, raw: bytes) -> VerifyResult | None:
        """Check the next line; a failing result, or ``None`` if it is fine."""
        try:
            record = check_line(raw, self.key)
        except LineProblem as exc:
            if lineno == 1 and not _looks_like_a_record(raw):
                return VerifyResult(
                    self.source, 0, self.head, 1, f"{exc} (expected hostkit audit records)", True
                )
            return self.fail(lineno, str(exc))
        seq = record["seq"]
        if seq > self.count:
            missing = (
                f"seq {self.count}" if seq == self.count + 1 else f"seq {self.count}..{seq - 1}"
            )
            return self.fail(
                lineno,
                f"seq {seq} where {self.count} was expected: records were removed ({missing}) "
                "or reordered",
            )
        if seq < self.count:
            return self.fail(
                lineno,
                f"seq {seq} where {self.count} was expected: seq {seq} already appeared on line "
                f"{seq + 1}; a record was inserted, duplicated or moved",
            )
        if record["prev"] != self.head:
            if seq == 0:
                return self.fail(lineno, "'prev' of the first record is not the genesis hash")
            return self.fail(
                lineno,
                f"'prev' does not match the hash of line {lineno - 1}: this record was forged "
                "or inserted, or the one before it was replaced",
            )
        self.count += 1
        self.head = record["hash"]
        if self.head == self.expect_head:
            self.head_seen = True
        return None

    def fail(self, line: int | None, problem: str) -> VerifyResult:
        return VerifyResult(self.source, self.count, self.head, line, problem)

    def finish(self) -> VerifyResult:
        """The verdict once every line passed: check the anchors."""
        if self.expect_count is not None and self.count < self.expect_count:
            return self.fail(
                self.count + 1,
                f"the log ends after {self.count} records but at least {self.expect_count} were "
                f"expected: records from seq {self.count} on were removed",
            )
        if not self.head_seen:
            return self.fail(
                None,
                f"no record has the expected head hash {self.expect_head} "
                f"({self.count} records checked): the log was truncated or rewritten",
            )
        return VerifyResult(self.source, self.count, self.head, keyed=self.key is not None)


def _looks_like_a_record(raw: bytes) -> bool:
    """Whether a line that failed its checks was meant as a record: a JSON
    object with the fields every record has."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return False
    return type(value) is dict and all(k in value for k in ("seq", "event", "prev", "hash"))


def parse_anchor(anchor: str) -> tuple[int, str]:
    """``(count, head)`` from an anchor ``"<count>:<head>"`` (`AuditLog.anchor`).

    Raises:
        AuditError: it is not in that form.
    """
    count, sep, head = anchor.strip().partition(":")
    head = head.lower()
    if not sep or not count.isdigit() or not is_hash(head):
        raise AuditError(
            f"anchor {anchor!r} is not '<count>:<head hash>' (as AuditLog.anchor prints it)"
        )
    return int(count), head
