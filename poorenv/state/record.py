"""The env's record of its last complete sync (`.poorenv/state.json`), typed, and the note of
packages a sync is changing (`.poorenv/unfinished.json`).

The applier writes the record last, so that its presence says "everything before succeeded".
The no-op stamp (`state/fastpath.py`) is stored beside it in the same file, under "stamp".

Before the installer changes a package, the applier writes the `Unfinished` note naming every
package it is about to install, reinstall or remove; it removes the note only after the new
record (or, when the installer failed without changing anything, at once). So a sync that
failed or was killed half-way leaves the note, and the planner reinstalls what it names
whatever the record says: a half-done upgrade never passes as in sync.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

STATE_FORMAT = 2  # 2: the env's location; a format-1 record reads as "location unknown"
READABLE_FORMATS = (1, STATE_FORMAT)
UNFINISHED_FORMAT = 1


@dataclass(frozen=True)
class BaseFingerprint:
    """The identity of the base interpreter an env was built from."""

    executable: str
    size: int
    mtime_ns: int
    version: str
    abi: str

    @classmethod
    def of(cls, base: Interpreter) -> BaseFingerprint:
        return cls(
            base.executable, base.executable_size, base.executable_mtime_ns, base.version, base.abi
        )

    def change_to(self, new: BaseFingerprint) -> str | None:
        """Why `new` is another base than this one, if it is."""
        if self.executable != new.executable:
            return f"base moved: {self.executable} -> {new.executable}"
        if self.version != new.version:
            return f"base upgraded: {self.version} -> {new.version}"
        if (self.size, self.mtime_ns) != (new.size, new.mtime_ns):
            return "base executable replaced"
        return None


@dataclass(frozen=True)
class Location:
    """Where an env was built: its real path, and its directory's identity (st_dev, st_ino).

    A moved env has another path; a copied one another path and directory; one restored at
    its old path (a cache, a backup) the same path in another directory."""

    path: str
    dev: int
    ino: int

    @classmethod
    def of(cls, env: str | os.PathLike[str]) -> Location:
        """The location of the env directory `env` now (one stat; OSError when it is gone)."""
        real = os.path.realpath(env)
        st = os.stat(real)
        return cls(real, st.st_dev, st.st_ino)

    def change_to(self, new: Location) -> str | None:
        """Why `new` is another directory than this one, if it is."""
        if self.path != new.path:
            return f"env built at {self.path}, now at {new.path}"
        if (self.dev, self.ino) != (new.dev, new.ino):
            return f"env directory {self.path} replaced since it was built (restored or copied)"
        return None


@dataclass(frozen=True)
class PackageRecord:
    version: str
    hashes: str  # LockedPackage.digest: which artifacts the installed pin accepted


@dataclass(frozen=True)
class EnvRecord:
    """What the env holds after its last complete sync."""

    base: BaseFingerprint
    exe: str  # the interpreter's file name in bin/
    packages: Mapping[str, PackageRecord] = field(default_factory=dict)
    format: int = STATE_FORMAT
    location: Location | None = None  # where it was built; None: unknown (a format-1 record)

    def at(self, location: Location | None) -> EnvRecord:
        """This record for the env at `location` (the applier records where it wrote)."""
        return dataclasses.replace(self, location=location, format=STATE_FORMAT)

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": self.format,
            "base": vars(self.base).copy(),
            "exe": self.exe,
            "packages": {n: vars(p).copy() for n, p in sorted(self.packages.items())},
        }
        if self.location is not None:
            data["location"] = vars(self.location).copy()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EnvRecord | None:
        """The record in `data`; None when absent, of another format or malformed (the planner
        then treats the env as never recorded, which only costs a rewrite). A format-1 record
        (or one without a readable location) has `location` None: "unknown", rewritten by the
        next sync."""
        if not isinstance(data, Mapping) or data.get("format") not in READABLE_FORMATS:
            return None
        try:
            base = data["base"]
            fingerprint = BaseFingerprint(
                str(base["executable"]),
                int(base["size"]),
                int(base["mtime_ns"]),
                str(base["version"]),
                str(base["abi"]),
            )
            packages = {
                str(name): PackageRecord(str(p["version"]), str(p["hashes"]))
                for name, p in data["packages"].items()
            }
            record = cls(fingerprint, str(data["exe"]), packages, int(data["format"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return dataclasses.replace(record, location=_location(data.get("location")))


@dataclass(frozen=True)
class Unfinished:
    """The packages a sync began to change and has not finished (`.poorenv/unfinished.json`).

    `files`: the files (absolute paths) that the RECORDs of the distributions to be removed or
    replaced named, as they were before the installer ran: an uninstall that failed half-way
    (uv deletes the `.dist-info` first) leaves no RECORD to finish it with. `everything`: the
    note is there but unreadable, so no installed package is trusted.
    """

    names: frozenset[str] = frozenset()
    files: tuple[str, ...] = ()
    everything: bool = False

    def __contains__(self, name: object) -> bool:
        return self.everything or name in self.names

    def __or__(self, other: Unfinished) -> Unfinished:
        files = tuple(sorted({*self.files, *other.files}))
        return Unfinished(self.names | other.names, files, self.everything or other.everything)

    def to_json(self) -> dict[str, Any]:
        return {"format": UNFINISHED_FORMAT, "packages": sorted(self.names), "files": [*self.files]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Unfinished:
        """The note in `data`; a note that is present but malformed means "everything"."""
        if not isinstance(data, Mapping) or data.get("format") != UNFINISHED_FORMAT:
            return cls(everything=True)
        names, files = data.get("packages"), data.get("files", [])
        if not (isinstance(names, list) and isinstance(files, list)):
            return cls(everything=True)
        if not all(isinstance(item, str) for item in (*names, *files)):
            return cls(everything=True)
        return cls(frozenset(names), tuple(files))


def _location(data: Any) -> Location | None:
    try:
        return Location(str(data["path"]), int(data["dev"]), int(data["ino"]))
    except (KeyError, TypeError, ValueError):
        return None


def built_elsewhere(env: str | os.PathLike[str]) -> Location | None:
    """Where the env was built, when its state.json names another path than where it is now
    (moved or copied, not yet repaired: its scripts still run the interpreter there); None when
    it was built here, or when that is not known."""
    from poorenv.paths import STATE, STATE_DIR, loads_json

    try:
        with open(os.path.join(env, STATE_DIR, STATE), "rb") as handle:
            record = EnvRecord.from_json(loads_json(handle.read()))
        now = os.path.realpath(env)
    except (OSError, ValueError):
        return None
    built = record.location if record else None
    return built if built is not None and built.path != now else None
