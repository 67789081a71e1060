"""Decision cache keys respect Cedar's types (issue 12.3): ``True``, ``1``
and ``"1"`` never share a cached decision, at any depth, in contexts and in
entity attributes. Each probe is checked against a fresh authorizer (no
cache), i.e. against what Cedar itself decides."""

from __future__ import annotations

from typing import Any

import pytest

from hostkit.capabilities._authorizer import Authorizer
from hostkit.capabilities._entities import Entity, PluginIdentity
from hostkit.capabilities._schema import CedarSchema

ALPHA = PluginIdentity("alpha", "a" * 64)
ACTION = "acme:game/world#cast"
SCHEMA = CedarSchema.stock().extend(
    """
    entity Spell { flag: Bool, tags: Set<Bool>, deep: Set<Set<Bool>> };
    entity Realm;
    entity Rune in [Realm] { power: Bool };
    action "acme:game/world#cast" appliesTo {
      principal: [Plugin], resource: [Spell, Rune],
      context: { flags: Set<Bool>, opts: { on: Bool }, level: Long }
    };
    """
)
POLICY = f"""@id("cast") permit (principal, action == Action::"{ACTION}", resource);"""


def fresh() -> Authorizer:
    return Authorizer(POLICY, schema=SCHEMA)


def spell(flag: Any = True, tags: Any = frozenset({True}), deep: Any = ((True,),)) -> Entity:
    return Entity.of("Spell", "s", flag=flag, tags=tags, deep=deep)


def context(flags: Any = (True,), on: Any = True, level: Any = 1) -> dict[str, Any]:
    return {"flags": flags, "opts": {"on": on}, "level": level}


# (first request, second request that Python finds equal but Cedar does not)
PROBES = {
    "context set of bools, as a tuple": (context(flags=(True,)), context(flags=(1,))),
    "context set of bools, as a frozenset": (
        context(flags=frozenset({True})),
        context(flags=frozenset({1})),
    ),
    "context record field": (context(on=True), context(on=1)),
    "context top-level long": (context(level=1), context(level=True)),
    "context list nested in a list": (
        context(flags=((True,),)),
        context(flags=((1,),)),
    ),
}


@pytest.mark.parametrize(("first", "second"), PROBES.values(), ids=PROBES.keys())
def test_nested_context_values_never_share_a_cached_decision(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert first == second  # equal to Python...
    cached = fresh()
    resource = spell()
    got_first = cached.is_authorized(ALPHA, ACTION, resource, first)
    got_second = cached.is_authorized(ALPHA, ACTION, resource, second)
    assert cached.cached_decisions == 2  # ...two entries all the same
    assert got_first.allowed == fresh().is_authorized(ALPHA, ACTION, resource, first).allowed
    expected = fresh().is_authorized(ALPHA, ACTION, resource, second)
    assert (got_second.allowed, got_second.errors) == (expected.allowed, expected.errors)


ENTITY_PROBES = {
    "attribute": (spell(flag=True), spell(flag=1)),
    "set attribute": (spell(tags=frozenset({True})), spell(tags=frozenset({1}))),
    "tuple attribute": (spell(tags=(True,)), spell(tags=(1,))),
    "set of sets attribute": (spell(deep=((True,),)), spell(deep=((1,),))),
}


@pytest.mark.parametrize(("first", "second"), ENTITY_PROBES.values(), ids=ENTITY_PROBES.keys())
def test_entity_attributes_never_share_a_cached_decision(first: Entity, second: Entity) -> None:
    assert first == second
    cached = fresh()
    assert cached.is_authorized(ALPHA, ACTION, first, context()).allowed
    got = cached.is_authorized(ALPHA, ACTION, second, context())
    expected = fresh().is_authorized(ALPHA, ACTION, second, context())
    assert not expected.allowed  # Cedar rejects an integer where the schema says Bool
    assert (got.allowed, got.errors) == (expected.allowed, expected.errors)


def test_extra_entities_are_keyed_by_type_too() -> None:
    cached = fresh()
    rune = Entity.of("Rune", "r", parents=[("Realm", "north")], power=True)
    realm = (Entity.of("Realm", "north"),)
    assert cached.is_authorized(ALPHA, ACTION, rune, context(), realm).allowed
    wrong = Entity.of("Rune", "r", parents=[("Realm", "north")], power=1)
    assert rune == wrong
    got = cached.is_authorized(ALPHA, ACTION, wrong, context(), realm)
    assert not got.allowed and got.errors


def test_equal_requests_still_hit_the_cache() -> None:
    cached = fresh()
    for _ in range(3):
        assert cached.is_authorized(ALPHA, ACTION, spell(), context(flags=(True, False))).allowed
    assert cached.cached_decisions == 1
