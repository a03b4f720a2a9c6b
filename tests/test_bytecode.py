"""bytecode: compile just-installed distributions (found through state.site), list the .pyc."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from poorenv.apply.bytecode import compile_distributions
from poorenv.state.scheme import Scheme
from poorenv.state.site import UnsafeDistribution

TAG = sys.implementation.cache_tag


def test_the_named_distributions_are_compiled_and_their_bytecode_recorded(tmp_path: Path) -> None:
    tag = sys.implementation.cache_tag
    for name, version in (("Pkg_One", "1.0"), ("other", "2.0")):
        module = name.lower()
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text("x = 1\n", encoding="utf-8")
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "RECORD").write_text(
            f"{module}/__init__.py,sha256=abc,6\n{info.name}/RECORD,,\n", encoding="utf-8"
        )
    scheme = Scheme.of(tmp_path, {"purelib": str(tmp_path)})
    updates = compile_distributions(Path(sys.executable), scheme, ["pkg-one"], tag)
    record = tmp_path / "Pkg_One-1.0.dist-info" / "RECORD"
    assert list(updates) == [record]  # "other" was not asked for
    pyc = f"pkg_one/__pycache__/__init__.{tag}.pyc"
    assert (tmp_path / pyc).is_file()
    assert not (tmp_path / "other" / "__pycache__").exists()
    assert list(csv.reader(updates[record].splitlines())) == [
        ["pkg_one/__init__.py", "sha256=abc", "6"],
        ["Pkg_One-1.0.dist-info/RECORD", "", ""],
        [pyc, "", ""],
    ]


def a_dist(site: Path, name: str, record: str, modules: dict[str, str]) -> None:
    for rel, text in modules.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text(record, encoding="utf-8")


def test_nothing_is_compiled_for_a_record_leading_outside(tmp_path: Path) -> None:
    env, outside = tmp_path / "env", tmp_path / "outside"
    site = env / "site"
    outside.mkdir()
    (outside / "victim.py").write_text("x = 1\n")
    a_dist(site, "good", "good.py,,\n", {"good.py": "y = 1\n"})
    a_dist(site, "evil", "evil.py,,\n../../outside/victim.py,,\n", {"evil.py": "z = 1\n"})
    scheme = Scheme.of(env, {"purelib": str(site)})
    with pytest.raises(UnsafeDistribution, match=r"^evil 1.0: RECORD entry \.\./\.\./outside/vi"):
        compile_distributions(Path(sys.executable), scheme, ["good", "evil"], TAG)
    assert not (outside / "__pycache__").exists()
    assert not (site / "__pycache__").exists()  # refused before anything was compiled


def test_a_pycache_leading_outside_is_refused(tmp_path: Path) -> None:
    env, outside = tmp_path / "env", tmp_path / "outside"
    site = env / "site"
    outside.mkdir()
    a_dist(site, "pkg", "pkg/__init__.py,,\n", {"pkg/__init__.py": "x = 1\n"})
    (site / "pkg" / "__pycache__").symlink_to(outside)
    scheme = Scheme.of(env, {"purelib": str(site)})
    with pytest.raises(UnsafeDistribution, match=r"pkg/__pycache__/__init__\..*leads outside"):
        compile_distributions(Path(sys.executable), scheme, ["pkg"], TAG)
    assert list(outside.iterdir()) == []


def test_only_the_bytecode_really_written_is_recorded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    stale = f"pkg/__pycache__/broken.{TAG}.pyc"
    record = "pkg/__init__.py,,\npkg/broken.py,,\n"
    a_dist(site, "pkg", record, {"pkg/__init__.py": "x = 1\n", "pkg/broken.py": "def (:\n",
                                 stale: "old bytecode, not written now"})  # fmt: skip
    odd = "pkg/odd\nname.py"  # a line break in a name: never read as two names
    a_dist(site, "odd", f'"{odd}",,\n', {odd: "y = 2\n"})
    scheme = Scheme.of(tmp_path, {"purelib": str(site)})
    updates = compile_distributions(Path(sys.executable), scheme, ["pkg", "odd"], TAG)
    rows = list(csv.reader(updates[site / "pkg-1.0.dist-info" / "RECORD"].splitlines()))
    assert rows == [
        ["pkg/__init__.py", "", ""],
        ["pkg/broken.py", "", ""],
        [f"pkg/__pycache__/__init__.{TAG}.pyc", "", ""],
    ]  # not the stale bytecode of the module that does not compile
    odd_record = updates[site / "odd-1.0.dist-info" / "RECORD"]
    assert f"pkg/__pycache__/odd\nname.{TAG}.pyc" in odd_record
    assert not (site / "pkg" / "__pycache__" / f"odd.{TAG}.pyc").exists()
