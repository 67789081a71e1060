"""hostkit.audit: the hash chain, verification, resume, sinks, capture, CLI."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.lowlevel
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import hostkit.audit
from hostkit._errors import AuditError
from hostkit.audit import (
    GENESIS_HASH,
    AuditLog,
    FileSink,
    MemorySink,
    verify,
    verify_lines,
)
from hostkit.audit._record import RESERVED_FIELDS, prepare_fields, seal
from hostkit.cli import main
from hostkit.testing import capture_audit


def fixed_clock() -> float:
    return 1_700_000_000.25


def write_log(path: Path, count: int) -> list[str]:
    """A log file of ``count`` records; returns its lines (no newlines)."""
    with AuditLog(path=path, node="n1", clock=fixed_clock) as log:
        for i in range(count):
            log.record(
                "decision",
                actor=f"<0.{i}>",
                action="http.get",
                resource=f"https://example.com/{i}",
                decision="allow" if i % 2 else "deny",
                policies=[f"p{i}"],
                duration_us=i,
            )
    return path.read_text().splitlines()


def save(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def forge(original: str, **changes: Any) -> str:
    """A record with ``changes`` applied and its own hash recomputed, as an
    attacker who knows the format would make it."""
    record = json.loads(original)
    record.update(changes)
    head = {k: record.pop(k) for k in ("seq", "time", "node", "event", "prev", "hash")}
    _, line = seal(
        head["seq"], head["time"], head["node"], head["event"], prepare_fields(record), head["prev"]
    )
    return line.decode()


# -- the chain ----------------------------------------------------------------


def test_records_chain_from_genesis_and_hash_their_canonical_encoding() -> None:
    sink = MemorySink()
    with AuditLog([sink], node="n1", clock=fixed_clock) as log:
        returned = [log.record("spawn", actor=f"<0.{i}>") for i in range(5)]
        assert (log.count, log.head) == (5, returned[-1]["hash"])
    records = sink.records()
    assert records == returned
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"]
    for line, record in zip(sink.lines, records, strict=True):
        unsealed = line[: line.rindex(',"hash":')] + "}"
        assert hashlib.sha256(unsealed.encode()).hexdigest() == record["hash"]
    assert sink.closed


def test_record_is_one_line_in_canonical_field_order() -> None:
    sink = MemorySink()
    with AuditLog([sink], node="n1", clock=lambda: 0.0) as log:
        log.record(
            "decision",
            zeta={"b": 1, "a": (1, 2.5)},
            detail="why",
            policies=("p2", "p1"),
            decision="allow",
            resource="kv:counter",
            action="kv.get",
            plugin="kv",
            actor="<0.3>",
            alpha=True,
            duration_us=7,
            missing=None,
        )
    (line,) = sink.lines
    assert list(json.loads(line)) == [
        "seq", "time", "node", "event", "actor", "plugin", "action", "resource",
        "decision", "policies", "duration_us", "detail", "alpha", "zeta", "prev", "hash",
    ]  # fmt: skip
    assert '"time":"1970-01-01T00:00:00.000000Z"' in line
    assert '"zeta":{"a":[1,2.5],"b":1}' in line
    assert '"policies":["p2","p1"]' in line
    assert "\n" not in line and " " not in line


def test_record_writes_pids_and_enum_like_values_as_text() -> None:
    class Pid:
        def __str__(self) -> str:
            return "<n1.4>"

    sink = MemorySink()
    with AuditLog([sink]) as log:
        record = log.record("kill", actor=Pid(), reason={3, 1, 2}, blob=b"\x01")
    assert record["actor"] == "<n1.4>"
    assert sink.records()[0]["reason"] == [1, 2, 3]
    assert verify_lines(sink.lines).ok


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"seq": 3}, "'seq'"),
        ({"hash": "x"}, "'hash'"),
        ({"decision": "maybe"}, "'decision'"),
        ({"policies": "p1"}, "'policies'"),
        ({"duration_us": -1}, "'duration_us'"),
        ({"duration_us": 1.5}, "'duration_us'"),
        ({"detail": float("nan")}, "'detail'"),
        ({"extra": [float("inf")]}, "'extra'"),
        ({"extra": object()}, "'extra'"),
    ],
)
def test_invalid_fields_are_refused_and_the_log_stays_usable(
    fields: dict[str, Any], names: str
) -> None:
    sink = MemorySink()
    with AuditLog([sink]) as log:
        with pytest.raises(AuditError, match=names):
            log.record("spawn", **fields)
        assert sink.lines == [] and log.count == 0 and not log.broken
        log.record("spawn")
    assert verify_lines(sink.lines).ok


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
# Any name but those assigned by the log and those with a fixed type.
field_names = st.text(min_size=1).filter(
    lambda name: name not in RESERVED_FIELDS | {"decision", "policies", "duration_us"}
)


@given(st.text(min_size=1), st.dictionaries(field_names, json_values, max_size=6))
def test_any_json_fields_round_trip_and_verify(event: str, fields: dict[str, Any]) -> None:
    sink = MemorySink()
    with AuditLog([sink]) as log:
        first = log.record(event, **fields)
        second = log.record(event, **fields)
    assert sink.records() == [first, second]
    assert verify_lines(sink.lines).ok


# -- verification ---------------------------------------------------------------


def edit_field(lines: list[str]) -> list[str]:
    lines[2] = lines[2].replace('"decision":"deny"', '"decision":"allow"')
    return lines


def edit_last(lines: list[str]) -> list[str]:
    lines[-1] = lines[-1].replace("example.com", "example.org")
    return lines


def delete_middle(lines: list[str]) -> list[str]:
    del lines[2]
    return lines


def delete_first(lines: list[str]) -> list[str]:
    del lines[0]
    return lines


def insert_forged(lines: list[str]) -> list[str]:
    # Consistent with the line before it: it passes, the next one cannot.
    forged = forge(lines[2], seq=3, prev=json.loads(lines[2])["hash"], decision="allow")
    lines.insert(3, forged)
    return lines


def replace_forged(lines: list[str]) -> list[str]:
    lines[2] = forge(lines[2], decision="allow")
    return lines


def swap(lines: list[str]) -> list[str]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


def not_json(lines: list[str]) -> list[str]:
    lines[1] = lines[1][:-5]
    return lines


def reformat(lines: list[str]) -> list[str]:
    lines[1] = json.dumps(json.loads(lines[1]))  # same content, spaces added
    return lines


def duplicate_key(lines: list[str]) -> list[str]:
    lines[1] = lines[1].replace('"decision":"allow"', '"decision":"deny","decision":"allow"')
    return lines


def blank_line(lines: list[str]) -> list[str]:
    lines.insert(2, "")
    return lines


@pytest.mark.parametrize(
    ("tamper", "line", "why"),
    [
        (edit_field, 3, "'hash' does not match"),
        (edit_last, 6, "'hash' does not match"),
        (delete_middle, 3, "seq 3 where 2 was expected: records were removed (seq 2)"),
        (delete_first, 1, "seq 1 where 0 was expected"),
        (insert_forged, 5, "seq 3 already appeared on line 4"),
        (replace_forged, 4, "'prev' does not match the hash of line 3"),
        (swap, 3, "seq 3 where 2 was expected"),
        (not_json, 2, "not valid JSON"),
        (reformat, 2, "not in canonical form"),
        (duplicate_key, 2, "not in canonical form"),
        (blank_line, 3, "empty line"),
    ],
)
def test_verify_names_the_first_bad_line(
    tmp_path: Path, tamper: Callable[[list[str]], list[str]], line: int, why: str
) -> None:
    path = tmp_path / "audit.log"
    save(path, tamper(write_log(path, 6)))
    result = verify(path)
    assert not result.ok
    assert result.line == line
    assert result.problem is not None and why in result.problem
    assert str(result).startswith(f"TAMPERED: {path} line {line}: ")
    assert result.count == line - 1


def test_verify_reports_an_incomplete_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 3)
    path.write_bytes(path.read_bytes()[:-1])
    result = verify(path)
    assert (result.line, result.count) == (3, 2)
    assert result.problem is not None and "incomplete" in result.problem


def test_verify_passes_a_whole_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write_log(path, 4)
    result = verify(path)
    head = json.loads(lines[-1])["hash"]
    assert result.ok and (result.count, result.head, result.line) == (4, head, None)
    assert str(result) == f"OK: 4 records, head {head}"
    assert verify(tmp_path / "audit.log", expect_count=4, expect_head=head.upper()).ok


def test_verify_passes_an_empty_log(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    assert str(verify(tmp_path / "empty.log")) == f"OK: 0 records, head {GENESIS_HASH}"


def test_truncated_tail_is_caught_only_against_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write_log(path, 6)
    anchor = verify(path)
    save(path, lines[:4])
    assert verify(path).ok  # a shorter chain is still a chain
    by_count = verify(path, expect_count=anchor.count)
    assert (by_count.ok, by_count.line) == (False, 5)
    assert by_count.problem is not None and "ends after 4 records" in by_count.problem
    by_head = verify(path, expect_head=anchor.head)
    assert (by_head.ok, by_head.line) == (False, None)
    assert str(by_head).startswith(f"TAMPERED: {path}: no record has the expected head")


def test_an_anchor_still_verifies_after_the_log_grew(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 3)
    anchor = verify(path)
    with AuditLog(path=path) as log:
        log.record("exit", actor="<0.1>")
    grown = verify(path, expect_head=anchor.head, expect_count=anchor.count)
    assert grown.ok and grown.count == 4


def test_a_rewritten_tail_does_not_match_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write_log(path, 4)
    anchor = verify(path)
    # Rewrite the last record consistently: the chain alone cannot tell.
    assert json.loads(lines[3])["decision"] == "allow"
    save(path, [*lines[:3], forge(lines[3], decision="deny")])
    assert verify(path, expect_count=anchor.count).ok
    assert not verify(path, expect_head=anchor.head).ok


def test_verify_refuses_malformed_anchors_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 1)
    with pytest.raises(AuditError, match="SHA-256"):
        verify(path, expect_head="abc")
    with pytest.raises(AuditError, match="non-negative"):
        verify(path, expect_count=-1)
    with pytest.raises(AuditError, match="cannot read audit log"):
        verify(tmp_path / "missing.log")


# -- files: resume, corrupt tails, exclusive writers -----------------------------------


def test_reopening_a_log_file_continues_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 3)
    with AuditLog(path=path, node="n1") as log:
        assert (log.count, log.head) == (3, verify(path).head)
        assert log.record("restart", actor="<0.1>")["seq"] == 3
        log.record("exit", actor="<0.1>")
    result = verify(path)
    assert result.ok and result.count == 5


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda data: data.replace(b"example.com/2", b"example.org/2"), "'hash' does not match"),
        (lambda data: data[:-1], "incomplete"),
        (lambda data: data[:-20], "incomplete"),
        (lambda data: data + b"garbage\n", "not valid JSON"),
        (lambda data: data + b"\n", "empty line"),
    ],
)
def test_a_corrupt_tail_is_refused_naming_file_and_line(
    tmp_path: Path, damage: Callable[[bytes], bytes], why: str
) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 3)
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    last_line = damaged.count(b"\n") + (not damaged.endswith(b"\n"))
    with pytest.raises(AuditError, match=why) as info:
        AuditLog(path=path)
    assert f"{str(path)!r} line {last_line}:" in str(info.value)
    assert path.read_bytes() == damaged  # nothing appended
    path.write_bytes(b"")
    AuditLog(path=path).close()  # the refused log released the file


def test_a_second_writer_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with AuditLog(path=path), pytest.raises(AuditError, match="already open for writing"):
        AuditLog(path=path)
    AuditLog(path=path).close()


def test_file_sinks_that_end_differently_are_refused(tmp_path: Path) -> None:
    write_log(tmp_path / "a.log", 2)
    a, b = FileSink(tmp_path / "a.log"), FileSink(tmp_path / "b.log")
    with pytest.raises(AuditError, match="end in different records"):
        AuditLog([a, b])
    a.close()
    b.close()


def test_fsync_flag_syncs_every_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    with AuditLog(path=tmp_path / "audit.log", fsync=True) as log:
        log.record("spawn")
        log.record("exit")
    assert len(synced) == 2
    with AuditLog(path=tmp_path / "audit.log") as log:
        log.record("spawn")
    assert len(synced) == 2


def test_an_unopenable_path_is_an_audit_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot open audit log"):
        AuditLog(path=tmp_path / "no" / "such" / "dir.log")


# -- concurrency, slow and failing sinks ----------------------------------------------


def test_concurrent_records_from_8_threads_form_one_gapless_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    per_thread = 250
    start = threading.Barrier(8)
    with AuditLog(path=path) as log:

        def worker(thread: int) -> None:
            start.wait()
            for i in range(per_thread):
                log.record("decision", decision="allow", thread=thread, i=i)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.count == 8 * per_thread
    result = verify(path)
    assert result.ok and result.count == 8 * per_thread
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in records] == list(range(8 * per_thread))
    assert {(r["thread"], r["i"]) for r in records} == {
        (t, i) for t in range(8) for i in range(per_thread)
    }


async def test_records_from_the_trio_thread_and_worker_threads_interleave_in_one_chain() -> None:
    sink = MemorySink()
    with AuditLog([sink]) as log:

        def in_thread(n: int) -> None:
            for i in range(50):
                log.record("decision", where="thread", n=n, i=i)

        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(trio.to_thread.run_sync, in_thread, n)
            for i in range(50):
                log.record("spawn", where="trio", i=i)
                await trio.lowlevel.checkpoint()
    assert verify_lines(sink.lines, expect_count=200).ok
    assert len(sink.lines) == 200


class GatedSink:
    """A sink that holds every write until released: the slowest sink."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise TimeoutError("test never released the sink")
        self.lines.append(line)

    def close(self) -> None:
        pass


