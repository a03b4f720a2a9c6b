"""The Applier on a tmp_path env, a tiny fake base tree and a fake installer: every action kind
and every way a sync can fail."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import poorenv._fs
from poorenv.apply.applier import Applier
from poorenv.apply.installers import InstallerError
from poorenv.discover.interpreter import Interpreter
from poorenv.envdir import EnvDir
from poorenv.errors import ApplyError, EnvError
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter
from poorenv.ownership import is_env
from poorenv.plan.actions import Action, InstallPackages, MirrorTree, Plan, RemovePackages
from poorenv.plan.layout import PYVENV_CFG_TEXT, Layout, build_layout
from poorenv.plan.planner import desired_record, plan, text_file_paths
from poorenv.report import Reporter
from poorenv.state.env import read_env
from poorenv.state.record import Location
from poorenv.state.scheme import Scheme
from poorenv.state.site import SitePackages, UnsafeDistribution
from tests.fakes import fake_base
from tests.test_envdir import tree

HASH = "sha256:" + "c" * 64
PYC = "json/__pycache__/__init__.cpython-312.pyc"


class FakeInstaller:
    """Installs a package as pip would: its module, then its .dist-info, RECORD last; returns
    each RECORD with the bytecode listed. `fail` is raised after half an install."""

    name = "fake"

    def __init__(
        self,
        site: Path,
        fail: BaseException | None = None,
        extra_records: Mapping[Path, str] | None = None,
    ) -> None:
        self.site = site
        self.fail = fail
        self.extra_records = dict(extra_records or {})
        self.calls: list[tuple[Any, ...]] = []

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        self.calls.append(("install", tuple(requirements), reinstall))
        records: dict[Path, str] = {}
        for line in requirements:
            name, version = line.split()[0].split("==")
            (self.site / name).mkdir(exist_ok=True)
            (self.site / name / "__init__.py").write_text(f"VERSION = {version!r}\n")
            script = self.site.parent.parent.parent / "bin" / name
            script.write_text("#!python\n")
            info = self.site / f"{name}-{version}.dist-info"
            info.mkdir(exist_ok=True)
            (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
            if self.fail is not None:
                raise self.fail
            for old in self.site.glob(f"{name}-*.dist-info"):
                if old != info:
                    shutil.rmtree(old)
            rows = f"{name}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
            (info / "RECORD").write_text(rows)
            records[info / "RECORD"] = rows + f"{name}/__pycache__/__init__.cpython-312.pyc,,\n"
        return {**records, **self.extra_records}

    def uninstall(self, names: Sequence[str]) -> None:
        self.calls.append(("uninstall", tuple(names)))
        if self.fail is not None:
            raise self.fail
        for name in names:
            shutil.rmtree(self.site / name)
            for info in self.site.glob(f"{name}-*.dist-info"):
                shutil.rmtree(info)


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def action(self, action: Action) -> None:
        self.events.append(("action", action.kind))

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        self.events.append(("step", text))
        yield
        self.events.append(("done", text))


@dataclasses.dataclass
class World:
    root: Path
    base: Interpreter
    layout: Layout

    @property
    def env(self) -> Path:
        return self.layout.env

    @property
    def site(self) -> Path:
        return self.layout.site_dirs[0]

    @property
    def targets(self) -> list[Path]:
        paths = self.base.env_paths(self.env)
        return [Path(paths[k]) for k in ("purelib", "platlib", "scripts", "include")]

    @property
    def scheme(self) -> Scheme:
        assert list(self.layout.scheme.targets) == list(dict.fromkeys(self.targets))
        return self.layout.scheme

    def plan(self, lock: Lock | None) -> Plan:
        state = read_env(self.layout, text_file_paths(self.layout))
        return plan(self.layout, self.base, state, lock)

    def installer(self, fail: BaseException | None = None, **kw: Any) -> FakeInstaller:
        return FakeInstaller(self.site, fail, **kw)

    def apply(
        self,
        lock: Lock | None,
        installer: FakeInstaller | None = None,
        reporter: Reporter | None = None,
        stamp: Any = None,
    ) -> list[Action]:
        applier = Applier(
            EnvDir(self.env),
            installer or self.installer(),
            reporter or Reporter(),
            stamp or (lambda: {"taken": True}),
            self.scheme,
        )
        return applier.apply(self.plan(lock))

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.env / ".poorenv" / "state.json").read_text())
        return result


def shares(path: str | Path) -> bool:
    """Whether the env holds `path` itself by hard link: a file the user owns, never as root
    (envtree.may_share); else a symbolic link to it (the mirror) or a copy (the interpreter)."""
    return os.geteuid() != 0 and os.stat(path).st_uid == os.geteuid()


def mirrors(entry: Path, base_file: Path) -> bool:
    """The env's mirror entry is the base's file: a hard link of it, or a symbolic link to it."""
    if shares(base_file):
        return entry.lstat().st_ino == base_file.stat().st_ino
    return entry.is_symlink() and os.readlink(entry) == str(base_file)


def lock_of(world: World, *pins: str) -> Lock:
    packages = tuple(LockedPackage(*pin.split("=="), (HASH,)) for pin in pins)  # type: ignore[call-arg]
    return Lock("sha256:" + "0" * 64, LockInterpreter.of(world.base), packages)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A base tree (an "executable", a few stdlib files and a header) and an env beside it."""
    root = tmp_path / "base"
    files = {
        "bin/python3.12": "\x7fELF not really",
        "lib/python3.12/os.py": "# os\n",
        "lib/python3.12/json/__init__.py": "# json\n",
        f"lib/python3.12/{PYC}": "bytecode",
        "lib/python3.12/site-packages/base_only.py": "",
        "lib/python3.12/test/test_os.py": "",
        "include/python3.12/Python.h": "/* h */\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    exe = root / "bin" / "python3.12"
    st = exe.stat()
    base = fake_base(
        executable=str(exe),
        executable_size=st.st_size,
        executable_mtime_ns=st.st_mtime_ns,
        base_prefix=str(root),
        stdlib=str(root / "lib" / "python3.12"),
        platstdlib=str(root / "lib" / "python3.12"),
        include=str(root / "include" / "python3.12"),
        platinclude=str(root / "include" / "python3.12"),
    )
    env = tmp_path / "project" / ".poorenv"
    env.parent.mkdir()
    return World(root, base, build_layout(env, base))


# --- every action --------------------------------------------------------------------------------


def test_a_new_env_gets_every_piece_and_is_in_sync_after(world: World) -> None:
    lock = lock_of(world, "alpha==1.0")
    first = world.plan(lock)
    assert [a.kind for a in first.actions] == [
        "create-env", "install-interpreter", "mirror", "mirror", "make-dirs", "make-links",
        "write-files", "install-packages", "write-state",
    ]  # fmt: skip
    recorder = Recorder()
    installer = world.installer()
    stamps: list[bool] = []

    def stamp() -> dict[str, Any]:
        stamps.append((world.site / "alpha-1.0.dist-info" / "RECORD").is_file())
        return {"taken": len(stamps)}

    done = world.apply(lock, installer, recorder, stamp)
    assert done == list(first.actions)
    env, base = world.env, world.base
    assert is_env(env)
    python = env / "bin" / "python3.12"
    assert python.read_bytes() == Path(base.executable).read_bytes() and not python.is_symlink()
    assert (python.stat().st_ino == Path(base.executable).stat().st_ino) is shares(base.executable)
    assert os.readlink(env / "bin" / "python") == "python3.12"
    stdlib = env / "lib" / "python3.12"
    assert mirrors(stdlib / "os.py", Path(base.stdlib, "os.py"))
    assert mirrors(stdlib / PYC, Path(base.stdlib, PYC))
    assert not (stdlib / "json").is_symlink()
    assert not (stdlib / "test").exists()
    assert mirrors(env / "include" / "python3.12" / "Python.h", Path(base.include, "Python.h"))
    assert not (stdlib / "site-packages").is_symlink()
    assert (env / "pyvenv.cfg").read_text() == PYVENV_CFG_TEXT
    assert (env / "bin" / "activate").is_file()
    record = (world.site / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert "alpha/__pycache__/__init__.cpython-312.pyc,," in record  # the RECORD rewrite
    assert installer.calls == [("install", (lock.packages[0].requirement(),), False)]
    assert stamps == [True]  # taken once, after the install
    assert world.state()["stamp"] == {"taken": 1}
    assert world.state()["packages"] == {
        "alpha": {"version": "1.0", "hashes": lock.packages[0].digest}
    }
    assert world.plan(lock).is_empty()
    expected: list[tuple[str, str]] = []
    for action in first.actions:
        text = action.summary()
        if isinstance(action, InstallPackages):
            text = "installing 1 package(s) with fake"
        expected += [("action", action.kind), ("step", text), ("done", text)]
    assert recorder.events == expected


def test_without_hard_links_files_are_copied_and_bytecode_linked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hard_links(source: str, dest: str, **_: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link", source)

    monkeypatch.setattr(os, "link", no_hard_links)
    world.apply(lock_of(world))
    exe = world.env / "bin" / "python3.12"
    assert not exe.is_symlink()
    assert exe.read_text() == Path(world.base.executable).read_text()
    assert os.readlink(world.env / "lib" / "python3.12" / PYC) == f"{world.base.stdlib}/{PYC}"
    assert world.plan(lock_of(world)).is_empty()


def test_clear_env_on_an_abi_change(world: World) -> None:
    lock = lock_of(world, "alpha==1.0")
    world.apply(lock)
    (world.site / "leftover.py").write_text("")
    world.base = dataclasses.replace(world.base, soabi="cpython-312d-x86_64-linux-gnu")
    actions = world.plan(lock).actions
    assert actions[0].kind == "clear-env"
    world.apply(lock)
    assert not (world.site / "leftover.py").exists()
    marker = json.loads((world.env / ".poorenv" / "marker.json").read_text())
    assert marker["abi"] == "cpython-312d-x86_64-linux-gnu"
    assert (world.site / "alpha-1.0.dist-info" / "RECORD").is_file()
    assert world.plan(lock).is_empty()


def test_mirror_adds_replaces_and_removes(world: World) -> None:
    lock = lock_of(world)
    world.apply(lock)
    stdlib = world.env / "lib" / "python3.12"
    (Path(world.base.stdlib) / "new.py").write_text("")
    (stdlib / "os.py").unlink()
    (stdlib / "os.py").write_text("not a link")
    (stdlib / "stray.py").write_text("")
    (stdlib / "olddir").mkdir()
    (stdlib / "olddir" / "x.py").write_text("")
    (stdlib / "__pycache__").mkdir()
    (stdlib / "__pycache__" / "own.cpython-312.pyc").write_text("the env's own bytecode")
    mirror = world.plan(lock).actions[0]
    assert isinstance(mirror, MirrorTree)
    assert (mirror.add, mirror.replace, mirror.remove) == (
        ("new.py",),
        ("os.py",),
        ("olddir", "stray.py"),
    )
    world.apply(lock)
    for name in ("new.py", "os.py"):  # hard links of the base's files
        assert mirrors(stdlib / name, Path(world.base.stdlib, name))
    assert not (stdlib / "stray.py").exists()
    assert not (stdlib / "olddir").exists()
    assert (stdlib / "__pycache__" / "own.cpython-312.pyc").is_file()
    assert world.plan(lock).is_empty()


def test_dirs_links_and_files_are_repaired(world: World, tmp_path: Path) -> None:
    lock = lock_of(world)
    world.apply(lock)
    shutil.rmtree(world.site)
    (world.env / "bin" / "python").unlink()
    (world.env / "bin" / "python").symlink_to(tmp_path)
    (world.env / "pyvenv.cfg").write_text("home = /usr\n")
    kinds = [a.kind for a in world.plan(lock).actions]
    assert kinds == ["make-dirs", "make-links", "write-files", "write-state"]
    world.apply(lock)
    assert world.site.is_dir()
    assert os.readlink(world.env / "bin" / "python") == "python3.12"
    assert (world.env / "pyvenv.cfg").read_text() == PYVENV_CFG_TEXT
    assert world.plan(lock).is_empty()


def test_remove_broken_drops_what_interrupted_installs_left(world: World) -> None:
    lock = lock_of(world, "alpha==1.0")
    world.apply(lock)
    (world.site / "beta-1.0.dist-info").mkdir()
    (world.site / "~lpha").mkdir()
    (world.site / "~lpha" / "x.py").write_text("")
    kinds = [a.kind for a in world.plan(lock).actions]
    assert kinds == ["remove-broken", "write-state"]
    world.apply(lock)
    assert not (world.site / "beta-1.0.dist-info").exists()
    assert not (world.site / "~lpha").exists()
    assert world.plan(lock).is_empty()


def test_packages_are_upgraded_and_removed_by_the_installer(world: World) -> None:
    world.apply(lock_of(world, "alpha==1.0", "beta==1.0"))
    lock = lock_of(world, "alpha==2.0")
    actions = world.plan(lock).actions
    assert [a.kind for a in actions] == ["install-packages", "remove-packages", "write-state"]
    assert isinstance(actions[1], RemovePackages)
    installer = world.installer()
    world.apply(lock, installer)
    assert installer.calls == [
        ("install", (lock.packages[0].requirement(),), False),
        ("uninstall", ("beta",)),
    ]
    assert (world.site / "alpha-2.0.dist-info" / "RECORD").is_file()
    assert "__pycache__" in (world.site / "alpha-2.0.dist-info" / "RECORD").read_text()
    assert not (world.site / "beta").exists()
    assert world.state()["packages"].keys() == {"alpha"}
    assert world.plan(lock).is_empty()


def test_a_stamp_out_of_date_is_refreshed(world: World) -> None:
    lock = lock_of(world)
    world.apply(lock)
    applier = Applier(EnvDir(world.env), world.installer(), Reporter(), lambda: {"new": 1})
    record = desired_record(world.base, world.layout, lock).at(Location.of(world.env))
    applier.refresh_stamp(record)
    assert world.state() == {**record.to_json(), "stamp": {"new": 1}}


# --- every failure -------------------------------------------------------------------------------


@pytest.mark.parametrize("before", ["absent", "empty"])
def test_a_failed_install_undoes_a_new_env(world: World, before: str) -> None:
    if before == "empty":
        world.env.mkdir()
    base_before = tree(world.root)
    lock = lock_of(world, "alpha==1.0")
    failing = world.installer(InstallerError("installing packages: no such thing"))
    with pytest.raises(ApplyError, match="installing packages: no such thing"):
        world.apply(lock, failing)
    if before == "absent":
        assert not os.path.lexists(world.env)
    else:
        assert tree(world.env) == {}
    assert tree(world.root) == base_before


def test_a_failed_first_build_removes_only_what_poorenv_made(world: World) -> None:
    """The undo deletes what poorenv wrote and what the installer added at the env's top (its
    data files), not a file the user dropped into the directory meanwhile."""

    class Messy(FakeInstaller):
        def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
            (world.env / "share" / "man").mkdir(parents=True)
            (world.env / "share" / "man" / "alpha.1").write_text("man page")
            return super().install(requirements, reinstall)

    class User(Reporter):
        def action(self, action: Action) -> None:
            if action.kind == "make-dirs":  # while the env is being built
                (world.env / "notes.txt").write_text("the user's")

    world.env.mkdir()
    failing = Messy(world.site, InstallerError("installing packages: boom"))
    with pytest.raises(ApplyError, match="installing packages: boom"):
        world.apply(lock_of(world, "alpha==1.0"), failing, User())
    assert tree(world.env) == {"notes.txt": "the user's"}


def test_a_stamp_that_cannot_be_written_is_a_warning(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In sync, but the state file cannot be rewritten (another user's or a read-only env)."""
    lock = lock_of(world)
    world.apply(lock)
    before = tree(world.env)
    env = EnvDir(world.env)

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(env, "write_json", refuse)
    applier = Applier(env, world.installer(), Reporter(), lambda: {"new": 1})
    applier.refresh_stamp(desired_record(world.base, world.layout, lock))
    assert tree(world.env) == before
    assert f"cannot record the no-op stamp in {world.env}: Permission denied" in caplog.text


def test_a_failed_install_leaves_an_existing_env_as_it_was(world: World) -> None:
    world.apply(lock_of(world, "alpha==1.0"))
    before = tree(world.env)
    failing = world.installer(InstallerError("installing packages: boom"))
    with pytest.raises(InstallerError):
        world.apply(lock_of(world, "alpha==1.0", "beta==1.0"), failing)
    assert tree(world.env) == before  # beta's module, .dist-info and script removed again


def test_a_failed_uninstall_leaves_the_state_alone(world: World) -> None:
    world.apply(lock_of(world, "alpha==1.0", "beta==1.0"))
    state = world.state()
    failing = world.installer(InstallerError("removing packages: boom"))
    with pytest.raises(InstallerError, match="removing packages: boom"):
        world.apply(lock_of(world, "alpha==1.0"), failing)
    assert world.state() == state
    assert is_env(world.env)


@pytest.mark.parametrize("before", ["new", "existing"])
def test_killed_mid_install_the_next_apply_completes(world: World, before: str) -> None:
    if before == "existing":
        world.apply(lock_of(world, "alpha==1.0"))
    state_file = world.env / ".poorenv" / "state.json"
    state = state_file.read_text() if before == "existing" else None
    lock = lock_of(world, "alpha==1.0", "beta==2.0")
    with pytest.raises(KeyboardInterrupt):
        world.apply(lock, world.installer(KeyboardInterrupt()))
    assert is_env(world.env)  # left as a killed process leaves it, for the next sync
    assert (state_file.read_text() if state_file.exists() else None) == state
    kinds = [a.kind for a in world.plan(lock).actions]
    assert "remove-broken" in kinds
    world.apply(lock)
    assert world.plan(lock).is_empty()
    assert world.state()["packages"].keys() == {"alpha", "beta"}


@pytest.mark.parametrize("before", ["new", "existing"])
def test_a_full_disk_is_an_apply_error_with_a_hint(
    world: World, before: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = lock_of(world, "alpha==1.0")
    if before == "existing":
        world.apply(lock_of(world))
        (world.env / "pyvenv.cfg").write_text("changed")
        state = world.state()
    real_write = poorenv._fs.atomic_write

    def full(path: Path, data: str | bytes, mode: int | None = None) -> None:
        if path.name in ("pyvenv.cfg", "state.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr(poorenv._fs, "atomic_write", full)
    with pytest.raises(ApplyError, match="No space left on device") as caught:
        world.apply(lock)
    assert caught.value.message.startswith("write pyvenv.cfg")
    assert caught.value.hint == "free some disk space, then run `poorenv sync` again"
    if before == "new":
        assert not world.env.exists()
    else:
        assert world.state() == state
        assert (world.env / "pyvenv.cfg").read_text() == "changed"


class LinkingInstaller(FakeInstaller):
    """Plants `site/evil -> outside` while it installs (a link there before the install is
    refused earlier, by the plan: see test_sealed.py)."""

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        records = super().install(requirements, reinstall)
        (self.site / "evil").symlink_to(self.site.parents[4] / "outside")
        return records


def test_a_record_outside_the_env_is_refused(world: World, tmp_path: Path) -> None:
    world.apply(lock_of(world))
    outside = tmp_path / "outside"
    outside.mkdir()
    for number, (record, words) in enumerate(
        (
            (outside / "RECORD", "outside the env"),
            (world.site / "evil" / "RECORD", "leads outside the env"),
            (world.site / ".." / ".." / ".." / ".." / "outside" / "RECORD", "not a plain absolute"),
        )
    ):
        lock = lock_of(world, f"p{number}==1.0")  # a package not installed yet
        installer = LinkingInstaller(world.site, extra_records={record: "x,,\n"})
        with pytest.raises(EnvError, match=words):
            world.apply(lock, installer)
        (world.site / "evil").unlink()
    assert tree(outside) == {}


# --- a sealed env: no installer is let at what leads outside -------------------------------------


def escape_record(world: World, name: str, version: str, outside: Path) -> str:
    """Add a line naming `outside/victim.py` to the installed RECORD of `name`."""
    record = world.site / f"{name}-{version}.dist-info" / "RECORD"
    rel = os.path.relpath(outside / "victim.py", world.site)
    record.write_text(record.read_text() + f"{rel},,\n")
    return rel


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    where = tmp_path / "outside"
    (where / "pkg").mkdir(parents=True)
    (where / "victim.py").write_text("precious")
    (where / "pkg" / "__init__.py").write_text("precious")
    return where


def test_a_planned_refusal_stops_before_anything(world: World, outside: Path) -> None:
    world.apply(lock_of(world, "alpha==1.0", "beta==1.0"))
    rel = escape_record(world, "beta", "1.0", outside)
    before = tree(world.env)
    installer = world.installer()
    lock = lock_of(world, "alpha==2.0")
    assert world.plan(lock).actions[0].kind == "refuse"
    with pytest.raises(EnvError) as caught:
        world.apply(lock, installer)
    assert caught.value.message == (
        f"beta 1.0: RECORD entry {rel} leads outside the env ({outside / 'victim.py'}):"
        " refusing to remove it"
    )
    assert installer.calls == []
    assert tree(world.env) == before
    assert tree(outside) == {"pkg": "/", "pkg/__init__.py": "precious", "victim.py": "precious"}


@pytest.mark.parametrize(
    ("pins", "name", "doing"),
    [(("alpha==1.0",), "beta", "remove it"), (("alpha==2.0", "beta==1.0"), "alpha", "replace it")],
)
def test_the_applier_checks_again_right_before_the_installer(
    world: World, outside: Path, pins: tuple[str, ...], name: str, doing: str
) -> None:
    """What changed after the plan was made (or a plan made elsewhere) is caught too."""
    world.apply(lock_of(world, "alpha==1.0", "beta==1.0"))
    planned = world.plan(lock_of(world, *pins))
    assert "refuse" not in [a.kind for a in planned.actions]
    shutil.rmtree(world.site / name)
    (world.site / name).symlink_to(outside / "pkg")
    installer = world.installer()
    applier = Applier(EnvDir(world.env), installer, Reporter(), None, world.scheme)
    with pytest.raises(UnsafeDistribution) as caught:
        applier.apply(planned)
    assert caught.value.message == (
        f"{name} 1.0: RECORD entry {name}/__init__.py leads outside the env"
        f" ({outside / 'pkg' / '__init__.py'}): refusing to {doing}"
    )
    assert installer.calls == []
    assert (outside / "pkg" / "__init__.py").read_text() == "precious"


class EscapingInstaller(FakeInstaller):
    """Installs as pip does a wheel whose RECORD names a file outside: the line is kept."""

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        records = super().install(requirements, reinstall)
        for record in records:
            record.write_text(record.read_text() + "../../../../../outside/victim.py,,\n")
        return records


def test_what_an_install_left_leading_outside_is_refused_and_removed(
    world: World, outside: Path
) -> None:
    world.apply(lock_of(world, "alpha==1.0"))
    before = tree(world.env)
    with pytest.raises(UnsafeDistribution) as caught:
        world.apply(lock_of(world, "alpha==1.0", "evil==1.0"), EscapingInstaller(world.site))
    assert caught.value.message == (
        "evil 1.0: RECORD entry ../../../../../outside/victim.py leads outside the env"
        f" ({outside / 'victim.py'}): refusing to keep it installed"
    )
    assert tree(world.env) == before  # what the install added is gone again
    assert (outside / "victim.py").read_text() == "precious"


def test_no_install_through_a_link_or_into_a_directory_leading_outside(
    world: World, outside: Path
) -> None:
    world.apply(lock_of(world, "alpha==1.0"))
    lock = lock_of(world, "alpha==1.0", "pkg==1.0")
    planned = world.plan(lock)
    (world.site / "pkg").symlink_to(outside / "pkg")
    installer = world.installer()
    applier = Applier(EnvDir(world.env), installer, Reporter(), None, world.scheme)
    with pytest.raises(EnvError, match=r"site-packages/pkg is a link that leads outside the env"):
        applier.apply(planned)
    (world.site / "pkg").unlink()
    shutil.copytree(world.site, outside / "site")
    shutil.rmtree(world.site)
    world.site.symlink_to(outside / "site")
    with pytest.raises(EnvError, match=r"refusing to install into .*site-packages: it leads out"):
        applier.apply(planned)
    assert installer.calls == []
    assert (outside / "pkg" / "__init__.py").read_text() == "precious"
    assert not (outside / "site" / "pkg").exists()


@pytest.mark.parametrize("which", ["site", "stdlib", "bin"])
def test_an_env_directory_linked_outside_is_rebuilt_real(
    world: World, outside: Path, which: str
) -> None:
    lock = lock_of(world, "alpha==1.0")
    world.apply(lock)
    directory = {"site": world.site, "stdlib": world.site.parent, "bin": world.env / "bin"}[which]
    shutil.copytree(directory, outside / "moved", symlinks=True)
    shutil.rmtree(directory)
    directory.symlink_to(outside / "moved")
    before = tree(outside)
    state = read_env(world.layout, text_file_paths(world.layout))
    assert state.links_out == ((directory, str(outside / "moved")),)
    assert state.site == SitePackages() and state.unsafe == ()  # nothing read through it
    planned = world.plan(lock)
    assert planned.actions[0].kind == "clear-env"
    assert planned.actions[0].reason == (
        f"{directory} is a link leading outside the env (to {outside / 'moved'})"
    )
    world.apply(lock)
    assert directory.is_dir() and not directory.is_symlink()
    assert (world.site / "alpha-1.0.dist-info" / "RECORD").is_file()
    assert tree(outside) == before
    assert world.plan(lock).is_empty()


# --- the note of package changes under way (apply/unfinished.py) ------------------------------


def test_the_installer_runs_under_a_note_that_goes_with_the_new_record(world: World) -> None:
    world.apply(lock_of(world, "alpha==1.0", "beta==1.0"))
    note = world.env / ".poorenv" / "unfinished.json"
    seen: list[object] = []

    class Watching(FakeInstaller):
        def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
            seen.append(json.loads(note.read_text())["packages"])
            return super().install(requirements, reinstall)

        def uninstall(self, names: Sequence[str]) -> None:
            seen.append(json.loads(note.read_text())["packages"])
            super().uninstall(names)

    world.apply(lock_of(world, "alpha==2.0"), Watching(world.site))
    assert seen == [["alpha", "beta"], ["alpha", "beta"]]
    assert not note.exists()
    assert world.plan(lock_of(world, "alpha==2.0")).is_empty()


def test_a_half_done_reinstall_never_passes_as_in_sync(world: World) -> None:
    """The record still vouches for alpha's old hashes; the note says it was being changed."""
    lock = lock_of(world, "alpha==1.0")
    world.apply(lock)
    other = dataclasses.replace(lock.packages[0], hashes=("sha256:" + "d" * 64,))
    relocked = dataclasses.replace(lock, packages=(other,))
    failing = world.installer(InstallerError("installing packages: No space left on device"))
    with pytest.raises(InstallerError):
        world.apply(relocked, failing)  # alpha's module rewritten, then the failure
    again = world.plan(lock)  # the lock as it was: the record matches it
    assert [a.kind for a in again.actions] == ["install-packages", "write-state"]
    install = again.actions[0]
    assert isinstance(install, InstallPackages)
    assert [(c.name, c.why) for c in install.changes] == [("alpha", "unfinished")]
    world.apply(lock)
    assert not (world.env / ".poorenv" / "unfinished.json").exists()
    assert world.plan(lock).is_empty()


def test_a_killed_sync_leaves_its_note(world: World) -> None:
    world.apply(lock_of(world, "alpha==1.0"))
    with pytest.raises(KeyboardInterrupt):
        world.apply(lock_of(world, "alpha==1.0", "beta==1.0"), world.installer(KeyboardInterrupt()))
    note = json.loads((world.env / ".poorenv" / "unfinished.json").read_text())
    assert note["packages"] == ["beta"]
    assert not world.plan(lock_of(world, "alpha==1.0", "beta==1.0")).is_empty()


def test_a_copy_of_a_base_file_with_its_size_and_mtime_is_in_place(world: World) -> None:
    """An env restored from a CI cache (or `cp -a`) holds copies where the links were: as
    good as the links, and no reason to mirror everything again; a changed copy is relinked."""
    lock = lock_of(world)
    world.apply(lock)
    mirrored = world.env / "lib" / "python3.12" / "os.py"
    base_file = Path(world.base.stdlib, "os.py")
    mirrored.unlink()
    shutil.copy2(base_file, mirrored)  # content, size and mtime: a restored copy
    assert mirrored.stat().st_ino != base_file.stat().st_ino
    assert world.plan(lock).is_empty()
    os.utime(mirrored, ns=(0, 0))  # no longer the base's file as far as anyone can tell
    mirror = world.plan(lock).actions[0]
    assert isinstance(mirror, MirrorTree) and mirror.replace == ("os.py",)
    world.apply(lock)
    assert mirrors(mirrored, base_file)
