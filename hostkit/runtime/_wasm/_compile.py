"""Bounded compiles: a component is compiled in a worker process that caps
its own CPU time and address space before it reads the component
(``_worker.py``), and whose compiled code is capped in size. Each failure
is a `ComponentLoadError` that says which limit.

A worker is a fresh ``python -I`` running only wasmtime (~60 ms to start).
Its output is native code the host then loads (``Component.deserialize``):
the host trusts it exactly as much as it would trust compiling in-process,
the worker only bounds what the compiler may cost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..._errors import ComponentLoadError
from ._capi import first_lines

__all__ = ["CompileLimits", "CompileProgress", "compile_in_worker"]

_WORKER: Final = Path(__file__).with_name("_worker.py")
_EXIT_INVALID, _EXIT_TOO_LARGE, _EXIT_NO_MEMORY = 2, 3, 4
_POLL_SECONDS: Final = 0.25


@dataclass(frozen=True, slots=True)
class CompileLimits:
    """What one compile may cost (see `HostConfig`'s ``compile_*`` fields).

    Attributes:
        cpu_seconds: CPU time of the worker process.
        address_space_bytes: its address space (``RLIMIT_AS``).
        max_code_bytes: the size of the compiled artifact.
    """

    cpu_seconds: int
    address_space_bytes: int
    max_code_bytes: int

    def __post_init__(self) -> None:
        fields = {
            "compile_cpu_seconds": self.cpu_seconds,
            "compile_memory_bytes": self.address_space_bytes,
            "max_compiled_bytes": self.max_code_bytes,
        }
        for name, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"HostConfig.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class CompileProgress:
    """A report on a load in progress, for a CLI to draw.

    Attributes:
        component: the component's name.
        phase: ``"compiling"`` (repeated while the worker runs),
            ``"loading"`` (deserializing compiled code) or ``"done"``.
        elapsed: seconds since the compile started.
        cpu_limit: the worker's CPU-time limit in seconds (an upper bound
            for a progress bar: wall time is at least the CPU time used).
    """

    component: str
    phase: str
    elapsed: float
    cpu_limit: float


def compile_in_worker(
    name: str,
    data: bytes,
    *,
    fuel: bool,
    limits: CompileLimits,
    progress: Callable[[CompileProgress], None] | None = None,
    memory: tuple[int, bool] = (0, True),
) -> bytes:
    """Compile ``data`` in a bounded worker; the serialized artifact.

    ``memory`` is the engine's ``(memory_reservation, memory_init_cow)``
    (0: wasmtime's defaults), which compiled code depends on.

    Raises:
        ComponentLoadError: invalid component, or a limit was hit (named).
    """
    argv = [
        sys.executable,
        "-I",
        str(_WORKER),
        str(int(fuel)),
        str(limits.cpu_seconds),
        str(limits.address_space_bytes),
        str(limits.max_code_bytes),
        str(memory[0]),
        str(int(memory[1])),
    ]
    env = {"MALLOC_ARENA_MAX": "2", "PATH": os.environ.get("PATH", "")}
    started = time.monotonic()
    # the CPU limit ends a busy worker; this ends one that sleeps or is starved
    wall_limit = limits.cpu_seconds * 4 + 30
    # The component goes in through a file: communicate() cannot resume
    # feeding a pipe after a timeout, and a 64 MiB pipe write would block.
    with tempfile.TemporaryFile() as source:
        source.write(data)
        source.seek(0)
        with subprocess.Popen(
            argv, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        ) as proc:
            try:
                while True:
                    try:
                        out, err = proc.communicate(timeout=_POLL_SECONDS)
                        break
                    except subprocess.TimeoutExpired:
                        elapsed = time.monotonic() - started
                        if elapsed > wall_limit:
                            raise ComponentLoadError(
                                name,
                                f"compiling took more than {wall_limit:.0f} s of wall-clock time",
                            ) from None
                        if progress is not None:  # its exceptions end the compile too
                            progress(
                                CompileProgress(name, "compiling", elapsed, limits.cpu_seconds)
                            )
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
    return _outcome(name, proc.returncode, out, err, limits)


def _outcome(name: str, rc: int, out: bytes, err: bytes, limits: CompileLimits) -> bytes:
    text = err.decode(errors="replace")
    if rc == 0:
        if len(out) > limits.max_code_bytes:
            raise ComponentLoadError(name, _code_message(len(out), limits))
        return out
    if rc == _EXIT_INVALID:
        raise ComponentLoadError(name, f"malformed or invalid component: {first_lines(text)}")
    if rc == _EXIT_TOO_LARGE:
        raise ComponentLoadError(name, _code_message(int(text or 0), limits))
    if rc in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ComponentLoadError(
            name,
            f"compiling exceeded the CPU-time limit of {limits.cpu_seconds} s "
            "(HostConfig.compile_cpu_seconds)",
        )
    if rc == _EXIT_NO_MEMORY or "memory allocation" in text or "out of memory" in text.lower():
        raise ComponentLoadError(name, _memory_message(limits))
    if rc == -signal.SIGABRT or rc == -signal.SIGSEGV:
        # Rust aborts when an allocation fails; a stack or mmap failure under
        # RLIMIT_AS can also end in SIGSEGV
        raise ComponentLoadError(name, _memory_message(limits) + f" (worker ended by signal {-rc})")
    raise ComponentLoadError(
        name, f"the compile worker failed (exit {rc}): {first_lines(text) or 'no message'}"
    )


def _code_message(size: int, limits: CompileLimits) -> str:
    return (
        f"the compiled code ({size} bytes) exceeds the limit of {limits.max_code_bytes} "
        "bytes (HostConfig.max_compiled_bytes)"
    )


def _memory_message(limits: CompileLimits) -> str:
    return (
        f"compiling exceeded the memory limit of {limits.address_space_bytes} bytes of "
        "address space (HostConfig.compile_memory_bytes)"
    )
