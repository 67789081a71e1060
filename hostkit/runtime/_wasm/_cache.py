"""The on-disk cache of compiled components.

wasmtime trusts serialized code completely: deserializing a file runs no
validation, so the cache only loads what this host wrote.
"""

from __future__ import annotations

import hashlib
import os
import threading
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, Final

import wasmtime
from wasmtime import component as wc

__all__ = ["WASMTIME_VERSION", "ComponentCache", "fingerprint"]

WASMTIME_VERSION: Final = _version("wasmtime")
_CACHE_MAGIC: Final = b"HKCWASM1"


def fingerprint(fuel: bool) -> str:
    """What compiled code depends on besides the component: the cache's subdirectory."""
    return f"wasmtime-{WASMTIME_VERSION}-fuel{int(fuel)}-epoch1"


class ComponentCache:
    """Compiled components on disk, keyed by the component's digest."""

    def __init__(self, engine: Any, cache_dir: Path | None, fingerprint: str) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self._fingerprint = fingerprint

    def path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self._fingerprint / f"{digest}.cwasm"

    def load(self, digest: str) -> Any | None:
        path = self.path(digest)
        if path is None:
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        head, body = blob[: len(_CACHE_MAGIC) + 32], blob[len(_CACHE_MAGIC) + 32 :]
        # wasmtime trusts serialized code: only deserialize what we wrote.
        if head != _CACHE_MAGIC + hashlib.sha256(body).digest():
            return None
        try:
            return wc.Component.deserialize(self.engine, body)
        except wasmtime.WasmtimeError:
            return None

    def store(self, digest: str, body: bytes) -> None:
        path = self.path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(_CACHE_MAGIC + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache dir costs a recompile next time, nothing more.
            return
