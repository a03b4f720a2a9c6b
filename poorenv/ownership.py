"""Whether a directory is an env poorenv made, and whether poorenv may build there (reads only).

A directory is an env poorenv made when `ENV/.poorenv/marker.json` is a regular file (in a real
`.poorenv` directory) holding a JSON object with poorenv's "format" and "created-by" keys. A
`.poorenv` the user made, a corrupt marker or a directory called marker.json make it foreign;
a damaged marker is named as such, with the command that rebuilds the env.

Imported on the no-op fast path (`is_env`): top-level imports are os and stat only.
"""

from __future__ import annotations

import os
import stat

from poorenv.paths import MARKER, STATE_DIR, loads_json

TYPE_CHECKING = False  # not typing's: typing is not imported on the no-op path
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from poorenv.errors import EnvError

    StrPath = str | os.PathLike[str]

__all__ = [
    "check_env_path",
    "damaged_marker",
    "env_exists",
    "foreign",
    "is_empty",
    "is_env",
    "read_marker",
]


def read_marker(env: StrPath) -> dict[str, Any] | None:
    """The marker of the env poorenv made at `env`; None for anything else."""
    return _marker(env)[0]


def damaged_marker(env: StrPath) -> str | None:
    """Why `env/.poorenv/marker.json`, which is there, is not a marker poorenv wrote (not JSON,
    not poorenv's, unreadable); None when there is no such file, or a good marker."""
    return _marker(env)[1]


def _marker(env: StrPath) -> tuple[dict[str, Any] | None, str | None]:
    state_dir = os.path.join(env, STATE_DIR)
    marker = os.path.join(state_dir, MARKER)
    try:
        if not stat.S_ISDIR(os.lstat(state_dir).st_mode):
            return None, None
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return None, "not a regular file"
        with open(marker, "rb") as handle:
            data = loads_json(handle.read(65536))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror}"
    except ValueError as exc:  # not JSON, not UTF-8, nested too deeply
        return None, f"not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    fmt, creator = data.get("format"), data.get("created-by")
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        return None, "no format number"
    if not isinstance(creator, str) or not creator.startswith("poorenv"):
        return None, "not created by poorenv"
    return data, None


def foreign(env: StrPath, verb: str = "build in") -> EnvError:
    """The refusal for a directory that is not poorenv's; for one whose marker is damaged,
    with the command that rebuilds it (or, to `verb` "remove", deletes it)."""
    from poorenv.errors import EnvError

    problem = damaged_marker(env)
    if problem is None:
        return EnvError.not_ours(env)
    import shlex

    rm = f"rm -r {shlex.quote(os.fspath(env))}"
    return EnvError(
        f"env path {env}: refusing to {verb} it: its marker {STATE_DIR}/{MARKER} is damaged"
        f" ({problem}), so it counts as not made by poorenv",
        hint="it looks like an env poorenv made; if it holds nothing of yours, "
        + (f"delete it by hand: {rm}" if verb == "remove" else f"rebuild it: {rm} && poorenv sync"),
    )


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


def check_env_path(env: Path, project_dir: Path, verb: str = "build in") -> None:
    """Refuse env paths that poorenv must never build in, let alone delete (`verb`: what the
    command would do there, for the message)."""
    from pathlib import Path

    from poorenv.errors import EnvError

    env = Path(os.path.realpath(env))
    home = Path(os.path.realpath(os.path.expanduser("~")))
    project = Path(os.path.realpath(project_dir))
    if env == Path(env.anchor):
        raise EnvError(f"env path {env}: refusing the filesystem root")
    if env == home or env in home.parents:
        raise EnvError(f"env path {env}: refusing the home directory or a parent of it")
    if env == project or env in project.parents:
        raise EnvError(
            f"env path {env}: refusing the project directory or a parent of it",
            hint='set [env] path to a directory of its own, e.g. ".poorenv"',
        )
    if not env_exists(env):
        return
    if not os.path.isdir(env):
        raise EnvError(f"env path {env}: exists and is not a directory")
    # Emptiness first: poorenv writes the marker before anything else, so a sync that builds
    # the env meanwhile (this check runs before the env's lock is taken) is never mistaken.
    try:
        ours = is_empty(env) or is_env(env)
    except OSError as exc:
        raise EnvError(f"env path {env}: cannot read it: {exc.strerror}") from None
    if not ours:
        raise foreign(env, verb)


def env_exists(env: Path) -> bool:
    """Whether something stands at `env`; an EnvError when that cannot be known (a directory
    on the way that may not be searched, a symlink loop)."""
    from poorenv.errors import EnvError

    try:
        os.stat(env)
    except (FileNotFoundError, NotADirectoryError):
        return os.path.islink(env)  # a link to nothing is something
    except OSError as exc:
        raise EnvError(
            f"env path {env}: {exc.strerror}",
            hint="the env and every directory above it must be searchable by you",
        ) from None
    return True
