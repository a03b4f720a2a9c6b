"""Atomic file writing: the one helper every module that writes a whole file uses.

A reader sees the old content or the new, never half of it: the text goes to a temporary file
in the same directory, is flushed to disk, and replaces the target with one rename.
`read_regular` reads a file that must be a regular file, never through a link.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TMP_SUFFIX = ".poorenv-tmp"


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write `data` to `path` atomically. `mode` (e.g. 0o600) is set before the rename.

    Temporary files that a killed poorenv left beside `path` are removed first.
    """
    clean_stale_tmp(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # gone, or never made (a read-only directory)
            os.unlink(tmp)


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
