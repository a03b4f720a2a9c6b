"""pip, run straight from its wheel by the env's interpreter: how poorenv installs anything.

The env needs no pip of its own for poorenv to manage it, and ensurepip is never run. The wheel
(the newest pip that supports the env's X.Y) is kept in poorenv's cache, fetched once with
pip's own configuration (index, proxies, certificates). Offline, the base's bundled wheel
(ensurepip's, or Debian's /usr/share/python-wheels) serves instead.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from poorenv import paths
from poorenv._run import Result, ToolError, last_error_line, run
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ApplyError

log = logging.getLogger(__name__)

_BUNDLED_DIRS = ("/usr/share/python-wheels",)


def wheel_dir(base: Interpreter) -> Path:
    return paths.cache_dir() / "seed" / f"{base.implementation}-{base.xy}"


def find_wheels(directory: Path, tools: tuple[str, ...]) -> dict[str, Path]:
    """The newest wheel of each tool in `directory`, by version order (23.10 after 23.9).

    A file whose name is not a valid wheel name is skipped.
    """
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import Version

    found: dict[str, tuple[Version, Path]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    for name in names:
        if not name.endswith(".whl"):
            continue
        try:
            tool, version, _, _ = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if tool in tools and (tool not in found or version > found[tool][0]):
            found[tool] = (version, directory / name)
    return {tool: path for tool, (_, path) in found.items()}


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
    if not error:
        error = "pip download gave no wheel of " + ", ".join(t for t in wanted if t not in wheels)
    bundled = _bundled(base, wanted)
    if len(bundled) == len(wanted):
        log.warning("using the base's bundled %s wheels (download failed)", ", ".join(wanted))
        return bundled
    raise ApplyError(
        f"cannot get wheels of {', '.join(wanted)} for Python {base.xy}: {error}",
        hint="check pip's index configuration, or put the wheels in " + str(directory),
    )


def _download(base: Interpreter, tools: tuple[str, ...], directory: Path) -> str:
    """Fetch the wheels of `tools` into `directory`: why not, or "" when pip did not fail."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Fetched beside the cache and renamed in: one filesystem, so a wheel appears whole
        # (os.replace from a tmpfs /tmp into ~/.cache would fail with EXDEV).
        with tempfile.TemporaryDirectory(prefix=".download-", dir=directory) as tmp:
            cmd = [
                sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                "--no-deps", "--only-binary=:all:", "--python-version", base.xy,
                "--dest", tmp, *tools,
            ]  # fmt: skip
            # poorenv's own pip, in poorenv's own environment (whatever lets poorenv import).
            try:
                result = run(cmd, what="downloading seed wheels", env=os.environ, check=False)
            except ToolError as exc:
                return exc.message
            if result.returncode != 0:
                if not result.stderr.strip():
                    return f"pip download exited {result.returncode}"
                return last_error_line(result.stderr)
            for name in os.listdir(tmp):
                os.replace(os.path.join(tmp, name), directory / name)
    except OSError as exc:  # the cache cannot be written: the bundled wheels may still serve
        return f"cannot keep wheels in {directory}: {exc.strerror or exc}"
    return ""


def _bundled(base: Interpreter, tools: tuple[str, ...]) -> dict[str, Path]:
    candidates = [Path(base.stdlib) / "ensurepip" / "_bundled", *map(Path, _BUNDLED_DIRS)]
    wheels: dict[str, Path] = {}
    for directory in candidates:
        for tool, path in find_wheels(directory, tools).items():
            wheels.setdefault(tool, path)
    return wheels


def pip_command(python: Path, base: Interpreter) -> list[str]:
    """The command line that runs pip (from its cached wheel) inside the env of `python`."""
    pip = seed_wheels(base, ("pip",))["pip"]
    return [
        str(python), str(unpacked(pip, python, base.cache_tag) / "pip"),
        "--disable-pip-version-check", "--no-input",
    ]  # fmt: skip


def unpacked(wheel: Path, python: Path, cache_tag: str) -> Path:
    """`wheel`'s code unpacked once beside it, compiled for `python`'s version.

    Python cannot cache bytecode for modules imported from a zip: run from the wheel, pip's
    few hundred modules are compiled anew on every run (about 0.7 s of each install here).
    Falls back to the wheel itself when the cache cannot be written.
    """
    target = wheel.with_name(wheel.name[: -len(".whl")] + ".run")
    try:
        if not (target / ".complete").exists():
            _unpack(wheel, target)
        stamp = target / f".compiled-{cache_tag}"
        if not stamp.exists():
            cmd = [str(python), "-m", "compileall", "-q", "-j", "0", str(target / "pip")]
            run(cmd, what="compiling pip", check=False)
            stamp.touch()
    except OSError as exc:
        log.debug("running pip from its wheel: cannot unpack it (%s)", exc)
        return wheel
    except ToolError as exc:
        log.debug("running pip from its wheel: %s", exc.message)
        return wheel
    return target


def _unpack(wheel: Path, target: Path) -> None:
    import shutil
    import zipfile

    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=wheel.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            # The code only: with its .dist-info on sys.path, pip would take itself for
            # installed in the env and skip installing pip there.
            code = [n for n in archive.namelist() if ".dist-info/" not in n]
            archive.extractall(tmp, members=code)
        (tmp / ".complete").touch()
        os.rename(tmp, target)  # atomic: a target that exists is complete
    except OSError:
        if not (target / ".complete").exists():
            raise  # not another process that won the race
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_pip(
    python: Path,
    base: Interpreter,
    args: list[str],
    *,
    what: str,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Result:
    """Run pip from its wheel in the env of `python` (`_run.run`: ToolError with `check`).

    `environ` is added to poorenv's clean environment: the index settings
    (`index.index_environ`), which never go into `args`.
    """
    env = paths.clean_environ(**(environ or {}))
    return run([*pip_command(python, base), *args], what=what, check=check, env=env)
