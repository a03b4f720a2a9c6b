"""The project files an archive carries (poorenv.toml, the lock, requirements files): which
may be written, whether those already here are the archive's, and writing the absent ones."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv.deploy.archive import ArchiveError, os_name

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.project import Project


def text(archive: Path, files: Mapping[str, bytes], name: str) -> str:
    try:
        return files[name].decode("utf-8")
    except KeyError:
        raise ArchiveError(f"{archive}: holds no {name}") from None
    except UnicodeDecodeError:
        raise ArchiveError(f"{archive}: its {name} is not UTF-8") from None


def only_inputs(archive: Path, project: Project, files: Mapping[str, bytes]) -> None:
    """Refuse project files other than poorenv.toml, the lock, the inputs poorenv.toml names
    and the files their `-r`/`-c` lines include (read from the archive's own copies): an
    archive must not plant anything else in the project directory (a `.git` hook, a template)."""
    import posixpath

    from poorenv.lock.reqfile import includes

    config = project.config
    root = config.project_dir
    named = [config.file, project.lock_path, *config.requirement_files, *config.constraint_files]
    if config.project is not None:
        named.append(config.project / "pyproject.toml")
    allowed = {os.path.relpath(p, root).replace(os.sep, "/") for p in named}
    todo = [os.path.relpath(p, root).replace(os.sep, "/") for p in named[2:]]
    while todo:
        name = todo.pop()
        if name not in files or name.endswith("pyproject.toml"):
            continue
        for target in includes(files[name].decode("utf-8-sig", "replace")):
            included = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if included not in allowed:
                allowed.add(included)
                todo.append(included)
    for name in files:
        if name not in allowed:
            raise ArchiveError(
                f"{archive}: project file {name!r}: not poorenv.toml, the lock or a"
                " requirements file they read; refusing to unpack",
                hint="the archive was not written by `poorenv pack`, or was changed since",
            )


def compare_files(project_dir: Path, files: Mapping[str, bytes]) -> list[str]:
    """The project files to write (absent here); ArchiveError naming the first that is here
    with other bytes (or as a link)."""
    from poorenv._fs import read_regular

    absent = []
    for name in sorted(files):
        path = project_dir / os_name(name)
        if not os.path.lexists(path):
            absent.append(name)
            continue
        try:
            same = read_regular(path) == files[name]
        except OSError:
            same = False
        if not same:
            raise ArchiveError(
                f"{path}: differs from the archive's {name}; refusing to unpack",
                hint="unpack into a project whose files are the packed ones, or an empty one",
            )
    return absent


def write_project_file(project_dir: Path, name: str, data: bytes) -> list[Path]:
    """Write the absent project file `name`; returns what was made (directories, the file),
    in the order made, for taking back."""
    from poorenv._fs import atomic_write

    path = project_dir / os_name(name)
    real_dir = os.path.realpath(project_dir)
    parent = os.path.realpath(path.parent)
    if parent != real_dir and not parent.startswith(real_dir + os.sep):
        raise ArchiveError(f"{path}: leads outside the project directory; refusing to write it")
    made = [p for p in reversed(path.relative_to(project_dir).parents) if p != Path()]
    made = [project_dir / p for p in made if not os.path.lexists(project_dir / p)]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return [*made, path]


def trust_archived_config(archive: Path, config: Config) -> None:
    """The archive's poorenv.toml is to be written here: it may not put the env outside the
    project directory, nor bring commands (`[deploy] smoke`, `reload`) that unpack would run."""
    root = os.path.realpath(config.project_dir)
    for path in (config.served_path, config.env_path):
        real = os.path.realpath(path.parent) + os.sep + path.name
        if not real.startswith(root + os.sep):
            raise ArchiveError(
                f"{archive}: its poorenv.toml puts the env outside the project directory"
                f" ({path}); refusing to unpack",
                hint="write poorenv.toml here yourself (the archive's own must then be equal)",
            )
    if config.deploy is not None and (config.deploy.smoke or config.deploy.reload):
        raise ArchiveError(
            f"{archive}: its poorenv.toml has [deploy] commands that unpack would run;"
            " refusing to take them from an archive",
            hint="read them, then put that poorenv.toml here yourself and unpack again",
        )
