"""The keyed audit chain (issue 8.9), anchors, "not an audit log" (issue 9),
and guest text made inert in every record (issue 8.7)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from hostkit._errors import AuditError
from hostkit.audit import AuditLog, load_audit_key, parse_anchor, verify
from hostkit.cli import main

KEY = b"k" * 32


def write_log(path: Path, key: bytes | None, n: int = 5) -> AuditLog:
    log = AuditLog(path=path, key=key, clock=lambda: 1_700_000_000.0)
    for i in range(n):
        log.record("decision", plugin="p", action=f"a{i}", decision="allow")
    log.close()
    return log


def rechain_without(path: Path, drop: int) -> None:
    """What an attacker with write access and no key does: delete record
    ``drop``, renumber, recompute every prev and hash (the unkeyed rules)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    del records[drop]
    prev = "0" * 64
    lines = []
    for seq, record in enumerate(records):
        record["seq"] = seq
        record["prev"] = prev
        record.pop("hash")
        unsealed = msgspec.json.encode(record)
        prev = hashlib.sha256(unsealed).hexdigest()
        lines.append(unsealed[:-1].decode() + f',"hash":"{prev}"}}')
    path.write_text("".join(line + "\n" for line in lines))


def test_a_resealed_deletion_passes_unkeyed_verify_and_fails_keyed(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, KEY)
    assert verify(path, key=KEY).ok
    rechain_without(path, 2)
    unkeyed = verify(path)
    assert unkeyed.ok and unkeyed.count == 4  # the chain alone cannot tell
    keyed = verify(path, key=KEY)
    assert not keyed.ok and keyed.line == 3 and "'mac' does not match" in str(keyed)


def test_keyed_verify_needs_the_right_key_and_a_mac_on_every_record(tmp_path: Path) -> None:
    keyed, plain = tmp_path / "keyed.log", tmp_path / "plain.log"
    write_log(keyed, KEY)
    write_log(plain, None)
    assert "'mac' does not match" in str(verify(keyed, key=b"x" * 32))
    assert "no 'mac'" in str(verify(plain, key=KEY))
    assert str(verify(keyed, key=KEY)).startswith("OK: 5 records, keyed, head ")
    assert verify(keyed).ok  # readers without the key still check the chain


def test_an_edited_mac_fails_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, KEY)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    lines[1] = lines[1].replace(record["mac"], "0" * 64)
    path.write_text("\n".join(lines) + "\n")
    assert not verify(path).ok and not verify(path, key=KEY).ok


def test_keys_come_from_a_file_or_the_environment_and_must_be_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_bytes(KEY + b"\n")
    assert load_audit_key(file=tmp_path / "key") == KEY
    monkeypatch.setenv("AUDIT_KEY", KEY.decode())
    assert load_audit_key(env="AUDIT_KEY") == KEY
    with pytest.raises(AuditError, match="at least 16"):
        AuditLog(key=b"short")
    with pytest.raises(AuditError, match="not set"):
        load_audit_key(env="NO_SUCH_VARIABLE_HOSTKIT")
    with pytest.raises(AuditError, match="one"):
        load_audit_key()


def test_the_anchor_catches_a_cut_tail(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = write_log(path, KEY)
    count, head = parse_anchor(log.anchor)
    assert (count, head) == (log.count, log.head) == (5, log.head)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    assert verify(path, key=KEY).ok  # a shorter chain is still a chain
    assert not verify(path, key=KEY, expect_count=count, expect_head=head).ok
    with pytest.raises(AuditError, match="count"):
        parse_anchor("garbage")


def test_cli_verify_with_key_and_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, keyfile = tmp_path / "audit.log", tmp_path / "audit.key"
    keyfile.write_bytes(KEY)
    log = write_log(path, KEY)
    run = CliRunner().invoke
    ok = run(main, ["audit", "verify", str(path), "--key", str(keyfile), "--anchor", log.anchor])
    assert ok.exit_code == 0 and ok.output.startswith("OK: 5 records, keyed"), ok.output
    monkeypatch.setenv("HK_AUDIT_KEY", KEY.decode())
    assert run(main, ["audit", "verify", str(path), "--key-env", "HK_AUDIT_KEY"]).exit_code == 0
    rechain_without(path, 1)
    assert run(main, ["audit", "verify", str(path)]).exit_code == 0
    bad = run(main, ["audit", "verify", str(path), "--key", str(keyfile)])
    assert bad.exit_code == 1 and "TAMPERED" in bad.output
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    assert run(main, ["audit", "verify", str(path), "--key", str(short)]).exit_code == 2


@pytest.mark.parametrize(
    "content",
    ["hello world\n", "[1, 2, 3]\n", '{"name": "package.json"}\n', "\x00\x01binary\n"],
)
def test_verify_says_a_file_is_not_an_audit_log(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.txt"
    path.write_text(content)
    result = verify(path)
    assert not result.ok and result.not_a_log
    assert str(result).startswith("NOT AN AUDIT LOG:")
    cli = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert cli.exit_code == 3 and "NOT AN AUDIT LOG" in cli.output


def test_an_edited_first_record_is_tampered_not_foreign(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_log(path, None)
    path.write_text(path.read_text().replace('"a0"', '"zz"', 1))
    result = verify(path)
    assert not result.ok and not result.not_a_log and str(result).startswith("TAMPERED")


# --- guest text is inert in every record ----------------------------------------


def test_every_string_in_a_record_is_escaped_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with AuditLog(path=path) as log:
        record = log.record(
            "exit",
            actor="<0.1.0>",
            plugin="p",
            detail="stop: \x1b[2J\nCRITICAL forged\u202e",
            resource='Name::"a\\"b\r"',
            names=["ok", "\x07bell"],
            nested={"why": "\x1b]0;title\x07"},
            long="x" * 10_000,
        )
    assert record["detail"] == "stop: \\x1b[2J\\nCRITICAL forged\\u202e"
    assert record["resource"] == 'Name::"a\\\\"b\\r"'
    assert record["names"] == ["ok", "\\x07bell"]
    assert record["nested"] == {"why": "\\x1b]0;title\\x07"}
    assert len(record["long"]) < 4200 and record["long"].endswith("more characters]")
    assert verify(path).ok
    raw = path.read_bytes().decode()
    assert "\x1b" not in json.loads(raw)["detail"]
