"""``hostkit inspect``, ``policy``, ``audit show/tail``, ``call`` and ``new``
on real WAT components, real Cedar and real audit logs (fast: no Python
guest builds; the Python round trips are in test_cli_project.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hostkit.audit import AuditLog
from hostkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
HOSTKIT = str(Path(sys.executable).with_name("hostkit"))
GRANT = """
@id("hc:read-data")
permit (principal == Plugin::"hostcall", action == Action::"hostkit:host/files#read", resource)
when { resource.path like "/data/*" };

@id("hc:no-secrets")
forbid (principal, action == Action::"hostkit:host/files#read", resource)
when { resource.path like "/data/secret*" };
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def grant(tmp_path: Path) -> Path:
    path = tmp_path / "grant.cedar"
    path.write_text(GRANT)
    return path


# -- help and exit codes ---------------------------------------------------------


def test_every_command_is_listed_in_help() -> None:
    out = run("--help").stdout
    for command in ("new", "build", "call", "inspect", "policy", "audit", "demo"):
        assert f"  {command} " in out
    audit = run("audit", "--help").stdout
    assert all(f"  {c} " in audit for c in ("show", "tail", "verify"))


# -- inspect -----------------------------------------------------------------------


def test_inspect_lists_imports_exports_and_actions(wasm: dict[str, Path]) -> None:
    result = run("inspect", str(wasm["hostcall"]), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    imports = {i["name"]: i["functions"] for i in report["imports"]}
    assert imports["hostkit:host/files"] == ["read"]
    assert set(imports["hostkit:host/kv"]) == {"get", "set"}
    assert {e["name"] for e in report["exports"]} == {"hostkit:plugin/actor"}
    assert "hostkit:host/files#read" in report["actions"]
    assert report["manifest"] is None and report["wasi"] is False


def test_inspect_reads_an_adjacent_manifest_and_decides_with_real_cedar(
    wasm: dict[str, Path], tmp_path: Path, grant: Path
) -> None:
    component = tmp_path / "hostcall.wasm"
    shutil.copy(wasm["hostcall"], component)
    (tmp_path / "hostcall.hostkit.toml").write_text(
        '[plugin]\nname = "hostcall"\n[capabilities]\nfiles-read = ["/data/*"]\nkv = ["k*"]\n'
    )
    result = run("inspect", str(component), "--default-policy", "--policies", str(grant), "--json")
    report = json.loads(result.stdout)
    assert report["manifest"]["source"].endswith("hostcall.hostkit.toml")
    requests = {r["request"]: r for r in report["requests"]}
    assert requests["files-read /data/*"]["granted"] is True
    assert requests["files-read /data/*"]["policies"] == ["hc:read-data"]
    assert requests["kv k* (read)"]["granted"] is False
    assert result.exit_code == 1
    grants = {g["action"]: g for g in report["grants"]}
    assert grants["hostkit:host/clock#now-ms"]["granted"] == "yes"
    assert grants["hostkit:host/clock#now-ms"]["policies"] == ["default:introspection"]
    assert grants["hostkit:host/kv#set"]["granted"] == "no"
    assert grants["hostkit:host/files#read"]["granted"] == "maybe"


def test_inspect_refuses_a_file_that_is_not_a_component(tmp_path: Path) -> None:
    bogus = tmp_path / "x.wasm"
    bogus.write_bytes(b"\0asm\x0d\x00\x01\x00\xff\xff\xff")
    result = run("inspect", str(bogus))
    assert result.exit_code == 2 and "not a readable component" in result.stderr


# -- policy ------------------------------------------------------------------------


def test_policy_check_accepts_valid_policies(grant: Path) -> None:
    result = run("policy", "check", str(DEFAULT), str(grant), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ids"][-2:] == ["hc:read-data", "hc:no-secrets"]


def test_policy_check_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cedar"
    bad.write_text('\n@id("typo")\npermit (principal, action == Action::"hostkit:host/files#reed", '
                   "resource);\n")  # fmt: skip
    result = run("policy", "check", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.stderr and "files#reed" in result.stderr
    as_json = json.loads(run("policy", "check", str(bad), "--json").stdout)
    assert as_json["ok"] is False and any(f"{bad}:3:" in e for e in as_json["errors"])


def test_policy_explain_names_the_deciding_policies(grant: Path) -> None:
    read = ("--plugin", "hostcall", "--action", "hostkit:host/files#read")
    allow = run("policy", "explain", str(grant), *read, "--resource", "/data/a.txt", "--json")
    assert allow.exit_code == 0
    assert json.loads(allow.stdout) == {
        "decision": "allow",
        "principal": 'Plugin::"hostcall"',
        "action": "hostkit:host/files#read",
        "resource": 'File::"/data/a.txt"',
        "context": {},
        "policies": ["hc:read-data"],
        "errors": [],
        "reason": "permitted by hc:read-data",
    }
    forbid = run("policy", "explain", str(grant), *read, "--resource", 'File::"/data/secret.txt"')
    assert forbid.exit_code == 1
    assert "DENY" in forbid.stdout and "forbidden by hc:no-secrets" in forbid.stdout
    nothing = run("policy", "explain", str(grant), "--plugin", "other",
                  "--action", "hostkit:host/files#read", "--resource", "/data/a.txt")  # fmt: skip
    assert nothing.exit_code == 1 and "deny by default" in nothing.stdout


def test_policy_explain_checks_the_context_against_the_schema(grant: Path) -> None:
    result = run("policy", "explain", str(grant), "--plugin", "hostcall",
                 "--action", "hostkit:host/files#write", "--resource", "/data/a.txt",
                 "--context", '{"size": "big", "mode": "truncate"}', "--json")  # fmt: skip
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["errors"]
    bad = run("policy", "explain", str(grant), "--plugin", "p", "--action", "a",
              "--resource", "nonsense")  # fmt: skip
    assert bad.exit_code == 2 and "entity uid" in bad.stderr


# -- audit show / tail -------------------------------------------------------------


def _log(path: Path) -> AuditLog:
    log = AuditLog(path=path)
    log.record("spawn", actor="<0.1>", plugin="mod-a")
    log.record("decision", actor="<0.1>", plugin="mod-a", action="hostkit:host/files#read",
               resource='File::"/data/a"', decision="allow", policies=["p1"])  # fmt: skip
    log.record("decision", actor="<0.2>", plugin="mod-b", action="hostkit:host/kv#set",
               resource='Key::"\x1b[31mred\u202e\rfake"', decision="deny", policies=[],
               detail="no policy permits it")  # fmt: skip
    return log


def test_audit_show_filters_by_plugin_action_and_decision(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path).close()
    everything = json.loads(run("audit", "show", str(path), "--json").stdout)
    assert [r["seq"] for r in everything] == [0, 1, 2]
    denied = json.loads(run("audit", "show", str(path), "--decision", "deny", "--json").stdout)
    assert [r["plugin"] for r in denied] == ["mod-b"]
    by_plugin = run("audit", "show", str(path), "--plugin", "mod-a", "--action", "*files*")
    assert by_plugin.exit_code == 0
    (line,) = by_plugin.stdout.splitlines()
    assert line.startswith("#1 ") and "ALLOW by p1" in line


def test_audit_show_keeps_guest_text_inert(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path).close()
    out = run("audit", "show", str(path), "--decision", "deny").stdout
    assert "red" in out and "fake" in out
    assert not {"\x1b", "\u202e", "\r"} & set(out)


def test_audit_show_says_not_an_audit_log(grant: Path) -> None:
    result = run("audit", "show", str(grant))
    assert result.exit_code == 2 and "not an audit log record" in result.stderr


def test_audit_tail_follow_prints_records_as_they_are_appended(tmp_path: Path) -> None:
    """A real subprocess following a real log; ended by its pid."""
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    proc = subprocess.Popen(
        [HOSTKIT, "audit", "tail", str(path), "-n", "1", "--follow", "--plugin", "mod-c",
         "--json", "--interval", "0.02"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        log.record("decision", plugin="mod-d", action="x", decision="allow")  # filtered out
        log.record("decision", plugin="mod-c", action="late", decision="deny")
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=60)
        assert lines and json.loads(lines[0])["action"] == "late"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        log.close()


# -- call -----------------------------------------------------------------------------


def test_call_prints_the_reply_of_a_wat_component(wasm: dict[str, Path]) -> None:
    result = run("call", str(wasm["echo"]), "hello")
    assert (result.exit_code, result.stdout) == (0, "hello\n")


def test_call_denials_are_shown_with_their_reason(wasm: dict[str, Path]) -> None:
    result = run("call", str(wasm["hostcall"]), "r/data/a.txt", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["reply"].startswith("err:0:")
    (denial,) = report["denials"]
    assert denial["action"] == "hostkit:host/files#read"
    assert "deny by default" in denial["detail"]


def test_call_grants_exactly_the_paths_given(wasm: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("contents")
    allowed = run(
        "call", str(wasm["hostcall"]), "r/data/a.txt", "--allow-read", f"/data={tmp_path}"
    )
    assert (allowed.exit_code, allowed.stdout) == (0, "ok:contents\n")
    outside = run("call", str(wasm["hostcall"]), "r/data/../etc/passwd", "--allow-read",
                  f"/data={tmp_path}")  # fmt: skip
    assert outside.stdout.startswith("err:") and "ok:" not in outside.stdout


def test_call_exit_codes(wasm: dict[str, Path], tmp_path: Path) -> None:
    trapped = run("call", str(wasm["trap"]), "x", "--args", "trap")  # init traps
    assert trapped.exit_code == 1 and "error:" in trapped.stderr
    core = run("call", str(wasm["core"]), "x")
    assert core.exit_code == 1 and "core WebAssembly module" in core.stderr
    missing_dir = run("call", str(wasm["echo"]), "x", "--allow-path", str(tmp_path / "nope"))
    assert missing_dir.exit_code == 2 and "is not a directory" in missing_dir.stderr


# -- new ------------------------------------------------------------------------------


def test_new_refuses_bad_names_and_non_empty_directories(tmp_path: Path) -> None:
    bad = run("new", "Bad_Name", "--dir", str(tmp_path / "x"))
    assert bad.exit_code == 2 and "lowercase letters" in bad.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    taken = run("new", "ok-name", "--dir", str(tmp_path / "full"), "--json")
    assert taken.exit_code == 2 and json.loads(taken.stdout)["ok"] is False
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_call_prints_a_reply_inert_on_a_terminal_and_raw_to_a_pipe(
    wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "ok\u202e\rgotcha"
    piped = run("call", str(wasm["echo"]), hostile)
    assert piped.stdout == hostile + "\n"  # scripts get the plugin's bytes
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: stdout is a terminal
    shown = run("call", str(wasm["echo"]), hostile)
    assert shown.stdout == "ok\\u202e\\rgotcha\n"


@pytest.mark.parametrize("guest", ["/data/*", "data", "/data/../etc"])
def test_call_refuses_guest_paths_that_would_widen_the_grant(
    wasm: dict[str, Path], tmp_path: Path, guest: str
) -> None:
    result = run("call", str(wasm["echo"]), "x", "--allow-read", f"{guest}={tmp_path}")
    assert result.exit_code == 2 and "--allow-read" in result.stderr
