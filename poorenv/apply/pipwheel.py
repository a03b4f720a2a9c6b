"""pip, run straight from its wheel by the env's interpreter: how poorenv installs anything.

The env needs no pip of its own for poorenv to manage it, and ensurepip is never run. The wheel
(the newest pip that supports the env's X.Y) is kept in poorenv's cache, fetched once with
pip's own configuration (index, proxies, certificates). Offline, the base's bundled wheel
(ensurepip's, or Debian's /usr/share/python-wheels) serves instead.

pip's code runs from the cache on every install, so every cached wheel and the unpacked tree
must pass `cache.trusted` (the user's own, writable by nobody else), and the unpacked tree's
`.complete` names the wheel it was unpacked from (name, size, mtime); a tree that names another
is unpacked again.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from poorenv import cache, paths
from poorenv._run import Result, ToolError, last_error_line, run
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ApplyError

log = logging.getLogger(__name__)

_BUNDLED_DIRS = ("/usr/share/python-wheels",)
COMPLETE = ".complete"  # in an unpacked tree: the wheel it was unpacked from


def wheel_dir(base: Interpreter) -> Path:
    return cache.root() / "seed" / f"{base.implementation}-{base.xy}"


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
    wheels = _cached(base, wanted)
    if len(wheels) == len(wanted):
        return wheels
    directory = wheel_dir(base)
    error = _download(base, wanted, directory)
    wheels = _cached(base, wanted)
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


def _cached(base: Interpreter, tools: tuple[str, ...]) -> dict[str, Path]:
    """The cached wheels of `tools` that may be used (`cache.trusted`); after one that may not,
    those of the temporary cache the run then uses."""
    wheels = find_wheels(wheel_dir(base), tools)
    if all(cache.trusted(wheel) for wheel in wheels.values()):
        return wheels
    return find_wheels(wheel_dir(base), tools)


def _download(base: Interpreter, tools: tuple[str, ...], directory: Path) -> str:
    """Fetch the wheels of `tools` into `directory`: why not, or "" when pip did not fail."""
    try:
        with cache.private():
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
                with cache.private():  # the wheels are the user's only
                    # cwd: `-m pip` puts the working directory first on sys.path
                    result = run(
                        cmd, what="downloading seed wheels", env=os.environ, cwd=tmp, check=False
                    )
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
    """The command line that runs pip (from its cached wheel) inside the env of `python`.

    A wheel outside the cache (the base's bundled one) runs from the zip: nothing is unpacked
    beside it.
    """
    pip = seed_wheels(base, ("pip",))["pip"]
    if not _in_cache(pip):
        return [str(python), str(pip / "pip"), "--disable-pip-version-check", "--no-input"]
    return [
        str(python), str(unpacked(pip, python, base.cache_tag) / "pip"),
        "--disable-pip-version-check", "--no-input",
    ]  # fmt: skip


def unpacked(wheel: Path, python: Path, cache_tag: str) -> Path:
    """`wheel`'s code unpacked once beside it, compiled for `python`'s version.

    Python cannot cache bytecode for modules imported from a zip: run from the wheel, pip's
    few hundred modules are compiled anew on every run (about 0.7 s of each install here).
    Falls back to the wheel itself when the cache cannot be written, or when the unpacked tree
    may not be used (`cache.trusted`: then the run has also switched to a temporary cache).
    A tree whose `.complete` names another wheel is unpacked again; one without `.complete`
    was not made here and is left alone.
    """
    if not _in_cache(wheel):  # the base's bundled wheel: nothing is ever written beside it
        return wheel
    target = wheel.with_name(wheel.name[: -len(".whl")] + ".run")
    try:
        if not cache.trusted(target, tree=True):
            return wheel
        if _read(target / COMPLETE) != _describe(wheel):
            _unpack(wheel, target)
        stamp = target / f".compiled-{cache_tag}"
        if _read(stamp) != f"{cache_tag}\n":
            cmd = [str(python), "-m", "compileall", "-q", "-j", "0", str(target / "pip")]
            with cache.private():
                run(cmd, what="compiling pip", check=False)
                stamp.write_text(f"{cache_tag}\n", encoding="utf-8")
    except OSError as exc:
        log.debug("running pip from its wheel: cannot unpack it (%s)", exc)
        return wheel
    except ToolError as exc:
        log.debug("running pip from its wheel: %s", exc.message)
        return wheel
    return target


def _describe(wheel: Path) -> str:
    """What an unpacked tree's `.complete` says: the wheel it was unpacked from."""
    info = wheel.stat()
    return f"{wheel.name} {info.st_size} {info.st_mtime_ns}\n"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _in_cache(path: Path) -> bool:
    try:
        path.relative_to(cache.root())
    except ValueError:
        return False
    return True


def _unpack(wheel: Path, target: Path) -> None:
    """Unpack `wheel` into `target` atomically; replace a tree of poorenv's (it has a
    `.complete`) that names another wheel."""
    import shutil
    import zipfile

    with cache.private():
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=wheel.parent))
        try:
            with zipfile.ZipFile(wheel) as archive:
                # The code only: with its .dist-info on sys.path, pip would take itself for
                # installed in the env and skip installing pip there.
                code = [n for n in archive.namelist() if ".dist-info/" not in n]
                archive.extractall(tmp, members=code)
            description = _describe(wheel)
            (tmp / COMPLETE).write_text(description, encoding="utf-8")
            try:
                os.rename(tmp, target)  # atomic: a target that exists is complete
            except OSError:
                if _read(target / COMPLETE) == description:
                    return  # another process won the race
                if _read(target / COMPLETE) is None:
                    raise  # not made here: left alone
                stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=wheel.parent))
                os.rename(target, stale / "tree")
                os.rename(tmp, target)
                shutil.rmtree(stale, ignore_errors=True)
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
