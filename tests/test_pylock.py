"""pylock.render: a fake lock and fake pip report entries -> a PEP 751 pylock.toml."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from poorenv.errors import LockError
from poorenv.lock.grammar import FieldError
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter
from poorenv.lock.pylock import render
from tests.fakes import fake_base

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HEX = "a" * 64
BASE = fake_base()


def a_lock(*packages: LockedPackage) -> Lock:
    return Lock("sha256:" + "0" * 64, LockInterpreter.of(BASE), packages)


def pin(name: str, version: str, markers: str | None = None) -> LockedPackage:
    return LockedPackage(name, version, (f"sha256:{HEX}",), markers)


def entry(name: str, url: str, **archive_info: Any) -> dict[str, Any]:
    """One `install` item of pip's installation report."""
    return {"metadata": {"name": name}, "download_info": {"url": url, "archive_info": archive_info}}


def parsed(text: str) -> dict[str, Any]:
    data = tomllib.loads(text)
    Pylock.from_dict(data)  # what a PEP 751 reader accepts
    return data


def test_a_local_wheel_and_a_remote_sdist(tmp_path: Path) -> None:
    wheel = tmp_path / "alpha-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    lock = a_lock(pin("alpha", "1.0"), pin("beta", "2.0"))
    found = {
        "alpha": entry("alpha", wheel.as_uri()),  # no hash in the report: computed from the file
        "beta": entry("beta", "https://example.invalid/files/beta-2.0.tar.gz",
                      hash=f"sha256={HEX}"),
    }  # fmt: skip
    text = render(lock, found, BASE)
    assert text.startswith("# PEP 751 lock exported from poorenv.lock by poorenv ")
    data = parsed(text)
    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "poorenv"
    assert data["requires-python"] == "==3.12.*"
    assert data["environments"] == [
        'implementation_name == "cpython" and python_version == "3.12"'
        ' and sys_platform == "linux" and platform_machine == "x86_64"'
    ]
    alpha, beta = data["packages"]
    assert alpha == {
        "name": "alpha",
        "version": "1.0",
        "wheels": [
            {
                "name": wheel.name,
                "path": str(wheel),
                "hashes": {"sha256": hashlib.sha256(b"wheel bytes").hexdigest()},
            }
        ],
    }
    assert beta == {
        "name": "beta",
        "version": "2.0",
        "sdist": {
            "name": "beta-2.0.tar.gz",
            "url": "https://example.invalid/files/beta-2.0.tar.gz",
            "hashes": {"sha256": HEX},
        },
    }


def test_credentials_are_stripped_from_urls() -> None:
    url = "https://user:secret@example.invalid/simple/zope.interface-6.0-py3-none-any.whl"
    found = {"zope-interface": entry("zope.interface", url, hashes={"sha256": HEX})}
    text = render(a_lock(pin("zope-interface", "6.0")), found, BASE)
    assert "secret" not in text and "user" not in text
    (package,) = parsed(text)["packages"]
    assert package["name"] == "zope-interface"
    assert package["wheels"][0]["url"] == (
        "https://example.invalid/simple/zope.interface-6.0-py3-none-any.whl"
    )


def test_markers_are_kept() -> None:
    lock = a_lock(pin("tomli", "2.0.1", 'python_version < "3.11"'))
    url = "https://example.invalid/tomli-2.0.1-py3-none-any.whl"
    text = render(lock, {"tomli": entry("tomli", url, hashes={"sha256": HEX})}, BASE)
    (package,) = parsed(text)["packages"]
    assert package["marker"] == 'python_version < "3.11"'


def test_a_package_pip_did_not_find_is_an_error() -> None:
    with pytest.raises(LockError, match=r"pip found no file for alpha==1\.0"):
        render(a_lock(pin("alpha", "1.0")), {}, BASE)


def test_a_remote_file_without_hash_is_an_error_without_credentials() -> None:
    url = "https://user:secret@example.invalid/alpha-1.0-py3-none-any.whl"
    with pytest.raises(LockError, match="no hash known") as caught:
        render(a_lock(pin("alpha", "1.0")), {"alpha": entry("alpha", url)}, BASE)
    assert "secret" not in caught.value.message


def test_packaging_validates_the_document() -> None:
    url = "https://example.invalid/alpha-1.0-py3-none-any.whl"
    bad = {"alpha": entry("alpha", url, hashes={"sha256": 12345})}  # a hash that is no string
    with pytest.raises(LockError, match="would not be valid: Hash values must be strings"):
        render(a_lock(pin("alpha", "1.0")), bad, BASE)


def test_a_bad_marker_never_reaches_the_export() -> None:
    with pytest.raises(FieldError, match="markers: not PEP 508 markers"):
        pin("alpha", "1.0", "python_version <<< '3'")  # refused when the pin is made
