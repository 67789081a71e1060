"""The guest SDK inside real componentize-py guests: an application's own
WIT API through ``hostkit_guest.app_api`` (denials raise the SDK's
exception), and the standard-library modules a guest has (the list in
docs/reference/guest-sdk.md is checked against a measurement here)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest

import hostkit
from hostkit.build import build_python
from hostkit.capabilities import CallContext, CedarSchema, Gate, HostCallInvalid, hookimpl, hookspec

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "plugins" / "build"
DOC = ROOT / "docs" / "reference" / "guest-sdk.md"

pytestmark = pytest.mark.slow

SCHEMA = CedarSchema.stock().extend(
    """
    namespace Acme { entity Monster; }
    action "acme:game/world#spawn-monster" appliesTo {
      principal: [Plugin], resource: [Acme::Monster],
      context: { kind: String, x: Long, y: Long }
    };
    action "acme:game/world#tick" appliesTo {
      principal: [Plugin], resource: [Plugin], context: {}
    };
    """,
    origin="acme-game.cedarschema",
)
POLICIES = """
@id("mods:goblins")
permit (principal == Plugin::"cli_app_api", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"goblin");
@id("mods:orcs")
permit (principal == Plugin::"cli_app_api", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"orc");
"""


class Specs:
    @hookspec(firstresult=True)
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int | None:
        """``acme:game/world#spawn-monster``."""

    @hookspec(firstresult=True)
    def world_tick(self, ctx: CallContext) -> int | None:
        """``acme:game/world#tick``."""


class Game:
    def __init__(self) -> None:
        self.spawned: list[str] = []

    @hookimpl
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int:
        if kind == "orc":
            raise HostCallInvalid("orcs are out of season")
        self.spawned.append(kind)
        return len(self.spawned)

    @hookimpl
    def world_tick(self, ctx: CallContext) -> int:
        return 7

    @hookimpl
    def hostkit_resource(
        self, ctx: CallContext, action: str, args: Mapping[str, object]
    ) -> tuple[str, str] | None:
        if action == "acme:game/world#spawn-monster":
            return ("Acme::Monster", str(args["kind"]))
        return None


@pytest.fixture(scope="session")
def app_api_wasm(python_guests: Any) -> Path:
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        import build as plugin_build
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    return build_python(
        ROOT / "plugins" / "python" / "cli_app_api",
        BUILD / "cli_app_api.wasm",
        world="hostkit:test/cli-app-api",
        wit=plugin_build._test_wit_files(),
        deps=plugin_build.app_deps(),
    ).path


@pytest.fixture(scope="session")
def stdlib_wasm(python_guests: Any) -> Path:
    return build_python(ROOT / "plugins" / "python" / "cli_stdlib", BUILD / "cli_stdlib.wasm").path


async def _ask(host: hostkit.Host, pid: hostkit.Pid, **msg: Any) -> Any:
    return json.loads(await host.call(pid, json.dumps(msg), timeout=30))


async def test_app_api_calls_return_the_wit_result_and_denials_raise_host_call_denied(
    config: hostkit.HostConfig, app_api_wasm: Path
) -> None:
    game = Game()
    pm = pluggy.PluginManager("hostkit")
    pm.add_hookspecs(Specs)
    pm.register(game)
    tick = '@id("t") permit (principal, action == Action::"acme:game/world#tick", resource);'
    gate = Gate(pm, policies=[POLICIES, tick], schema=SCHEMA)
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(await host.load_async(app_api_wasm))
        assert await _ask(host, pid, op="spawn", kind="goblin", x=1, y=2) == {"id": 1}
        assert await _ask(host, pid, op="tick") == {"tick": 7}
        denied = await _ask(host, pid, op="spawn", kind="dragon", x=1, y=2)
        assert denied["raised"] == "HostCallDenied" and denied["case"] == "denied"
        assert 'Acme::Monster::"dragon"' in denied["detail"]
        assert denied["text"].startswith("acme:game/world.spawn-monster failed: denied")
        invalid = await _ask(host, pid, op="spawn", kind="orc", x=1, y=2)
        assert invalid == {
            "raised": "HostCallFailed",
            "case": "invalid",
            "detail": "orcs are out of season",
            "text": "acme:game/world.spawn-monster failed: invalid (orcs are out of season)",
        }
    assert game.spawned == ["goblin"]


def _documented_unavailable() -> set[str]:
    text = DOC.read_text()
    match = re.search(r"<!-- stdlib-unavailable -->\s*```text\n(.*?)```", text, re.DOTALL)
    assert match, f"{DOC} lacks the measured list of unavailable modules"
    return set(match.group(1).split())


async def test_the_documented_stdlib_list_matches_a_measured_guest(
    config: hostkit.HostConfig, stdlib_wasm: Path
) -> None:
    async with hostkit.open_host(config) as host:
        pid = await host.spawn(await host.load_async(stdlib_wasm))
        results = await _ask(host, pid, results=True)
        # Imported at build time, so in the snapshot: usable at run time.
        assert await _ask(host, pid, use="urllib") == "a%20b"
        # Not imported at build time: the guest has no filesystem to find it.
        late = await _ask(host, pid, **{"import": "colorsys"})
        assert late.startswith("ModuleNotFoundError")
    public = {name for name in results if not name.startswith("_")}
    missing = {name for name in public if results[name] != "ok"}
    assert "urllib" not in missing and "json" not in missing
    assert missing == _documented_unavailable(), {n: results[n] for n in missing}
