"""The env directory: whether a directory is poorenv's, and every write and delete inside it.

A directory is an env poorenv made when `ENV/.poorenv/marker.json` is a regular file (in a real
`.poorenv` directory) holding a JSON object with poorenv's "format" and "created-by" keys. A
`.poorenv` the user made, a corrupt marker or a directory called marker.json make it foreign.

`EnvDir` is the only code that writes or deletes in an env. Every path is checked first: it
must lie under the env, and its parent directory, with symlinks followed, must too; a link is
replaced or removed as a link, never followed. Deleting needs the marker, and undoing a failed
first build removes only what this `EnvDir` made.

Imported on the no-op fast path (`is_env`): top-level imports are os, json and stat only.
"""

from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING, Any

from poorenv.paths import MARKER, STATE, STATE_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    StrPath = str | os.PathLike[str]

__all__ = ["EnvDir", "check_env_path", "is_empty", "is_env", "read_marker"]


# --- what is ours (reads only) ------------------------------------------------------------------


def read_marker(env: StrPath) -> dict[str, Any] | None:
    """The marker of the env poorenv made at `env`; None for anything else."""
    state_dir = os.path.join(env, STATE_DIR)
    marker = os.path.join(state_dir, MARKER)
    try:
        if not stat.S_ISDIR(os.lstat(state_dir).st_mode):
            return None
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return None
        with open(marker, "rb") as handle:
            data = json.loads(handle.read(65536))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    fmt, creator = data.get("format"), data.get("created-by")
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        return None
    if not isinstance(creator, str) or not creator.startswith("poorenv"):
        return None
    return data


def is_env(directory: StrPath) -> bool:
    """Whether `directory` is an env poorenv made (it carries poorenv's marker)."""
    return read_marker(directory) is not None


def is_empty(env: StrPath) -> bool:
    """Whether the directory `env` holds nothing but what a killed `create` leaves: an empty
    `.poorenv` directory, or one with a temporary marker in it. Such a directory is adopted."""
    from poorenv._fs import TMP_SUFFIX

    try:
        names = os.listdir(env)
        if not names:
            return True
        if names != [STATE_DIR]:
            return False
        state_dir = os.path.join(env, STATE_DIR)
        if not stat.S_ISDIR(os.lstat(state_dir).st_mode):
            return False
        leftovers = os.listdir(state_dir)
    except FileNotFoundError:  # removed meanwhile (by `poorenv remove`): nothing there
        return True
    return all(name.startswith(".") and name.endswith(TMP_SUFFIX) for name in leftovers)


def check_env_path(env: Path, project_dir: Path) -> None:
    """Refuse env paths that poorenv must never build in, let alone delete."""
    from pathlib import Path

    from poorenv.errors import EnvError

    env = env.resolve()
    home = Path.home().resolve()
    project = project_dir.resolve()
    if env == Path(env.anchor):
        raise EnvError(f"env path {env}: refusing the filesystem root")
    if env == home or env in home.parents:
        raise EnvError(f"env path {env}: refusing the home directory or a parent of it")
    if env == project or env in project.parents:
        raise EnvError(
            f"env path {env}: refusing the project directory or a parent of it",
            hint='set [env] path to a directory of its own, e.g. ".poorenv"',
        )
    if env.exists() and not env.is_dir():
        raise EnvError(f"env path {env}: exists and is not a directory")
    # Emptiness first: poorenv writes the marker before anything else, so a sync that builds
    # the env meanwhile (this check runs before the env's lock is taken) is never mistaken.
    if env.is_dir() and not is_empty(env) and not is_env(env):
        raise EnvError.not_ours(env)


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

    def link_or_copy(self, source: str, dest: StrPath) -> None:
        """A hard link of `source` at `dest`, or a copy where links are refused."""
        self._put(_link_or_copy, source, self.inside(dest))

    def write_text(self, path: StrPath, text: str) -> None:
        """Write the file `path` atomically (a link standing there is replaced)."""
        from pathlib import Path

        from poorenv._fs import atomic_write

        checked = Path(self.inside(path))
        try:
            atomic_write(checked, text)
        except FileNotFoundError:
            os.makedirs(checked.parent, exist_ok=True)
            atomic_write(checked, text)

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
            shutil.rmtree(text)  # never follows links (and refuses a link given to it)
        else:
            os.unlink(text)

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
            raise EnvError.not_ours(self.path)
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
        `adopt` (empty, its own `.poorenv` as it was). Nothing if neither ran."""
        if self._made is None or os.path.islink(self._root):
            return
        made_env, made_state_dir, before = self._made
        self._made = None
        self._ours = False
        self._empty(self._root, frozenset({STATE_DIR}))
        state_dir = os.fspath(self.state_dir)
        if made_state_dir:
            self._delete(self.inside(state_dir, "delete"))
        elif os.path.isdir(state_dir):
            self._empty(state_dir, before)
        if made_env:
            os.rmdir(self._root)

    def clear(self, marker: Mapping[str, Any]) -> None:
        """Empty the env but for poorenv's own directory, then write the new marker.

        The state is reset before anything is removed, so an interrupted clear is redone.
        """
        self.ensure_ours()
        self.write_json(self.state_dir / STATE, {})
        self._empty(self._root, frozenset({STATE_DIR}))
        self._write_marker(marker)

    def remove_env(self) -> None:
        """Delete the whole env, which must carry poorenv's marker; the marker goes last."""
        from poorenv.errors import EnvError

        if os.path.islink(self._root) or read_marker(self._root) is None:
            raise EnvError(
                f"{self.path}: refusing to remove: it carries no poorenv marker",
                hint="poorenv deletes only envs it made; remove it by hand if you are sure",
            )
        self._empty(self._root, frozenset({STATE_DIR}))
        state_dir = os.fspath(self.state_dir)
        self._empty(state_dir, frozenset({MARKER}))
        os.unlink(os.path.join(state_dir, MARKER))
        os.rmdir(state_dir)
        os.rmdir(self._root)
        self._ours = False


def _link_or_copy(source: str, dest: str) -> None:
    """A hard link, or a copy where the filesystems differ (or links are refused)."""
    import shutil

    try:
        os.link(source, dest)
    except FileExistsError:
        raise
    except OSError:
        shutil.copy2(source, dest)
