"""nox sessions: tests on every CPython from 3.9 found, lint (ruff), types (mypy --strict)."""

from __future__ import annotations

import shutil
import sys

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True

with open("pyproject.toml", "rb") as handle:
    PYPROJECT = tomllib.load(handle)
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
DEV = [req for req in EXTRAS["dev"] if not req.startswith("poorenv")]
PYTHONS = [f"3.{minor}" for minor in range(9, 15) if shutil.which(f"python3.{minor}")]


def _tool(name: str) -> list[str]:
    return [req for req in DEV if req.split(">")[0].split("=")[0].strip() == name]


@nox.session(python=PYTHONS or None)
def tests(session: nox.Session) -> None:
    """The whole suite (slow and network tests included) on this interpreter."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*_tool("ruff"))
    session.run("ruff", "check", "poorenv", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "poorenv", "tests", "benchmarks", "noxfile.py")


@nox.session
def types(session: nox.Session) -> None:
    session.install("-e", ".", *_tool("mypy"), *_tool("tomli"))
    session.run("mypy")
