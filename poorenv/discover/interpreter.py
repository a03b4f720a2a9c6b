"""A base interpreter's facts, learnt by a probe that runs inside it.

The probe (`_data/probe.py`) runs once inside the interpreter and prints JSON; the answer is
cached by the executable's path, size and mtime, so a sync that changes nothing runs no probe.
A cached answer is used only when `cache.trusted` says the file is the user's own, and when it
describes the executable asked about: the real file it resolves to, with the size and mtime
recorded (an answer naming another executable is ignored with a warning).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from poorenv import _run, cache
from poorenv._fs import atomic_write
from poorenv.errors import InterpreterError, PoorenvError

PROBE = Path(__file__).parent.parent / "_data" / "probe.py"
PLACEHOLDER = "@POORENV_PREFIX@"
PROBE_FORMAT = 3  # bump when probe.py's output changes, to ignore old cache entries


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
    markers: dict[str, str] = field(default_factory=dict)  # the PEP 508 marker environment

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

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker environment: the probe's; for recorded facts without it, what
        the version and platform tell."""
        if self.markers:
            return dict(self.markers)
        system, _, machine = self.platform.partition("-")
        machine = machine.rpartition("-")[2] or machine
        names = {"macosx": ("darwin", "Darwin"), "win": ("win32", "Windows")}
        sys_platform, platform_system = names.get(system, (system, system.capitalize()))
        return {
            "implementation_name": self.implementation,
            "implementation_version": self.version,
            "os_name": "nt" if sys_platform == "win32" else "posix",
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_system": platform_system,
            "python_full_version": self.version,
            "python_version": self.xy,
            "sys_platform": sys_platform,
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
    cached = _read_cache(_cache_file(key), key, executable)
    if cached is not None:
        return cached
    facts = _run_probe(executable)
    if facts.executable == os.path.realpath(executable):  # a wrapper script is probed each time
        _write_cache(_cache_file(key), key, facts)
    return facts


def _cache_file(key: str) -> Path | None:
    try:
        return cache.directory("interpreters") / f"{_slug(key)}.json"
    except PoorenvError:  # not even a temporary cache: probe every time
        return None


def _slug(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _read_cache(cache_file: Path | None, key: str, executable: Path) -> Interpreter | None:
    if cache_file is None or not cache.trusted(cache_file):
        return None  # untrusted: warned, and the probe's answer goes to a temporary cache
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
        if data.get("format") != PROBE_FORMAT:
            return None
        facts = _from_dict(data["facts"])
        if data.get("key") != key or facts.executable != os.path.realpath(executable):
            cache.warn(cache_file, f"it does not describe {executable}")
            cache_file.unlink()  # the user's own (trusted), and never of use
            return None
        real = os.stat(facts.executable)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    # The given path may be a shim or a link: the real executable must not have changed either.
    if (real.st_size, real.st_mtime_ns) != (facts.executable_size, facts.executable_mtime_ns):
        return None
    return facts


def _write_cache(cache_file: Path | None, key: str, facts: Interpreter) -> None:
    data = {"format": PROBE_FORMAT, "key": key, "facts": asdict(facts)}
    if cache_file is None:
        return
    try:
        with cache.private():
            atomic_write(cache_file, json.dumps(data, sort_keys=True))
    except OSError:  # a cache that cannot be written only costs time
        pass


def _run_probe(executable: Path) -> Interpreter:
    try:
        result = _run.run(
            [str(executable), "-I", "-S", str(PROBE)],
            what=f"interpreter {executable}",
            timeout=60,
            check=False,
        )
    except _run.ToolError as exc:  # with check=False: it did not start, or did not answer
        if exc.timed_out:
            raise InterpreterError(
                f"interpreter {executable}: did not answer within 60 s"
            ) from None
        raise InterpreterError(
            f"interpreter {executable}: cannot run it: {exc.detail}",
            hint="name a CPython 3.8 or newer executable",
        ) from None
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
    return from_answer(executable, data)


def from_answer(executable: Path, data: dict[str, Any]) -> Interpreter:
    """What the probe's answer (its JSON output, parsed) says of `executable`: its facts, or an
    InterpreterError saying why it cannot be a base (too old, not CPython, inside a venv).

    A live answer (`_run_probe`) and a recorded one (tests/data/interpreters) are read here.
    """
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
        markers={str(k): str(v) for k, v in (data.get("markers") or {}).items()},
    )


def _from_dict(data: dict[str, Any]) -> Interpreter:
    data = dict(data)
    data["site_packages"] = tuple(data["site_packages"])
    return Interpreter(**data)
