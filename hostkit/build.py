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
"""

from ._build._python import APP_MODULE as APP_MODULE
from ._build._python import SDK_PACKAGE as SDK_PACKAGE
from ._build._python import BuildResult as BuildResult
from ._build._python import Progress as Progress
from ._build._python import build_python as build_python
from ._build._tools import find_tool as find_tool
from ._build._wat import build_wat as build_wat
from ._build._wit import HOSTKIT_PACKAGES as HOSTKIT_PACKAGES
from ._build._wit import assemble_wit as assemble_wit
from ._build._wit import hostkit_wit as hostkit_wit
from ._errors import BuildError as BuildError

__all__ = [
    "APP_MODULE",
    "HOSTKIT_PACKAGES",
    "SDK_PACKAGE",
    "BuildError",
    "BuildResult",
    "Progress",
    "assemble_wit",
    "build_python",
    "build_wat",
    "find_tool",
    "hostkit_wit",
]
