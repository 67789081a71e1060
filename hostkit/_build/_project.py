"""``hostkit build``: a project's manifest -> component -> precompiled.

1. the manifest (``hostkit.toml``) is read and checked;
2. the guest is built (:func:`~._python.build_python`, digest-cached);
3. the manifest is embedded in the component (custom section);
4. the component is compiled for this machine into the host's compile cache
   through the public :class:`hostkit.Host` API, so the first
   ``host.load`` of it anywhere on this machine is fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._manifest import Manifest, embed_manifest, load_manifest
from ._python import BuildResult, Progress, build_python

__all__ = ["ProjectBuild", "build_project", "precompile"]


@dataclass(frozen=True)
class ProjectBuild:
    """The outcome of :func:`build_project`.

    Attributes:
        manifest: the project's checked manifest.
        build: the guest build (``cached`` when nothing changed).
        precompiled: seconds the host compile took (``None``: skipped).
        imports: the component's imports, as the host sees them.
    """

    manifest: Manifest
    build: BuildResult
    precompiled: float | None
    imports: tuple[str, ...]


def build_project(
    project: str | Path,
    *,
    force: bool = False,
    precompile_for_host: bool = True,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> ProjectBuild:
    """Build the project in ``project`` (a directory with ``hostkit.toml``).

    Args:
        project: the project directory or its manifest file.
        force: rebuild even if nothing changed.
        precompile_for_host: compile into the host's compile cache too.
        cache_dir: that cache (default: the one ``HostConfig()`` uses).
        progress: called with a line of text at each step.

    Raises:
        BuildError: the manifest, the build or the precompile failed.
    """
    say = progress if progress is not None else (lambda _line: None)
    manifest = load_manifest(project)
    result = build_python(
        manifest.app,
        manifest.out,
        world=manifest.world,
        wit=manifest.wit,
        deps=manifest.deps,
        force=force,
        progress=progress,
    )
    if embed_manifest(result.path, manifest.text):
        say(f"{result.path.name}: manifest embedded (section hostkit:manifest)")
    seconds: float | None = None
    imports: tuple[str, ...] = ()
    if precompile_for_host:
        say(f"compiling {result.path.name} for this machine (first time: seconds)")
        seconds, imports = precompile(result.path, manifest.name, cache_dir=cache_dir)
        say(f"{result.path.name}: compiled into the host cache in {seconds:.1f} s")
    return ProjectBuild(manifest, result, seconds, imports)


def precompile(
    path: Path, name: str, *, cache_dir: Path | None = None
) -> tuple[float, tuple[str, ...]]:
    """Load ``path`` in a short-lived host so its compiled form lands in the
    compile cache; returns the seconds it took and the component's imports.

    The host offers every import (with functions that are never called:
    nothing is instantiated), so only compiling and the type checks run.

    Raises:
        BuildError: the host refused the component (its message says why).
    """
    import trio

    import hostkit

    from .._errors import BuildError, ComponentLoadError

    config = hostkit.HostConfig() if cache_dir is None else hostkit.HostConfig(cache_dir=cache_dir)

    def offer(interface: str, function: str, func_type: Any) -> Any:
        return lambda *args: None

    async def load() -> tuple[float, tuple[str, ...]]:
        async with hostkit.open_host(config, resolver=offer) as host:
            started = time.perf_counter()
            component = await host.load_async(path, name=name)
            return time.perf_counter() - started, tuple(component.imports)

    try:
        return trio.run(load)
    except ComponentLoadError as exc:
        raise BuildError(f"the host refuses the built component: {exc}", file=str(path)) from None
