"""A project's `dynamic` dependencies, read through its build backend (PEP 517).

The backend's `prepare_metadata_for_build_wheel` hook (or, failing it, `build_wheel`) is
called with PyPA's `pyproject-hooks`, whose runner goes through `_run.run`. It runs in a
backend env: a venv of the env's base with the project's `[build-system] requires` installed
by pip (with `[index]`), made once per base and set of requirements in poorenv's cache
(`cache.directory("backends")`, trusted before use, like the resolver venvs). Requires-Dist
lines are split into the dependencies and each extra's by their `extra == "name"` clause,
as backends write them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import cache, paths
from poorenv._run import ToolError, run
from poorenv.errors import ConfigError

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter
    from poorenv.lock.pyproject import ProjectRequirements

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"  # PEP 517's default
_EXTRA = re.compile(r'^(?:\((?P<paren>.+)\) and |(?P<rest>.+) and )?extra == "(?P<extra>[^"]+)"$')


def with_dynamic(
    project: ProjectRequirements,
    base: Interpreter,
    extras: tuple[str, ...],
    index_env: Mapping[str, str],
) -> ProjectRequirements:
    """`project` with its dynamic fields filled in from the backend's metadata."""
    if not project.dynamic:
        return project
    text = _metadata(project, base, index_env)
    dependencies, optional = split_requires(text, project.file)
    lines = list(project.requirements)
    if "dependencies" in project.dynamic:
        lines[:0] = [(r, "[project] dependencies (from the build backend)") for r in dependencies]
    if "optional-dependencies" in project.dynamic:
        for extra in extras:
            if extra not in optional:
                listed = ", ".join(sorted(optional)) or "none"
                raise ConfigError(
                    f"{project.file}: the build backend names no extra {extra!r}",
                    hint=f"its extras: {listed}; fix [requirements] extras in poorenv.toml",
                )
            where = f"[project.optional-dependencies] {extra} (from the build backend)"
            lines += [(r, where) for r in optional[extra]]
    return replace(project, requirements=tuple(dict(lines).items()), dynamic=())


def split_requires(metadata: str, file: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Core metadata's Requires-Dist: the dependencies, and each extra's by normalised name."""
    from email.parser import HeaderParser

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    headers = HeaderParser().parsestr(metadata)
    optional: dict[str, list[str]] = {
        canonicalize_name(e): [] for e in headers.get_all("Provides-Extra") or []
    }
    dependencies: list[str] = []
    for line in headers.get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise ConfigError(f"{file}: the build backend wrote {line!r}: {exc}") from None
        marker = str(req.marker) if req.marker else ""
        if "extra" not in marker:
            dependencies.append(str(req))
            continue
        match = _EXTRA.match(marker)
        if match is None:
            message = f"the build backend wrote a marker poorenv cannot split: {line!r}"
            raise ConfigError(f"{file}: {message}")
        req.marker = None
        rest = match.group("paren") or match.group("rest")
        spec = f"{req}; {rest}" if rest else str(req)
        optional.setdefault(canonicalize_name(match.group("extra")), []).append(spec)
    return dependencies, optional


def _metadata(project: ProjectRequirements, base: Interpreter, index_env: Mapping[str, str]) -> str:
    """The core metadata the backend writes for the project (its get_requires_for_build_wheel
    installed too, in a backend env of their own)."""
    backend = project.backend or LEGACY_BACKEND
    requires = project.backend_requires if project.backend else ("setuptools>=40.8.0",)
    what = f"the build backend of {project.file} ({backend})"
    with tempfile.TemporaryDirectory(prefix="poorenv-metadata-") as tmp:
        caller = _caller(project, backend, backend_env(base, requires, index_env), what)
        more = _hook(what, caller.get_requires_for_build_wheel)
        if set(more) - set(requires):
            python = backend_env(base, (*requires, *more), index_env)
            caller = _caller(project, backend, python, what)
        name = _hook(
            what, lambda: caller.prepare_metadata_for_build_wheel(tmp, _allow_fallback=True)
        )
        return Path(tmp, name, "METADATA").read_text(encoding="utf-8")


def _caller(project: ProjectRequirements, backend: str, python: Path, what: str) -> Any:
    from pyproject_hooks import BuildBackendHookCaller

    def runner(
        cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        run(cmd, what=what, cwd=cwd, env=paths.clean_environ(**(extra_environ or {})))

    return BuildBackendHookCaller(
        str(project.directory), backend, backend_path=list(project.backend_path) or None,
        runner=runner, python_executable=str(python),
    )  # fmt: skip


def _hook(what: str, call: Callable[[], Any]) -> Any:
    """A hook's answer; its failure one ConfigError with the backend's own last lines."""
    try:
        return call()
    except ToolError as exc:
        raise ConfigError(
            f"{what} failed: {exc.detail}",
            hint="the backend's own last lines follow; fix the project, then lock again",
            details=tuple(exc.tail[-6:]),
        ) from None
    except Exception as exc:  # pyproject-hooks' own: a backend that is missing or broken
        raise ConfigError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def backend_env(base: Interpreter, requires: Sequence[str], index_env: Mapping[str, str]) -> Path:
    """The python of a cached venv of `base` with `requires` installed (made when missing)."""
    from filelock import FileLock

    from poorenv.apply.pipwheel import run_pip
    from poorenv.lock.reqfile import Refusal, requirement

    for item in requires:  # they reach pip's command line: each a requirement by name
        try:
            requirement(item)
        except Refusal as exc:
            raise ConfigError(
                f"[build-system] requires: {item!r}: {exc.problem}", hint=exc.hint
            ) from None
    wanted = "\n".join([base.executable, *sorted(requires)])
    key = hashlib.sha256(wanted.encode()).hexdigest()[:16]
    root = cache.directory("backends")
    target = root / f"{base.implementation}-{base.xy}-{key}"
    lock = root / f"{target.name}.lock"
    if not cache.trusted(lock):
        return backend_env(base, requires, index_env)  # in the temporary cache the run now uses
    stamp = f"{wanted}\n{base.executable_size} {base.executable_mtime_ns}\n"
    with FileLock(str(lock), mode=0o600):
        if not cache.trusted(target, tree=True):
            return backend_env(base, requires, index_env)
        python = target / "bin" / "python"
        if _read(target / "poorenv-ready") == stamp and os.path.realpath(python) == base.executable:
            return python
        shutil.rmtree(target, ignore_errors=True)
        what = f"cannot make a build backend env for {base.describe()}"
        try:
            with cache.private():
                run([base.executable, "-m", "venv", "--without-pip", str(target)], what=what)
                if requires:
                    args = ["install", "--quiet", "--root-user-action=ignore", *requires]
                    run_pip(python, base, args, what=what, environ=index_env)
                (target / "poorenv-ready").write_text(stamp, encoding="utf-8")
        except ToolError as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise ConfigError(
                exc.message, hint="[build-system] requires is installed with [index]"
            ) from None
    return python


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
