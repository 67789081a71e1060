"""`Host`'s component loading (a mixin of `Host`): ``load``, ``load_async``.

Loading validates and compiles in a bounded worker process (see
``_wasm._compile``) and caches by digest; the state these methods use (the
config, the engine, the loaded components, the open check) is `Host`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import trio

from .._errors import ComponentLoadError, SpawnError
from ._component_limits import ComponentLimits
from ._config import HostConfig
from ._wasm import CompiledComponent, CompileLimits, CompileProgress, WasmEngine

__all__ = ["ComponentLoading"]


class ComponentLoading:
    """Loading components, for `Host`."""

    config: HostConfig
    components: dict[str, CompiledComponent]
    engine: WasmEngine
    _check_open: Callable[[], None]

    def load(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        progress: Callable[[CompileProgress], None] | None = None,
        limits: ComponentLimits | None = None,
    ) -> CompiledComponent:
        """Validate and compile a component (cached on disk by digest).

        A component is compiled in a worker process bounded by
        ``compile_cpu_seconds``, ``compile_memory_bytes`` and
        ``max_compiled_bytes``. One already loaded in this host (same
        digest) or in the compile cache is not compiled again.

        Called on the Trio thread, this blocks the event loop while it
        works, so it compiles only components up to
        ``max_blocking_compile_bytes`` there and refuses bigger ones that
        need compiling (use :meth:`load_async`); it still loads any
        component that is cached or already loaded.

        Args:
            source: a path to a ``.wasm`` component, or its bytes.
            name: the name guests and :meth:`spawn` use; defaults to the file
                stem. Required for bytes.
            progress: called with a `CompileProgress` about every 0.25 s
                while a compile runs, then for the loading step.
            limits: `ComponentLimits` for this component's actors, each at most
                the host's (a higher one is refused).

        Raises:
            ComponentLoadError: naming the component and the problem (for
                a compile limit, which limit; for ``limits``, which one
                exceeds the host's).
        """
        self._check_open()
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise ComponentLoadError("<bytes>", "name= is required when loading bytes")
            data = bytes(source)
        else:
            path = Path(source)
            name = name or path.stem
            try:
                size = path.stat().st_size
                if size > self.config.max_component_bytes:  # refuse it unread
                    raise ComponentLoadError(
                        name,
                        f"{size} bytes exceeds the limit of {self.config.max_component_bytes} "
                        "bytes (raise max_component_bytes if this is expected)",
                    )
                data = path.read_bytes()
            except OSError as exc:
                raise ComponentLoadError(
                    name, f"cannot read {str(path)!r}: {exc.strerror}"
                ) from None
        if not name or "\n" in name:
            raise ComponentLoadError(repr(name), "a component name must be non-empty, one line")
        existing = self.components.get(name)
        cfg = self.config
        try:  # per-component limits: only ever lower than the host's
            effective = None if limits is None else limits.resolve(cfg, cfg.limits())
        except ValueError as exc:
            raise ComponentLoadError(name, f"limits: {exc}") from None
        try:
            trio.lowlevel.current_task()
            on_trio = True
        except RuntimeError:
            on_trio = False
        compiled = self.engine.compile(
            name,
            data,
            cfg.limits(),
            compile_limits=CompileLimits(
                cfg.compile_cpu_seconds, cfg.compile_memory_bytes, cfg.max_compiled_bytes
            ),
            progress=progress,
            may_compile=not on_trio or len(data) <= cfg.max_blocking_compile_bytes,
            cache_key_file=None if cfg.cache_key_file is None else Path(cfg.cache_key_file),
        )
        if existing is not None and existing.digest != compiled.digest:
            raise ComponentLoadError(
                name, f"a different component is already loaded under this name ({existing!r})"
            )
        compiled.limits = effective
        self.components[name] = compiled
        if progress is not None:
            progress(CompileProgress(name, "done", 0.0, cfg.compile_cpu_seconds))
        return compiled

    async def load_async(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        progress: Callable[[CompileProgress], None] | None = None,
        limits: ComponentLimits | None = None,
    ) -> CompiledComponent:
        """:meth:`load` in a worker thread: the event loop keeps running while
        a component compiles. ``progress`` is called on the Trio thread."""
        report = None
        if progress is not None:
            callback = progress

            def report(event: CompileProgress) -> None:
                trio.from_thread.run_sync(callback, event)

        return await trio.to_thread.run_sync(
            lambda: self.load(source, name=name, progress=report, limits=limits)
        )

    def _component(self, component: CompiledComponent | str) -> CompiledComponent:
        if isinstance(component, str):
            found = self.components.get(component)
            if found is None:
                raise SpawnError(f"no component named {component!r} is loaded")
            return found
        return component
