"""`[requirements] project`: what a project's pyproject.toml asks for.

`[project]` is read with PyPA's `pyproject-metadata` (every field checked as the build
backends check it), `[dependency-groups]` with PyPA's `dependency-groups` (PEP 735: includes,
cycles). The lock gets the project's `dependencies`, the optional-dependency sets named by
`[requirements] extras` and the groups named by `groups`; a requirement that names the project
itself (`myapp[test]` in an extra or a group) stands for those extras' requirements. A
`dynamic` dependencies field is read through the build backend (`backend.py`), when a lock is
made: until then the input hash covers the pyproject.toml's text instead of the requirements.

Every problem is a ConfigError naming the pyproject.toml and the key.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv.errors import ConfigError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

    from poorenv.config import Config
    from poorenv.discover.interpreter import Interpreter
    from poorenv.lock.localproject import LockedProject
    from poorenv.lock.origins import Origins

PYPROJECT = "pyproject.toml"
DYNAMIC_FIELDS = ("dependencies", "optional-dependencies")


@dataclass(frozen=True)
class ProjectRequirements:
    """What the project asks the lock for, each requirement with where it was written."""

    name: str  # canonical
    directory: Path
    build: bool  # it has a [build-system]: installed editable
    # (requirement as normalised by packaging, where: "[project] dependencies")
    requirements: tuple[tuple[str, str], ...]
    backend: str | None = None  # build-backend (None: setuptools' legacy default)
    backend_requires: tuple[str, ...] = ()
    backend_path: tuple[str, ...] = ()
    # The [project] fields the backend gives ("dependencies", "optional-dependencies") that
    # are needed; while any is left, `requirements` lacks them and `text_digest` stands in.
    dynamic: tuple[str, ...] = ()
    text_digest: str = ""  # sha256 of the pyproject.toml's text

    @property
    def file(self) -> Path:
        return self.directory / PYPROJECT

    def hash_inputs(self, config_dir: Path) -> dict[str, Any]:
        """What of the project the lock's input hash covers: its requirements (not its
        source); with dynamic fields left, the pyproject.toml's text too."""
        inputs: dict[str, Any] = {
            "path": os.path.relpath(self.directory, config_dir),
            "name": self.name,
            "build": self.build,
            "requirements": [line for line, _ in self.requirements],
        }
        if self.dynamic:
            inputs["dynamic"] = [list(self.dynamic), self.text_digest]
        return inputs

    def locked(self, config_dir: Path) -> LockedProject:
        from poorenv.lock.localproject import LockedProject

        path = Path(os.path.relpath(self.directory, config_dir)).as_posix()
        return LockedProject(self.name, path, editable=True, build=self.build)


def read_project(config: Config) -> ProjectRequirements | None:
    """The project poorenv.toml names, read statically (no backend runs); None without one."""
    if config.project is None:
        return None
    return read_pyproject(config.project, config.extras, config.groups)


