"""Base interpreters: finding one that matches a request, and learning its facts by a probe.

The probe (`_data/probe.py`) runs once inside the interpreter and prints JSON; the answer is
cached by the executable's path, size and mtime, so a sync that changes nothing runs no probe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from poorenv import paths
from poorenv.errors import InterpreterError

PROBE = Path(__file__).with_name("_data") / "probe.py"
PLACEHOLDER = "@POORENV_PREFIX@"
PROBE_FORMAT = 1  # bump when probe.py's output changes, to ignore old cache entries


@dataclass(frozen=True)
class Interpreter:
    """Facts about a base interpreter, as its probe reported them."""

    executable: str  # real path of the base executable
    executable_size: int
    executable_mtime_ns: int
    implementation: str
    version: str  # "3.12.1"
    abiflags: str
    cache_tag: str
    soabi: str
    platform: str
    base_prefix: str
    scheme: str
    stdlib: str  # real path of the base's stdlib dir
    platstdlib: str
    include: str
    platinclude: str
    prefix_paths: dict[str, str] = field(default_factory=dict)  # scheme paths under PLACEHOLDER
    site_packages: tuple[str, ...] = ()  # site.getsitepackages() under PLACEHOLDER
    shared: bool = False
    ldlibrary: str = ""
    libdir: str = ""
    origin_rpath: bool = False
    free_threaded: bool = False

    @property
    def xy(self) -> str:
        major, minor = self.version.split(".")[:2]
        return f"{major}.{minor}"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split("."))

    @property
    def exe_name(self) -> str:
        """`python3.12`, or `python3.13t` for a free-threaded build: the name the env uses."""
        return f"python{self.xy}{self.abiflags}"

    @property
    def abi(self) -> str:
        """What must not change for installed packages to keep working: the SOABI tag."""
        return self.soabi or f"{self.implementation}-{self.xy}{self.abiflags}-{self.platform}"

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The identity of the base the env was built from, recorded in the env's state."""
        return {
            "executable": self.executable,
            "size": self.executable_size,
            "mtime_ns": self.executable_mtime_ns,
            "version": self.version,
            "abi": self.abi,
        }

    def env_paths(self, env: Path) -> dict[str, str]:
        """The scheme paths (purelib, scripts, ...) this interpreter uses when its prefix is env."""
        return {
            key: value.replace(PLACEHOLDER, str(env)) for key, value in self.prefix_paths.items()
        }

    def describe(self) -> str:
        return f"{self.implementation} {self.version} ({self.executable})"


def probe(executable: Path) -> Interpreter:
    """Facts about `executable`, from the cache when its stat still matches."""
    try:
        stat = executable.stat()
    except OSError as exc:
        raise InterpreterError(f"interpreter {executable}: {exc.strerror}") from None
    key = f"{executable}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = paths.cache_dir() / "interpreters" / f"{_slug(key)}.json"
    cached = _read_cache(cache_file, key)
    if cached is not None:
        return cached
    facts = _run_probe(executable)
    _write_cache(cache_file, key, facts)
    return facts


