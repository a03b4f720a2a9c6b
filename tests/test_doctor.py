"""doctor: installed files against RECORD, and distributions against the lock, from one snapshot."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from poorenv import doctor
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter
from poorenv.plan.layout import Layout, build_layout
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


# --- what leaves the env -------------------------------------------------------------------------


def an_env(tmp_path: Path) -> tuple[Layout, Path, Path]:
    """A layout of tmp_path/env (fake base) with its site dir made, and a dir outside."""
    layout = build_layout(tmp_path / "env", fake_base())
    site = layout.site_dirs[0]
    site.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return layout, site, tmp_path / "outside"


def test_records_leading_outside_and_unlisted_egg_infos(tmp_path: Path) -> None:
    layout, site, outside = an_env(tmp_path)
    info = site / "evil-1.0.dist-info"
    info.mkdir()
    (outside / "victim.py").write_bytes(b"x")
    lines = record_line(site, "evil.py", b"x") + "../../../../outside/victim.py,sha256=abc,1\n"
    (info / "RECORD").write_text(lines)
    (site / "old-1.0.egg-info").mkdir()
    problems = list(doctor._records(SitePackages.read([site]), layout.scheme))
    assert [(p.kind, p.path) for p in problems] == [
        ("record-outside", str(outside / "victim.py")),  # and no hash check outside
        ("unlisted-files", str(site / "old-1.0.egg-info")),
    ]
    assert problems[0].message == (
        f"evil 1.0: RECORD entry ../../../../outside/victim.py leads outside the env"
        f" ({outside / 'victim.py'})"
    )
    assert "poorenv remove && poorenv sync" in problems[0].fix


def test_a_pth_that_runs_code_is_reported_unless_a_distribution_installed_it(
    tmp_path: Path,
) -> None:
    site = an_env(tmp_path)[1]
    info = site / "cov-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(record_line(site, "cov.pth", b"import cov\n"))
    (site / "paths.pth").write_text("# a comment\nextra\n")  # adds a path: sys-path's job
    (site / "zz-evil.pth").write_text("extra\nimport os; os.system('x')\n")
    problems = list(doctor._pth_code(SitePackages.read([site])))
    assert [(p.kind, p.path, p.message, p.fix) for p in problems] == [(
        "pth-code", str(site / "zz-evil.pth"),
        f"{site / 'zz-evil.pth'} runs code at every start of the env's python:"
        " import os; os.system('x')",
        f"delete {site / 'zz-evil.pth'}: no installed distribution lists it",
    )]  # fmt: skip


def test_links_leading_outside_from_site_packages_or_as_directories(tmp_path: Path) -> None:
    base = fake_base(stdlib=str(tmp_path / "base"))
    layout = build_layout(tmp_path / "env", base)
    site = layout.site_dirs[0]
    site.mkdir(parents=True)
    (tmp_path / "base" / "json").mkdir(parents=True)
    (tmp_path / "base" / "os.py").write_text("")
    stdlib = site.parent
    (stdlib / "os.py").symlink_to(tmp_path / "base" / "os.py")  # a mirror link: fine
    (stdlib / "json").symlink_to(tmp_path / "base" / "json")  # a directory link: not fine
    (site / "evil").symlink_to(tmp_path / "base")  # in site-packages, even into the base
    problems = list(doctor._links(layout, base, layout.scheme.bounds()))
    assert [(p.kind, p.path) for p in problems] == [
        ("link-outside", str(stdlib / "json")),
        ("link-outside", str(site / "evil")),
    ]
    assert "directory link leading outside the env" in problems[0].message
    assert (
        problems[1].fix
        == f"delete the link {site / 'evil'}, or run `poorenv remove && poorenv sync`"
    )
