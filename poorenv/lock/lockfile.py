"""poorenv.lock: its typed form, reading it by its grammar, and writing it.

The lock is TOML with keys in a stable order. It records the interpreter it was resolved for
(format 1), or one resolution per interpreter of `[lock] pythons` (format 2: `[[resolution]]`),
a hash of the inputs it was made from, and per package the version and the sha256 of every
acceptable artifact. Resolving is in `resolver.py`, what a lock is made from and when it is
stale in `inputs.py`; this module never starts a process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import __version__
from poorenv._fs import atomic_write, read_regular
from poorenv.errors import LockError, os_hint
from poorenv.lock.grammar import FieldError, name_problem, sha256_problem, shown, text_problem
from poorenv.lock.localproject import LockedProject
from poorenv.lock.pins import INTERPRETER_FIELDS, LockedPackage, LockInterpreter, Resolution

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.discover.interpreter import Interpreter

__all__ = [  # the pins' types are pins.py's, named here too
    "INTERPRETER_FIELDS", "LOCK_NAME", "LOCK_VERSION", "Lock", "LockInterpreter", "LockedPackage",
    "Resolution", "lock_changes", "lock_path", "parse_lock", "read_lock", "refuse_link",
    "require_lock", "write_lock",
]  # fmt: skip

LOCK_NAME = "poorenv.lock"
LOCK_VERSION = 2  # the newest format read: 1 holds one resolution, 2 several (`[[resolution]]`)
_KEYS = (
    "version", "created-by", "input-hash", "content-hash", "interpreter", "project", "package",
)  # fmt: skip
_KEYS_2 = ("version", "created-by", "input-hash", "content-hash", "project", "resolution")
_RESOLUTION_KEYS = ("interpreter", "package")
_PROJECT_KEYS = ("name", "path", "editable", "build")
_PACKAGE_KEYS = ("name", "version", "markers", "hashes")


@dataclass(frozen=True)
class Lock:
    """A lock, about one of its resolutions (`interpreter`, `packages`): the one `select`
    chose for an env; `others` holds the rest of a lock for several Pythons (`[lock] pythons`).
    The file and the content hash do not depend on which one the value is about."""

    input_hash: str
    interpreter: LockInterpreter
    packages: tuple[LockedPackage, ...]
    created_by: str = f"poorenv {__version__}"
    version: int = 1  # the format version read (to_toml writes `format_version`)
    project: LockedProject | None = None  # `[requirements] project`: see lock/localproject.py
    others: tuple[Resolution, ...] = ()  # the other interpreters' resolutions

    @property
    def resolutions(self) -> tuple[Resolution, ...]:
        """Every resolution the lock holds, in the file's order (implementation, X.Y, ABI)."""
        every = (Resolution(self.interpreter, self.packages), *self.others)
        return tuple(sorted(every, key=Resolution.key))

    @property
    def format_version(self) -> int:
        return 2 if self.others else 1

    def select(self, base: Interpreter) -> Lock | None:
        """This lock about the resolution for `base`'s implementation, X.Y and ABI (the others
        kept in `others`); None when it holds none for `base`."""
        every = self.resolutions
        for chosen in every:
            if chosen.interpreter.mismatch(base) is None:
                rest = tuple(r for r in every if r is not chosen)
                return dataclasses.replace(
                    self, interpreter=chosen.interpreter, packages=chosen.packages, others=rest
                )
        return None

    def package(self, name: str) -> LockedPackage | None:
        for package in self.packages:
            if package.name == name:
                return package
        return None

    @property
    def content_hash(self) -> str:
        """sha256 over everything but the header: a truncated or hand-edited lock fails it."""
        body: dict[str, Any] = {
            "input-hash": self.input_hash,
            "interpreter": dataclasses.astuple(self.interpreter),
            "packages": [dataclasses.astuple(p) for p in self.packages],
        }
        if self.others:  # every resolution, in the file's order: not only the chosen one
            del body["interpreter"], body["packages"]
            body["resolutions"] = [
                [dataclasses.astuple(r.interpreter), [dataclasses.astuple(p) for p in r.packages]]
                for r in self.resolutions
            ]
        if self.project is not None:  # only then: locks without one keep their hash
            body["project"] = dataclasses.astuple(self.project)
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def to_requirements(self) -> str:
        lines = [
            f"# Exported from {LOCK_NAME} ({self.interpreter.implementation}"
            f" {self.interpreter.python}, {self.interpreter.platform}) by poorenv {__version__}",
        ]
        if self.project is not None and self.project.build:
            # A local directory has no hash: a line for it would fail --require-hashes.
            lines.append(
                f"# The project itself ({self.project.name}, {self.project.path}) is not listed:"
                f" after these, `pip install --no-deps -e {self.project.path}`"
            )
        lines += [p.requirement() for p in self.packages]
        return "\n".join(lines) + "\n"

    def to_toml(self) -> str:
        import tomli_w

        data: dict[str, Any] = {
            "version": self.format_version,
            "created-by": self.created_by,
            "input-hash": self.input_hash,
            "content-hash": self.content_hash,
        }
        own = _resolution_table(Resolution(self.interpreter, self.packages))
        if not self.others:
            data["interpreter"] = own["interpreter"]
        if self.project is not None:
            data["project"] = dataclasses.asdict(self.project)
        if self.others:
            data["resolution"] = [_resolution_table(r) for r in self.resolutions]
        else:
            data["package"] = own["package"]
        header = (
            "# This file is made by `poorenv lock`; do not edit it by hand.\n"
            "#:schema https://poorenv.example.invalid/schemas/poorenv-lock.schema.json\n"
        )
        return header + tomli_w.dumps(data, multiline_strings=False)


