"""Resolving poorenv.toml into a Lock with pip-tools (inside an interpreter of the env's
version) or uv (`uvresolve.py`), for the env's X.Y and each other of `[lock] pythons`.

pip-tools evaluates environment markers for the interpreter it runs in, so it must run in one
of the env's X.Y and ABI: poorenv's own interpreter when that is the base itself, otherwise a
small resolver venv built once per base in poorenv's cache (with pip-tools installed by pip
run from its wheel, using pip's own configuration). A resolver venv is run only when
`cache.trusted` accepts all of it, when its ready stamp names the base (path, size, mtime) and
its interpreter is that base; else it is built again (in a temporary cache if it is not the
user's own).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv import cache, paths
from poorenv._run import ToolError, run
from poorenv.apply.pipwheel import run_pip
from poorenv.errors import LockError
from poorenv.index import index_environ
from poorenv.lock.grammar import FieldError, shown
from poorenv.lock.inputs import input_hash
from poorenv.lock.lockfile import LOCK_NAME, Lock, LockedPackage, LockInterpreter, Resolution
from poorenv.lock.origins import Origins, check_upgrade_names
from poorenv.lock.pyproject import add_project
from poorenv.lock.reqfile import logical_lines, read_inputs, requirement, split_options
from poorenv.lock.uvresolve import uv_binary, uv_command, uv_problem

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.discover.interpreter import Interpreter

log = logging.getLogger(__name__)

RESOLVER_REQUIREMENT = "pip-tools>=7.4"
CONSTRAINTS = "constraints.txt"  # beside requirements.in, given to pip-compile


def resolve(
    config: Config,
    base: Interpreter,
    previous: Lock | None = None,
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
) -> Lock:
    """Resolve `[requirements]` plus the seed tools for `base`, and for an interpreter of each
    other X.Y of `[lock] pythons`; keep `previous` pins if asked. `[env] resolver` says which
    resolver runs: pip-compile inside an interpreter of that version, or `uv pip compile
    --python` with that interpreter.

    The requirements and constraints files are read and checked first (reqfile.py): a line
    poorenv cannot lock is refused before anything runs, and the resolver is given the checked
    requirements, never the files themselves.
    """
    from poorenv.lock.pythons import lock_interpreters

    # Hashed before the files are read for the resolver: one edited meanwhile leaves the lock
    # stale, never fresh.
    hashed = input_hash(config)
    files = read_inputs(config.file, config.requirement_files, config.constraint_files)
    origins = Origins(config.project_dir)
    origins.add_setting(
        config.file, "[requirements] packages", [requirement(spec) for spec in config.packages]
    )
    origins.add_setting(config.file, "[env] seed", config.seed)
    origins.add_files(files)
    project = add_project(config, base, origins)  # [requirements] project: lock/pyproject.py
    if upgrade_packages:
        held = previous.resolutions if previous is not None else ()
        locked = [p.name for r in held for p in r.packages]
        check_upgrade_names(upgrade_packages, origins.lines(), locked, config.file)
    uv = uv_binary() if config.resolver == "uv" and origins.lines() else None
    resolutions: list[Resolution] = []
    for target in lock_interpreters(config, base):
        try:
            interpreter = LockInterpreter.of(target)
        except FieldError as exc:
            raise LockError(
                f"{target.describe()}: its {exc.field} cannot be written in {LOCK_NAME}:"
                f" {exc.problem}"
            ) from None
        kept = None if previous is None or upgrade else previous.select(target)
        packages = _compile(config, target, origins, kept, upgrade, upgrade_packages, uv)
        resolutions.append(Resolution(interpreter, tuple(packages)))
    first, *others = resolutions  # the env's own first
    return Lock(hashed, first.interpreter, first.packages, project=project, others=tuple(others))


def _compile(
    config: Config,
    target: Interpreter,
    origins: Origins,
    kept: Lock | None,
    upgrade: bool,
    upgrade_packages: tuple[str, ...],
    uv: str | None,
) -> list[LockedPackage]:
    """One resolution, for `target`: pip-compile run in an interpreter of its version, or uv
    (`uv` is its binary) given it with --python."""
    inputs, constraints = origins.lines(), origins.lines(constraint=True)
    if not inputs:
        return []
    with tempfile.TemporaryDirectory(prefix="poorenv-lock-") as tmp:
        source = Path(tmp, "requirements.in")
        if constraints:
            Path(tmp, CONSTRAINTS).write_text("\n".join(constraints) + "\n", encoding="utf-8")
            inputs.append(f"-c {CONSTRAINTS}")
        source.write_text("\n".join(inputs) + "\n", encoding="utf-8")
        output = Path(tmp, "requirements.txt")
        if kept is not None:
            output.write_text(kept.to_requirements(), encoding="utf-8")  # pins to keep
        # [index] reaches the resolver by its environment: no credential in its argv.
        environ = paths.clean_environ(
            PIP_REQUIRE_VIRTUALENV="0",
            CUSTOM_COMPILE_COMMAND="poorenv lock",
            **index_environ(config.index, config.project_dir),
        )
        if uv is None:
            cmd = [
                str(resolver_python(target)), "-m", "piptools", "compile", "--quiet",
                "--generate-hashes", "--allow-unsafe", "--no-header", "--no-annotate",
                "--strip-extras", "--no-emit-index-url", "--no-emit-trusted-host",
                "--no-emit-find-links", "--no-emit-options",
            ]  # fmt: skip
        else:
            cmd = uv_command(uv, target, environ)
        cmd += ["--output-file", str(output)]
        if upgrade:
            cmd.append("--upgrade")
        for name in upgrade_packages:
            cmd += ["--upgrade-package", name]
        cmd.append(str(source))
        what = "uv pip compile" if uv else "pip-compile"
        try:
            result = run(cmd, what=what, env=environ, cwd=config.project_dir, check=uv is None)
        except ToolError as exc:  # pip-compile's
            said, details, tool = exc.detail, exc.details, "pip's"
        else:
            if result.returncode == 0:
                return parse_requirements(output.read_text(encoding="utf-8"), what)
            said, details, tool = uv_problem(result, origins), (), "uv's"
        raise LockError(
            f"resolving {config.file.name} for {target.implementation} {target.xy} failed: "
            + origins.rewrite(said, source, Path(tmp, CONSTRAINTS)),
            hint=f"check the requirements and the index settings; --debug shows {tool} output",
            details=details,
        ) from None


def resolver_python(base: Interpreter) -> Path:
    """An interpreter of `base`'s version and ABI that can run pip-tools."""
    if os.path.realpath(sys.executable) == base.executable and _has_piptools():
        return Path(sys.executable)
    return _resolver_env(base)


