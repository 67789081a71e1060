"""Every public package lists its API in ``__all__``: each name once, each
one importable, nothing public left out (trio's habit)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "hostkit",
    "hostkit.runtime",
    "hostkit.supervision",
    "hostkit.capabilities",
    "hostkit.audit",
    "hostkit.blocking",
    "hostkit.aio",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_each_public_name_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, type(importlib))  # submodules are not API names
        and attr not in {"annotations"}
    }
    assert public - set(exported) == set(), f"{name} has public names outside __all__"


def test_errors_form_one_tree() -> None:
    import hostkit

    for attr in hostkit.__all__:
        value = getattr(hostkit, attr)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, hostkit.HostkitError), attr
