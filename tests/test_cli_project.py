"""``hostkit new`` -> ``hostkit build`` -> ``hostkit call`` for each template,
with real componentize-py builds (one per template per session; outputs are
kept in plugins/build/cli-projects/ and reused while their inputs match)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
KEEP = ROOT / "plugins" / "build" / "cli-projects"
CACHE = ROOT / "plugins" / "build" / "component-cache"
HOSTKIT = [str(Path(sys.executable).with_name("hostkit"))]  # the installed entry point

pytestmark = pytest.mark.slow


@dataclass
class Project:
    name: str
    template: str
    root: Path
    wasm: Path
    build_json: dict[str, object]


def _new_and_build(base: Path, template: str) -> Project:
    name = f"cli-{template}"
    runner = CliRunner()
    made = runner.invoke(main, ["new", name, "--template", template, "--dir", str(base / name)])
    assert made.exit_code == 0, made.output
    root = base / name
    kept = KEEP / template
    if kept.is_dir():  # an earlier session's build of the same inputs
        shutil.copytree(kept, root / "build", dirs_exist_ok=True)
    built = runner.invoke(main, ["build", str(root), "--cache-dir", str(CACHE), "--json"])
    assert built.exit_code == 0, built.output
    result = json.loads(built.stdout)
    shutil.copytree(root / "build", kept, dirs_exist_ok=True)
    return Project(name, template, root, Path(str(result["path"])), result)


@pytest.fixture(scope="session")
def projects(python_guests: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    base = tmp_path_factory.mktemp("projects")
    return {t: _new_and_build(base, t) for t in ("tool", "adapter", "mod")}


def _call(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["call", *args])
    return result.exit_code, result.stdout, result.stderr


def test_new_writes_a_project_with_a_manifest_and_app(projects: dict[str, Project]) -> None:
    for project in projects.values():
        assert (project.root / "hostkit.toml").is_file()
        assert (project.root / "src" / "app.py").is_file()
        assert project.wasm == project.root / "build" / f"{project.name}.wasm"
        assert project.build_json["ok"] is True and project.build_json["name"] == project.name
    assert (projects["mod"].root / "wit" / "world.wit").read_text().startswith("///")


def test_build_embeds_the_manifest_and_precompiles(projects: dict[str, Project]) -> None:
    from hostkit.build import read_embedded_manifest

    for project in projects.values():
        text = read_embedded_manifest(project.wasm.read_bytes())
        assert text == (project.root / "hostkit.toml").read_text()
        assert isinstance(project.build_json["precompile_seconds"], float)
        assert "hostkit:plugin/process" in " ".join(map(str, project.build_json["imports"]))  # type: ignore[call-overload]


def test_a_second_build_is_cached(projects: dict[str, Project]) -> None:
    tool = projects["tool"]
    again = CliRunner().invoke(
        main, ["build", str(tool.root), "--cache-dir", str(CACHE), "--no-precompile", "--json"]
    )
    assert again.exit_code == 0
    assert json.loads(again.stdout)["cached"] is True


def test_tool_template_round_trip(projects: dict[str, Project]) -> None:
    wasm = str(projects["tool"].wasm)
    code, out, _ = _call(wasm, '{"op": "add", "a": 2, "b": 3}')
    assert (code, json.loads(out)) == (0, {"result": 5})
    code, out, _ = _call(wasm, '{"op": "schema"}')
    assert json.loads(out)["parameters"]["required"] == ["op", "a", "b"]


def test_adapter_template_round_trip_and_denial(
    projects: dict[str, Project], tmp_path: Path
) -> None:
    wasm = str(projects["adapter"].wasm)
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "rows.csv").write_text("id,name\n1,ada\n2,bob\n")
    msg = '{"input": "/in/rows.csv", "output": "/out/rows.json"}'
    read, write = f"/in={tmp_path / 'in'}", f"/out={tmp_path / 'out'}"
    code, out, err = _call(wasm, msg, "--allow-read", read, "--allow-path", write)
    assert (code, json.loads(out), err) == (0, {"rows": 2}, "")
    assert json.loads((tmp_path / "out" / "rows.json").read_text())[1] == {"id": "2", "name": "bob"}
    # Without the write grant: the guest sees `denied`, the shell sees why.
    code, out, err = _call(wasm, msg, "--allow-read", read, "--json")
    report = json.loads(out)
    assert json.loads(report["reply"])["error"] == "denied"
    (denial,) = report["denials"]
    assert denial["action"] == "hostkit:host/files#write"
    assert denial["resource"] == 'File::"/out/rows.json"'
    assert "deny by default" in denial["detail"]


def test_mod_template_round_trip_with_and_without_its_grant(projects: dict[str, Project]) -> None:
    wasm = str(projects["mod"].wasm)
    code, out, err = _call(wasm, '{"op": "score", "points": 5}', "--allow-kv", "score")
    assert (code, json.loads(out), err) == (0, {"score": 5, "saved": True}, "")
    code, out, err = _call(wasm, '{"op": "score", "points": 5}')
    assert code == 0 and json.loads(out) == {"score": 5, "saved": False, "reason": "denied"}
    assert 'denied: Plugin::"cli-mod" may not hostkit:host/kv#set on Key::"score"' in err


def test_inspect_shows_the_embedded_manifest_and_checks_grants(
    projects: dict[str, Project], tmp_path: Path
) -> None:
    wasm = str(projects["adapter"].wasm)
    grant = tmp_path / "grant.cedar"
    grant.write_text(
        '@id("adapter-in")\npermit (principal == Plugin::"cli-adapter", '
        'action == Action::"hostkit:host/files#read", resource)\n'
        'when { resource.path like "/in/*" };\n'
    )
    result = CliRunner().invoke(main, ["inspect", wasm, "--policies", str(grant), "--json"])
    report = json.loads(result.stdout)
    assert report["manifest"]["source"] == "embedded"
    assert report["manifest"]["capabilities"] == {
        "files-read": ["/in/**"],
        "files-write": ["/out/**"],
    }
    requests = {r["request"]: r for r in report["requests"]}
    assert requests["files-read /in/**"]["granted"] is True
    assert requests["files-read /in/**"]["policies"] == ["adapter-in"]
    assert requests["files-write /out/**"]["granted"] is False
    assert result.exit_code == 1  # a requested capability is not granted
    text = CliRunner().invoke(main, ["inspect", wasm, "--policies", str(grant)])
    assert "DENIED  files-write /out/**" in text.stdout


def test_a_syntax_error_build_shows_the_file_and_line_first(tmp_path: Path) -> None:
    """Through a real subprocess: stderr starts with FILE:LINE, exit 1."""
    subprocess.run([*HOSTKIT, "new", "broken", "--dir", str(tmp_path / "broken")], check=True,
                   capture_output=True)  # fmt: skip
    app = tmp_path / "broken" / "src" / "app.py"
    app.write_text(
        app.read_text().replace("def handle(msg: Any) -> Any:", "def handle(msg: Any) -> Any")
    )
    done = subprocess.run(
        [*HOSTKIT, "build", str(tmp_path / "broken")], capture_output=True, text=True
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if not line.startswith("  "))
    assert lines[at].startswith(f"error: {app}:") and "SyntaxError" in lines[at]
    assert "Stack backtrace" not in done.stderr
    as_json = subprocess.run(
        [*HOSTKIT, "build", str(tmp_path / "broken"), "--json"], capture_output=True, text=True
    )
    report = json.loads(as_json.stdout)
    assert (as_json.returncode, report["file"], report["ok"]) == (1, str(app), False)
    assert report["line"] == app.read_text().splitlines().index("def handle(msg: Any) -> Any") + 1


@pytest.fixture(scope="session")
def adapter_example(python_guests: object) -> Path:
    """plugins/python/adapter (files, http, kv), built once (digest-cached)."""
    from hostkit.build import build_python

    return build_python(
        ROOT / "plugins" / "python" / "adapter",
        ROOT / "plugins" / "build" / "adapter.wasm",
        world="hostkit:host/full-plugin",
    ).path


def test_call_allow_host_reaches_exactly_the_granted_loopback_server(adapter_example: Path) -> None:
    import http.server
    import threading

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"items": [1, 2]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        msg = json.dumps({"op": "fetch", "url": f"http://127.0.0.1:{port}/v1"})
        code, out, err = _call(str(adapter_example), msg, "--allow-host", f"127.0.0.1:{port}")
        assert code == 0
        assert json.loads(out) == {"ok": {"status": 200, "body": '{"items": [1, 2]}'}}
        # Another port of the same host was not granted.
        code, out, err = _call(str(adapter_example), msg, "--allow-host", f"127.0.0.1:{port + 1}")
        assert json.loads(out)["error"] == "denied"
        assert f'Host::"127.0.0.1:{port}"' in err
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
