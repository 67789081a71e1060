"""An application's own host API end to end: a WIT package (``acme:game``,
``plugins/wit/acme-game.wit``), its hookspecs and a pluggy plugin
implementing them, a real component importing it (``gamemod``), and Cedar
policies over the application's own resources and arguments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import pytest

import hostkit
from hostkit.capabilities import CallContext, CedarSchema, Gate, hookimpl, hookspec
from hostkit.capabilities._binding import action_of, hook_name_of
from hostkit.capabilities._host_errors import HostCallInvalid
from hostkit.capabilities._witvalues import WitRecord, error_value, lift, lower, lower_ok
from hostkit.runtime._wasm import ImportRefused, WitVariant
from hostkit.runtime._wittypes import WitFunc, WitType
from hostkit.testing import AuditCapture, capture_audit

SPAWN = "acme:game/world#spawn-monster"
TICK = "acme:game/world#tick"

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
permit (principal == Plugin::"gamemod", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"goblin");

@id("mods:trolls-above-ground")
permit (principal == Plugin::"gamemod", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"troll")
when { context.y >= 0 };

@id("mods:anything-named")
permit (principal == Plugin::"gamemod", action == Action::"acme:game/world#spawn-monster",
        resource)
when { context.kind like "o*" || context.kind == "ghost" };
"""

TICK_POLICY = """
@id("mods:tick")
permit (principal == Plugin::"gamemod", action == Action::"acme:game/world#tick", resource)
when { resource == principal };
"""


class AcmeSpecs:
    """The application's hookspecs, one per WIT function, named by the rule."""

    @hookspec(firstresult=True)
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int | None:
        """``acme:game/world#spawn-monster``: spawn a monster; returns its id."""

    @hookspec(firstresult=True)
    def world_tick(self, ctx: CallContext) -> int | None:
        """``acme:game/world#tick``: the game tick."""


@dataclass
class World:
    """The game's implementation, recording every call that reaches it."""

    spawned: list[tuple[str, int, int, str]] = field(default_factory=list)
    ticks: int = 0

    @hookimpl
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int | None:
        if kind == "ghost":
            return None  # not mine, and nobody else's either
        if kind not in ("goblin", "troll"):
            raise HostCallInvalid(f"unknown monster kind {kind!r}")
        self.spawned.append((kind, x, y, ctx.plugin))
        return len(self.spawned)

    @hookimpl
    def world_tick(self, ctx: CallContext) -> int:
        self.ticks += 1
        return 42

    @hookimpl
    def hostkit_resource(
        self, ctx: CallContext, action: str, args: Mapping[str, object]
    ) -> tuple[str, str] | None:
        if action == SPAWN:
            return ("Acme::Monster", str(args["kind"]))
        return None


@dataclass
class Game:
    host: hostkit.Host
    world: World
    records: AuditCapture
    mod: hostkit.Component


def _plugins(world: World | None = None, specs: type = AcmeSpecs) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hostkit")
    pm.add_hookspecs(specs)
    if world is not None:
        pm.register(world)
    return pm


@pytest.fixture
async def game(config: hostkit.HostConfig, wasm: dict[str, Path]) -> AsyncIterator[Game]:
    world = World()
    with capture_audit() as records:
        gate = Gate(_plugins(world), policies=[POLICIES, TICK_POLICY], schema=SCHEMA)
        async with hostkit.open_host(config, capabilities=gate) as host:
            yield Game(host, world, records, host.load(wasm["gamemod"]))


async def test_an_allowed_call_reaches_the_apps_hook_with_ctx_and_arguments(game: Game) -> None:
    pid = await game.host.spawn(game.mod)
    assert await game.host.call(pid, "goblin") == "ok:1"
    assert game.world.spawned == [("goblin", 3, -4, "gamemod")]
    (record,) = game.records.where(event="decision", action=SPAWN)
    assert record["resource"] == 'Acme::Monster::"goblin"'
    assert record["policies"] == ["mods:goblins"] and record["decision"] == "allow"


async def test_policies_see_the_apps_resource_and_arguments(game: Game) -> None:
    pid = await game.host.spawn(game.mod)
    reply = await game.host.call(pid, "dragon")
    assert reply.startswith("err:0:") and 'Acme::Monster::"dragon"' in reply
    troll = await game.host.call(pid, "troll")  # y is -4: below ground
    assert troll.startswith("err:0:") and "deny by default" in troll
    assert game.world.spawned == []  # the hook never ran
    assert [r["decision"] for r in game.records.where(event="decision")] == ["deny", "deny"]


async def test_app_errors_reach_the_guest_as_its_own_error_variant(game: Game) -> None:
    pid = await game.host.spawn(game.mod)
    assert await game.host.call(pid, "orc") == "err:1:unknown monster kind 'orc'"


