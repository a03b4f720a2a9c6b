"""`poorenv export --format pylock`: the lock as a PEP 751 `pylock.toml` for the env's Python.

poorenv.lock holds names, versions and every artifact hash, but not where the artifacts live.
pip knows: a dry-run install of the lock's hash-pinned lines in the env's interpreter
(`--ignore-installed --no-deps --report`) says which file it would take for each package,
with its URL and hash. Those become `[[packages.wheels]]` / `[packages.sdist]` entries.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock, PylockValidationError
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from poorenv import __version__
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import LockError
from poorenv.lock.lockfile import Lock
from poorenv.redact import redact, strip_credentials


def artifacts(
    python: Path, base: Interpreter, lock: Lock, index_env: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """name -> pip's installation report entry for the file it would install for `lock`.

    `index_env`: `[index]` as pip's variables (`index.index_environ`).
    """
    from poorenv._run import ToolError
    from poorenv.apply.pipwheel import run_pip

    with tempfile.TemporaryDirectory(prefix="poorenv-pylock-") as tmp:
        requirements = Path(tmp, "requirements.txt")
        requirements.write_text(lock.to_requirements(), encoding="utf-8")
        report = Path(tmp, "report.json")
        args = [
            "install", "--dry-run", "--ignore-installed", "--no-deps", "--require-hashes",
            "--quiet", "--report", str(report), "-r", str(requirements),
        ]  # fmt: skip
        try:
            run_pip(
                python, base, args, what="asking pip where the locked files are", environ=index_env
            )
        except ToolError as exc:
            raise LockError(
                f"{exc.what} failed: {exc.detail}",
                hint="check pip's index configuration (the export needs the index)",
            ) from None
        data = json.loads(report.read_text(encoding="utf-8"))
    return {canonicalize_name(item["metadata"]["name"]): item for item in data.get("install", [])}


def render(lock: Lock, found: Mapping[str, Mapping[str, Any]], base: Interpreter) -> str:
    """The pylock.toml text (pure): `lock`'s packages with the files `found` by pip, as
    packaging.pylock's dataclasses, validated by packaging before they are written."""
    import tomli_w

    system, _, machine = base.platform.partition("-")
    environment = (
        f"implementation_name == '{base.implementation}' and python_version == '{base.xy}'"
        f" and sys_platform == '{system}' and platform_machine == '{machine or system}'"
    )
    packages = []
    for package in lock.packages:
        item = found.get(canonicalize_name(package.name))
        if item is None:
            raise LockError(f"pip found no file for {package.name}=={package.version}")
        artifact = _artifact(package.name, item["download_info"])
        try:
            packages.append(
                Package(
                    name=canonicalize_name(package.name),
                    version=Version(package.version),
                    marker=Marker(package.markers) if package.markers else None,
                    wheels=[artifact] if isinstance(artifact, PackageWheel) else None,
                    sdist=artifact if isinstance(artifact, PackageSdist) else None,
                )
            )
        except (InvalidVersion, InvalidMarker) as exc:
            raise LockError(f"{package.name} in poorenv.lock: {exc}") from None
    document = Pylock(
        lock_version=Version("1.0"),
        environments=[Marker(environment)],
        requires_python=SpecifierSet(f"=={base.xy}.*"),
        created_by="poorenv",
        packages=packages,
    )
    try:
        document.validate()
    except PylockValidationError as exc:
        raise LockError(f"the pylock.toml would not be valid: {redact(str(exc))}") from None
    header = (
        f"# PEP 751 lock exported from poorenv.lock by poorenv {__version__}"
        f" for {base.implementation} {base.xy} ({base.platform}).\n"
    )
    return header + tomli_w.dumps(dict(document.to_dict()), multiline_strings=False)


def _artifact(name: str, info: Mapping[str, Any]) -> PackageWheel | PackageSdist:
    """A PEP 751 wheel or sdist entry from pip's `download_info` of the file it picked."""
    url = strip_credentials(info["url"])
    where = unquote(urlsplit(url).path)
    archive = info.get("archive_info", {})
    hashes = dict(archive.get("hashes") or {})
    if not hashes and "hash" in archive:
        algorithm, _, value = archive["hash"].partition("=")
        hashes = {algorithm: value}
    local = url.startswith("file:")
    if not hashes and local:
        hashes = {"sha256": _sha256(Path(where))}
    if not hashes:
        raise LockError(f"no hash known for the file of {name}: {redact(url)}")
    filename = where.rsplit("/", 1)[-1]
    kind = PackageWheel if filename.endswith(".whl") else PackageSdist
    if local:
        return kind(name=filename, path=where, hashes=hashes)
    return kind(name=filename, url=url, hashes=hashes)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
