"""The env directory: every write and delete inside it.

`EnvDir` is the only code that writes or deletes in an env. Every path is checked first: it
must lie under the env, and its parent directory, with symlinks followed, must too; a link is
replaced or removed as a link, never followed. Deleting needs the marker (whether a directory
is poorenv's is `ownership.py`'s to say), and undoing a failed first build removes only what
poorenv made. Many entries below one directory (a mirror, a seed image) go through `tree`,
whose writer (envtree.py) works through descriptors of directories checked here.

Imported on the no-op fast path (`is_env`, from `ownership`): top-level imports are os, json
and stat only.
"""

from __future__ import annotations

import json
import os
import stat
from typing import IO, TYPE_CHECKING, Any

from poorenv.ownership import (
    damaged_marker,
    foreign,
    is_empty,
    read_marker,
)
from poorenv.paths import MARKER, STATE, STATE_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from poorenv.envtree import TreeWriter

    StrPath = str | os.PathLike[str]

__all__ = ["EnvDir"]  # whether a directory is poorenv's: poorenv.ownership


# --- writes and deletes ---------------------------------------------------------------------------


class EnvDir:
    """One env directory: every write and delete in it, each checked to stay inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._root = os.fspath(path)
        self._real = os.path.realpath(path)
        self._real_dirs: dict[str, str] = {}  # directory -> its realpath, checked inside
        self._ours = False  # the marker was seen or written by this object
        # What create/adopt made, for undo_create: (the env dir, .poorenv, names already in it).
        self._made: tuple[bool, bool, frozenset[str]] | None = None
        # During a first build: each name at the env's top, and whether it was there before
        # poorenv first wrote to it. undo_create deletes only the names poorenv made.
        self._tops: dict[str, bool] = {}
        self._mounts: list[str] | None = None  # mount points at or under the env (real paths)

    @property
    def state_dir(self) -> Path:
        """poorenv's own directory in the env: the marker and the state file."""
        return self.path / STATE_DIR

    # --- guards ---------------------------------------------------------------------------------

    def inside(self, path: StrPath, verb: str = "write") -> str:
        """`path` as a string, if it lies inside the env, through its real parent too."""
        return self._check(path, verb)[0]

    def _check(self, path: StrPath, verb: str) -> tuple[str, str]:
        """`path` as a string and its parent's real path; refused unless both are inside."""
        from poorenv.errors import EnvError

        text = os.fspath(path)
        if not os.path.isabs(text) or ".." in text.split(os.sep):
            raise EnvError(f"refusing to {verb} {text}: not a plain absolute path")
        if not text.startswith(self._root + os.sep) or text.endswith(os.sep):
            raise EnvError(f"refusing to {verb} {text}: outside the env {self.path}")
        if self._made is not None and verb == "write":
            top = text[len(self._root) + 1 :].split(os.sep, 1)[0]
            if top not in self._tops:
                self._tops[top] = os.path.lexists(os.path.join(self._root, top))
        parent = os.path.dirname(text)
        real = self._real_dirs.get(parent)
        if real is None:
            real = os.path.realpath(parent)
            if real != self._real and not real.startswith(self._real + os.sep):
                raise EnvError(
                    f"refusing to {verb} {text}: {parent} leads outside the env {self.path}"
                )
            if os.path.isdir(real):  # what does not exist yet may still become a link
                self._real_dirs[parent] = real
        return text, real

    def claim(self, paths: Iterable[StrPath]) -> None:
        """Entries that another writer (the installer) made in the env during a first build:
        `undo_create` may delete them. Nothing outside a first build."""
        for path in paths:
            text = os.fspath(path)
            if self._made is not None and text.startswith(self._root + os.sep):
                self._tops.setdefault(text[len(self._root) + 1 :].split(os.sep, 1)[0], False)

    def refuse_links_out(self, dirs: Iterable[StrPath], verb: str = "install into") -> None:
        """Refuse unless each of `dirs` really lies inside the env (symlinks followed): what
        an installer writes or deletes there must not land outside."""
        from poorenv.errors import EnvError

        for directory in dirs:
            real = os.path.realpath(directory)
            if real != self._real and not real.startswith(self._real + os.sep):
                raise EnvError(
                    f"refusing to {verb} {os.fspath(directory)}: it leads outside the env"
                    f" (to {real})",
                    hint="run `poorenv sync`: it rebuilds the env with real directories",
                )

    def ensure_ours(self) -> None:
        """Refuse to delete anything unless the env carries poorenv's marker."""
        from poorenv.errors import EnvError

        if not self._ours:
            if os.path.islink(self._root) or read_marker(self._root) is None:
                raise EnvError(f"refusing to delete in {self.path}: it carries no poorenv marker")
            self._ours = True

    # --- writes ---------------------------------------------------------------------------------

    def make_dir(self, path: StrPath) -> None:
        """A real directory at `path` (and its parents), replacing a link or file there."""
        text, real_parent = self._check(path, "write")
        try:
            mode: int | None = os.lstat(text).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISDIR(mode):
            self.remove(text)
        os.makedirs(text, exist_ok=True)
        self._real_dirs[text] = os.path.join(real_parent, os.path.basename(text))

    def symlink(self, target: str, link: StrPath) -> None:
        """Make `link` point at `target`, replacing whatever is there (a file atomically)."""
        self._put(os.symlink, target, self.inside(link))

    def hard_link(self, source: str, link: StrPath) -> None:
        """Make `link` a hard link of `source`, replacing whatever is there."""
        self._put(os.link, source, self.inside(link))

    def link_or_copy(self, source: str, dest: StrPath, link: bool = True) -> None:
        """A hard link of `source` at `dest` (a copy where links are refused); a copy only
        with `link=False` (mode and times kept)."""
        from poorenv.envtree import copy, link_or_copy

        self._put(link_or_copy if link else copy, source, self.inside(dest))

    def tree(self, root: StrPath) -> TreeWriter:
        """A writer (a context manager) of many entries below the real directory `root`, made
        and checked inside the env: directories and links made through descriptors, never
        following a link."""
        from poorenv.envtree import TreeWriter

        self.make_dir(root)
        return TreeWriter(self.inside(root), self.make_dir)

    def write_text(self, path: StrPath, text: str | bytes, mode: int | None = None) -> None:
        """Write the file `path` atomically (a link there is replaced), with `mode` if given."""
        from pathlib import Path

        from poorenv._fs import atomic_write

        checked = Path(self.inside(path))
        try:
            atomic_write(checked, text, mode)
        except FileNotFoundError:
            os.makedirs(checked.parent, exist_ok=True)
            atomic_write(checked, text, mode)

    def write_from(self, path: StrPath, source: IO[bytes], mode: int) -> None:
        """A file at `path` holding what `source` holds (an unpacked archive's member)."""
        from poorenv._fs import write_new

        self._put(lambda _, dest: write_new(dest, source, mode), "", self.inside(path))

    def write_json(self, path: StrPath, data: Mapping[str, Any]) -> None:
        """Write `data` as indented, sorted JSON to the file `path`, atomically."""
        self.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def _put(self, make: Callable[[str, str], None], source: str, dest: str) -> None:
        """`make(source, dest)`, replacing what stands at `dest`; parents are made as needed."""
        try:
            make(source, dest)
            return
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            try:
                make(source, dest)
                return
            except FileExistsError:
                pass
        mode = os.lstat(dest).st_mode
        if stat.S_ISDIR(mode):
            self.remove(dest)
            make(source, dest)
            return
        if stat.S_ISLNK(mode):
            self._real_dirs.clear()  # a directory may have been reached through it
        tmp = os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}.poorenv-tmp")
        self._delete(tmp)
        make(source, tmp)
        os.replace(tmp, dest)

    # --- deletes --------------------------------------------------------------------------------

    def remove(self, path: StrPath) -> None:
        """Remove a file, link or directory tree of this env; links are removed, never followed."""
        text = self.inside(path, "delete")
        self.ensure_ours()
        self._delete(text)

    def _delete(self, text: str) -> None:
        """Remove what stands at the checked path `text` (no marker needed: see undo_create)."""
        import shutil

        try:
            mode = os.lstat(text).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
            self._real_dirs.clear()  # a directory may have been reached through it
        if stat.S_ISDIR(mode):
            self._refuse_mounts(text)
            shutil.rmtree(text)  # never follows links (and refuses a link given to it)
        else:
            os.unlink(text)

    def _refuse_mounts(self, directory: str) -> None:
        """Refuse to delete a directory that is, or holds, a mount point: rmtree would empty
        another filesystem, and the mount point itself cannot be removed."""
        from poorenv.errors import EnvError

        if self._mounts is None:
            self._mounts = [m for m in _mount_points() if _under(m, self._real)]
        real = os.path.realpath(directory)
        for mount in self._mounts:
            if _under(mount, real):
                raise EnvError(
                    f"refusing to delete {directory}: {mount} is a mount point",
                    hint=f"unmount it first (umount {mount}), or delete what it holds by hand",
                )

    def _empty(self, directory: str, keep: frozenset[str]) -> None:
        """Remove everything in `directory` but the names in `keep`."""
        for name in os.listdir(directory):
            if name not in keep:
                self._delete(self.inside(os.path.join(directory, name), "delete"))

    # --- the env as a whole ---------------------------------------------------------------------

    def create(self, marker: Mapping[str, Any]) -> None:
        """Make the env directory (it must not exist) and write poorenv's marker in it."""
        os.makedirs(self._root)
        self._made = (True, True, frozenset())
        self._write_marker(marker)

    def adopt(self, marker: Mapping[str, Any]) -> None:
        """Take over an empty directory (see `is_empty`): write poorenv's marker in it."""
        from poorenv.errors import EnvError

        if os.path.islink(self._root) or not os.path.isdir(self._root):
            raise EnvError(f"env path {self.path}: exists and is not a directory")
        if not is_empty(self._root):
            raise foreign(self.path)
        state_dir = os.fspath(self.state_dir)
        had_state_dir = os.path.isdir(state_dir)
        before = frozenset(os.listdir(state_dir)) if had_state_dir else frozenset()
        self._made = (False, not had_state_dir, before)
        self._write_marker(marker)

    def _write_marker(self, marker: Mapping[str, Any]) -> None:
        self.write_json(self.state_dir / MARKER, marker)
        self._ours = True

    def undo_create(self) -> None:
        """After a failed first build: the directory as it was before `create` (absent) or
        `adopt` (empty, its own `.poorenv` as it was). Nothing if neither ran.

        Only what poorenv made goes: the names it wrote at the env's top, what the installer
        added (`claim`), its marker and state. Anything else put there meanwhile stays, and
        with it the directory."""
        if self._made is None or os.path.islink(self._root):
            return
        made_env, made_state_dir, before = self._made
        made = [name for name, existed in self._tops.items() if not existed]
        self._made, self._tops, self._ours = None, {}, False
        for name in made:
            if name != STATE_DIR:
                self._delete(self.inside(os.path.join(self._root, name), "delete"))
        state_dir = os.fspath(self.state_dir)
        for name in (STATE, MARKER):
            if name not in before:
                self._delete(self.inside(os.path.join(state_dir, name), "delete"))
        if made_state_dir:
            _rmdir_if_empty(state_dir)
        if made_env:
            _rmdir_if_empty(self._root)

    def clear(self, marker: Mapping[str, Any]) -> None:
        """Empty the env but for poorenv's own directory, then write the new marker.

        The state is reset before anything is removed, so an interrupted clear is redone.
        """
        self.ensure_ours()
        self.write_json(self.state_dir / STATE, {})
        self._empty(self._root, frozenset({STATE_DIR}))
        self._write_marker(marker)

    def remove_env(self) -> None:
        """Delete the whole env, which must carry poorenv's marker; the marker goes last.

        Refused before anything is deleted: an env that is or holds a mount point, and one with
        a directory poorenv may not write (a read-only filesystem, another user's env)."""
        from poorenv.errors import EnvError, os_hint

        if os.path.islink(self._root) or read_marker(self._root) is None:
            if not os.path.islink(self._root) and damaged_marker(self._root):
                raise foreign(self.path, "remove")
            raise EnvError(
                f"{self.path}: refusing to remove: it carries no poorenv marker",
                hint="poorenv deletes only envs it made; remove it by hand if you are sure",
            )
        self._refuse_mounts(self._root)
        try:
            _require_writable(self._root)
            self._empty(self._root, frozenset({STATE_DIR}))
            state_dir = os.fspath(self.state_dir)
            self._empty(state_dir, frozenset({MARKER}))
            os.unlink(os.path.join(state_dir, MARKER))
            os.rmdir(state_dir)
            os.rmdir(self._root)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise EnvError(
                f"{self.path}: cannot remove{where}: {exc.strerror}", hint=os_hint(exc)
            ) from None
        self._ours = False


def _rmdir_if_empty(directory: str) -> None:
    import errno

    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise


def _require_writable(root: str) -> None:
    """OSError unless every directory of the tree at `root`, and its parent, may be written."""
    for directory in (os.path.dirname(root), root):
        _writable(directory)

    def fail(exc: OSError) -> None:
        raise exc

    for directory, _dirs, _files in os.walk(root, onerror=fail):
        _writable(directory)


def _writable(directory: str) -> None:
    import errno

    if os.access(directory, os.W_OK | os.X_OK):
        return
    read_only = os.statvfs(directory).f_flag & os.ST_RDONLY
    code = errno.EROFS if read_only else errno.EACCES
    raise OSError(code, os.strerror(code), directory)


def _mount_points(table: str = "/proc/self/mountinfo") -> list[str]:
    """Every mount point of this process (Linux: /proc/self/mountinfo; elsewhere none)."""
    import re

    try:
        with open(table, encoding="utf-8", errors="surrogateescape") as handle:
            fields = [line.split() for line in handle]
    except OSError:
        return []
    unescape = re.compile(r"\\([0-7]{3})")  # "\040" is a space
    return [unescape.sub(lambda m: chr(int(m.group(1), 8)), f[4]) for f in fields if len(f) > 4]


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)