def _resolution_table(resolution: Resolution) -> dict[str, Any]:
    interpreter = resolution.interpreter
    return {
        "interpreter": {field: getattr(interpreter, field) for field in INTERPRETER_FIELDS},
        "package": [_package_table(p) for p in resolution.packages],
    }


def _package_table(package: LockedPackage) -> dict[str, Any]:
    table: dict[str, Any] = {"name": package.name, "version": package.version}
    if package.markers:
        table["markers"] = package.markers
    table["hashes"] = list(package.hashes)
    return table


def lock_changes(old: Lock | None, new: Lock) -> list[dict[str, str | None]]:
    """Each package whose version differs between two locks: name, old and new (None: absent)."""
    before = {p.name: p.version for p in old.packages} if old else {}
    after = {p.name: p.version for p in new.packages}
    return [
        {"name": name, "old": before.get(name), "new": after.get(name)}
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


# --- reading ---------------------------------------------------------------------------------


def lock_path(config: Config) -> Path:
    return config.project_dir / LOCK_NAME


def require_lock(path: Path, hint: str = "run `poorenv lock` first") -> Lock:
    """The lock at `path`; LockError if there is none (or it cannot be trusted)."""
    lock = read_lock(path)
    if lock is None:
        raise LockError(f"{path}: missing", hint=hint)
    return lock


def read_lock(path: Path) -> Lock | None:
    """The lock at `path`, None if there is none; LockError if it cannot be trusted."""
    from poorenv.paths import loads_toml

    refuse_link(path)
    try:
        raw = read_regular(path)  # no link followed, even one planted meanwhile
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = loads_toml(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, tomllib.TOMLDecodeError, nested too deeply
        raise LockError(
            f"{path}: invalid TOML: {exc}",
            hint="the lock is damaged; run `poorenv lock` to make it again",
        ) from None
    return parse_lock(data, path)


def parse_lock(data: Mapping[str, Any], path: Path) -> Lock:
    """The lock in `data`, every field checked by its grammar (grammar.py); LockError naming
    the first field that is not what poorenv writes. The content hash is checked last: it
    catches damage, but a hostile lock can carry a right one, so the grammar is the guard."""

    def bad(where: str, what: str) -> LockError:
        return LockError(
            f"{path}: {where}: {what}", hint="run `poorenv lock` to make the lock again"
        )

    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("version", "missing or not an integer")
    if version > LOCK_VERSION:
        raise LockError(
            f"{path}: lock format version {version} is newer than this poorenv"
            f" reads ({LOCK_VERSION})",
            hint="upgrade poorenv",
        )
    if version < 1:
        raise bad("version", f"unknown lock format version {version}")
    created_by = _field(data, "created-by", text_problem, bad)
    input_hash = _field(data, "input-hash", sha256_problem, bad)
    content_hash = _field(data, "content-hash", sha256_problem, bad)
    if version == 1:
        first = _resolution(data, "", bad)
        _only_known(data, _KEYS, "", bad)
        others: tuple[Resolution, ...] = ()
    else:
        first, *rest = _resolutions(data.get("resolution"), bad)
        _only_known(data, _KEYS_2, "", bad)
        others = tuple(rest)
    project = None if data.get("project") is None else _project(data["project"], bad)
    lock = Lock(input_hash, first.interpreter, first.packages, created_by, version, project, others)
    if content_hash != lock.content_hash:
        raise LockError(
            f"{path}: content-hash does not match the lock's contents:"
            " it was edited by hand or is damaged",
            hint="run `poorenv lock` to make it again",
        )
    return lock


_Bad = Callable[[str, str], LockError]


def _resolutions(raw: object, bad: _Bad) -> list[Resolution]:
    """Format 2's `[[resolution]]` tables, one per interpreter."""
    if not isinstance(raw, list) or not raw:
        raise bad("resolution", "missing or not an array of tables")
    found: list[Resolution] = []
    for i, table in enumerate(raw):
        where = f"resolution[{i}] "
        if not isinstance(table, Mapping):
            raise bad(where.strip(), "expected a table")
        resolution = _resolution(table, where, bad)
        _only_known(table, _RESOLUTION_KEYS, where, bad)
        twin = next((j for j, r in enumerate(found) if r.key() == resolution.key()), None)
        if twin is not None:
            raise bad(f"{where}[interpreter]", f"the same as resolution[{twin}]'s")
        found.append(resolution)
    return found


def _resolution(data: Mapping[str, Any], where: str, bad: _Bad) -> Resolution:
    """`[interpreter]` and `[[package]]` (at the top of a format 1 lock, or in a resolution)."""
    interp = data.get("interpreter")
    if not isinstance(interp, Mapping):
        raise bad(f"{where}[interpreter]", "missing")
    for key in INTERPRETER_FIELDS:
        if not isinstance(interp.get(key), str):
            raise bad(f"{where}[interpreter] {key}", "missing or not a string")
    _only_known(interp, INTERPRETER_FIELDS, f"{where}[interpreter] ", bad)
    try:
        interpreter = LockInterpreter(*(interp[key] for key in INTERPRETER_FIELDS))
    except FieldError as exc:
        raise bad(f"{where}[interpreter] {exc.field}", exc.problem) from None
    raw = data.get("package")
    if not isinstance(raw, list):
        raise bad(f"{where}package", "missing or not an array of tables")
    packages: list[LockedPackage] = []
    for i, table in enumerate(raw):
        package = _package(table, f"{where}package[{i}]", bad)
        twin = next((j for j, p in enumerate(packages) if p.name == package.name), None)
        if twin is not None:
            raise bad(
                f"{where}package[{i}] ({package.name}) name", f"listed twice (package[{twin}])"
            )
        packages.append(package)
    return Resolution(interpreter, tuple(packages))


def _package(table: object, where: str, bad: _Bad) -> LockedPackage:
    """One [[package]] table, checked field by field."""
    if not isinstance(table, Mapping):
        raise bad(where, "expected a table")
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise bad(f"{where} name", "missing")
    problem = name_problem(name)
    if problem:
        raise bad(f"{where} name", problem)
    where = f"{where} ({name})"
    pin, hashes, markers = table.get("version"), table.get("hashes"), table.get("markers")
    if not isinstance(pin, str) or not pin:
        raise bad(f"{where} version", "missing")
    if not isinstance(hashes, list) or not hashes:
        raise bad(f"{where} hashes", "missing or empty")
    if not all(isinstance(value, str) for value in hashes):
        raise bad(f"{where} hashes", "not an array of strings")
    if markers is not None and not isinstance(markers, str):
        raise bad(f"{where} markers", "not a string")
    try:
        package = LockedPackage(name, pin, tuple(hashes), markers)
    except FieldError as exc:
        raise bad(f"{where} {exc.field}", exc.problem) from None
    _only_known(table, _PACKAGE_KEYS, f"{where} ", bad)
    return package


def _project(table: object, bad: _Bad) -> LockedProject:
    """The [project] table: the project itself, local and unhashed (localproject.py)."""
    if not isinstance(table, Mapping):
        raise bad("project", "expected a table")
    name, path = table.get("name"), table.get("path")
    if not isinstance(name, str) or not name:
        raise bad("[project] name", "missing")
    require_problem = name_problem(name)
    if require_problem:
        raise bad("[project] name", require_problem)
    if not isinstance(path, str) or not path:
        raise bad("[project] path", "missing")
    problem = text_problem(path)
    if problem is None and (path.startswith("/") or "\\" in path):
        problem = "not a relative POSIX path"
    if problem:
        raise bad("[project] path", problem)
    flags = {key: table.get(key, True) for key in ("editable", "build")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise bad(f"[project] {key}", "not true or false")
    _only_known(table, _PROJECT_KEYS, "[project] ", bad)
    return LockedProject(name, path, flags["editable"], flags["build"])


def _field(data: Mapping[str, Any], key: str, check: Callable[[str], str | None], bad: _Bad) -> str:
    """The string at `key`, checked by `check`."""
    value = data.get(key)
    if not isinstance(value, str):
        raise bad(key, "missing or not a string")
    problem = check(value)
    if problem:
        raise bad(key, problem)
    return value


def _only_known(table: Mapping[str, Any], known: tuple[str, ...], where: str, bad: _Bad) -> None:
    for key in table:
        if key not in known:
            raise bad(f"{where}{shown(key)}", f"unknown key (known: {', '.join(known)})")


def refuse_link(path: Path) -> None:
    """A link in the lock's place is neither followed nor replaced: a lock from a pull request
    may point at any file on the machine, and poorenv's messages quote what they read."""
    if os.path.islink(path):
        raise LockError(
            f"{path}: a symbolic link (to {os.readlink(path)}); poorenv reads and writes only"
            " a regular file there",
            hint="replace the link by the lock itself, or delete it and run `poorenv lock`",
        )


def write_lock(path: Path, lock: Lock) -> None:
    """Write atomically: a reader sees the old lock or the new one, never half of one.

    Temporary files a killed poorenv left beside it are removed (`_fs.atomic_write`). A link
    in the lock's place is refused, never written through or replaced.
    """
    refuse_link(path)
    try:
        atomic_write(path, lock.to_toml())
    except OSError as exc:
        raise LockError(
            f"{path}: cannot write: {exc.strerror}", hint=os_hint(exc, "the project directory")
        ) from None
