"""The parts of poorenv.lock that say what to install: a pin (`LockedPackage`), the interpreter
a resolution is for (`LockInterpreter`) and the two together (`Resolution`). Every field is
checked by its grammar (grammar.py) when the value is made; lockfile.py reads and writes them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poorenv.lock.grammar import (
    hash_problem,
    interpreter_problem,
    markers_problem,
    name_problem,
    require,
    version_problem,
)

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

INTERPRETER_FIELDS = ("implementation", "python", "version", "abi", "platform")


@dataclass(frozen=True)
class LockedPackage:
    """One pin. Every field obeys its grammar (grammar.py), checked when the pin is made: a
    value that does not raises grammar.FieldError naming the field."""

    name: str  # normalised
    version: str  # normalised
    hashes: tuple[str, ...]  # "sha256:<hex>" (or sha384, sha512), sorted
    markers: str | None = None  # normalised

    def __post_init__(self) -> None:
        require("name", name_problem(self.name))
        require("version", version_problem(self.version))
        if self.markers is not None:
            require("markers", markers_problem(self.markers))
        require("hashes", None if self.hashes else "empty")
        for value in self.hashes:
            require("hashes", hash_problem(value))
        if len(set(self.hashes)) != len(self.hashes):
            require("hashes", "a hash is listed twice")

    def requirement(self) -> str:
        """One hash-pinned line that `pip install --require-hashes -r` accepts, made of the
        checked fields alone: it holds no line break, option or comment."""
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
    """The interpreter a lock was resolved for; each fact checked by its pattern when made."""

    implementation: str  # "cpython"
    python: str  # "3.12"
    version: str  # "3.12.1": informative only
    abi: str  # Interpreter.abi
    platform: str

    def __post_init__(self) -> None:
        for field in INTERPRETER_FIELDS:
            require(field, interpreter_problem(field, getattr(self, field)))

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
class Resolution:
    """The packages resolved for one interpreter (X.Y and ABI)."""

    interpreter: LockInterpreter
    packages: tuple[LockedPackage, ...]

    def key(self) -> tuple[str, int, int, str]:
        major, minor = self.interpreter.python.split(".")
        return (self.interpreter.implementation, int(major), int(minor), self.interpreter.abi)
