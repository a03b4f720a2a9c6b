"""Wheels for the seed tools (pip, setuptools), and installing them with pip run from its wheel.

The wheels are kept in poorenv's cache, per Python X.Y, so that a new env costs one local pip
run and no download. They are fetched with pip's own configuration (index, proxies,
certificates). Offline, the base's own bundled wheels (ensurepip's, or Debian's
/usr/share/python-wheels) serve instead; ensurepip itself is never run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from poorenv import paths
from poorenv.errors import ApplyError
from poorenv.interpreter import Interpreter

log = logging.getLogger(__name__)

_BUNDLED_DIRS = ("/usr/share/python-wheels",)


def wheel_dir(base: Interpreter) -> Path:
    return paths.cache_dir() / "seed" / f"{base.implementation}-{base.xy}"


def find_wheels(directory: Path, tools: tuple[str, ...]) -> dict[str, Path]:
    """The newest wheel of each tool in `directory`."""
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    for name in names:
        if not name.endswith(".whl"):
            continue
        tool, version = name.split("-")[:2]
        if tool in tools:
            key = _version_key(version)
            if tool not in found or key > found[tool][0]:
                found[tool] = (key, directory / name)
    return {tool: path for tool, (_, path) in found.items()}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def seed_wheels(base: Interpreter, tools: tuple[str, ...]) -> dict[str, Path]:
    """Wheels of `tools` (and always pip, which installs them) for the base's X.Y."""
    wanted = tuple(dict.fromkeys(("pip", *tools)))
    directory = wheel_dir(base)
    wheels = find_wheels(directory, wanted)
    if len(wheels) == len(wanted):
        return wheels
    error = _download(base, wanted, directory)
    wheels = find_wheels(directory, wanted)
    if len(wheels) == len(wanted):
        return wheels
    bundled = _bundled(base, wanted)
    if len(bundled) == len(wanted):
        log.warning("using the base's bundled %s wheels (download failed)", ", ".join(wanted))
        return bundled
    raise ApplyError(
        f"cannot get wheels of {', '.join(wanted)} for Python {base.xy}: {error}",
        hint="check pip's index configuration, or put the wheels in " + str(directory),
    )


def _download(base: Interpreter, tools: tuple[str, ...], directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="poorenv-seed-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--python-version", base.xy,
            "--dest", tmp, *tools,
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            return lines[-1] if lines else f"pip download exited {result.returncode}"
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), directory / name)
    return ""


def _bundled(base: Interpreter, tools: tuple[str, ...]) -> dict[str, Path]:
    candidates = [Path(base.stdlib) / "ensurepip" / "_bundled", *map(Path, _BUNDLED_DIRS)]
    wheels: dict[str, Path] = {}
    for directory in candidates:
        for tool, path in find_wheels(directory, tools).items():
            wheels.setdefault(tool, path)
    return wheels


def install(python: Path, wheels: dict[str, Path], tools: tuple[str, ...]) -> None:
    """Install `tools` into the env of `python`, with pip run straight from its wheel."""
    find_links = sorted({str(path.parent) for path in wheels.values()})
    pip = wheels["pip"]
    cmd = [
        str(python), str(pip / "pip"), "install", "--isolated", "--no-index",
        "--disable-pip-version-check", "--no-warn-script-location", "--no-deps",
        "--root-user-action=ignore", "--quiet",
        *(f"--find-links={d}" for d in find_links),
        *(str(wheels[tool]) for tool in tools),
    ]  # fmt: skip
    result = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env=paths.clean_environ()
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise ApplyError(
            f"installing {', '.join(tools)} failed: {lines[-1] if lines else result.returncode}"
        )
