"""Atomic file writing: the one helper every module that writes a whole file uses.

A reader sees the old content or the new, never half of it: the text goes to a temporary file
in the same directory, is flushed to disk, and replaces the target with one rename.
`read_regular` reads a file that must be a regular file, never through a link.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

TMP_SUFFIX = ".poorenv-tmp"


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write `data` to `path` atomically. `mode` (e.g. 0o600) is set before the rename.

    Temporary files that a killed poorenv left beside `path` are removed first. A write that
    fails (a full disk, a file-size limit) raises OSError naming `path`.
    """
    clean_stale_tmp(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            if exc.filename is not None and os.fspath(exc.filename) != os.fspath(tmp):
                raise
            raise OSError(exc.errno, exc.strerror, str(path)) from exc  # the file, not tmp
    finally:
        with contextlib.suppress(OSError):  # gone, or never made (a read-only directory)
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_stream(path: Path) -> Iterator[BinaryIO]:
    """A file object whose bytes replace `path` atomically when the block ends without an
    error (flushed to disk first); on an error `path` is as it was. For files too big to hold
    in memory (an archive); same temporary name and clean-up as `atomic_write`."""
    clean_stale_tmp(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_new(path: str, source: IO[bytes], mode: int) -> None:
    """A new file at `path` (never through a link, never over a file: FileExistsError) with
    what `source` holds, then `mode`. For a fresh tree nobody reads yet (unpack)."""
    import shutil

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        shutil.copyfileobj(source, handle, 1 << 20)
    os.chmod(path, mode)


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file `path`. A symbolic link is not followed (OSError ELOOP);
    a directory, FIFO or device is OSError too, so that reading never blocks or wanders."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
    except OSError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def clean_stale_tmp(path: Path) -> None:
    """Remove `.NAME.<pid>.poorenv-tmp` files left beside `path` by a killed process."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(TMP_SUFFIX):
            pid = name[len(prefix) : -len(TMP_SUFFIX)]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(path.parent / name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