def _has_piptools() -> bool:
    import importlib.util

    return importlib.util.find_spec("piptools") is not None


def _resolver_env(base: Interpreter) -> Path:
    import hashlib

    from filelock import FileLock

    key = hashlib.sha256(base.executable.encode()).hexdigest()[:12]
    root = cache.directory("resolvers")
    target = root / f"{base.implementation}-{base.xy}{base.abiflags}-{key}"
    lock = root / f"{target.name}.lock"
    if not cache.trusted(lock):
        return _resolver_env(base)  # in the temporary cache the run now uses
    ready = target / "poorenv-ready"
    stamp = f"{base.executable} {base.executable_size} {base.executable_mtime_ns}\n"
    with FileLock(str(lock), mode=0o600):
        if not cache.trusted(target, tree=True):
            return _resolver_env(base)
        python = target / "bin" / "python"
        if _read(ready) == stamp and os.path.realpath(python) == base.executable:
            return python
        log.info("building a resolver env for %s in %s", base.describe(), target)
        building = root / f"{target.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _build(base, building, target)
        except ToolError as exc:
            raise LockError(
                exc.message,
                hint="pip-tools is installed into it with pip's own configuration: check the index",
            ) from None
        with cache.private():
            ready.write_text(stamp, encoding="utf-8")
    return target / "bin" / "python"


def _build(base: Interpreter, building: Path, target: Path) -> None:
    """Make the resolver venv in `building`, then move it to `target` (under umask 077)."""
    with cache.private():
        run(
            [base.executable, "-m", "venv", "--without-pip", str(building)],
            what=f"cannot make a resolver env for {base.describe()}",
        )
        python = building / "bin" / "python"
        run_pip(
            python, base,
            ["install", "--quiet", "--root-user-action=ignore", RESOLVER_REQUIREMENT],
            what=f"cannot install pip-tools for {base.describe()}",
        )  # fmt: skip
        shutil.rmtree(target, ignore_errors=True)
        # venv wrote absolute paths of `building`: make it again in place, keeping packages.
        os.replace(building, target)
        run(
            [base.executable, "-m", "venv", "--without-pip", "--upgrade", str(target)],
            what=f"cannot move the resolver env for {base.describe()}",
        )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


# --- pip-compile's output --------------------------------------------------------------------


def parse_requirements(text: str, what: str = "pip-compile") -> list[LockedPackage]:
    """The pins of a hash-pinned requirements file, as pip-compile writes them (and
    `Lock.to_requirements`). A line that is not one is refused, never skipped."""
    packages: list[LockedPackage] = []
    for number, line in logical_lines(text):
        try:
            packages.append(_pin(line))
        except ValueError as exc:
            raise LockError(f"{what} wrote a line poorenv does not read: {number}: {exc}") from None
    return sorted(packages, key=lambda p: p.name)


def _pin(line: str) -> LockedPackage:
    """`name==version [; markers] --hash=ALG:HEX ...`; ValueError saying what else `line` is."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    spec, options = split_options(line)
    spec, tokens = spec.strip(), options.split()
    if not spec or not all(token.startswith("--hash=") for token in tokens):
        raise ValueError(f"{shown(line)}: only `name==version` with --hash= options is read")
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        raise ValueError(f"{shown(spec)}: {str(exc).splitlines()[0]}") from None
    pins = [s for s in req.specifier if s.operator == "=="]
    if req.url or req.extras or len(pins) != 1 or len(req.specifier) != 1:
        raise ValueError(f"{shown(spec)}: an unpinned requirement (poorenv locks name==version)")
    if not tokens:
        raise ValueError(f"{shown(spec)}: an unhashed requirement")
    hashes = tuple(sorted(token[len("--hash=") :] for token in tokens))
    markers = str(req.marker) if req.marker else None
    try:
        version = str(Version(pins[0].version))
        return LockedPackage(canonicalize_name(req.name), version, hashes, markers)
    except (InvalidVersion, FieldError) as exc:
        raise ValueError(f"{shown(spec)}: {exc}") from None