async def test_a_denied_call_without_an_error_case_ends_the_actor_denied(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    world = World()
    gate = Gate(_plugins(world), policies=[POLICIES], schema=SCHEMA)  # no tick policy
    async with hostkit.open_host(config, capabilities=gate) as host:
        pid = await host.spawn(host.load(wasm["gamemod"]))
        with pytest.raises(hostkit.ActorExited):
            await host.call(pid, "tick")
        reason = await host.wait(pid)
    assert reason.kind == "denied" and "acme:game/world#tick" in reason.detail
    assert world.ticks == 0


async def test_an_allowed_call_without_an_error_case(game: Game) -> None:
    pid = await game.host.spawn(game.mod)
    assert await game.host.call(pid, "tick") == "42"
    assert game.world.ticks == 1


async def test_no_answer_that_the_wit_error_cannot_express_ends_the_actor(game: Game) -> None:
    pid = await game.host.spawn(game.mod)
    with pytest.raises(hostkit.ActorExited):
        await game.host.call(pid, "ghost")  # allowed, but no hookimpl answers
    reason = await game.host.wait(pid)
    assert reason.kind == "host-error" and "HostCallUnsupported" in reason.detail


@pytest.mark.parametrize(
    ("specs", "problem"),
    [
        (None, "no hookspec world_spawn_monster"),
        (AcmeSpecs, "no provider implements the hook world_tick"),
        ("mismatch", "does not match the WIT func(kind: string, x: s32, y: s32)"),
    ],
)
async def test_the_load_refuses_imports_it_cannot_bind_and_says_why(
    config: hostkit.HostConfig, wasm: dict[str, Path], specs: Any, problem: str
) -> None:
    class Mismatch(AcmeSpecs):
        @hookspec(firstresult=True)
        def world_spawn_monster(self, ctx: CallContext, kind: str, x: int) -> int | None:  # type: ignore[override]
            """Forgot ``y``."""

    class OnlySpawn:  # and with two parameters only: fits the mismatched spec
        @hookimpl
        def world_spawn_monster(self, ctx: CallContext, kind: str, x: int) -> int:
            return 1

    class Tick:
        @hookimpl
        def world_tick(self, ctx: CallContext) -> int:
            return 1

    pm = pluggy.PluginManager("hostkit")
    if specs is not None:
        pm.add_hookspecs(Mismatch if specs == "mismatch" else specs)
    pm.register(OnlySpawn())
    if specs != AcmeSpecs:
        pm.register(Tick())
    async with hostkit.open_host(config, capabilities=Gate(pm, schema=SCHEMA)) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(wasm["gamemod"])
    assert "acme:game/world@0.1.0#" in str(info.value)
    assert problem in str(info.value)


def test_two_imports_may_not_share_a_hook_name() -> None:
    pm = _plugins(World())
    gate = Gate(pm, schema=SCHEMA)
    func = WitFunc((), WitType("u64"))
    gate._bind("acme:game/world@0.1.0", "tick", func)
    with pytest.raises(ImportRefused, match="already bound to acme:game/world#tick"):
        gate._bind("other:pkg/world@2.0.0", "tick", func)


@pytest.mark.parametrize(
    ("interface", "function", "hook", "action"),
    [
        ("hostkit:host/files@0.1.0", "read", "files_read", "hostkit:host/files#read"),
        ("hostkit:host/kv@0.1.0", "list-keys", "kv_list_keys", "hostkit:host/kv#list-keys"),
        ("acme:game/world@0.1.0", "spawn-monster", "world_spawn_monster", SPAWN),
        ("acme:game/game-world", "get-URL", "game_world_get_URL", "acme:game/game-world#get-URL"),
    ],
)
def test_the_naming_rule(interface: str, function: str, hook: str, action: str) -> None:
    assert hook_name_of(interface, function) == hook
    assert action_of(interface, function) == action


# -- values between WIT and hooks ------------------------------------------------------

STR, U64 = WitType("string"), WitType("u64")
ERROR = WitType(
    "variant", cases=(("denied", STR), ("invalid", STR), ("timeout", None)), tagged=True
)
POINT = WitType(
    "record",
    fields=(("pos-x", U64), ("label", WitType("option", cases=(("none", None), ("some", STR))))),
)


def test_records_lift_to_snake_case_and_lower_from_objects_or_mappings() -> None:
    raw = type("R", (), {})()
    setattr(raw, "pos-x", 3)
    raw.label = None
    assert lift(POINT, raw) == WitRecord(pos_x=3, label=None)
    out = lower(POINT, {"pos_x": 5, "label": "a"})
    assert getattr(out, "pos-x") == 5 and out.label == "a"
    with pytest.raises(TypeError):
        lower(POINT, {"pos_x": -1, "label": None})  # u64 out of range


def test_results_and_errors_follow_the_wit_type() -> None:
    untagged = WitType("result", cases=(("ok", U64), ("err", ERROR)))
    tagged = WitType("result", cases=(("ok", STR), ("err", STR)), tagged=True)
    assert lower_ok(untagged, 7) == 7
    assert error_value(untagged, "denied", "no") == WitVariant("denied", "no")
    assert error_value(untagged, "timeout", None) == WitVariant("timeout", None)
    assert lower_ok(tagged, "x") == WitVariant("ok", "x")
    assert error_value(tagged, "denied", "no") == WitVariant("err", "denied: no")
    with pytest.raises(ValueError, match="no case 'io'"):
        error_value(untagged, "io", "disk")
