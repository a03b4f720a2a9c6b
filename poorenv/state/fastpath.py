"""The no-op fast path: prove "nothing to do" from file stats alone.

A sync that completes records a stamp in the env's state.json: the stat (mtime, ctime, size,
inode) of every input (poorenv.toml, poorenv.lock, requirements and constraints files, the base
executable), of the directories interpreter discovery looks in, and of the env's own
directories and files. ctime cannot be set back by hand, so a stamp that still matches proves
that nothing the planner reads has changed (for hard-linked files, whose ctime other envs bump,
mtime, size and inode do). Then `sync` and `check` answer without importing
pip, pip-tools or packaging and without starting any interpreter. Any doubt (a missing or
different stamp, an unreadable file, the note of an unfinished sync) falls back to the full
planner.

This module imports only os and json when it answers: it runs on every no-op sync. The stamp
keeps poorenv.toml's text with the credentials of its URLs masked (`redact`: state.json is
cached and shared by CI, a password must not be in it), so that an unchanged file needs no TOML
parser, and with no `path` key in it the env is at its default place. A changed password alone
changes no input of the env (the lock's input hash leaves credentials out too).
"""

from __future__ import annotations

import os
import stat as statmod

from poorenv.discover import places
from poorenv.paths import (
    CONFIG_NAME,
    DEFAULT_ENV_PATH,
    MARKER,
    STATE,
    STATE_DIR,
    UNFINISHED,
    loads_json,
    loads_toml,
)

TYPE_CHECKING = False  # typing, collections.abc, json, re: none is imported on the no-op path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from typing import Any

STAMP_FORMAT = 4  # 3: the config text is kept redacted; 4: the env's identity
ANSWERS = {"sync": "in sync, nothing to do", "check": "in sync"}  # what a no-op prints
_SKIP_DIRS = frozenset({"__pycache__", "site-packages", "dist-packages", "test"})


def stat_of(path: str) -> list[int] | None:
    """mtime, ctime, size, inode. The ctime of a file with several hard links is left out:
    every env built on a base links its executable, which bumps the ctime of the base's
    and of every other env's copy (the same inode) without changing a byte."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    shared = st.st_nlink > 1 and not statmod.S_ISDIR(st.st_mode)
    return [st.st_mtime_ns, 0 if shared else st.st_ctime_ns, st.st_size, st.st_ino]


def discovery_dirs(request: str) -> list[str]:
    """The directories discovery searches for `request` (places.search_dirs), in search order:
    a changed order may change which of two equal interpreters is found."""
    return places.search_dirs(request)


def take(
    files: Iterable[str],
    env: Path,
    request: str,
    lock_fresh: bool,
    config_text: str,
    deployed: bool = False,
) -> dict[str, Any]:
    """The stamp of a synced env: call it last, after every write of the sync. `deployed`:
    the env is a generation (poorenv.toml has `[deploy]`), which a plain `sync` refuses."""
    paths = set(files)
    paths.update(str(p) for p in _env_dirs(env))
    dirs = discovery_dirs(request)
    paths.update(dirs)
    return {
        "format": STAMP_FORMAT,
        "lock_fresh": lock_fresh,
        "config": _without_credentials(config_text),
        "request": request,
        "discovery": dirs,
        "env": identity(str(env)),
        "stats": {path: stat_of(path) for path in sorted(paths)},
        "deployed": deployed,
    }


def identity(env: str) -> list[Any] | None:
    """The env directory's real path and (st_dev, st_ino): one stat. A stamp answers only for
    the directory it was taken in, never for a copy (whose stamp names the original's files,
    which still match) or for a directory restored at its path."""
    real = os.path.realpath(env)
    try:
        st = os.stat(real)
    except OSError:
        return None
    return [real, st.st_dev, st.st_ino]


def _env_dirs(env: Path) -> Iterable[Path]:
    """The env's dirs and bin files; of site-packages, the dir and its .dist-info dirs."""
    from pathlib import Path

    yield env
    for top in ("bin", "lib", "include", "local"):
        root = env / top
        if not root.is_dir() or root.is_symlink():
            continue
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
            here = Path(directory)
            yield here
            if top == "bin":
                yield from (here / name for name in files)
    for pattern in ("**/site-packages", "**/dist-packages"):
        for site in env.glob(pattern):
            yield site
            # Each distribution's metadata dir: a RECORD lost or rewritten shows here.
            yield from site.glob("*.dist-info")
    yield env / "pyvenv.cfg"
    yield env / STATE_DIR / MARKER


