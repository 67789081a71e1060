"""``[app]``: import the application's hookspecs and pluggy plugins.

``host.toml`` names them as ``module`` or ``module:attribute``; they are
imported with the file's own directory first on ``sys.path`` (and only for
the imports), so an application module may sit beside its ``host.toml``. A
plugin reference that names a class or a function is a factory: it is
called with no arguments and the result registered; anything else (an
instance, a module) is registered as it is. Every failure is a
:class:`~hostkit.ConfigError` naming the file and the key (``app.plugins[1]``).

Importing runs the module's code with the host's privileges: ``[app]`` is
the operator's code, like the file itself, never a plugin's.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

from .._errors import ConfigError
from ._load import HostFile


def _resolve(config: HostFile, key: str, ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # any error at import time is the config's
        raise ConfigError(
            f"{config.path}: {key}: cannot import module {module_name!r} "
            f"(searched {config.path.parent} first): {type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split(".") if attr else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"{config.path}: {key}: {ref!r}: {module_name} has no attribute {attr!r}"
            ) from None
    return obj


def load_app(config: HostFile) -> tuple[list[tuple[str, object]], list[tuple[str, Any]]]:
    """The ``[app]`` plugins and hookspecs of ``config``, imported.

    Returns:
        ``(plugins, hookspecs)``, each a list of ``(key, object)`` with the
        key naming the entry (``app.plugins[0]``) for later errors.

    Raises:
        ConfigError: a module does not import, an attribute is missing, a
            factory fails or a hookspecs entry is neither a class nor a module.
    """
    app = config.tables.app
    if not app.plugins and not app.hookspecs:
        return [], []
    here = str(config.path.parent)
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    importlib.invalidate_caches()
    try:
        specs: list[tuple[str, Any]] = []
        for i, ref in enumerate(app.hookspecs):
            key = f"app.hookspecs[{i}]"
            obj = _resolve(config, key, ref)
            if not isinstance(obj, (type, ModuleType)):
                raise ConfigError(
                    f"{config.path}: {key}: {ref!r} is a {type(obj).__name__}; "
                    "expected a module or a class with @hookspec methods"
                )
            specs.append((key, obj))
        plugins: list[tuple[str, object]] = []
        for i, ref in enumerate(app.plugins):
            key = f"app.plugins[{i}]"
            obj = _resolve(config, key, ref)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                try:
                    obj = obj()
                except Exception as exc:
                    raise ConfigError(
                        f"{config.path}: {key}: calling {ref!r} (a factory, called with no "
                        f"arguments) failed: {type(exc).__name__}: {exc}"
                    ) from None
                if obj is None:
                    raise ConfigError(
                        f"{config.path}: {key}: the factory {ref!r} returned None; "
                        "return the plugin object"
                    )
            plugins.append((key, obj))
        return plugins, specs
    finally:
        if added:
            sys.path.remove(here)