def test_a_slow_sink_blocks_callers_instead_of_dropping_records() -> None:
    sink = GatedSink()
    returned: list[dict[str, Any]] = []
    with AuditLog([sink]) as log:
        threads = [
            threading.Thread(target=lambda i=i: returned.append(log.record("spawn", i=i)))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        assert sink.entered.wait(5)
        time.sleep(0.05)
        # One caller is inside the sink, three wait for the lock: none returned.
        assert returned == [] and all(t.is_alive() for t in threads)
        sink.release.set()
        for t in threads:
            t.join()
    assert len(sink.lines) == len(returned) == 4
    assert verify_lines(sink.lines).ok


def test_a_sleeping_sink_loses_nothing_under_load() -> None:
    class SleepySink(MemorySink):
        def write(self, line: str) -> None:
            time.sleep(0.001)
            super().write(line)

    sink = SleepySink()
    with AuditLog([sink]) as log:
        threads = [
            threading.Thread(target=lambda: [log.record("decision") for _ in range(25)])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert verify_lines(sink.lines, expect_count=100).count == 100


class FailingSink:
    def __init__(self, fail_on: int) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.closed = False

    def write(self, line: str) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.closed = True


def test_a_raising_sink_makes_record_raise_and_breaks_the_log() -> None:
    good, bad = MemorySink(), FailingSink(fail_on=2)
    with capture_audit() as captured:
        log = AuditLog([good, bad])
        first = log.record("spawn", actor="<0.1>")
        with pytest.raises(AuditError, match="No space left") as info:
            log.record("decision", decision="allow")
        assert isinstance(info.value.__cause__, OSError)
        # Not written: the chain did not advance, no capture saw it.
        assert (log.count, log.head) == (1, first["hash"])
        assert captured == [first]
        assert log.broken
        with pytest.raises(AuditError, match="broken since seq 1"):
            log.record("exit", actor="<0.1>")
        assert bad.calls == 2
        log.close()
    assert bad.closed and good.closed


def test_record_from_inside_a_sink_is_refused() -> None:
    class ReentrantSink(MemorySink):
        log: AuditLog

        def write(self, line: str) -> None:
            self.log.record("nested")

    sink = ReentrantSink()
    sink.log = AuditLog([sink])
    with pytest.raises(AuditError, match="inside a sink"):
        sink.log.record("outer")
    sink.log.close()


def test_a_closed_log_refuses_records_and_close_is_idempotent(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "audit.log")
    log.record("spawn")
    log.close()
    log.close()
    assert log.closed
    with pytest.raises(AuditError, match="closed"):
        log.record("exit")
    assert verify(tmp_path / "audit.log").count == 1


def test_close_reports_a_sink_that_fails_to_close_after_closing_the_rest() -> None:
    class BadClose(MemorySink):
        def close(self) -> None:
            raise OSError("disk gone")

    after = MemorySink()
    with pytest.raises(AuditError, match="failed to close"):
        AuditLog([BadClose(), after]).close()
    assert after.closed


# -- capture_audit ---------------------------------------------------------------


def test_capture_audit_sees_records_of_every_log_while_active() -> None:
    one, two = AuditLog(node="a"), AuditLog([MemorySink()], node="b")
    one.record("spawn", actor="<0.0>")
    with capture_audit() as outer:
        one.record("spawn", actor="<a.1>")
        with capture_audit() as inner:
            two.record("decision", decision="deny", action="kv.set")
        one.record("exit", actor="<a.1>")
    one.record("exit", actor="<0.0>")
    assert outer.events == ["spawn", "decision", "exit"]
    assert [r["node"] for r in outer] == ["a", "b", "a"]
    assert inner.where(decision="deny") == [outer[1]]
    assert outer.where(event="exit", actor="<a.1>") == [outer[2]]
    assert outer.where(no_such_field=None) == []
    assert msgspec.json.encode(outer[0])  # plain JSON data
    one.close()
    two.close()


# -- CLI ---------------------------------------------------------------------------


def test_cli_verify_exits_0_for_a_whole_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 3)
    head = verify(path).head
    result = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert (result.exit_code, result.output) == (0, f"OK: 3 records, head {head}\n")
    anchored = ["--expect-head", head, "--expect-count", "3"]
    assert CliRunner().invoke(main, ["audit", "verify", str(path), *anchored]).exit_code == 0


def test_cli_verify_exits_1_naming_file_line_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    save(path, delete_middle(write_log(path, 5)))
    result = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"TAMPERED: {path} line 3: seq 3 where 2 was expected")