def _slug(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _read_cache(cache_file: Path, key: str) -> Interpreter | None:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
        if data.get("key") != key or data.get("format") != PROBE_FORMAT:
            return None
        facts = _from_dict(data["facts"])
        real = os.stat(facts.executable)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # The given path may be a shim or a link: the real executable must not have changed either.
    if (real.st_size, real.st_mtime_ns) != (facts.executable_size, facts.executable_mtime_ns):
        return None
    return facts


def _write_cache(cache_file: Path, key: str, facts: Interpreter) -> None:
    data = {"format": PROBE_FORMAT, "key": key, "facts": asdict(facts)}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError:  # a cache that cannot be written only costs time
        pass


def _run_probe(executable: Path) -> Interpreter:
    try:
        result = subprocess.run(
            [str(executable), "-I", "-S", str(PROBE)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=paths.clean_environ(),
        )
    except OSError as exc:
        raise InterpreterError(
            f"interpreter {executable}: cannot run it: {exc.strerror}",
            hint="name a CPython 3.8 or newer executable",
        ) from None
    except subprocess.TimeoutExpired:
        raise InterpreterError(f"interpreter {executable}: did not answer within 60 s") from None
    try:
        data = json.loads(result.stdout)
        if not isinstance(data, dict):
            raise TypeError
    except (ValueError, TypeError):
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(
            f"interpreter {executable}: not a usable Python ({detail})",
            hint="name a CPython 3.8 or newer executable",
        ) from None
    if not data.get("supported"):
        raise InterpreterError(
            f"interpreter {executable}: Python {data.get('version')} is too old",
            hint="poorenv builds envs for CPython 3.8 and newer",
        )
    if data.get("implementation") != "cpython":
        raise InterpreterError(
            f"interpreter {executable}: {data.get('implementation')} is not supported",
            hint="poorenv builds envs for CPython",
        )
    if data.get("in_venv"):
        raise InterpreterError(
            f"interpreter {executable}: is inside a virtual environment ({data['prefix']})",
            hint=f"name the base interpreter it was made from, under {data['base_prefix']}",
        )
    return _from_probe(data)


def _from_probe(data: dict[str, Any]) -> Interpreter:
    probe_paths = data["paths"]
    return Interpreter(
        executable=data["executable"],
        executable_size=data["executable_size"],
        executable_mtime_ns=data["executable_mtime_ns"],
        implementation=data["implementation"],
        version=data["version"],
        abiflags=data["abiflags"],
        cache_tag=data["cache_tag"],
        soabi=data["soabi"],
        platform=data["platform"],
        base_prefix=data["base_prefix"],
        scheme=data["scheme"],
        stdlib=probe_paths["stdlib"],
        platstdlib=probe_paths["platstdlib"],
        include=probe_paths["include"],
        platinclude=probe_paths["platinclude"],
        prefix_paths=dict(data["prefix_paths"]),
        site_packages=tuple(data["site_packages"]),
        shared=data["shared"],
        ldlibrary=data["ldlibrary"],
        libdir=data["libdir"],
        origin_rpath=data["origin_rpath"],
        free_threaded=data["free_threaded"],
    )


def _from_dict(data: dict[str, Any]) -> Interpreter:
    data = dict(data)
    data["site_packages"] = tuple(data["site_packages"])
    return Interpreter(**data)


# --- discovery -------------------------------------------------------------------------------

_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


def is_path_request(request: str) -> bool:
    return "/" in request or request.startswith(("~", "."))


def find_interpreter(request: str, base_dir: Path) -> Interpreter:
    """Resolve `python = ...` from poorenv.toml: a path, "3.12", "3.12.1" or a specifier."""
    request = request.strip()
    if is_path_request(request):
        path = (base_dir / Path(request).expanduser()).absolute()
        if not path.exists():
            raise InterpreterError(f"interpreter {path}: no such file")
        return probe(path)
    matches = _matcher(request)
    found: list[Interpreter] = []
    seen: set[str] = set()
    for candidate, guess in _candidates():
        if guess is not None and not matches(guess, partial=True):
            continue
        try:
            facts = probe(candidate)
        except InterpreterError:
            continue
        if facts.executable in seen or not matches(facts.version, partial=False):
            continue
        if paths.is_env(facts.base_prefix):
            continue  # a poorenv env's own interpreter (its bin is on PATH once activated)
        seen.add(facts.executable)
        found.append(facts)
    if not found:
        raise InterpreterError(
            f"no CPython matching {request!r} found on PATH, in pyenv or the system locations",
            hint='install one (e.g. `pyenv install 3.12`) or set python = "/path/to/python3.X"',
        )
    # Newest release first; among equals, the first place searched wins.
    return max(found, key=lambda f: f.version_tuple)


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


def _candidates() -> Iterator[tuple[Path, str | None]]:
    """Executables that may be CPython, with the version their name suggests."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir()):
            exe = entry / "bin" / "python3"
            if _VERSION.match(entry.name) and exe.exists():
                yield exe, entry.name
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    dirs += [Path("/usr/local/bin"), Path("/usr/bin"), Path("/opt/python/bin")]
    shims = pyenv_root / "shims"
    for directory in dict.fromkeys(dirs):
        if directory == shims or not directory.is_dir():
            continue
        for minor in range(8, 20):
            exe = directory / f"python3.{minor}"
            if exe.exists():
                yield exe, f"3.{minor}"
    if sys.implementation.name == "cpython":
        yield Path(sys.executable), None
