"""The plan's vocabulary: typed actions, each with its reason, and the `Plan` they make.

A plan is a value: it prints, serialises to JSON and is tested without touching the disk.
Every action carries the reason it is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poorenv.discover.interpreter import Interpreter
from poorenv.state.record import EnvRecord


@dataclass(frozen=True)
class Action:
    reason: str

    @property
    def kind(self) -> str:
        return _KINDS[type(self)]

    def summary(self) -> str:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        data = {"action": self.kind, "summary": self.summary()}
        data.update({k: _jsonable(v) for k, v in dataclasses.asdict(self).items()})
        return data


@dataclass(frozen=True)
class CreateEnv(Action):
    """Create the env directory (or adopt an empty one) and write poorenv's marker."""

    path: Path
    marker: Mapping[str, Any]

    def summary(self) -> str:
        return f"create env {self.path}"


@dataclass(frozen=True)
class ClearEnv(Action):
    """Empty the env but for its marker: what is installed cannot work with the new base."""

    path: Path
    marker: Mapping[str, Any]

    def summary(self) -> str:
        return f"clear env {self.path} (site-packages rebuilt from scratch)"


@dataclass(frozen=True)
class InstallInterpreter(Action):
    """Hard link (else copy) the base executable into the env."""

    source: Path
    dest: Path

    def summary(self) -> str:
        return f"install interpreter {self.dest.name} from {self.source}"


@dataclass(frozen=True)
class MirrorTree(Action):
    """Make `dest` a mirror of `source`: real directories, one symlink per file."""

    name: str
    source: Path
    dest: Path
    add: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def summary(self) -> str:
        counts = [
            (len(self.add), "to add"),
            (len(self.replace), "to fix"),
            (len(self.remove), "stray"),
        ]
        text = ", ".join(f"{n} {what}" for n, what in counts if n)
        return f"mirror {self.name} {self.dest}: {text}"


@dataclass(frozen=True)
class MakeDirs(Action):
    paths: tuple[Path, ...]

    def summary(self) -> str:
        return "create " + ", ".join(str(p) for p in self.paths)


@dataclass(frozen=True)
class MakeLinks(Action):
    links: tuple[tuple[Path, str], ...]  # (path, target)

    def summary(self) -> str:
        return "link " + ", ".join(f"{p.name} -> {t}" for p, t in self.links)


@dataclass(frozen=True)
class WriteFiles(Action):
    files: tuple[tuple[Path, str], ...]  # (path, content)

    def summary(self) -> str:
        return "write " + ", ".join(p.name for p, _ in self.files)


@dataclass(frozen=True)
class Relocate(Action):
    """The env was moved or copied from `old` to `new`: rewrite the scripts whose header names
    the interpreter at `old` (each atomically, its mode kept) and their RECORD lines. What is
    installed stays; the activation scripts are rewritten by `WriteFiles`."""

    old: Path
    new: Path
    files: tuple[Path, ...]

    def summary(self) -> str:
        count = len(self.files)
        return f"relocate env from {self.old}: rewrite {count} script(s)"


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: str | None  # installed version, None when not installed
    new: str
    why: str  # "missing", "upgrade", "downgrade", "unfinished", "hashes changed"

    def __str__(self) -> str:
        if self.old is None:
            return f"{self.name} {self.new}"
        if self.old == self.new:
            return f"{self.name} {self.new} ({self.why})"
        return f"{self.name} {self.old} -> {self.new}"


@dataclass(frozen=True)
class InstallPackages(Action):
    """Install exactly these pins from the lock, hashes required, without dependencies."""

    changes: tuple[PackageChange, ...]
    requirements: tuple[str, ...]  # hash-pinned lines

    @property
    def reinstall(self) -> bool:
        return any(c.old == c.new for c in self.changes)

    def summary(self) -> str:
        return "install " + ", ".join(str(c) for c in self.changes)


@dataclass(frozen=True)
class InstallProject(Action):
    """Install the project itself editable (PEP 660, through its own build backend), without
    dependencies, after the hash-checked install: a local directory has no hash to check."""

    name: str
    path: Path  # the project directory

    def summary(self) -> str:
        return f"install project {self.name} editable from {self.path}"


@dataclass(frozen=True)
class RemoveBroken(Action):
    """Delete what interrupted installs left: `.dist-info` dirs without RECORD (pip cannot
    uninstall them) and pip's `~name` stashes."""

    paths: tuple[Path, ...]

    def summary(self) -> str:
        return "drop incomplete " + ", ".join(p.name for p in self.paths)


@dataclass(frozen=True)
class RemovePackages(Action):
    """Uninstall distributions the lock does not name."""

    names: tuple[str, ...]

    def summary(self) -> str:
        return "remove " + ", ".join(self.names)


@dataclass(frozen=True)
class Refuse(Action):
    """Stop before anything changes: the env holds what no installer may be let at (a file a
    distribution lists that leads outside the env, a link leading out of an install directory,
    a distribution to remove whose files cannot be listed). Planned first; `sync` fails with
    `message`, `check` lists it."""

    message: str  # one line naming the package (or link) and the path
    doing: str  # what sync refuses: "remove it", "upgrade it", "sync while it is there"

    def summary(self) -> str:
        return f"refuse: {self.message}"


@dataclass(frozen=True)
class WriteState(Action):
    """Record, last and atomically, that the env matches: written only when all else succeeded."""

    state: EnvRecord

    def summary(self) -> str:
        return "record env state"


_KINDS: dict[type[Action], str] = {
    CreateEnv: "create-env",
    ClearEnv: "clear-env",
    InstallInterpreter: "install-interpreter",
    MirrorTree: "mirror",
    MakeDirs: "make-dirs",
    MakeLinks: "make-links",
    WriteFiles: "write-files",
    Relocate: "relocate",
    RemoveBroken: "remove-broken",
    InstallPackages: "install-packages",
    RemovePackages: "remove-packages",
    InstallProject: "install-project",
    Refuse: "refuse",
    WriteState: "write-state",
}


@dataclass(frozen=True)
class Plan:
    env: Path
    base: Interpreter
    actions: tuple[Action, ...] = ()
    lock_problem: str | None = None  # why poorenv.lock cannot be used as it is

    def is_empty(self) -> bool:
        return not self.actions

    @property
    def in_sync(self) -> bool:
        return self.is_empty() and self.lock_problem is None

    @property
    def reasons(self) -> list[str]:
        found = [
            f"{a.summary()}: {a.reason}" for a in self.actions if not isinstance(a, WriteState)
        ]
        if self.lock_problem:
            found.insert(0, self.lock_problem)
        return (
            found
            or [a.reason for a in self.actions if isinstance(a, WriteState)]
            or ["state record out of date"]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "env": str(self.env),
            "base": self.base.fingerprint,
            "in_sync": self.in_sync,
            "lock_problem": self.lock_problem,
            "actions": [a.to_json() for a in self.actions],
        }

    def render(self) -> str:
        lines = [f"{self.lock_problem}: sync will resolve first"] if self.lock_problem else []
        if self.is_empty():
            lines.append(f"{self.env}: in sync, nothing to do")
        else:
            lines.append(f"{self.env}: {len(self.actions)} action(s)")
            lines += [f"  {a.summary()}  [{a.reason}]" for a in self.actions]
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
