"""The external toolchain: componentize-py and wasm-tools, found and run.

Both come with ``pip install 'wasm-hostkit[build]'``. They are Rust programs
that print a backtrace with every error unless told not to, so every run sets
``RUST_BACKTRACE=0``: the guest's own error is what a plugin author needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from .._errors import BuildError, ToolNotFound

__all__ = ["find_tool", "run_tool", "tool_version"]

_INSTALL_HINT = "pip install 'wasm-hostkit[build]'"


def find_tool(name: str) -> str:
    """The executable ``name`` (``componentize-py`` or ``wasm-tools``): next to
    this Python first (a venv that is not activated), then ``PATH``.

    Raises:
        ToolNotFound: the tool is not installed (the message says how to get it).
    """
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(f"{name} not found next to {sys.executable} or on PATH: {_INSTALL_HINT}")
    return found


def _quiet_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PIPENV_ACTIVE", "RUST_LIB_BACKTRACE")
    }
    env["RUST_BACKTRACE"] = "0"
    env.update(extra or {})
    return env


def run_tool(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool with backtraces off; returns the finished process (any exit).

    Raises:
        BuildError: the tool could not be started or ran past ``timeout``.
    """
    try:
        return subprocess.run(
            list(cmd),
            cwd=cwd,
            env=_quiet_env(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        name = Path(cmd[0]).name
        raise BuildError(f"{name} ran longer than {timeout} s and was stopped") from None
    except OSError as exc:
        raise BuildError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None


@cache
def tool_version(exe: str) -> str:
    """``exe --version``, part of every build digest (a new tool rebuilds)."""
    done = run_tool([exe, "--version"], timeout=60)
    if done.returncode != 0:
        raise BuildError(f"{exe} --version failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()
