"""The stock ``hostkit:host/files`` provider: files inside granted roots.

Race safety. A path is resolved and checked (``_paths.resolve_in_roots``),
then opened with ``O_NOFOLLOW`` on the final component, then the *opened*
descriptor is checked again: the resolved path, resolved once more, must
still lie inside the root and name the same inode. A directory swapped for a
symlink between check and open is thus caught before a byte is read or
written. Writes open without ``O_TRUNC`` and truncate only after that check.
(A racing swap can at worst leave an empty new file outside the root; guests
cannot create symlinks, so only another host process could race.)
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from .._context import CallContext
from .._hookspecs import hookimpl
from .._host_errors import (
    HostCallDenied,
    HostCallError,
    HostCallInvalid,
    HostCallIOError,
    HostCallNotFound,
    HostCallTooLarge,
)
from .._host_types import (
    DirEntry,
    Encoding,
    FileKind,
    FileStat,
    WriteMode,
    decode_payload,
    encode_payload,
)
from .._paths import (
    PathRejected,
    ResolvedPath,
    Root,
    is_within,
    normalize_guest_path,
    resolve_in_roots,
)

__all__ = ["FilesProvider"]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not block
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_PATH = getattr(os, "O_PATH", None)  # Linux: stat without read permission


class FilesProvider:
    """Serves ``files_*`` hooks for guest paths inside ``roots``.

    Args:
        roots: Guest path prefix (e.g. ``"/data"``) -> :class:`Root`, or a
            plain host directory (granted read-only). The longest matching
            prefix wins. Each host directory must exist.
        max_read_bytes: Largest file ``read`` returns.
        max_write_bytes: Largest ``write``, and largest file an append may
            produce.
        max_list_entries: Most entries ``list_dir`` returns.

    Raises:
        ValueError: a prefix is not a valid guest path, or a host directory
            does not exist.
    """

    def __init__(
        self,
        roots: Mapping[str, Root | str | os.PathLike[str]],
        *,
        max_read_bytes: int = 16 * 1024 * 1024,
        max_write_bytes: int = 16 * 1024 * 1024,
        max_list_entries: int = 10_000,
    ) -> None:
        prepared: dict[str, Root] = {}
        for prefix, spec in roots.items():
            root = spec if isinstance(spec, Root) else Root(spec)
            try:
                guest = normalize_guest_path(prefix)
            except PathRejected as exc:
                raise ValueError(f"root prefix {prefix!r}: {exc.reason}") from None
            if not os.path.isdir(root.host_dir):
                raise ValueError(f"root {guest!r}: {os.fspath(root.host_dir)!r} is not a directory")
            prepared[guest] = root
        self.roots: Mapping[str, Root] = prepared
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_list_entries = max_list_entries

    @hookimpl
    def files_read(self, ctx: CallContext, path: str, encoding: Encoding) -> str:
        target = resolve_in_roots(path, self.roots)
        with _open_checked(target, os.O_RDONLY) as fd:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise HostCallInvalid(f"{target.guest_path!r} is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise HostCallInvalid(f"{target.guest_path!r} is not a regular file")
            if info.st_size > self.max_read_bytes:
                raise HostCallTooLarge(
                    f"file is larger than the read limit ({self.max_read_bytes} bytes)"
                )
            with _errors_mapped(target.guest_path):
                data = _read_at_most(fd, self.max_read_bytes + 1)
        if len(data) > self.max_read_bytes:  # grew while we read
            raise HostCallTooLarge(
                f"file is larger than the read limit ({self.max_read_bytes} bytes)"
            )
        return encode_payload(data, encoding, "file contents")

    @hookimpl
    def files_write(
        self, ctx: CallContext, path: str, contents: str, encoding: Encoding, mode: WriteMode
    ) -> int:
        target = resolve_in_roots(path, self.roots)
        if not target.root.writable:
            raise HostCallDenied(f"root {target.prefix!r} is read-only")
        if target.host_path == target.root_real:
            raise HostCallInvalid(f"{target.guest_path!r} is a directory")
        try:
            write_mode = WriteMode(mode)
        except ValueError:
            raise HostCallInvalid(f"unknown write mode {mode!r}") from None
        data = decode_payload(contents, encoding, "contents")
        if len(data) > self.max_write_bytes:
            raise HostCallTooLarge(f"data exceeds the write limit ({self.max_write_bytes} bytes)")
        flags = os.O_WRONLY | os.O_CREAT
        if write_mode is WriteMode.APPEND:
            flags |= os.O_APPEND
        with _open_checked(target, flags) as fd:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise HostCallInvalid(f"{target.guest_path!r} is not a regular file")
            appended = info.st_size + len(data)
            if write_mode is WriteMode.APPEND and appended > self.max_write_bytes:
                raise HostCallTooLarge(
                    f"file would exceed the write limit ({self.max_write_bytes} bytes)"
                )
            with _errors_mapped(target.guest_path):
                if write_mode is WriteMode.TRUNCATE:
                    os.ftruncate(fd, 0)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        return len(data)

    @hookimpl
    def files_list_dir(self, ctx: CallContext, path: str) -> list[DirEntry]:
        target = resolve_in_roots(path, self.roots)
        entries: list[DirEntry] = []
        if os.path.lexists(target.host_path) and not os.path.isdir(target.host_path):
            raise HostCallInvalid(f"{target.guest_path!r} is not a directory")
        with (
            _open_checked(target, os.O_RDONLY | _O_DIRECTORY) as fd,
            _errors_mapped(target.guest_path),
            os.scandir(fd) as it,
        ):
            for entry in it:
                if not _guest_can_name(entry.name):
                    continue
                if len(entries) >= self.max_list_entries:
                    raise HostCallTooLarge(
                        f"directory has more than {self.max_list_entries} entries"
                    )
                entries.append(DirEntry(entry.name, _kind_of(entry)))
        entries.sort(key=lambda e: e.name)
        return entries

    @hookimpl
    def files_stat(self, ctx: CallContext, path: str) -> FileStat:
        target = resolve_in_roots(path, self.roots)
        flags = _O_PATH if _O_PATH is not None else os.O_RDONLY
        with _open_checked(target, flags) as fd:
            info = os.fstat(fd)
        return FileStat(
            kind=_kind_of_mode(info.st_mode),
            size=0 if stat.S_ISDIR(info.st_mode) else info.st_size,
            modified_ms=max(0, info.st_mtime_ns // 1_000_000),
            read_only=not target.root.writable,
        )


@contextmanager
def _open_checked(target: ResolvedPath, flags: int) -> Iterator[int]:
    """Open ``target.host_path`` without following a final symlink, verify the
    descriptor is the file inside the root, yield it, close it."""
    flags |= _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK
    with _errors_mapped(target.guest_path):
        fd = os.open(target.host_path, flags, 0o666)
    try:
        with _errors_mapped(target.guest_path):
            opened = os.fstat(fd)
            again = os.path.realpath(target.host_path)
            if not is_within(again, target.root_real):
                raise HostCallDenied(f"{target.guest_path!r} changed to lead outside its root")
            now = os.stat(again, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            raise HostCallDenied(f"{target.guest_path!r} was replaced during the call")
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _errors_mapped(guest_path: str) -> Iterator[None]:
    """Translate OSError into the host-call error the guest should see."""
    try:
        yield
    except HostCallError:
        raise
    except OSError as exc:
        raise _translate(exc, guest_path) from None


def _translate(exc: OSError, guest_path: str) -> HostCallError:
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return HostCallNotFound(f"{guest_path!r} does not exist")
    if code == errno.EISDIR:
        return HostCallInvalid(f"{guest_path!r} is a directory")
    if code == errno.ELOOP:
        # The final component became a symlink after resolution, or a loop.
        return HostCallDenied(f"{guest_path!r} is a symlink loop or changed during the call")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return HostCallDenied(f"the host cannot access {guest_path!r}: {exc.strerror}")
    if code in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        return HostCallTooLarge(f"{guest_path!r}: {exc.strerror}")
    if code in (errno.ENAMETOOLONG, errno.EINVAL):
        return HostCallInvalid(f"{guest_path!r}: {exc.strerror}")
    return HostCallIOError(f"{guest_path!r}: {exc.strerror or exc}")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _guest_can_name(name: str) -> bool:
    try:
        return normalize_guest_path(name) == "/" + name
    except PathRejected:
        return False


def _kind_of(entry: os.DirEntry[str]) -> FileKind:
    if entry.is_symlink():
        return FileKind.SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return FileKind.DIRECTORY
    if entry.is_file(follow_symlinks=False):
        return FileKind.FILE
    return FileKind.OTHER


def _kind_of_mode(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return FileKind.FILE
    if stat.S_ISDIR(mode):
        return FileKind.DIRECTORY
    if stat.S_ISLNK(mode):
        return FileKind.SYMLINK
    return FileKind.OTHER
