"""WIT directories with their dependencies resolved.

componentize-py and ``wasm-tools component embed`` read one *main* WIT
package from a directory and its dependencies from ``deps/<name>/``. A plugin
targets a world of hostkit's own packages (``hostkit:plugin/plugin``,
``hostkit:host/full-plugin``) or of its application's package, which uses
hostkit's. :func:`assemble_wit` lays such a directory out: the main package's
files, then hostkit's packages (shipped with hostkit as package data, so no
checkout is needed) and any extra packages under ``deps/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from .._errors import BuildError

__all__ = ["HOSTKIT_PACKAGES", "assemble_wit", "hostkit_wit", "split_world"]

#: hostkit's own WIT packages: dependency folder name -> package name.
HOSTKIT_PACKAGES: dict[str, str] = {
    "plugin": "hostkit:plugin",
    "host": "hostkit:host",
    "federation": "hostkit:federation",
}
# Bare world names of hostkit's packages, for ``world="full-plugin"``.
_HOSTKIT_WORLDS = {"plugin": "plugin", "full-plugin": "host", "federated-plugin": "federation"}
_PACKAGE_LINE = re.compile(r"^\s*package\s+([a-z0-9-]+:[a-z0-9-]+)(?:@[^;\s]+)?\s*;", re.MULTILINE)
_WORLD = re.compile(r"^(?:([a-z0-9-]+:[a-z0-9-]+)/)?(%?[a-z0-9-]+)(?:@[^\s]+)?$")


def hostkit_wit(package: str) -> str:
    """The text of one of hostkit's WIT packages (``"plugin"`` or ``"host"``)."""
    if package not in HOSTKIT_PACKAGES:
        known = sorted(HOSTKIT_PACKAGES)
        raise BuildError(f"hostkit has no WIT package {package!r}; it has {known}")
    return resources.files("hostkit").joinpath(f"_wit/{package}/{package}.wit").read_text("utf-8")


def split_world(world: str) -> tuple[str | None, str]:
    """``"hostkit:host/full-plugin"`` -> ``("hostkit:host", "full-plugin")``;
    a bare ``"plugin"`` -> ``(None, "plugin")``."""
    match = _WORLD.match(world.strip())
    if match is None:
        raise BuildError(
            f"world {world!r} is not a WIT world name: write 'name' or 'namespace:package/name'"
        )
    return match.group(1), match.group(2)


def _package_of(files: Sequence[Path]) -> str | None:
    for f in files:
        match = _PACKAGE_LINE.search(f.read_text("utf-8"))
        if match:
            return match.group(1)
    return None


def _wit_files(source: str | Path | Sequence[Path]) -> list[Path]:
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            files = sorted(path.glob("*.wit"))
        elif path.is_file():
            files = [path]
        else:
            raise BuildError(f"WIT source {str(path)!r} does not exist")
    else:
        files = [Path(f) for f in source]
    if not files:
        raise BuildError(f"no .wit files in {source}")
    for f in files:
        if not f.is_file():
            raise BuildError(f"WIT file {str(f)!r} does not exist")
    return files


def assemble_wit(
    dest: str | Path,
    *,
    world: str = "hostkit:plugin/plugin",
    wit: str | Path | Sequence[Path] | None = None,
    deps: Mapping[str, str | Path] | None = None,
) -> tuple[Path, str]:
    """Lay out a WIT directory at ``dest`` for ``world``; returns ``(dest,
    world)`` with the world name as the tools want it.

    Args:
        dest: an empty or new directory.
        world: the world to build against. With no ``wit``, a world of
            hostkit's packages (``"hostkit:plugin/plugin"``, ``"plugin"``,
            ``"hostkit:host/full-plugin"``, ``"full-plugin"``).
        wit: the main package: a directory of ``.wit`` files, one file, or a
            list of files. hostkit's packages are added as its dependencies.
        deps: more dependency packages, ``{name: directory or .wit file}``
            (e.g. an application's API package).

    Raises:
        BuildError: naming the missing file, unknown world or package.
    """
    dest = Path(dest)
    package, name = split_world(world)
    (dest / "deps").mkdir(parents=True, exist_ok=True)
    if wit is None:
        main = _HOSTKIT_WORLDS.get(name) if package is None else None
        if main is None:
            main = next((k for k, v in HOSTKIT_PACKAGES.items() if v == package), None)
        if main is None:
            raise BuildError(
                f"world {world!r} is not one of hostkit's (hostkit:plugin/plugin, "
                "hostkit:host/full-plugin): pass wit= with the package that defines it"
            )
        (dest / f"{main}.wit").write_text(hostkit_wit(main), "utf-8")
        main_package = HOSTKIT_PACKAGES[main]
    else:
        files = _wit_files(wit if isinstance(wit, str | Path) else list(wit))
        for f in files:
            shutil.copyfile(f, dest / f.name)
        main_package = _package_of(files) or ""
        own_deps = Path(wit) / "deps" if isinstance(wit, str | Path) else None
        if own_deps is not None and own_deps.is_dir():  # the package's own deps/, kept
            for dep_dir in sorted(p for p in own_deps.iterdir() if p.is_dir()):
                if dep_dir.name not in HOSTKIT_PACKAGES:
                    shutil.copytree(dep_dir, dest / "deps" / dep_dir.name, dirs_exist_ok=True)
    for dep, pkg in HOSTKIT_PACKAGES.items():
        if pkg != main_package:
            (dest / "deps" / dep).mkdir(exist_ok=True)
            (dest / "deps" / dep / f"{dep}.wit").write_text(hostkit_wit(dep), "utf-8")
    for dep, source in (deps or {}).items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", dep) or dep in HOSTKIT_PACKAGES:
            raise BuildError(f"dependency name {dep!r} must be a plain folder name, not hostkit's")
        target = dest / "deps" / dep
        target.mkdir(exist_ok=True)
        for f in _wit_files(Path(source)):
            shutil.copyfile(f, target / f.name)
    qualified = f"{package or main_package}/{name}" if (package or main_package) else name
    return dest, qualified
