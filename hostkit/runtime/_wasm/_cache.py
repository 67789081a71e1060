"""The on-disk cache of compiled components, authenticated.

wasmtime trusts serialized code completely: deserializing a file maps it
as native code and runs no validation. So the cache only loads what this
host wrote, proven by an HMAC-SHA256 under a per-host key that is kept
*outside* the cache directory, over the engine fingerprint, the
component's digest and the body::

    file  = MAGIC || HMAC(key, MAGIC || fingerprint || digest || body) || body

What an attacker with write access to the cache directory (but not to the
key file) can and cannot do:

- cannot make the host load code it did not compile: a forged body, a body
  swapped in from another component's entry (the digest is in the MAC), an
  entry from another wasmtime version or engine setting (the fingerprint
  is), or a file in the old unkeyed format is refused and recompiled;
- can delete or corrupt entries, which costs a recompile (bounded by the
  compile limits), and can fill the disk;
- can put back an older authentic entry for the same digest: it is the
  same compiled code, so nothing is gained.

The key is read from ``HostConfig.cache_key_file`` (by default the file
``<cache_dir>.key`` next to the cache directory), created with 32 random
bytes and mode 0600 if missing. A key file inside the cache directory, one
that is not a regular file of ours with mode 0600, or one of the wrong
length is not used: the host then keeps a random key in memory for this
process (entries it writes are not reusable by later processes) and logs
why. Anyone who can read the key, or write the key file, can forge entries:
protect it like the host's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
import threading
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, Final

import wasmtime
from wasmtime import component as wc

__all__ = ["WASMTIME_VERSION", "ComponentCache", "fingerprint"]

log = logging.getLogger("hostkit.runtime")

WASMTIME_VERSION: Final = _version("wasmtime")
_MAGIC: Final = b"HKCWASM2"
_MAC_BYTES: Final = 32
_KEY_BYTES: Final = 32


def fingerprint(fuel: bool, memory: str = "") -> str:
    """What compiled code depends on besides the component: the cache's
    subdirectory. ``memory``: the instance pool's part (``PoolSettings.fingerprint``)."""
    base = f"wasmtime-{WASMTIME_VERSION}-fuel{int(fuel)}-epoch1"
    return f"{base}-{memory}" if memory else base


def default_key_file(cache_dir: Path) -> Path:
    """``<cache_dir>.key``: next to the cache directory, not inside it."""
    return cache_dir.with_name(cache_dir.name + ".key")


class ComponentCache:
    """Compiled components on disk, keyed by the component's digest."""

    def __init__(self, engine: Any, cache_dir: Path | None, fingerprint: str) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self._fingerprint = fingerprint
        self._key: bytes | None = None
        self._key_file: Path | None = None
        self._key_lock = threading.Lock()

    def use_key_file(self, path: Path | None) -> None:
        """Take the key from ``path`` (None: the default) from now on."""
        with self._key_lock:
            if path != self._key_file or self._key is None:
                self._key_file = path
                self._key = None

    def key(self) -> bytes:
        with self._key_lock:
            if self._key is None:
                assert self.cache_dir is not None
                path = self._key_file or default_key_file(self.cache_dir)
                self._key = _read_or_create_key(path, self.cache_dir)
            return self._key

    def path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self._fingerprint / f"{digest}.cwasm"

    def _mac(self, digest: str, body: bytes | memoryview) -> bytes:
        mac = hmac.new(self.key(), _MAGIC, hashlib.sha256)
        # equivalent mutant: leaving the fingerprint out of the MAC changes no
        # outcome today -- wasmtime itself refuses an artifact compiled under
        # other fuel/epoch settings ("compiled without fuel support"), and the
        # entry is recompiled; the MAC covers it so that stays true if a
        # setting wasmtime does not check joins the fingerprint.
        mac.update(self._fingerprint.encode() + b"\0" + digest.encode() + b"\0")
        mac.update(body)
        return mac.digest()

    def load(self, digest: str) -> Any | None:
        """The compiled component for ``digest``, or None (absent, or not
        provably written by this host: then it is recompiled)."""
        path = self.path(digest)
        if path is None:
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        head = len(_MAGIC) + _MAC_BYTES
        body = memoryview(blob)[head:]
        if blob[: len(_MAGIC)] != _MAGIC or not hmac.compare_digest(
            blob[len(_MAGIC) : head], self._mac(digest, body)
        ):
            log.warning("compile cache: %s is not authentic; recompiling", path)
            return None
        try:
            return wc.Component.deserialize(self.engine, bytes(body))
        except wasmtime.WasmtimeError:
            return None

    def store(self, digest: str, body: bytes) -> None:
        path = self.path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(_MAGIC + self._mac(digest, body) + body)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache dir costs a recompile next time, nothing more.
            return


def _read_or_create_key(path: Path, cache_dir: Path) -> bytes:
    reason = _key_problem(path, cache_dir)
    if reason is None:
        try:
            return _read_key(path)
        except FileNotFoundError:
            try:
                return _create_key(path)
            except FileExistsError:  # another process made it just now
                return _read_key(path)
            except OSError as exc:
                reason = f"cannot create it: {exc.strerror}"
        except (OSError, ValueError) as exc:
            reason = str(exc)
    log.warning(
        "compile cache key %s not used (%s): cached code is authenticated with a "
        "key that lives only in this process",
        path,
        reason,
    )
    return secrets.token_bytes(_KEY_BYTES)


def _key_problem(path: Path, cache_dir: Path) -> str | None:
    key = path.absolute().resolve()
    cache = cache_dir.absolute().resolve()
    if key == cache or cache in key.parents:
        return "it is inside the cache directory, where it would protect nothing"
    return None


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise ValueError("it must be owned by this user with mode 0600")
        key = os.read(fd, _KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(key) != _KEY_BYTES:
        raise ValueError(f"it must hold exactly {_KEY_BYTES} bytes")
    return key


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(_KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key
