"""doctor: installed files against RECORD, and distributions against the lock, from one snapshot."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from poorenv import doctor
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter
from poorenv.state.scheme import Scheme
from poorenv.state.site import SitePackages
from tests.fakes import fake_base


def record_line(site: Path, rel: str, content: bytes) -> str:
    (site / rel).parent.mkdir(parents=True, exist_ok=True)
    (site / rel).write_bytes(content)
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(content)}\n"


def a_site(site: Path) -> SitePackages:
    """alpha 1.0 (intact, one bytecode file without hash), beta 2.0 (two damaged files), and an
    interrupted install."""
    info = site / "alpha-1.0.dist-info"
    info.mkdir(parents=True)
    lines = record_line(site, "alpha/__init__.py", b"x = 1\n")
    lines += "alpha/__pycache__/__init__.cpython-312.pyc,,\nalpha-1.0.dist-info/RECORD,,\n"
    (info / "RECORD").write_text(lines, encoding="utf-8")
    info = site / "Beta-2.0.dist-info"
    info.mkdir()
    lines = record_line(site, "beta.py", b"y = 1\n") + record_line(site, "beta_gone.py", b"")
    (info / "RECORD").write_text(lines, encoding="utf-8")
    (site / "beta.py").write_bytes(b"y = 2\n")
    (site / "beta_gone.py").unlink()
    (site / "gamma-1.0.dist-info").mkdir()
    return SitePackages.read([site])


def test_records_name_modified_and_missing_files(tmp_path: Path) -> None:
    scheme = Scheme.of(tmp_path, {"purelib": str(tmp_path)})
    problems = list(doctor._records(a_site(tmp_path), scheme))
    assert [(p.kind, p.path) for p in problems] == [
        ("modified-file", str(tmp_path / "beta.py")),
        ("missing-file", str(tmp_path / "beta_gone.py")),
    ]
    assert "of Beta-2.0" in problems[0].message


def test_distributions_against_the_lock(tmp_path: Path) -> None:
    site = a_site(tmp_path)
    hashes = ("sha256:" + "c" * 64,)
    lock = Lock("sha256:" + "0" * 64, LockInterpreter.of(fake_base()), (
        LockedPackage("alpha", "1.1", hashes), LockedPackage("delta", "3.0", hashes)))  # fmt: skip
    problems = list(doctor._distributions(site, lock))
    assert [(p.kind, p.message) for p in problems] == [
        ("broken-install", f"{tmp_path / 'gamma-1.0.dist-info'}: an interrupted install"),
        ("version", "alpha 1.0 is installed, the lock says 1.1"),
        ("missing-distribution", "delta 3.0 is not installed"),
        ("extra-distribution", "beta 2.0 is not in the lock"),
    ]
    assert [p.kind for p in doctor._distributions(site, None)] == ["broken-install", "no-lock"]
