"""Guards on audit verification (issue 14): ``hostkit audit verify
--expect-count N`` catches a log whose tail lost exactly one record. Each
test fails when its check is removed (`scripts/mutation.py` applies the
mutant)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hostkit import AuditError
from hostkit.audit import AuditLog, MemorySink, verify
from hostkit.cli import main


def _log_of(path: Path, count: int) -> list[str]:
    with AuditLog(path=path, node="n1") as log:
        for i in range(count):
            log.record("decision", actor=f"<0.{i}>", action="kv.get", decision="allow")
    return path.read_text().splitlines()


@pytest.mark.parametrize("count", [1, 2, 5])
def test_verify_expect_count_catches_a_tail_truncated_by_exactly_one_record(
    tmp_path: Path, count: int
) -> None:
    path = tmp_path / "audit.log"
    lines = _log_of(path, count)
    path.write_text("".join(line + "\n" for line in lines[:-1]))
    assert verify(path).ok  # without the anchor, a shorter chain is still a chain
    assert not verify(path, expect_count=count).ok
    result = CliRunner().invoke(main, ["audit", "verify", "--expect-count", str(count), str(path)])
    assert result.exit_code == 1
    assert f"the log ends after {count - 1} records but at least {count}" in result.output


def test_verify_expect_count_accepts_the_whole_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _log_of(path, 3)
    result = CliRunner().invoke(main, ["audit", "verify", "--expect-count", "3", str(path)])
    assert result.exit_code == 0 and result.output.startswith("OK: 3 records")


def test_a_closed_log_refuses_records_and_writes_nothing() -> None:
    sink = MemorySink()
    log = AuditLog([sink])
    log.record("decision", actor="<0.1>", action="kv.get", decision="allow")
    log.close()
    with pytest.raises(AuditError, match="the audit log is closed"):
        log.record("decision", actor="<0.1>", action="kv.get", decision="allow")
    assert len(sink.lines) == 1 and log.count == 1
