"""Open a path beneath a directory descriptor, never leaving it, never racing.

Theory of operation. A string path checked and then opened is two lookups;
anything that renames a directory between them (a deploy tool flipping a
``current -> release-N`` link, ``renameat2(RENAME_EXCHANGE)``) makes the
second lookup land somewhere the first never saw. So nothing here resolves a
path string twice: the caller opens the root directory once (``O_PATH``) and
every guest path is looked up *relative to that descriptor*, with symlinks
refused at every component. Every later operation (``fstat``, ``read``,
``write``, ``ftruncate``, ``scandir``) works on the descriptor this returns.

Two ways to do the lookup, with the same answers:

- ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
  RESOLVE_NO_MAGICLINKS`` (Linux 5.6+): the kernel walks the path in one
  call and refuses any symlink (``ELOOP``) and any escape (``EXDEV``).
- elsewhere, or where a seccomp filter hides ``openat2``: one
  ``openat(O_PATH | O_DIRECTORY | O_NOFOLLOW)`` per directory component, each
  relative to the descriptor of the one before, and ``O_NOFOLLOW`` on the last.

Guest paths are normalized before they get here (no ``..``, no ``.``, no
empty components; see ``_paths.normalize_guest_path``), so a component is
always a plain name and the only way out of the root would be a symlink,
which both ways refuse. The root's own host directory may be a symlink: it
is the operator's configuration, followed when the root is opened.

Errors are :class:`OSError` with the kernel's errno (``ELOOP`` for a symlink
on the way, whichever way was used); the provider translates them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from typing import Final

__all__ = ["OPENAT2", "open_beneath"]

O_PATH: Final = getattr(os, "O_PATH", 0)
O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)

_SYS_OPENAT2: Final = 437  # the same number on every Linux architecture
_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_RESOLVE: Final = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
_EAGAIN_RETRIES: Final = 16


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


def _load_syscall() -> object | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    return syscall


_syscall = _load_syscall()


def _openat2(dir_fd: int, rel: str, flags: int, mode: int) -> int:
    how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, _RESOLVE)
    name = os.fsencode(rel)
    for _ in range(_EAGAIN_RETRIES):
        fd = int(
            _syscall(  # type: ignore[operator]
                ctypes.c_long(_SYS_OPENAT2),
                ctypes.c_int(dir_fd),
                ctypes.c_char_p(name),
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
        )
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code not in (errno.EAGAIN, errno.EINTR):
            raise OSError(code, os.strerror(code), rel)
    # The kernel saw a rename race on every try: refuse rather than guess.
    raise OSError(errno.EAGAIN, "the path kept changing during the lookup", rel)


def _probe_openat2() -> bool:
    if _syscall is None or not O_PATH:
        return False
    try:
        root = os.open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
    except OSError:
        return False
    try:
        os.close(_openat2(root, ".", O_PATH | O_CLOEXEC, 0))
    except OSError:
        return False  # ENOSYS (old kernel) or EPERM (a seccomp filter)
    finally:
        os.close(root)
    return True


OPENAT2: Final = _probe_openat2()
"""Whether this kernel serves ``openat2`` with ``RESOLVE_BENEATH``."""


def open_beneath(
    root_fd: int, rel: str, flags: int, mode: int = 0o666, *, use_openat2: bool | None = None
) -> int:
    """Open ``rel`` (``""`` for the root itself) beneath directory ``root_fd``.

    Symlinks are refused at every component (``OSError(ELOOP)``), except that
    ``O_PATH | O_NOFOLLOW`` on a final symlink opens the link itself (so
    ``fstat`` can report it). ``O_NOFOLLOW`` and ``O_CLOEXEC`` are always added.

    Args:
        root_fd: An open descriptor of the root directory.
        rel: ``/``-joined plain components (no ``.``, ``..`` or empty ones).
        flags: ``os.open`` flags for the last component.
        mode: Permission bits of a file ``O_CREAT`` makes.
        use_openat2: Force one lookup method (tests); default: the best here.

    Raises:
        OSError: the kernel's error, ``ELOOP`` for a symlink on the way.
    """
    flags |= O_NOFOLLOW | O_CLOEXEC
    if not rel:
        rel = "."
    if OPENAT2 if use_openat2 is None else use_openat2:
        return _openat2(root_fd, rel, flags, mode)
    return _walk(root_fd, rel.split("/"), flags, mode)


def _walk(root_fd: int, parts: list[str], flags: int, mode: int) -> int:
    """One ``openat`` per component, each from the descriptor of the last."""
    held: list[int] = []
    fd = root_fd
    try:
        for name in parts[:-1]:
            try:
                fd = os.open(name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            except NotADirectoryError:
                _raise_if_symlink(fd, name)
                raise
            held.append(fd)
        return os.open(parts[-1], flags, mode, dir_fd=fd)
    finally:
        for opened in held:
            os.close(opened)


def _raise_if_symlink(dir_fd: int, name: str) -> None:
    """``O_PATH | O_NOFOLLOW | O_DIRECTORY`` says ENOTDIR for a symlink; make
    it ELOOP as ``openat2`` does, so both ways give the guest one answer."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)
