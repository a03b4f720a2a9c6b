"""Small, valid wheels built in a test's tmp_path, so that most package tests need no network."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    body: str = "",
    files: Mapping[str, str] | None = None,
    record: Sequence[str] = (),
) -> Path:
    """A pure-Python wheel of `name` holding one module (and `files`, path -> text); returns
    its path. `record` are extra RECORD lines for files the wheel does not hold: pip keeps
    them in the RECORD it installs (hostile metadata for the tests of a sealed env)."""
    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {req}" for req in requires]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    contents = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n{body}",
        f"{dist_info}/METADATA": "\n".join(metadata) + "\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: poorenv-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    contents = {**contents, **(files or {})}
    record_lines = [
        f"{path},{_hash(text.encode())},{len(text.encode())}" for path, text in contents.items()
    ]
    record_lines += [*record, f"{dist_info}/RECORD,,"]
    contents[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, text)
    return wheel


def _hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheelhouse(directory: Path) -> Path:
    """A find-links directory: alpha 1.0 and 2.0 (needing beta), beta 1.0, gamma 1.0, delta."""
    make_wheel(directory, "alpha", "1.0", requires=["beta>=1"])
    make_wheel(directory, "alpha", "2.0", requires=["beta>=1"])
    make_wheel(directory, "beta", "1.0")
    make_wheel(directory, "gamma", "1.0", requires=['delta; python_version < "3.11"'])
    make_wheel(directory, "delta", "1.0")
    make_wheel(directory, "extra-thing", "1.0")
    return directory
