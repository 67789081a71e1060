"""The three example applications under ``examples/``, end to end: real
componentize-py plugins (built once per machine, shared by every test),
real wasmtime, real Cedar, a real loopback HTTP server, real audit logs.

Each test boots the example's own ``host.toml`` with only its state (audit
log, outputs, kv) moved into a temporary directory.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hostkit.audit import verify
from hostkit.config import HostFile, parse_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.slow


def _module(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example_plugins(python_guests: Any) -> dict[str, Path]:
    """Every example plugin, built once (digest-cached in examples/build/)."""
    return _module("build.py").build(quiet=True)  # type: ignore[no-any-return]


def relocated(example: str, state: Path, **replace: str) -> HostFile:
    """The example's host.toml with its ``state/`` paths moved under ``state``."""
    path = EXAMPLES / example / "host.toml"
    text = path.read_text().replace('"state/', f'"{state}/')
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_config(text, path)


def audit_records(path: Path) -> list[dict[str, Any]]:
    assert verify(path).ok
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_game_mods_hostile_mod_is_denied_stopped_and_restarted_while_frames_go_on(
    example_plugins: dict[str, Path], tmp_path: Path
) -> None:
    game = _module("game_mods/game.py")
    report = await game.play(2.5, relocated("game_mods", tmp_path))
    assert report["frames"] == 150  # 2.5 s at 60 fps: the loop never stalled for good
    goblins, griefer = report["children"]["goblins"], report["children"]["griefer"]
    assert goblins["restarts"] == 0
    assert griefer["restarts"] >= 1
    # Ended by its activation budget: the deadline or its fuel, whichever came first.
    assert griefer["last_exit"].split(":")[0] in ("deadline", "fuel")
    goblins_status = report["status"]["mod.goblins"]
    assert goblins_status["spawned"] == 5  # frames 30, 60, ..., 150
    assert goblins_status["refused"] == ["troll: denied"]  # frame 90, as HostCallDenied
    assert report["monsters"] == 5

    records = audit_records(tmp_path / "audit.log")
    spawns = [(r["resource"], r["decision"]) for r in records
              if r.get("action") == "acme:game/world#spawn-monster"]
    assert spawns.count(('Acme::Monster::"goblin"', "allow")) == 5
    assert spawns.count(('Acme::Monster::"troll"', "deny")) == 1
    by_griefer = [r for r in records if r.get("plugin") == "griefer"]
    reads = [r for r in by_griefer if r.get("action") == "hostkit:host/files#read"]
    assert [(r["resource"], r["decision"]) for r in reads] == [
        ('File::"/saves/goblins/save.json"', "deny"),
        ('File::"/etc/passwd"', "deny"),
    ]
    sends = [r for r in by_griefer
             if r["event"] == "decision" and r.get("action") == "hostkit:plugin/process#send"]
    assert sends and {r["decision"] for r in sends} == {"deny"}
    # the storm is bounded in records and complete in count
    suppressed = sum(
        r["suppressed"] for r in by_griefer
        if r["event"] == "denials-suppressed" and r["action"] == "hostkit:plugin/process#send"
    )
    # 512 of the 1000 sends were decided: one activation's outbox holds at most
    # outbox_max_frames (8 x batch_size) frames, the rest is never routed
    assert len(sends) + suppressed == 512 and len(sends) < 512
    # and the flooder, past its denial budget, was ended "denied"
    assert any(r["event"] == "exit" and r["detail"].startswith("denied:")
               and "denial budget" in r["detail"] for r in by_griefer)
    assert len([r for r in by_griefer if r["event"] == "protocol-violation"]) <= 2
    assert not any(r.get("decision") == "allow" and r.get("plugin") == "griefer"
                   and "acme:game" not in r.get("action", "")
                   and not r["action"].endswith("#whereis") for r in records)
    assert any(r["event"] == "restart" and r.get("plugin") == "griefer" for r in records)
    assert any(r["event"] == "exit" and r.get("plugin") == "griefer"
               and r["detail"].split(":")[0] in ("deadline", "fuel") for r in records)


async def test_adapters_pipeline_survives_a_crashing_stage_and_loses_no_row(
    example_plugins: dict[str, Path], tmp_path: Path
) -> None:
    pipeline = _module("adapters/pipeline.py")
    report = await pipeline.run_pipeline(relocated("adapters", tmp_path))
    assert report["files"] == {
        "orders-2026-11-27.csv": {"rows": 4, "written": 3, "rejected": 1},
        "orders-2026-11-28.csv": {"rows": 3, "written": 2, "rejected": 1},
    }
    assert report["restarts"] == 4  # two bad rows, each tried twice

    out = tmp_path / "out"
    written = json.loads((out / "orders-2026-11-27.json").read_text())
    assert [r["order"] for r in written] == ["A-1001", "A-1002", "A-1004"]
    assert written[0] == {"customer": "Ada Lovelace", "order": "A-1001", "quantity": 2,
                          "total_cents": 3980}
    rejected = json.loads((out / "orders-2026-11-28.rejected.json").read_text())
    assert [(r["line"], r["row"]["order_id"]) for r in rejected] == [(3, "B-2002")]
    assert "invalid literal for int()" in rejected[0]["reason"]

    records = audit_records(tmp_path / "audit.log")
    file_calls = {(r["plugin"], r["action"].rsplit("#", 1)[1], r["decision"])
                  for r in records if r.get("action", "").startswith("hostkit:host/files#")}
    assert file_calls == {("ingest", "list-dir", "allow"), ("ingest", "read", "allow"),
                          ("writer", "write", "allow")}
    assert sum(r["event"] == "restart" and r.get("plugin") == "transform" for r in records) == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_ai_tools_agent_sees_results_schemas_and_a_denied_fetch_with_its_reason(
    example_plugins: dict[str, Path], tmp_path: Path
) -> None:
    agent = _module("ai_tools/agent.py")
    port = _free_port()
    config = relocated("ai_tools", tmp_path, **{"port = 8765": f"port = {port}"})
    transcript = await agent.run_agent(config, port)

    schemas = transcript[0][1]
    assert [s["name"] for s in schemas] == ["calculator", "fetch", "notes"]
    for schema in schemas:  # the shape LLM function calling takes
        assert schema["parameters"]["type"] == "object" and schema["parameters"]["required"]
    results = [result for _, _, result in transcript[1:]]
    assert results[0] == {"ok": 63.0}
    assert results[1]["ok"]["status"] == 200 and "Lisbon" in results[1]["ok"]["body"]
    assert results[2] == {
        "error": "denied",
        "detail": 'Plugin::"fetcher" may not hostkit:host/http#request on '
                  'Host::"example.com:443": no policy permits it (deny by default)',
    }
    assert results[3] == {"ok": "saved"}
    assert results[4]["error"] == "invalid"  # the calculator executes nothing
    assert results[5:] == [{"ok": ["weather"]}, {"ok": "Lisbon: sunny, 24 C"}]

    records = audit_records(tmp_path / "audit.log")
    http = [(r["resource"], r["decision"]) for r in records
            if r.get("action") == "hostkit:host/http#request"]
    assert http == [(f'Host::"127.0.0.1:{port}"', "allow"), ('Host::"example.com:443"', "deny")]
    assert not any(r.get("plugin") == "calculator" and r["event"] == "decision"
                   and r["action"].startswith("hostkit:host/") for r in records)
