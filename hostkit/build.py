"""Build plugins: Python guests (componentize-py) and WAT guests (wasm-tools).

::

    from hostkit.build import build_python

    result = build_python("my_mod/", "build/my_mod.wasm", progress=print)
    print(result.path, "cached" if result.cached else "built")

Builds are cached next to the output by a digest of every input (sources,
the guest SDK, the WIT, the world, the tool's version). A guest that fails to
build raises :class:`BuildError` whose text starts with the guest's own
error: ``app.py:3:11: SyntaxError: invalid syntax``. The toolchain comes
with ``pip install 'wasm-hostkit[build]'``; hostkit's WIT packages
(``hostkit:plugin``, ``hostkit:host``) come with hostkit itself.

A plugin *project* (``hostkit new``) is a directory with ``hostkit.toml``;
:func:`build_project` builds it, embeds the manifest and precompiles the
component into the host's compile cache (what ``hostkit build`` does).
"""

from ._build._manifest import MANIFEST_NAME as MANIFEST_NAME
from ._build._manifest import Manifest as Manifest
from ._build._manifest import load_manifest as load_manifest
from ._build._manifest import read_embedded_manifest as read_embedded_manifest
from ._build._project import ProjectBuild as ProjectBuild
from ._build._project import build_project as build_project
from ._build._project import precompile as precompile
from ._build._python import APP_MODULE as APP_MODULE
from ._build._python import SDK_PACKAGE as SDK_PACKAGE
from ._build._python import BuildResult as BuildResult
from ._build._python import Progress as Progress
from ._build._python import build_python as build_python
from ._build._scaffold import TEMPLATES as TEMPLATES
from ._build._scaffold import new_project as new_project
from ._build._tools import find_tool as find_tool
from ._build._wat import build_wat as build_wat
from ._build._wit import HOSTKIT_PACKAGES as HOSTKIT_PACKAGES
from ._build._wit import assemble_wit as assemble_wit
from ._build._wit import hostkit_wit as hostkit_wit
from ._errors import BuildError as BuildError
from ._errors import ToolNotFound as ToolNotFound

__all__ = [
    "APP_MODULE",
    "HOSTKIT_PACKAGES",
    "MANIFEST_NAME",
    "SDK_PACKAGE",
    "TEMPLATES",
    "BuildError",
    "BuildResult",
    "Manifest",
    "ProjectBuild",
    "Progress",
    "ToolNotFound",
    "assemble_wit",
    "build_project",
    "build_python",
    "build_wat",
    "find_tool",
    "hostkit_wit",
    "load_manifest",
    "new_project",
    "precompile",
    "read_embedded_manifest",
]
