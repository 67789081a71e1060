"""``hostkit new``: a plugin project from a template (package data).

Templates live in ``templates/<kind>/``: ``hostkit.toml``, ``app.py.tmpl``
(written as ``src/app.py``) and, for worlds of their own, ``wit/``. The only
substitution is ``{{name}}``.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .._errors import BuildError

__all__ = ["TEMPLATES", "new_project"]

#: Template name -> what it makes.
TEMPLATES: dict[str, str] = {
    "mod": "a game mod: a GenServer with its own WIT world, state in the kv store",
    "adapter": "an integration adapter: reads a CSV from a granted folder, writes JSON",
    "tool": "an AI agent tool: a calculator with a JSON schema, no capabilities",
}
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _walk(node: Traversable, rel: Path) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            found += _walk(child, rel / child.name)
        else:
            found.append((rel / child.name, child))
    return found


def new_project(directory: str | Path, name: str | None = None, template: str = "tool") -> Path:
    """Create a plugin project in ``directory`` (which must not exist or be
    empty); returns the manifest's path.

    Args:
        directory: where the project goes.
        name: the plugin's name (lowercase letters, digits and single
            dashes, so it is also a WIT package name); defaults to the
            directory's name.
        template: one of :data:`TEMPLATES`.

    Raises:
        BuildError: a bad name or template, or a non-empty directory.
    """
    target = Path(directory)
    name = name or target.name
    if not _NAME.match(name):
        raise BuildError(
            f"plugin name {name!r}: use lowercase letters, digits and single dashes, "
            "starting with a letter (e.g. 'hello-mod')"
        )
    if template not in TEMPLATES:
        raise BuildError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BuildError(f"{target} already exists and is not empty; choose a new directory")
    root = resources.files("hostkit").joinpath("_build", "templates", template)
    for rel, source in _walk(root, Path()):
        text = source.read_text("utf-8").replace("{{name}}", name)
        dest = target / rel
        if rel.name == "app.py.tmpl":
            dest = target / "src" / "app.py"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, "utf-8")
    (target / ".gitignore").write_text("build/\n__pycache__/\n", "utf-8")
    return target / "hostkit.toml"
