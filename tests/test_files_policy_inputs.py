"""``Gate(policies=...)`` tells policy text and policy files apart (issue 9.5):
a ``str`` is always text, a ``Path`` (or ``policy_files=``) is a file, and a
``str`` that looks like a file name is refused with a message saying so."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from hostkit._errors import PolicyError
from hostkit.capabilities import Gate
from hostkit.capabilities._authorizer import Authorizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"


def manager() -> pluggy.PluginManager:
    return pluggy.PluginManager("hostkit")


@pytest.mark.parametrize(
    "name", ["default.cedar", str(DEFAULT), "capabilities/policies", "policies/mine.cedar "]
)
def test_a_str_that_looks_like_a_file_name_is_refused_with_a_clear_error(name: str) -> None:
    with pytest.raises(PolicyError, match=r"looks like a policy file name.*pathlib\.Path"):
        Gate(manager(), policies=name)
    with pytest.raises(PolicyError, match="looks like a policy file name"):
        Authorizer([name])


def test_paths_and_policy_files_load_the_file() -> None:
    by_path = Gate(manager(), policies=DEFAULT)
    by_files = Gate(manager(), policy_files=[str(DEFAULT)])
    mixed = Gate(
        manager(),
        policies='@id("x") forbid (principal, action, resource);',
        policy_files=DEFAULT.parent,
    )
    assert by_path.authorizer.policy_ids == by_files.authorizer.policy_ids
    assert "x" in mixed.authorizer.policy_ids
    assert set(by_path.authorizer.policy_ids) < set(mixed.authorizer.policy_ids)


def test_policy_text_is_still_text() -> None:
    gate = Gate(manager(), policies='@id("t") permit (principal, action, resource) when { false };')
    assert gate.authorizer.policy_ids == ("t",)
    assert Gate(manager(), policies="").authorizer.policy_ids == ()
