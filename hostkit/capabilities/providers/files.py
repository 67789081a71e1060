"""The stock ``hostkit:host/files`` provider: files inside granted roots.

Race safety. No path string is ever resolved and then used: each call opens
its root's host directory once and opens the guest path *beneath that
descriptor* (``_fsopen.open_beneath``: ``openat2`` with ``RESOLVE_BENEATH``,
or one ``openat`` per component), and reads, writes, truncates, lists and
stats only the descriptor it got. A directory swapped for a symlink at any
moment is either the directory we already hold or a symlink we refuse.

Symlinks below a root are never followed (``denied``): a link's target would
be a file the Cedar decision never judged (``/data/pub/link -> ../secret``).
``stat`` of a symlink reports ``kind.symlink``, ``list-dir`` lists it.

Hard links. A regular file with more than one link may be a second name of
a file outside the root; unless the root opts in (``Root(hardlinks=True)``)
reading or writing one is ``denied``.

Quotas. Per plugin and writable root, the bytes the plugin's writes add and
the files it creates are counted (``Root.max_bytes``, ``Root.max_files``);
a write that would go over is refused with `HostCallQuotaExceeded`
(``too-large``, audited by the gate) before a byte is written. The counts
live in this provider object: they bound what a plugin can do while the host
runs, starting from zero at each start; bound the disk across restarts with
a per-plugin root on a filesystem quota.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
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
    HostCallQuotaExceeded,
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
from .._paths import PathOutsideRoot, PathRejected, Root, normalize_guest_path, select_root
from ._fsopen import O_CLOEXEC, O_DIRECTORY, O_NONBLOCK, O_PATH, open_beneath

__all__ = ["FilesProvider"]

_STAT_FLAGS = O_PATH if O_PATH else os.O_RDONLY | O_NONBLOCK


class _Target:
    """A guest path inside one root: what every operation starts from."""

    __slots__ = ("guest", "prefix", "rel", "root")

    def __init__(self, guest: str, prefix: str, root: Root, rel: str) -> None:
        self.guest = guest
        self.prefix = prefix
        self.root = root
        self.rel = rel


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
        use_openat2: Force the lookup method (tests): ``None`` (default) uses
            ``openat2`` where the kernel has it, else a per-component walk.

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
        use_openat2: bool | None = None,
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
        self._openat2 = use_openat2
        self._usage: dict[tuple[str, str], list[int]] = {}  # (plugin, prefix) -> [bytes, files]
        self._usage_lock = threading.Lock()

    def usage(self, plugin: str, prefix: str) -> tuple[int, int]:
        """Bytes added and files created by ``plugin`` in the root at ``prefix``."""
        found = self._usage.get((plugin, normalize_guest_path(prefix)))
        return (0, 0) if found is None else (found[0], found[1])

    @hookimpl
    def files_read(self, ctx: CallContext, path: str, encoding: Encoding) -> str:
        target = self._target(path)
        with self._opened(target, os.O_RDONLY | O_NONBLOCK) as fd:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise HostCallInvalid(f"{target.guest!r} is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise HostCallInvalid(f"{target.guest!r} is not a regular file")
            _check_links(target, info)
            # equivalent mutant: dropping this early refusal changes no outcome
            # (the read below takes at most max_read_bytes + 1 and the check
            # after it refuses with the same error); it only saves that read.
            if info.st_size > self.max_read_bytes:
                raise HostCallTooLarge(
                    f"file is larger than the read limit ({self.max_read_bytes} bytes)"
                )
            with _errors_mapped(target.guest):
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
        target = self._target(path)
        if not target.root.writable:
            raise HostCallDenied(f"root {target.prefix!r} is read-only")
        if not target.rel:
            raise HostCallInvalid(f"{target.guest!r} is a directory")
        try:
            write_mode = WriteMode(mode)
        except ValueError:
            raise HostCallInvalid(f"unknown write mode {mode!r}") from None
        data = decode_payload(contents, encoding, "contents")
        if len(data) > self.max_write_bytes:
            raise HostCallTooLarge(f"data exceeds the write limit ({self.max_write_bytes} bytes)")
        flags = os.O_WRONLY | O_NONBLOCK
        if write_mode is WriteMode.APPEND:
            flags |= os.O_APPEND
        with self._opened_for_write(ctx, target, flags, len(data)) as (fd, created):
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise HostCallInvalid(f"{target.guest!r} is not a regular file")
            _check_links(target, info)
            old = 0 if created else info.st_size
            new = old + len(data) if write_mode is WriteMode.APPEND else len(data)
            if write_mode is WriteMode.APPEND and new > self.max_write_bytes:
                raise HostCallTooLarge(
                    f"file would exceed the write limit ({self.max_write_bytes} bytes)"
                )
            if not created:  # a new file was charged before it was created
                self._charge(ctx, target, new - old, 0)
            try:
                with _errors_mapped(target.guest):
                    if write_mode is WriteMode.TRUNCATE:
                        os.ftruncate(fd, 0)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
            except BaseException:
                self._charge(ctx, target, old - new, 0, force=True)
                raise
        return len(data)

    @hookimpl
    def files_list_dir(self, ctx: CallContext, path: str) -> list[DirEntry]:
        target = self._target(path)
        entries: list[DirEntry] = []
        try:
            with (
                self._opened(target, os.O_RDONLY | O_DIRECTORY | O_NONBLOCK) as fd,
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
        except HostCallNotFound:
            self._raise_if_not_directory(target)
            raise
        entries.sort(key=lambda e: e.name)
        return entries

    @hookimpl
    def files_stat(self, ctx: CallContext, path: str) -> FileStat:
        target = self._target(path)
        with self._opened(target, _STAT_FLAGS) as fd:
            info = os.fstat(fd)
        return FileStat(
            kind=_kind_of_mode(info.st_mode),
            size=0 if stat.S_ISDIR(info.st_mode) else info.st_size,
            modified_ms=max(0, info.st_mtime_ns // 1_000_000),
            read_only=not target.root.writable,
        )

    # -- the descriptor walk ---------------------------------------------------

    def _target(self, path: str) -> _Target:
        guest, prefix, root, rel = select_root(path, self.roots)
        return _Target(guest, prefix, root, rel)

    @contextmanager
    def _root_fd(self, target: _Target) -> Iterator[int]:
        with _errors_mapped(target.guest):
            fd = os.open(target.root.host_dir, (O_PATH or os.O_RDONLY) | O_DIRECTORY | O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def _opened(self, target: _Target, flags: int) -> Iterator[int]:
        """The descriptor of ``target`` opened beneath its root, then closed."""
        with self._root_fd(target) as root_fd, _errors_mapped(target.guest):
            fd = open_beneath(root_fd, target.rel, flags, use_openat2=self._openat2)
            try:
                yield fd
            finally:
                os.close(fd)

    @contextmanager
    def _opened_for_write(
        self, ctx: CallContext, target: _Target, flags: int, size: int
    ) -> Iterator[tuple[int, bool]]:
        """Open an existing file, or create one: a new file and its ``size``
        bytes are charged to the quota *before* it is created."""
        with self._root_fd(target) as root_fd:
            fd, created = -1, False
            for _ in range(8):  # created and removed by someone else meanwhile
                try:
                    fd = open_beneath(root_fd, target.rel, flags, use_openat2=self._openat2)
                    break
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise _translate(exc, target.guest) from None
                self._charge(ctx, target, size, 1)
                try:
                    fd = open_beneath(
                        root_fd,
                        target.rel,
                        flags | os.O_CREAT | os.O_EXCL,
                        0o666,
                        use_openat2=self._openat2,
                    )
                    created = True
                    break
                except FileExistsError:
                    self._charge(ctx, target, -size, -1, force=True)
                except OSError as exc:
                    self._charge(ctx, target, -size, -1, force=True)
                    raise _translate(exc, target.guest) from None
            if fd < 0:
                raise HostCallIOError(f"{target.guest!r} kept changing during the call")
            try:
                with _errors_mapped(target.guest):
                    yield fd, created
            finally:
                os.close(fd)

    def _raise_if_not_directory(self, target: _Target) -> None:
        try:
            with self._opened(target, _STAT_FLAGS) as fd:
                info = os.fstat(fd)
        except HostCallError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise _translate(OSError(errno.ELOOP, "symlink"), target.guest)
        if not stat.S_ISDIR(info.st_mode):
            raise HostCallInvalid(f"{target.guest!r} is not a directory")

    def _charge(
        self, ctx: CallContext, target: _Target, size: int, files: int, *, force: bool = False
    ) -> None:
        """Account ``size`` bytes and ``files`` files to the plugin's quota in
        the target's root, or raise `HostCallQuotaExceeded` and account nothing."""
        root = target.root
        with self._usage_lock:
            used = self._usage.setdefault((ctx.plugin, target.prefix), [0, 0])
            if not force:
                if size > 0 and used[0] + size > root.max_bytes:
                    raise HostCallQuotaExceeded(
                        f"quota: plugin {ctx.plugin!r} may add at most {root.max_bytes} bytes "
                        f"to {target.prefix!r} ({used[0]} used, this write adds {size})"
                    )
                if files > 0 and used[1] + files > root.max_files:
                    raise HostCallQuotaExceeded(
                        f"quota: plugin {ctx.plugin!r} may create at most {root.max_files} "
                        f"files in {target.prefix!r}"
                    )
            used[0] = max(0, used[0] + size)
            used[1] = max(0, used[1] + files)


def _check_links(target: _Target, info: os.stat_result) -> None:
    if info.st_nlink > 1 and not target.root.hardlinks:
        raise HostCallDenied(
            f"{target.guest!r} has {info.st_nlink} hard links and may name a file outside "
            f"the root; the root {target.prefix!r} does not allow hard-linked files"
        )


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
    if code in (errno.ELOOP, errno.EXDEV):
        return PathOutsideRoot(
            guest_path, "a symlink on the way; symlinks below a root are not followed"
        )
    if code == errno.EAGAIN:
        return HostCallDenied(f"{guest_path!r} kept changing during the call")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return HostCallDenied(f"the host cannot access {guest_path!r}: {exc.strerror}")
    if code in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        return HostCallTooLarge(f"{guest_path!r}: {exc.strerror}")
    if code in (errno.ENAMETOOLONG, errno.EINVAL, errno.ENXIO):
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
