"""One lock for several Pythons (`[lock] pythons`): the interpreters a lock is resolved for.

The lock holds one resolution per X.Y: the env's own, and one for each other listed X.Y,
resolved by an interpreter of that version that discovery finds (pip-tools evaluates markers
for the interpreter it runs in; uv is given it with --python). `sync` installs the resolution
that matches the env's base (`Lock.select`), so that a CI matrix over those versions syncs
`--locked` from one committed lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poorenv.errors import InterpreterError, LockError

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.discover.find import Prober
    from poorenv.discover.interpreter import Interpreter


def lock_interpreters(
    config: Config, base: Interpreter, probe: Prober | None = None
) -> list[Interpreter]:
    """`base` first, then an interpreter of each other X.Y of `[lock] pythons` (by version);
    a LockError naming the X.Y when none is found."""
    from poorenv.discover.find import find_interpreter

    found = [base]
    for xy in sorted(config.lock_pythons, key=lambda v: int(v.split(".")[1])):
        if xy == base.xy:
            continue
        try:
            found.append(find_interpreter(xy, config.project_dir, probe))
        except InterpreterError as exc:
            raise LockError(
                f"{config.file}: [lock] pythons: {xy}: {exc.message}",
                hint=f"install CPython {xy} (e.g. `pyenv install {xy}`): the lock is resolved"
                " by an interpreter of each listed version",
            ) from None
    return found


def export_requirements(config: Config) -> str:
    """poorenv.lock as a requirements file: its resolution for the env's Python (a lock for
    one Python is exported as it is, without looking for an interpreter)."""
    from poorenv.discover.find import find_interpreter
    from poorenv.lock.inputs import missing_python
    from poorenv.lock.lockfile import lock_path, require_lock

    path = lock_path(config)
    lock = require_lock(path)
    if len(lock.resolutions) > 1:
        base = find_interpreter(config.python, config.project_dir)
        chosen = lock.select(base)
        if chosen is None:
            raise LockError(
                f"{path}: no resolution for the env's Python: {missing_python(lock, base)}",
                hint=f'add "{base.xy}" to [lock] pythons and run `poorenv lock`',
            )
        lock = chosen
    return lock.to_requirements()
