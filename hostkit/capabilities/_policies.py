"""Loading policy text: split, parse, name, validate and index policies.

A policy set is compiled once per load or reload into `CompiledPolicy`
records. Each policy gets a stable id: its ``@id("...")`` annotation, or
``<origin>[<index>]`` (e.g. ``default.cedar[2]``) when it has none. That id
is what decisions and audit records name, so it is also the id the policy
carries inside the cedarpy `PolicySet` (built from Cedar's JSON form, where
ids are ours to choose, instead of Cedar's positional ``policy0``...).

Every error names the origin (file), line and column, and the policy id;
all errors of a load are reported together.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cedarpy

from .._errors import PolicyError
from ._cedartext import Statement, clean_message, line_col, locate_error, split_statements
from ._schema import CedarSchema

_ID_ANNOTATION_RE = re.compile(r'^\s*@id\s*\(\s*"((?:[^"\\]|\\.)*)"')
_MAX_REPORTED_ERRORS = 20


@runtime_checkable
class PolicySource(Protocol):
    """Anything that renders to Cedar policy text and says where it came from
    (`PolicyText`, a shorthand `Grant`)."""

    @property
    def origin(self) -> str:
        """The name errors use for this text (a file name, ``"<grant x>"``)."""
        ...

    def to_cedar(self) -> str:
        """The Cedar policy text."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyText:
    """Cedar policy text with a name for error messages.

    Args:
        text: one or more Cedar policies.
        origin: what errors call it, e.g. the file it came from.
    """

    text: str
    origin: str = "<policies>"

    def to_cedar(self) -> str:
        """The text itself."""
        return self.text


PolicyInput = str | os.PathLike[str] | PolicySource
"""What `Authorizer` loads: Cedar text (a ``str``), a ``.cedar`` file or a
directory of them (a `pathlib.Path`), or a `PolicySource` such as a `Grant`.
A ``str`` is always text: one that looks like a file name (``"x.cedar"``,
``"policies/"``) is refused with a `PolicyError` saying to pass a `Path`."""


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """One parsed, validated policy and where it came from."""

    id: str
    origin: str
    line: int
    column: int
    text: str
    est: dict[str, Any]
    principal_key: tuple[str, str] | None
    """``(type, id)`` when the scope is ``principal == T::"id"``, else None."""
    action_keys: tuple[str, ...] | None
    """The action ids the scope names (``action == A`` or ``action in [A, B]``),
    or None when it names none (any action)."""
    action_in: bool
    """Whether the action scope uses ``in``, which also matches the members
    of the named actions when the schema has action groups."""


def read_sources(policies: Iterable[PolicyInput] | PolicyInput) -> list[tuple[str, str]]:
    """Resolve inputs to ``(origin, text)`` pairs, in order.

    Raises:
        PolicyError: a path does not exist or cannot be read.
    """
    if isinstance(policies, str | os.PathLike | PolicySource):
        policies = [policies]
    sources: list[tuple[str, str]] = []
    texts = 0
    for item in policies:
        if isinstance(item, str):
            if _looks_like_a_path(item):
                raise PolicyError(
                    f"{item!r} looks like a policy file name, not Cedar policy text: a str is "
                    f"always policy text; pass pathlib.Path({item!r}) (or policy_files=) "
                    "to load a file or directory"
                )
            texts += 1
            sources.append(("<policies>" if texts == 1 else f"<policies {texts}>", item))
        elif isinstance(item, os.PathLike):
            sources.extend(_read_path(Path(item)))
        elif isinstance(item, PolicySource):
            sources.append((item.origin, item.to_cedar()))
        else:
            raise TypeError(f"not a policy input: {item!r} (pass str text, a Path or a Grant)")
    return sources


def _looks_like_a_path(text: str) -> bool:
    """A one-line str with no Cedar punctuation that names a ``.cedar`` file,
    has a path separator, or exists on disk: almost surely a file name."""
    stripped = text.strip()
    if not stripped or "\n" in stripped or ";" in stripped or "(" in stripped:
        return False
    return stripped.endswith(".cedar") or "/" in stripped or os.path.exists(stripped)


def _read_path(path: Path) -> list[tuple[str, str]]:
    files = sorted(path.rglob("*.cedar")) if path.is_dir() else [path]
    try:
        return [(os.fspath(f), f.read_text(encoding="utf-8")) for f in files]
    except OSError as exc:
        raise PolicyError(f"cannot read policies from {os.fspath(path)!r}: {exc}") from None


