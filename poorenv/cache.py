"""poorenv's cache: the one owner of its directory, of making it private, and of whether an
entry in it may be used.

The cache is a place code comes from: pip runs from its unpacked wheel there on every install,
pip-tools from a resolver venv there on every lock, and the probe answers kept there say which
interpreter is the base. Its users (`discover/interpreter.py`, `apply/pipwheel.py`,
`lock/resolver.py`, `project.py`'s env locks) therefore go through this module:

- `root()` makes the cache private (directories 0700, made under umask 077, and at most its
  parent made with it: never a missing home directory). It is used only when it is a directory
  of the current user that nobody else can write, that the user can write, and that no
  directory above it lets another user swap (owned by the user or root, and not writable by
  everyone unless sticky, as /tmp is).
- `trusted(entry)` is the check every user makes before using an entry: the entry and every
  directory from the root down to it are the user's own and writable by nobody else (with
  `tree`, everything under it too). What an entry says is then checked by its user against
  the real file it describes (the executable probed, the wheel unpacked, the base of a venv).
- Anything else is ignored: one warning naming the cache path, and the rest of the run uses a
  private temporary cache, removed at exit (the tools poorenv starts keep their own caches
  there too: `children_environ`). poorenv works on without the cache, as root too.
- `private()` is the umask (077) under which poorenv and its children write into the cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from poorenv import paths
from poorenv.errors import EnvError

log = logging.getLogger(__name__)

_roots: dict[str, Path] = {}  # configured cache dir -> the root this process uses for it
_temporary: set[Path] = set()  # roots made for this run only
_warned: set[str] = set()  # configured cache dirs already warned about
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def root() -> Path:
    """The cache directory this run uses: the configured one (`paths.cache_dir`), made private
    where missing, or a private temporary one when it cannot be trusted (one warning)."""
    configured, problem = _configured()
    chosen = _roots.get(configured)
    if chosen is None:
        problem = problem or _root_problem(Path(configured))
        if problem is None:
            chosen = Path(os.path.realpath(configured))
        else:
            chosen = _fallback(configured, problem)
        _roots[configured] = chosen
    return chosen


def directory(*parts: str) -> Path:
    """`root()/parts`, made private where missing. A directory on the way that cannot be
    trusted (or made) switches the run to a temporary cache first."""
    for _ in range(2):
        target = root().joinpath(*parts)
        try:
            with private():
                target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            give_up(f"cannot create {target}: {exc.strerror or exc}")
            continue
        if trusted(target):
            return target
    raise EnvError(f"poorenv's temporary cache {root()}: cannot use {os.path.join(*parts)}")


def lock_dir() -> Path:
    """Where the env file locks live: the cache's `locks`, or, while this run uses a temporary
    cache (which is this process's alone), a per-user directory in the system's temp dir, so that
    two poorenv runs of one user still meet at the same lock file."""
    locks = directory("locks")
    if root() not in _temporary:
        return locks
    import tempfile

    shared = Path(tempfile.gettempdir()) / f"poorenv-{os.getuid()}-locks"
    try:
        with private():
            shared.mkdir(exist_ok=True)
        info = os.lstat(shared)
    except OSError as exc:
        raise EnvError(
            f"{shared}: cannot keep env locks there: {exc.strerror or exc}",
            hint="set POORENV_CACHE_DIR to a directory of yours",
        ) from None
    problem = _problem(shared, info, link_ok=False)
    if problem is not None:
        raise EnvError(
            f"{shared}: {problem}; env locks cannot be kept there",
            hint="set POORENV_CACHE_DIR to a directory of yours",
        )
    return shared


def trusted(entry: Path, tree: bool = False) -> bool:
    """Whether the cache entry `entry` may be used (True also when it does not exist).

    False when it must not be: then the run has switched to a temporary cache (one warning)
    and the caller computes its paths again from `root()`.
    """
    reason = untrusted(entry, tree)
    if reason is None:
        return True
    give_up(reason)
    return False


def untrusted(entry: Path, tree: bool = False) -> str | None:
    """Why `entry` must not be used, or None: it, and every directory from the cache root down
    to it, must belong to the current user and be writable by nobody else, and none of them a
    symbolic link; with `tree`, every file and directory under it too (links there may stay,
    when they are the user's own). A missing entry has nothing to distrust.

    An entry outside the cache (a bundled wheel, a test's directory) is checked with its
    parent directory only.
    """
    top = root()
    try:
        parts = entry.relative_to(top).parts
        chain = [top.joinpath(*parts[: i + 1]) for i in range(len(parts))]
    except ValueError:
        chain = [entry.parent, entry]
    for path in chain:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{path}: {exc.strerror or exc}"
        reason = _problem(path, info, link_ok=False)
        if reason:
            return reason
    if tree and stat.S_ISDIR(os.lstat(entry).st_mode):
        return _tree_problem(entry)
    return None


def give_up(reason: str) -> None:
    """Stop using the configured cache for this run (`reason` names the entry at fault): one
    warning, then a private temporary cache."""
    configured, _ = _configured()
    current = _roots.get(configured)
    if current in _temporary:
        raise EnvError(f"poorenv's temporary cache {current}: {reason}")
    _roots[configured] = _fallback(configured, reason)


def warn(entry: Path, reason: str) -> None:
    """Say once per run that the cache entry `entry` is ignored (its user makes it again)."""
    configured, _ = _configured()
    if configured not in _warned:
        _warned.add(configured)
        log.warning("poorenv's cache %s: %s: %s; ignored", configured, entry, reason)


def children_environ() -> dict[str, str]:
    """What the tools poorenv starts (pip, pip-tools, uv) get while the run uses a temporary
    cache: their own caches there too (XDG_CACHE_HOME), so that a broken XDG_CACHE_HOME or
    HOME breaks none of them and no tool makes a missing home directory. Otherwise nothing."""
    current = _roots.get(_configured()[0])
    if current is None or current not in _temporary:
        return {}
    return {"XDG_CACHE_HOME": str(current / "tools")}


@contextlib.contextmanager
def private() -> Iterator[None]:
    """Files and directories made meanwhile (by poorenv or the children it starts) are the
    user's only (umask 077)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


# --- the root --------------------------------------------------------------------------------


def _configured() -> tuple[str, str | None]:
    """The configured cache dir, and why it cannot be used when that is known already."""
    try:
        return str(paths.cache_dir()), None
    except RuntimeError as exc:  # Path.home(): no HOME and no password entry
        return "~/.cache/poorenv", str(exc)


def _root_problem(top: Path) -> str | None:
    """Why the cache root `top` cannot be used; None when it can (made if missing)."""
    if not top.parent.exists() and not top.parent.parent.is_dir():
        return f"{top.parent.parent} does not exist"  # HOME=/nonexistent: never made here
    if top.exists() and not top.is_dir():
        return "not a directory"
    try:
        with private():
            top.mkdir(parents=True, exist_ok=True)
        real = os.path.realpath(top)
        info = os.stat(real)
    except OSError as exc:
        return f"cannot create it: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode):
        return "not a directory"
    if info.st_uid != os.geteuid():
        return f"owned by {_owner(info.st_uid)}, not by you"
    if info.st_mode & _OTHERS_WRITE:
        return f"writable by others than you (`chmod go-w {real}` to use it again)"
    if not os.access(real, os.W_OK | os.X_OK):
        return "not writable by you"
    parent = os.path.dirname(real)
    while True:
        try:
            info = os.stat(parent)
        except OSError as exc:
            return f"{parent}: {exc.strerror or exc}"
        if info.st_uid not in (0, os.geteuid()):
            return f"{parent} belongs to {_owner(info.st_uid)}, who could replace the cache"
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
            return f"{parent} is writable by everyone, who could replace the cache"
        if parent == os.path.dirname(parent):
            return None
        parent = os.path.dirname(parent)


def _fallback(configured: str, reason: str) -> Path:
    """A private temporary cache for the rest of the run, removed at exit; one warning."""
    import atexit
    import shutil
    import tempfile

    try:
        made = Path(os.path.realpath(tempfile.mkdtemp(prefix="poorenv-cache-")))
    except OSError as exc:
        raise EnvError(
            f"poorenv's cache {configured}: {reason}, and no temporary cache can be made:"
            f" {exc.strerror or exc}",
            hint="set POORENV_CACHE_DIR to a directory of yours",
        ) from None
    atexit.register(shutil.rmtree, made, True)
    _temporary.add(made)
    if configured not in _warned:
        _warned.add(configured)
        log.warning(
            "poorenv's cache %s: %s; not used: this run uses a temporary cache", configured, reason
        )
    return made


# --- entries ---------------------------------------------------------------------------------


def _problem(path: Path | str, info: os.stat_result, link_ok: bool) -> str | None:
    if stat.S_ISLNK(info.st_mode) and not link_ok:
        return f"{path} is a symbolic link"
    if info.st_uid != os.geteuid():
        return f"{path} is owned by {_owner(info.st_uid)}, not by you"
    if not stat.S_ISLNK(info.st_mode) and info.st_mode & _OTHERS_WRITE:
        return f"{path} is writable by others than you"
    return None


def _tree_problem(top: Path) -> str | None:
    """The first file or directory under `top` that is not the user's own or that others can
    write (links may be there when they are the user's own). One lstat per entry."""
    uid = os.geteuid()
    todo = [str(top)]
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    mode = info.st_mode
                    if info.st_uid != uid or (mode & _OTHERS_WRITE and not stat.S_ISLNK(mode)):
                        return _problem(entry.path, info, link_ok=True)
                    if stat.S_ISDIR(mode):
                        todo.append(entry.path)
        except OSError as exc:
            return f"{exc.filename}: {exc.strerror or exc}"
    return None


def _owner(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
