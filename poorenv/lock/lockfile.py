"""poorenv.lock: its typed form, reading and writing it, and telling when it is stale.

The lock is TOML with keys in a stable order. It records the interpreter it was resolved for,
a hash of the inputs it was made from, and per package the version and the sha256 of every
acceptable artifact. Resolving is in `resolver.py`; this module never starts a process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import __version__
from poorenv._fs import atomic_write
from poorenv.errors import ConfigError, LockError
from poorenv.redact import redact

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.discover.interpreter import Interpreter

LOCK_NAME = "poorenv.lock"
LOCK_VERSION = 1
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class LockedPackage:
    name: str  # normalised
    version: str
    hashes: tuple[str, ...]  # "sha256:<hex>", sorted
    markers: str | None = None

    def requirement(self) -> str:
        """One hash-pinned line that `pip install --require-hashes -r` accepts."""
        head = f"{self.name}=={self.version}"
        if self.markers:
            head += f" ; {self.markers}"
        return " \\\n    ".join([head, *(f"--hash={h}" for h in self.hashes)])

    @property
    def digest(self) -> str:
        """A short fingerprint of the artifacts this pin accepts."""
        return hashlib.sha256("\n".join(self.hashes).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LockInterpreter:
    implementation: str  # "cpython"
    python: str  # "3.12"
    version: str  # "3.12.1": informative only
    abi: str  # Interpreter.abi
    platform: str

    @classmethod
    def of(cls, base: Interpreter) -> LockInterpreter:
        return cls(base.implementation, base.xy, base.version, base.abi, base.platform)

    def mismatch(self, base: Interpreter) -> str | None:
        if (self.implementation, self.python, self.abi) != (base.implementation, base.xy, base.abi):
            return (
                f"it was resolved for {self.implementation} {self.python} ({self.abi}),"
                f" the env's base is {base.implementation} {base.xy} ({base.abi})"
            )
        return None


@dataclass(frozen=True)
class Lock:
    input_hash: str
    interpreter: LockInterpreter
    packages: tuple[LockedPackage, ...]
    created_by: str = f"poorenv {__version__}"
    version: int = LOCK_VERSION

    def package(self, name: str) -> LockedPackage | None:
        for package in self.packages:
            if package.name == name:
                return package
        return None

    @property
    def content_hash(self) -> str:
        """sha256 over everything but the header: a truncated or hand-edited lock fails it."""
        body = {
            "input-hash": self.input_hash,
            "interpreter": dataclasses.astuple(self.interpreter),
            "packages": [dataclasses.astuple(p) for p in self.packages],
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def to_requirements(self) -> str:
        lines = [
            f"# Exported from {LOCK_NAME} ({self.interpreter.implementation}"
            f" {self.interpreter.python}, {self.interpreter.platform}) by poorenv {__version__}",
        ]
        lines += [p.requirement() for p in self.packages]
        return "\n".join(lines) + "\n"

    def to_toml(self) -> str:
        import tomli_w

        data: dict[str, Any] = {
            "version": self.version,
            "created-by": self.created_by,
            "input-hash": self.input_hash,
            "content-hash": self.content_hash,
            "interpreter": {
                "implementation": self.interpreter.implementation,
                "python": self.interpreter.python,
                "version": self.interpreter.version,
                "abi": self.interpreter.abi,
                "platform": self.interpreter.platform,
            },
            "package": [_package_table(p) for p in self.packages],
        }
        header = (
            "# This file is made by `poorenv lock`; do not edit it by hand.\n"
            "#:schema https://poorenv.example.invalid/schemas/poorenv-lock.schema.json\n"
        )
        return header + tomli_w.dumps(data, multiline_strings=False)


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

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: cannot read: {exc}") from None
    try:
        data = loads_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise LockError(
            f"{path}: invalid TOML: {exc}",
            hint="the lock is damaged; run `poorenv lock` to make it again",
        ) from None
    return parse_lock(data, path)


def parse_lock(data: Mapping[str, Any], path: Path) -> Lock:
    from packaging.utils import canonicalize_name

    def bad(where: str, what: str) -> LockError:
        return LockError(
            f"{path}: {where}: {what}", hint="run `poorenv lock` to make the lock again"
        )

    version = data.get("version")
    if not isinstance(version, int):
        raise bad("version", "missing or not an integer")
    if version > LOCK_VERSION:
        raise LockError(
            f"{path}: lock format version {version} is newer than this poorenv"
            f" reads ({LOCK_VERSION})",
            hint="upgrade poorenv",
        )
    if version < 1:
        raise bad("version", f"unknown lock format version {version}")
    input_hash = data.get("input-hash")
    if not isinstance(input_hash, str) or not input_hash.startswith("sha256:"):
        raise bad("input-hash", "missing or malformed")
    interp = data.get("interpreter")
    if not isinstance(interp, Mapping):
        raise bad("[interpreter]", "missing")
    fields = ("implementation", "python", "version", "abi", "platform")
    for key in fields:
        if not isinstance(interp.get(key), str):
            raise bad(f"[interpreter] {key}", "missing or not a string")
    interpreter = LockInterpreter(*(interp[key] for key in fields))
    raw = data.get("package")
    if not isinstance(raw, list):
        raise bad("package", "missing or not an array of tables")
    packages: list[LockedPackage] = []
    for i, table in enumerate(raw):
        where = f"package[{i}]"
        if not isinstance(table, Mapping):
            raise bad(where, "expected a table")
        name, pin, hashes = table.get("name"), table.get("version"), table.get("hashes")
        if not isinstance(name, str) or not name:
            raise bad(f"{where} name", "missing")
        if not isinstance(pin, str) or not pin:
            raise bad(f"{where} ({name}) version", "missing")
        if not isinstance(hashes, list) or not hashes:
            raise bad(f"{where} ({name}) hashes", "missing or empty")
        for value in hashes:
            if not isinstance(value, str) or not _HASH.match(value):
                raise bad(f"{where} ({name}) hashes", f"not a sha256 hash: {value!r}")
        markers = table.get("markers")
        if markers is not None and not isinstance(markers, str):
            raise bad(f"{where} ({name}) markers", "not a string")
        packages.append(LockedPackage(canonicalize_name(name), pin, tuple(hashes), markers))
    lock = Lock(
        input_hash=input_hash,
        interpreter=interpreter,
        packages=tuple(packages),
        created_by=str(data.get("created-by", "")),
        version=version,
    )
    if data.get("content-hash") != lock.content_hash:
        raise LockError(
            f"{path}: content-hash does not match the lock's contents:"
            " it was edited by hand or is damaged",
            hint="run `poorenv lock` to make it again",
        )
    return lock


def write_lock(path: Path, lock: Lock) -> None:
    """Write atomically: a reader sees the old lock or the new one, never half of one.

    Temporary files a killed poorenv left beside it are removed (`_fs.atomic_write`).
    """
    atomic_write(path, lock.to_toml())


# --- inputs and staleness --------------------------------------------------------------------


def input_hash(config: Config) -> str:
    """What the lock was made from: requirements, constraints, index, seed, interpreter request.

    File contents count, not their modification times. Credentials in index URLs do not
    count, so rotating a password does not make the lock stale.
    """
    index = config.index
    inputs = {
        "python": config.python,
        "seed": sorted(config.seed),
        "packages": list(config.packages),
        "files": [_file_input(path, config) for path in config.requirement_files],
        "constraints": [_file_input(path, config) for path in config.constraint_files],
        "index": {
            "url": redact(index.url or ""),
            "extra-urls": [redact(u) for u in index.extra_urls],
            "find-links": [redact(u) for u in index.find_links],
            "no-index": index.no_index,
        },
    }
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _file_input(path: Path, config: Config) -> list[str]:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{config.file}: [requirements]: cannot read {path}: {exc.strerror}"
        ) from None
    return [os.path.relpath(path, config.project_dir), hashlib.sha256(content).hexdigest()]


def stale_reason(lock: Lock | None, config: Config, base: Interpreter) -> str | None:
    """Why `lock` cannot be used as it is for `config` on `base`; None when it can."""
    if lock is None:
        return f"{LOCK_NAME} is missing"
    mismatch = lock.interpreter.mismatch(base)
    if mismatch:
        return f"{LOCK_NAME} is for another interpreter: {mismatch}"
    if lock.input_hash != input_hash(config):
        return (
            f"{LOCK_NAME} is stale: poorenv.toml or a requirements file changed since it was made"
        )
    return None


# --- pip-compile's output --------------------------------------------------------------------


def parse_requirements(text: str) -> list[LockedPackage]:
    """The pins of a hash-pinned requirements file, as pip-compile writes them."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    packages: list[LockedPackage] = []
    for line in _logical_lines(text):
        parts = line.split()
        hashes = sorted(p.split("=", 1)[1] for p in parts if p.startswith("--hash="))
        spec = " ".join(p for p in parts if not p.startswith("--hash="))
        if not spec or spec.startswith("-"):
            continue
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise LockError(
                f"pip-compile wrote a line poorenv cannot read: {spec!r}: {exc}"
            ) from None
        pins = [s for s in req.specifier if s.operator == "=="]
        if len(pins) != 1 or not hashes:
            raise LockError(f"pip-compile wrote an unpinned or unhashed requirement: {spec!r}")
        markers = str(req.marker) if req.marker else None
        packages.append(
            LockedPackage(canonicalize_name(req.name), pins[0].version, tuple(hashes), markers)
        )
    return sorted(packages, key=lambda p: p.name)


def _logical_lines(text: str) -> Iterable[str]:
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            yield current.strip()
        current = ""
    if current.strip():
        yield current.strip()
