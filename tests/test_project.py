"""The pipeline (`Project`) on a fake base tree, with a fake resolver and a fake installer: what
each `LockMode` does with a missing, stale or foreign lock, and what the Reporter hears."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from poorenv.config import Config, parse_config
from poorenv.errors import ApplyError, LockError
from poorenv.lock.inputs import input_hash
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter, write_lock
from poorenv.plan.actions import InstallPackages
from poorenv.project import LockMode, Project
from tests.test_applier import HASH, FakeInstaller, Recorder, World, world  # noqa: F401


class Heard(Recorder):
    """The applier tests' Recorder, which also hears of a new lock."""

    events: list[tuple[str, Any]]  # type: ignore[assignment]

    def relocked(self, old: Lock | None, new: Lock) -> None:
        self.events.append(("relocked", (old is not None, len(new.packages))))


@dataclasses.dataclass
class Setup:
    world: World
    project: Project
    resolved: list[tuple[Any, ...]]
    installers: list[FakeInstaller]

    def write(self, packages: list[str]) -> None:
        """poorenv.toml naming `packages`; the Project sees the new config."""
        config = make_config(self.world, packages)
        self.project = dataclasses.replace(self.project, config=config)

    def lock(self, *pins: str, base: Any = None) -> Lock:
        packages = tuple(LockedPackage(*p.split("=="), (HASH,)) for p in pins)  # type: ignore[call-arg]
        interp = LockInterpreter.of(base or self.world.base)
        return Lock(input_hash(self.project.config), interp, packages)

    def state(self) -> dict[str, Any]:
        return json.loads((self.world.env / ".poorenv" / "state.json").read_text())  # type: ignore[no-any-return]


def make_config(w: World, packages: list[str]) -> Config:
    project_dir = w.env.parent
    file = project_dir / "poorenv.toml"
    quoted = ", ".join(f'"{p}"' for p in packages)
    file.write_text(
        f'[env]\npython = "{w.base.executable}"\nseed = []\n[requirements]\npackages = [{quoted}]\n'
    )
    data = {
        "env": {"python": w.base.executable, "seed": []},
        "requirements": {"packages": packages},
    }
    return parse_config(data, file)


@pytest.fixture
def setup(world: World, monkeypatch: pytest.MonkeyPatch) -> Setup:  # noqa: F811
    project = Project(make_config(world, ["alpha"]), world.base, world.layout)
    result = Setup(world, project, [], [])

    def resolve(config: Config, base: Any, old: Any, upgrade: bool, packages: Any) -> Lock:
        result.resolved.append((upgrade, packages, old is not None))
        pins = tuple(LockedPackage(p, "1.0", (HASH,)) for p in config.packages)
        return Lock(input_hash(config), LockInterpreter.of(base), pins)

    def make_installer(name: str, python: Path, base: Any, index_env: Any) -> FakeInstaller:
        installer = world.installer()
        result.installers.append(installer)
        return installer

    monkeypatch.setattr("poorenv.lock.resolver.resolve", resolve)
    monkeypatch.setattr("poorenv.apply.installers.make_installer", make_installer)
    return result


def test_auto_resolves_a_missing_lock_then_builds(setup: Setup) -> None:
    heard = Heard()
    result = setup.project.sync(LockMode.AUTO, reporter=heard)
    assert setup.resolved == [(False, (), False)]
    assert result.old_lock is None and [p.name for p in result.lock.packages] == ["alpha"]
    assert setup.project.lock_path.is_file()
    assert ("step", "resolving with pip-compile") in heard.events
    assert ("relocked", (False, 1)) in heard.events
    assert ("action", "install-packages") in heard.events
    assert setup.state()["packages"].keys() == {"alpha"}
    assert setup.state()["stamp"]["lock_fresh"] is True
    assert len(setup.installers) == 1


