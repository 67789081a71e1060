"""``hostkit policy explain`` and ``hostkit inspect --policies`` with an
application's own (namespaced) entity types and schema fragment: real Cedar,
real WAT components, the game-mods example's schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hostkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
GAME = ROOT / "examples" / "game_mods"
SCHEMA = GAME / "acme-game.cedarschema"
SPAWN = "acme:game/world#spawn-monster"
TROLLS = """
@id("mods:trolls-above-ground")
permit (principal == Plugin::"gamemod", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"troll")
when { context.y >= 0 };
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def trolls(tmp_path: Path) -> Path:
    path = tmp_path / "trolls.cedar"
    path.write_text(TROLLS)
    return path


def explain(policies: Path, resource: str, y: int) -> Result:
    return run("policy", "explain", str(policies), "--schema", str(SCHEMA),
               "--plugin", "gamemod", "--action", SPAWN, "--resource", resource,
               "--context", json.dumps({"kind": "troll", "x": 0, "y": y}), "--json")  # fmt: skip


def test_explain_accepts_a_namespaced_entity_type(trolls: Path) -> None:
    allow = explain(trolls, 'Acme::Monster::"troll"', 3)
    assert allow.exit_code == 0, allow.output
    report = json.loads(allow.stdout)
    assert report["resource"] == 'Acme::Monster::"troll"'
    assert report["policies"] == ["mods:trolls-above-ground"] and report["errors"] == []
    below = explain(trolls, 'Acme::Monster::"troll"', -1)  # the `when` decides, not the parser
    assert below.exit_code == 1 and json.loads(below.stdout)["decision"] == "deny"
    other = explain(trolls, 'Acme::Monster::"goblin"', 3)
    assert other.exit_code == 1


@pytest.mark.parametrize(
    "bad", ['Acme::::Monster::"t"', '::Monster::"t"', 'Acme::9Monster::"t"', "Acme::Monster::t"]
)
def test_explain_still_refuses_malformed_uids(trolls: Path, bad: str) -> None:
    result = explain(trolls, bad, 0)
    assert result.exit_code == 2 and "entity uid" in result.stderr


# -- inspect --policies --schema ------------------------------------------------------


def _grants(result: Result) -> dict[str, str]:
    return {row["action"]: row["granted"] for row in json.loads(result.stdout)["grants"]}


def test_inspect_checks_an_apps_actions_against_its_schema(wasm: dict[str, Path]) -> None:
    mod, policies = str(wasm["gamemod"]), str(GAME / "mods.cedar")
    without = run("inspect", mod, "--policies", policies, "--plugin", "gamemod", "--json")
    assert without.exit_code == 2 and "unrecognized action" in without.stderr
    args = ("inspect", mod, "--policies", policies, "--schema", str(SCHEMA), "--plugin", "gamemod")
    grouped = run(*args, "--group", "mods", "--json")
    assert grouped.exit_code == 0, grouped.output
    assert _grants(grouped) == {SPAWN: "maybe", "acme:game/world#tick": "maybe"}
    alone = run(*args, "--json")  # the example's permits are for Group::"mods" only
    assert _grants(alone) == {SPAWN: "no", "acme:game/world#tick": "no"}


def test_inspect_schema_is_repeatable_and_errors_name_the_file(
    wasm: dict[str, Path], tmp_path: Path
) -> None:
    extra = tmp_path / "extra.cedarschema"
    extra.write_text(
        'action "acme:game/extra#x" appliesTo { principal: [Plugin], resource: [Plugin] };'
    )
    mod, policies = str(wasm["gamemod"]), str(GAME / "mods.cedar")
    both = run("inspect", mod, "--policies", policies, "--schema", str(SCHEMA),
               "--schema", str(extra), "--group", "mods", "--json")  # fmt: skip
    assert both.exit_code == 0 and _grants(both)[SPAWN] == "maybe"
    broken = tmp_path / "broken.cedarschema"
    broken.write_text("namespace Acme { entity Monster; }\naction oops appliesTo {")
    bad = run("inspect", mod, "--policies", policies, "--schema", str(broken))
    assert bad.exit_code == 2 and "broken.cedarschema" in bad.stderr
    lonely = run("inspect", mod, "--schema", str(SCHEMA))
    assert lonely.exit_code == 2 and "--policies" in lonely.stderr