def read_pyproject(
    directory: Path, extras: tuple[str, ...] = (), groups: tuple[str, ...] = ()
) -> ProjectRequirements:
    """Read `directory`/pyproject.toml for `extras` and `groups` (names normalised)."""
    from packaging.utils import canonicalize_name

    from poorenv.paths import loads_toml

    file = directory / PYPROJECT
    try:
        raw = file.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        hint = "[requirements] project names a directory with a pyproject.toml"
        raise ConfigError(f"{file}: no such file", hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = loads_toml(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, tomllib.TOMLDecodeError, nested too deeply
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    build_system = data.get("build-system")
    if build_system is not None and not isinstance(build_system, Mapping):
        raise ConfigError(f"{file}: [build-system]: expected a table")
    backend, requires, backend_path = _build_system(file, build_system or {})
    digest = hashlib.sha256(raw).hexdigest()
    if "project" in data:
        name, lines, dynamic, optional = _project_table(file, data, directory, extras)
    elif extras:
        raise ConfigError(f"{file}: [project] missing, so it has no extras to install")
    else:  # a PEP 735 project of groups alone: nothing to install but them
        name, lines, dynamic, optional = canonicalize_name(directory.name), [], (), {}
    own = ProjectRequirements(
        name, directory, build_system is not None and "project" in data, (), backend,
        requires, backend_path, dynamic, digest,
    )  # fmt: skip
    lines += _groups(file, data, groups, name, optional)
    return replace(own, requirements=tuple(_expand(lines, name, optional, file)))


def _build_system(
    file: Path, table: Mapping[str, Any]
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    from poorenv.tomlcheck import Where

    where = Where(file)
    requires = where.strings(table, "requires", "build-system")
    backend = where.string(table, "build-backend", "build-system", text=True)
    return backend, requires, where.strings(table, "backend-path", "build-system")


def _project_table(
    file: Path, data: Mapping[str, Any], directory: Path, extras: tuple[str, ...]
) -> tuple[str, list[tuple[str, str]], tuple[str, ...], dict[str, list[Requirement]]]:
    """[project]: its name, the requirements of `dependencies` and of the `extras`, the
    dynamic fields still needed, and every optional-dependency set by normalised name."""
    from packaging.utils import canonicalize_name
    from pyproject_metadata import ConfigurationError, StandardMetadata

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyproject-metadata warns of what a backend may
            metadata = StandardMetadata.from_pyproject(data, directory, allow_extra_keys=True)
    except ConfigurationError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except Exception as exc:  # its ExceptionGroup, on Pythons without one
        raise ConfigError(f"{file}: {exc}") from None
    name = str(canonicalize_name(metadata.name))
    dynamic = tuple(f for f in DYNAMIC_FIELDS if f in metadata.dynamic)
    needed = tuple(f for f in dynamic if f == "dependencies" or extras)
    optional: dict[str, list[Requirement]] = {
        str(canonicalize_name(k)): v for k, v in metadata.optional_dependencies.items()
    }
    lines = [(str(r), "[project] dependencies") for r in metadata.dependencies]
    if "optional-dependencies" not in needed:
        _check_names(file, "extra", extras, optional, "[project.optional-dependencies]")
        for extra in extras:
            lines += [(str(r), f"[project.optional-dependencies] {extra}") for r in optional[extra]]
    return name, lines, needed, optional


def _groups(
    file: Path,
    data: Mapping[str, Any],
    groups: tuple[str, ...],
    name: str,
    optional: Mapping[str, list[Requirement]],
) -> list[tuple[str, str]]:
    """The requirements of the dependency groups named, includes followed (PEP 735)."""
    from dependency_groups import CyclicDependencyError, DependencyGroupResolver
    from packaging.requirements import InvalidRequirement
    from packaging.utils import canonicalize_name

    table = data.get("dependency-groups", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{file}: [dependency-groups]: expected a table")
    if not groups:
        return []
    known = {str(canonicalize_name(k)): k for k in table}
    _check_names(file, "group", groups, known, "[dependency-groups]")
    lines: list[tuple[str, str]] = []
    try:
        resolver = DependencyGroupResolver(table)
        for group in groups:
            lines += [(str(r), f"[dependency-groups] {group}") for r in resolver.resolve(group)]
    except CyclicDependencyError as exc:
        raise ConfigError(
            f"{file}: [dependency-groups]: {exc}", hint="an include-group must not lead back"
        ) from None
    except LookupError as exc:  # an include of a group that is not there
        raise ConfigError(f"{file}: [dependency-groups]: {exc}") from None
    except (ValueError, TypeError, InvalidRequirement) as exc:
        raise ConfigError(f"{file}: [dependency-groups]: {str(exc).splitlines()[0]}") from None
    return lines


def _check_names(
    file: Path, what: str, wanted: tuple[str, ...], known: Mapping[str, object], table: str
) -> None:
    for name in wanted:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"{file}: no {what} {name!r} in {table}",
                hint=f"its {what}s: {listed}; fix [requirements] {what}s in poorenv.toml",
            )


def _expand(
    lines: list[tuple[str, str]],
    name: str,
    optional: Mapping[str, list[Requirement]],
    file: Path,
) -> list[tuple[str, str]]:
    """`lines` with each requirement on the project itself (`myapp[test]`) replaced by the
    requirements of those extras, once; each requirement listed once."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    out: dict[str, str] = {}
    todo = list(lines)
    seen: set[str] = set()
    while todo:
        line, where = todo.pop(0)
        req = Requirement(line)
        if canonicalize_name(req.name) != name:
            out.setdefault(line, where)
            continue
        if req.marker is not None or req.url:
            raise ConfigError(f"{file}: {where}: {line!r}: the project itself with a marker or URL")
        extras = sorted(canonicalize_name(e) for e in req.extras)
        _check_names(file, "extra", tuple(extras), optional, "[project.optional-dependencies]")
        for extra in extras:
            if extra not in seen:
                seen.add(extra)
                todo += [(str(r), f"{where} ({name}[{extra}])") for r in optional[extra]]
    return list(out.items())


def add_project(config: Config, base: Interpreter, origins: Origins) -> LockedProject | None:
    """The resolver's hook: the project's requirements (dynamic ones through its backend)
    added to `origins`, each naming the pyproject.toml and key; the project as the lock names
    it, None without one."""
    project = read_project(config)
    if project is None:
        return None
    if project.dynamic:
        from poorenv.index import index_environ
        from poorenv.lock.backend import with_dynamic

        environ = index_environ(config.index, config.project_dir)
        project = with_dynamic(project, base, config.extras, environ)
    for spec, where in project.requirements:
        origins.add(spec, f'{project.file} {where} "{spec}"')
    return project.locked(config.project_dir)