def test_a_second_sync_resolves_nothing_and_does_nothing(setup: Setup) -> None:
    setup.project.sync()
    again = setup.project.sync(reporter=Heard())
    assert len(setup.resolved) == 1
    assert again.done == [] and again.plan.is_empty()


def test_locked_refuses_a_missing_lock_before_touching_anything(setup: Setup) -> None:
    with pytest.raises(LockError, match=r"poorenv.lock is missing \(--locked\)"):
        setup.project.sync(LockMode.LOCKED)
    assert setup.resolved == []
    assert not setup.world.env.exists()


def test_locked_refuses_a_stale_lock_and_an_upgrade(setup: Setup) -> None:
    setup.project.sync()
    before = setup.state()
    setup.write(["alpha", "beta"])
    with pytest.raises(LockError, match="stale"):
        setup.project.sync(LockMode.LOCKED)
    setup.write(["alpha"])
    with pytest.raises(LockError, match="an upgrade needs a new lock"):
        setup.project.sync(LockMode.LOCKED, upgrade=True)
    assert setup.state() == before
    assert len(setup.resolved) == 1


def test_frozen_installs_a_stale_lock_as_it_is_but_not_as_proof(setup: Setup) -> None:
    write_lock(setup.project.lock_path, setup.lock("alpha==2.0"))
    setup.write(["alpha", "beta"])  # the lock is now stale
    result = setup.project.sync(LockMode.FROZEN)
    assert setup.resolved == []
    installs = [a for a in result.done if isinstance(a, InstallPackages)]
    assert [str(c) for c in installs[0].changes] == ["alpha 2.0"]
    assert setup.state()["stamp"]["lock_fresh"] is False  # the fast path will look again


def test_frozen_refuses_a_missing_lock_and_another_interpreter(setup: Setup) -> None:
    with pytest.raises(LockError, match="missing"):
        setup.project.sync(LockMode.FROZEN)
    other = dataclasses.replace(setup.world.base, version="3.13.0", soabi="cpython-313-x")
    write_lock(setup.project.lock_path, setup.lock("alpha==1.0", base=other))
    with pytest.raises(LockError, match=r"resolved for cpython 3\.13"):
        setup.project.sync(LockMode.FROZEN)
    assert not setup.world.env.exists()


def test_upgrade_resolves_again_keeping_the_old_lock_as_input(setup: Setup) -> None:
    setup.project.sync()
    setup.project.sync(upgrade_packages=("alpha",))
    assert setup.resolved[-1] == (False, ("alpha",), True)


def test_the_installer_is_made_once_and_before_the_lock(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: Any) -> None:
        raise ApplyError('installer "uv": the uv package is not installed beside poorenv')

    monkeypatch.setattr("poorenv.apply.installers.make_installer", missing)
    with pytest.raises(ApplyError, match="uv"):
        setup.project.sync()
    assert setup.resolved == [] and not setup.project.lock_path.exists()


def test_plan_with_a_stale_lock_names_it_and_leaves_packages_out(setup: Setup) -> None:
    setup.project.sync()
    setup.write(["alpha", "beta"])
    plan = setup.project.plan()
    assert plan.lock_problem is not None and "stale" in plan.lock_problem
    assert not any(isinstance(a, InstallPackages) for a in plan.actions)


def test_lock_status_reads_and_judges_once(setup: Setup) -> None:
    assert setup.project.lock_status().problem == "poorenv.lock is missing"
    write_lock(setup.project.lock_path, setup.lock("alpha==1.0"))
    status = setup.project.lock_status()
    assert status.problem is None and status.lock is not None


def test_cache_key_ignores_the_base_mtime(setup: Setup) -> None:
    lock = setup.lock("alpha==1.0")
    key = setup.project.cache_key(lock)
    touched = dataclasses.replace(setup.world.base, executable_mtime_ns=12345)
    assert dataclasses.replace(setup.project, base=touched).cache_key(lock) == key
    assert key.startswith("poorenv-")