def test_cli_verify_exits_1_for_a_truncated_tail_given_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write_log(path, 5)
    head = verify(path).head
    save(path, lines[:3])
    runner = CliRunner()
    assert runner.invoke(main, ["audit", "verify", str(path)]).exit_code == 0
    by_count = runner.invoke(main, ["audit", "verify", "--expect-count", "5", str(path)])
    assert by_count.exit_code == 1 and "line 4: the log ends after 3 records" in by_count.output
    by_head = runner.invoke(main, ["audit", "verify", "--expect-head", head, str(path)])
    assert by_head.exit_code == 1 and "no record has the expected head" in by_head.output


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "verify"],
        ["audit", "verify", "{missing}"],
        ["audit", "verify", "{dir}"],
        ["audit", "verify", "--expect-head", "nothex", "{log}"],
        ["audit", "verify", "--expect-count", "-1", "{log}"],
        ["audit", "verify", "--no-such-option", "{log}"],
        ["audit", "frobnicate"],
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    write_log(tmp_path / "audit.log", 1)
    paths = {"missing": tmp_path / "missing.log", "dir": tmp_path, "log": tmp_path / "audit.log"}
    result = CliRunner().invoke(main, [a.format(**paths) for a in args])
    assert result.exit_code == 2, result.output


def test_cli_unreadable_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.log"
    write_log(path, 1)

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise AuditError(f"cannot read audit log {str(path)!r}: permission denied")

    monkeypatch.setattr(hostkit.audit, "verify", unreadable)
    result = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 2 and "permission denied" in result.output


def test_cli_help_lists_the_audit_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "audit" in result.output
    assert "--expect-head" in CliRunner().invoke(main, ["audit", "verify", "-h"]).output


# -- public surface ----------------------------------------------------------------


def test_hostkit_audit_exports_each_public_name_once() -> None:
    public = [name for name in dir(hostkit.audit) if not name.startswith("_")]
    assert sorted(hostkit.audit.__all__) == sorted(set(hostkit.audit.__all__))
    assert set(public) == set(hostkit.audit.__all__)


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False))
def test_fast_timestamp_matches_datetime(seconds: float) -> None:
    from datetime import UTC, datetime

    from hostkit.audit._log import _rfc3339

    expected = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    assert _rfc3339(seconds) == expected