def compile_policies(
    sources: Sequence[tuple[str, str]], schema: CedarSchema
) -> tuple[CompiledPolicy, ...]:
    """Parse and validate policies against ``schema``.

    Raises:
        PolicyError: any policy fails to parse, is a template, shares its id
            with another, or fails validation. All problems are listed, each
            as ``origin:line:column: policy 'id': problem``.
    """
    errors: list[str] = []
    compiled: list[CompiledPolicy] = []
    for origin, text in sources:
        for index, statement in enumerate(split_statements(text)):
            policy = _compile_statement(origin, text, index, statement, errors)
            if policy is not None:
                compiled.append(policy)
    _check_unique_ids(compiled, errors)
    if not errors:
        _validate(compiled, schema, errors)
    if errors:
        shown = errors[:_MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        if more:
            shown.append(f"... and {more} more")
        if len(errors) == 1:
            raise PolicyError(shown[0])
        raise PolicyError(f"{len(errors)} policy errors:\n" + "\n".join(shown))
    return tuple(compiled)


def _compile_statement(
    origin: str, text: str, index: int, statement: Statement, errors: list[str]
) -> CompiledPolicy | None:
    annotated = _ID_ANNOTATION_RE.match(statement.text)
    fallback_id = annotated.group(1) if annotated else f"{origin}[{index}]"
    line, column = line_col(text, statement.start)
    try:
        document = json.loads(cedarpy.policies_to_json_str(statement.text))
    except ValueError as exc:
        offset = locate_error(statement.text, str(exc), cedarpy.policies_to_json_str)
        line, column = line_col(text, statement.start + offset)
        message = clean_message(str(exc))
        errors.append(f"{origin}:{line}:{column}: policy {fallback_id!r}: {message}")
        return None
    if document.get("templates"):
        errors.append(
            f"{origin}:{line}:{column}: policy {fallback_id!r}: templates (?principal, "
            "?resource) are not supported; write the principal and resource out"
        )
        return None
    (est,) = document["staticPolicies"].values()
    policy_id = est.get("annotations", {}).get("id", f"{origin}[{index}]")
    if not policy_id:
        errors.append(f"{origin}:{line}:{column}: policy at {origin}[{index}]: empty @id")
        return None
    return CompiledPolicy(
        id=policy_id,
        origin=origin,
        line=line,
        column=column,
        text=statement.text,
        est=est,
        principal_key=_scope_key(est["principal"]),
        action_keys=_action_keys(est["action"]),
        action_in=est["action"].get("op") == "in",
    )


def _scope_key(scope: dict[str, Any]) -> tuple[str, str] | None:
    if scope.get("op") == "==" and "entity" in scope:
        return (scope["entity"]["type"], scope["entity"]["id"])
    return None


def _action_keys(scope: dict[str, Any]) -> tuple[str, ...] | None:
    if scope.get("op") not in ("==", "in"):
        return None
    entities = scope["entities"] if "entities" in scope else [scope["entity"]]
    if any(e["type"] != "Action" for e in entities):
        return None  # namespaced actions: never partitioned, always evaluated
    return tuple(e["id"] for e in entities)


def _check_unique_ids(compiled: Sequence[CompiledPolicy], errors: list[str]) -> None:
    seen: dict[str, CompiledPolicy] = {}
    for policy in compiled:
        first = seen.setdefault(policy.id, policy)
        if first is not policy:
            errors.append(
                f"{policy.origin}:{policy.line}:{policy.column}: policy {policy.id!r}: "
                f"duplicate id, already used at {first.origin}:{first.line}:{first.column}"
            )


def _validate(compiled: Sequence[CompiledPolicy], schema: CedarSchema, errors: list[str]) -> None:
    # One validation call for the whole set; Cedar names the failing policy
    # by its position ("policy3"), which is its index in `compiled`.
    result = cedarpy.validate_policies("\n".join(p.text for p in compiled), schema.handle)
    if result.validation_passed:
        return
    for error in result.errors:
        message = clean_message(error.error)
        position = error.policy_id.removeprefix("policy")
        if not position.isdigit() or int(position) >= len(compiled):
            errors.append(f"policy validation: {message}")
            continue
        policy = compiled[int(position)]
        offset = locate_error(policy.text, message, None)
        line, column = line_col(policy.text, offset)
        if line == 1:
            column += policy.column - 1
        line += policy.line - 1
        errors.append(f"{policy.origin}:{line}:{column}: policy {policy.id!r}: {message}")


def policy_set(policies: Iterable[CompiledPolicy]) -> cedarpy.PolicySet:
    """A cedarpy `PolicySet` holding ``policies`` under their own ids."""
    document = {
        "staticPolicies": {p.id: p.est for p in policies},
        "templates": {},
        "templateLinks": [],
    }
    return cedarpy.PolicySet.from_json_str(json.dumps(document))
