"""Finding a base interpreter that matches `python = ...`: a path, "3.12", "3.12.1" or a
specifier, among the executables in the places `places.search_dirs` names (pyenv's versions,
`python3.X` on PATH and in the system locations) and the running interpreter."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from poorenv.discover import interpreter, places
from poorenv.discover.interpreter import Interpreter
from poorenv.discover.places import is_path_request
from poorenv.errors import InterpreterError
from poorenv.ownership import is_env

__all__ = ["Prober", "find_interpreter", "is_path_request"]

Prober = Callable[[Path], Interpreter]  # an executable's facts, or InterpreterError
log = logging.getLogger(__name__)
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
_MINORS = range(8, 20)  # `python3.N` names looked for in each directory


def find_interpreter(request: str, base_dir: Path, probe: Prober | None = None) -> Interpreter:
    """Resolve `python = ...` from poorenv.toml: a path, "3.12", "3.12.1" or a specifier.

    `probe` learns an executable's facts (default: `interpreter.probe`, which runs it once and
    caches the answer); tests pass recorded facts instead.
    """
    run_probe = probe if probe is not None else interpreter.probe
    request = request.strip()
    if is_path_request(request):
        path = (base_dir / Path(request).expanduser()).absolute()
        if not os.path.lexists(path):
            raise InterpreterError(f"interpreter {path}: no such file")
        return run_probe(path)
    matches = _matcher(request)
    found: list[Interpreter] = []
    seen: set[str] = set()
    versions: set[str] = set()  # of every interpreter seen, for the error when none matches
    for candidate, guess in _candidates(request):
        if guess is not None and not matches(guess, partial=True):
            versions.add(guess)
            continue
        try:
            facts = run_probe(candidate)
        except InterpreterError:
            continue
        versions.add(facts.version)
        if facts.executable in seen or not matches(facts.version, partial=False):
            continue
        if is_env(facts.base_prefix):
            continue  # a poorenv env's own interpreter, reached through a link elsewhere
        seen.add(facts.executable)
        found.append(facts)
    if not found:
        raise InterpreterError(
            f"no CPython matching {request!r} found on PATH, in pyenv or the system locations"
            + found_versions(versions),
            hint='install one (e.g. `pyenv install 3.12`) or set python = "/path/to/python3.X"',
        )
    # Newest release first; among equals, the first place searched wins.
    return max(found, key=lambda f: f.version_tuple)


def found_versions(versions: set[str]) -> str:
    """ "; found: 3.9.18, 3.11.7, 3.12", oldest first ("" when none was found)."""

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))

    if not versions:
        return "; found none"
    ordered = sorted(versions, key=key)
    # "3.11" (a name's guess) and "3.11.7" (probed) are one interpreter line: keep the longer
    ordered = [v for v in ordered if not any(o.startswith(v + ".") for o in ordered)]
    return "; found: " + ", ".join(ordered)


def _matcher(request: str) -> Any:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    if _VERSION.match(request):
        wanted = tuple(int(p) for p in request.split("."))
        if wanted < (3, 8):
            raise InterpreterError(
                f"python = {request!r}: poorenv builds envs for CPython 3.8 and newer"
            )

        def by_version(version: str, partial: bool) -> bool:
            have = tuple(int(p) for p in version.split("."))
            n = min(len(have), len(wanted)) if partial else len(wanted)
            return have[:n] == wanted[:n]

        return by_version
    try:
        spec = SpecifierSet(request)
    except InvalidSpecifier:
        raise InterpreterError(
            f"python = {request!r}: not a version, a version specifier or a path",
            hint='use "3.12", "3.12.1", ">=3.10,<3.13" or "/usr/bin/python3.11"',
        ) from None
    if not str(spec):
        raise InterpreterError(f"python = {request!r}: empty request")

    def by_spec(version: str, partial: bool) -> bool:
        if partial and version.count(".") == 1:
            # "3.12" from a file name may be any 3.12.N: keep it if the spec admits one of them.
            return any(spec.contains(f"{version}.{n}", prereleases=True) for n in range(50))
        return spec.contains(Version(version), prereleases=True)

    return by_spec


def _candidates(request: str) -> Iterator[tuple[Path, str | None]]:
    """Executables that may be CPython, with the version their name suggests, in search order:
    `X.Y.Z/bin/python3` in pyenv's versions dir, `python3.N` in every other searched dir, then
    the running interpreter (not a place: the fast path's stamp does not cover it).

    A place that cannot be searched (not readable, a loop) is skipped with a warning, as a
    shell skips it on PATH; one that is not there, or not a directory, is skipped silently."""
    versions = places.pyenv_versions()
    for name in places.search_dirs(request):
        directory = Path(name)
        if name == versions:
            for entry in _listing(name):
                exe = directory / entry / "bin" / "python3"
                if _VERSION.match(entry) and _exists(exe):
                    yield exe, entry
            continue
        if not _exists(directory, want_dir=True):
            continue
        for minor in _MINORS:
            exe = directory / f"python3.{minor}"
            if _exists(exe):
                yield exe, f"3.{minor}"
    if sys.implementation.name == "cpython":
        yield Path(sys.executable), None


def _listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        _skip(directory, exc)
        return []


def _exists(path: Path, want_dir: bool = False) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        _skip(str(path), exc)
        return False
    return stat.S_ISDIR(mode) or not want_dir


_skipped: set[str] = set()


def _skip(path: str, exc: OSError) -> None:
    if path not in _skipped:
        _skipped.add(path)
        log.warning("interpreter discovery skips %s: %s", path, exc.strerror)
