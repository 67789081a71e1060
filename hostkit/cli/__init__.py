"""The ``hostkit`` command line (``hostkit.cli:main``)."""

from ._main import main as main

__all__ = ["main"]
