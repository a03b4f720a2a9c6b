"""apply.unfinished: the note of package changes under way, what a failed install leaves, and
finishing what an earlier sync left half-done; on a tmp_path env, no installer."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from poorenv.apply.unfinished import PackageChanges
from poorenv.envdir import EnvDir
from poorenv.errors import EnvError


class Env:
    def __init__(self, root: Path) -> None:
        self.dir = EnvDir(root / "env")
        self.dir.create({"format": 1, "created-by": "poorenv tests"})
        self.site = root / "env" / "lib" / "python3.12" / "site-packages"
        self.bin = root / "env" / "bin"
        self.site.mkdir(parents=True)
        self.bin.mkdir()
        self.note = root / "env" / ".poorenv" / "unfinished.json"

    def changes(self, *names: str) -> PackageChanges:
        return PackageChanges(self.dir, (self.site, self.bin), names)

    def dist(self, name: str, version: str, files: Mapping[str, str], record: bool = True) -> None:
        """A distribution as an installer leaves it: files, then RECORD (paths from the site)."""
        info = f"{name}-{version}.dist-info"
        rows = []
        for rel, text in {**files, f"{info}/METADATA": f"Name: {name}\n"}.items():
            path = self.site / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            rows.append(f"{rel},sha256=x,{len(text)}")
        if record:
            (self.site / info / "RECORD").write_text("\n".join([*rows, f"{info}/RECORD,,"]) + "\n")

    def noted(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.note.read_text())
        return data


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_begin_names_the_packages_and_keeps_the_files_of_those_installed(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A", "../../../bin/alpha": "#!"})
    env.dist("beta", "1.0", {"beta.py": "B"})
    changes = env.changes("alpha", "gamma")
    changes.begin()
    changes.begin()  # once
    assert env.noted() == {
        "format": 1,
        "packages": ["alpha", "gamma"],
        "files": sorted(
            str(p)
            for p in (
                env.site / "alpha" / "__init__.py",
                env.bin / "alpha",
                env.site / "alpha-1.0.dist-info" / "METADATA",
                env.site / "alpha-1.0.dist-info" / "RECORD",
            )
        ),
    }
    changes.end()
    assert not env.note.exists()


def test_begin_keeps_what_an_earlier_note_said(env: Env) -> None:
    env.note.write_text(json.dumps({"format": 1, "packages": ["old"], "files": ["/x/old.py"]}))
    env.changes("new").begin()
    assert env.noted() == {"format": 1, "packages": ["new", "old"], "files": ["/x/old.py"]}


def test_an_install_that_changed_nothing_takes_its_note_back(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A"})
    changes = env.changes("alpha", "beta")
    before = changes.snapshot()
    changes.begin()
    (env.site / "beta").mkdir()  # what the failed installer had begun
    (env.site / "beta" / "__init__.py").write_text("half")
    (env.bin / "beta").write_text("#!")
    changes.install_failed(before)
    assert changes.snapshot() == before
    assert not env.note.exists()


def test_another_env_linking_the_interpreter_is_no_change(env: Env, tmp_path: Path) -> None:
    """bin/pythonX.Y is a hard link of the base: building another env bumps its ctime."""
    base = tmp_path / "python3.12"
    base.write_text("\x7fELF")
    os.link(base, env.bin / "python3.12")
    changes = env.changes("alpha")
    before = changes.snapshot()
    changes.begin()
    os.link(base, tmp_path / "other-env-python3.12")
    changes.install_failed(before)
    assert not env.note.exists()


def test_an_earlier_note_stays_even_when_nothing_changed(env: Env) -> None:
    env.note.write_text(json.dumps({"format": 1, "packages": ["alpha"], "files": []}))
    changes = env.changes("alpha")
    before = changes.snapshot()
    changes.begin()
    changes.install_failed(before)
    assert env.noted()["packages"] == ["alpha"]


def test_a_failed_install_keeps_whole_new_distributions_and_removes_the_rest(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A1"})
    changes = env.changes("alpha", "beta", "gamma")
    before = changes.snapshot()
    changes.begin()
    # alpha was upgraded (pip committed it), beta installed whole, gamma half-way (a RECORD
    # whose files are not all there yet: uv writes .dist-info files among the others).
    for path in (env.site / "alpha-1.0.dist-info").iterdir():
        path.unlink()
    (env.site / "alpha-1.0.dist-info").rmdir()
    env.dist("alpha", "2.0", {"alpha/__init__.py": "A2"})
    env.dist("beta", "1.0", {"beta/__init__.py": "B", "beta_extra.py": "E", "../../../bin/b": "#!"})
    env.dist("gamma", "1.0", {"gamma/__init__.py": "G", "gamma/big.py": "G" * 100})
    (env.site / "gamma" / "big.py").write_text("G" * 10)  # cut short
    (env.site / "delta-1.0.dist-info").mkdir()  # no RECORD yet
    changes.install_failed(before)
    assert sorted(os.listdir(env.site)) == [
        "alpha", "alpha-2.0.dist-info", "beta", "beta-1.0.dist-info", "beta_extra.py",
    ]  # fmt: skip
    assert os.listdir(env.bin) == ["b"]
    assert env.note.exists()  # not as it was


def test_a_deep_change_is_a_change(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/sub/mod.py": "A"})
    changes = env.changes("alpha")
    before = changes.snapshot()
    changes.begin()
    os.unlink(env.site / "alpha" / "sub" / "mod.py")  # uv's uninstall, stopped half-way
    changes.install_failed(before)
    assert env.note.exists()


def test_a_file_rewritten_in_place_is_a_change(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A1"})
    changes = env.changes("alpha")
    before = changes.snapshot()
    changes.begin()
    os.utime(env.site / "alpha" / "__init__.py", ns=(1, 1))
    changes.install_failed(before)
    assert env.note.exists()


def test_sweep_removes_what_a_half_done_uninstall_left(env: Env, tmp_path: Path) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A", "alpha/old.py": "O", "alpha/sub/x.py": "X"})
    env.dist("keep", "1.0", {"keep.py": "K"})
    outside = tmp_path / "outside.py"
    outside.write_text("not the env's")
    stdlib_link = env.site.parent / "os.py"
    stdlib_link.write_text("a mirrored stdlib file")
    env.changes("alpha").begin()
    # uv deleted the .dist-info first, then failed; the next sync got to its end.
    for path in (env.site / "alpha-1.0.dist-info").iterdir():
        path.unlink()
    (env.site / "alpha-1.0.dist-info").rmdir()
    (env.site / "alpha" / "sub" / "__pycache__").mkdir()
    (env.site / "alpha" / "sub" / "__pycache__" / "x.cpython-312.pyc").write_text("bytecode")
    note = env.noted()
    note["files"] = [*note["files"], str(outside), str(stdlib_link), str(env.site / "keep.py")]  # type: ignore[list-item]
    env.note.write_text(json.dumps(note))
    env.changes().sweep()
    assert sorted(os.listdir(env.site)) == ["keep-1.0.dist-info", "keep.py"]
    assert outside.read_text() == "not the env's"  # not below the installer's directories
    assert stdlib_link.exists()


def test_sweep_keeps_what_a_distribution_now_claims(env: Env) -> None:
    env.dist("alpha", "1.0", {"alpha/__init__.py": "A", "alpha/old.py": "O"})
    changes = env.changes("alpha")
    changes.begin()
    for path in (env.site / "alpha-1.0.dist-info").iterdir():
        path.unlink()
    (env.site / "alpha-1.0.dist-info").rmdir()
    env.dist("alpha", "2.0", {"alpha/__init__.py": "A2", "alpha/new.py": "N"})  # the next sync
    next_sync = env.changes("alpha")
    next_sync.begin()  # reads the earlier note
    next_sync.sweep()
    assert sorted(os.listdir(env.site / "alpha")) == ["__init__.py", "new.py"]
    next_sync.end()
    assert not env.note.exists()


def test_sweep_never_deletes_outside_the_env(env: Env, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    (env.site / "link").symlink_to(victim)
    note = {"format": 1, "packages": ["x"], "files": [str(env.site / "link" / "data.txt")]}
    env.note.write_text(json.dumps(note))
    with pytest.raises(EnvError, match="leads outside the env"):
        env.changes().sweep()
    assert (victim / "data.txt").read_text() == "precious"
