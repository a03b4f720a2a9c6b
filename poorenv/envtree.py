"""Writing many entries below one env directory at once: `EnvDir.tree`'s writer.

Only `EnvDir` hands one out, for a directory it has checked to be a real directory inside the
env. Every directory below it is opened with O_NOFOLLOW relative to its parent's descriptor,
so nothing made here can land outside that directory, whatever links appear meanwhile, and no
path is checked or resolved again per entry (a fresh stdlib mirror is ~2,000 entries).

An entry that already stands where one is to be made is left alone (`False`): the caller
replaces it through `EnvDir`'s own checked writers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TreeWriter", "copy", "link_or_copy", "may_share"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class TreeWriter:
    """Entries made below `root` (a checked real directory of the env), by relative path."""

    def __init__(self, root: str, make_dir: Callable[[str], None]) -> None:
        self.root = root
        self._make_dir = make_dir  # EnvDir.make_dir: replaces a link or file by a directory
        self._fds: dict[str, int] = {"": os.open(root, _DIR_FLAGS)}

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _dir(self, rel: str) -> int:
        """A descriptor of the directory `rel` (made when missing, never a link followed)."""
        fd = self._fds.get(rel)
        if fd is not None:
            return fd
        head, _, name = rel.rpartition("/")
        parent = self._dir(head)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):  # a dangling link: replaced below
                os.mkdir(name, dir_fd=parent)
            fd = self._open_or_fix(rel, name, parent)
        except OSError:  # a link or a file stands there
            fd = self._open_or_fix(rel, name, parent)
        self._fds[rel] = fd
        return fd

    def _open_or_fix(self, rel: str, name: str, parent: int) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            self._make_dir(os.path.join(self.root, rel))  # checked, replaces what stands there
            return os.open(name, _DIR_FLAGS, dir_fd=parent)

    def symlink(self, target: str, rel: str) -> bool:
        """A symlink at `rel` to `target`; False when something stands there already."""
        head, _, name = rel.rpartition("/")
        try:
            os.symlink(target, name, dir_fd=self._dir(head))
        except FileExistsError:
            return False
        return True

    def hard_link(self, source: str, rel: str) -> bool:
        """A hard link at `rel` of `source` (OSError where links are refused); False when
        something stands there already."""
        head, _, name = rel.rpartition("/")
        try:
            os.link(source, name, dst_dir_fd=self._dir(head))
        except FileExistsError:
            return False
        return True

    def copy(self, source: str, rel: str, mode: int = 0o644) -> bool:
        """A copy of the file `source` at `rel`, with `mode`; False when something stands
        there already."""
        head, _, name = rel.rpartition("/")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            out = os.open(name, flags, mode, dir_fd=self._dir(head))
        except FileExistsError:
            return False
        try:
            src = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                info = os.fstat(src)
                _copy_data(src, out, info.st_size)
            finally:
                os.close(src)
            # The source's times: bytecode compiled from it stays valid.
            os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(out)
        return True


def _copy_data(src: int, out: int, size: int) -> None:
    """Copy `size` bytes between descriptors: in the kernel where it can, else by reads."""
    done = 0
    if hasattr(os, "sendfile"):
        try:  # to a regular file: Linux 2.6.33 and later
            while done < size:
                sent = os.sendfile(out, src, done, size - done)
                if sent == 0:
                    break
                done += sent
        except OSError:
            pass
    if done >= size:
        return
    os.lseek(src, done, os.SEEK_SET)
    os.lseek(out, done, os.SEEK_SET)
    while True:  # what is left, where sendfile cannot copy
        block = os.read(src, 1 << 20)
        if not block:
            return
        view = memoryview(block)
        while view:
            view = view[os.write(out, view) :]


def may_share(info: os.stat_result) -> bool:
    """Whether a file outside the env (the base's, the cache's) may become one of the env's by
    hard link: only the user's own, and never as root. A hard link *is* the file: a `chown -R`
    or `chmod -R` of the env (`chown -R www-data /srv/app` as root) would reach the base and hand
    its stdlib to that user; a symbolic link or a copy is not followed by them."""
    euid = os.geteuid()
    return euid != 0 and info.st_uid == euid


def copy(source: str, dest: str) -> None:
    """A copy of the file `source` at `dest`, its mode and times kept."""
    shutil.copy2(source, dest)


def link_or_copy(source: str, dest: str) -> None:
    """A hard link, or a copy where the filesystems differ (or links are refused)."""
    try:
        os.link(source, dest)
    except FileExistsError:
        raise
    except OSError:
        shutil.copy2(source, dest)