def _without_credentials(text: str) -> str:
    """poorenv.toml's text as the stamp keeps it: the credentials of its URLs masked.
    `poorenv.redact` is imported only for a text that may hold one (a URL and an `@`)."""
    if "@" not in text or "://" not in text:
        return text
    from poorenv.redact import redact

    return redact(text)


def matches(
    stamp: Mapping[str, Any] | None, request: str, config_text: str, env: str | None = None
) -> bool:
    """True when `stamp` proves the env is still exactly as the last complete sync left it:
    the env directory `env` (or without it, the one the stamp names) is the one stamped."""
    if not isinstance(stamp, dict) or stamp.get("format") != STAMP_FORMAT:
        return False
    recorded = stamp.get("env")
    if not isinstance(recorded, list) or not recorded or not isinstance(recorded[0], str):
        return False
    if identity(recorded[0] if env is None else env) != recorded:
        return False
    if not stamp.get("lock_fresh") or stamp.get("config") != _without_credentials(config_text):
        return False
    if stamp.get("request") != request or stamp.get("discovery") != discovery_dirs(request):
        return False
    stats = stamp.get("stats")
    if not isinstance(stats, dict) or not stats:
        return False
    return all(stat_of(path) == value for path, value in stats.items())


def quick_check(start: str, for_sync: bool = False) -> str | None:
    """The env path when poorenv.toml's env is provably in sync; None when in any doubt, and
    `for_sync` (a plain `sync`) for an env deployed in generations: sync refuses those."""
    directory = os.path.realpath(start)
    while True:
        config = os.path.join(directory, CONFIG_NAME)
        if os.path.isfile(config):
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent
    try:
        with open(config, "rb") as handle:
            text = handle.read().decode("utf-8")
        if _may_set_path(text):  # perhaps [env] path: read the TOML
            env_table = _env_table(text)
            where = env_table.get("path") or DEFAULT_ENV_PATH
            if not isinstance(where, str):
                return None
            env = os.path.realpath(os.path.join(directory, os.path.expanduser(where)))
        else:
            env = os.path.realpath(os.path.join(directory, DEFAULT_ENV_PATH))
        if os.path.lexists(os.path.join(env, STATE_DIR, UNFINISHED)):
            return None  # a sync began to change packages and did not finish
        with open(os.path.join(env, STATE_DIR, STATE), "rb") as handle:
            state = loads_json(handle.read())
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("stamp"), dict):
        return None
    stamp = state["stamp"]
    if for_sync and stamp.get("deployed"):
        return None
    # The text is the one the stamp was taken with, so its python request is the stamp's.
    request = stamp.get("request")
    if not isinstance(request, str):
        return None
    return env if matches(stamp, request, text, env) else None


def _may_set_path(text: str) -> bool:
    """False only when poorenv.toml's text cannot set `[env] path`: no `path` followed by `=`
    (past a closing quote: `"path" =`, `{ path = ...}`, `env.path =`) and no escape that could
    spell it. A `path` inside a value (a directory called wt-fastpath) needs no TOML parser."""
    if "\\" in text:
        return True
    at = text.find("path")
    while at >= 0:
        at += 4
        while at < len(text) and text[at] in " \t\"'":
            at += 1
        if text.startswith("=", at):
            return True
        at = text.find("path", at)
    return False


def _env_table(text: str) -> dict[str, Any]:
    table = loads_toml(text).get("env", {})
    if not isinstance(table, dict):
        raise ValueError("[env]")
    return table
