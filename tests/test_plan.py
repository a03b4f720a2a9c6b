"""The planner is pure: these tests build its inputs as plain values, without any disk."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from poorenv.discover.interpreter import PLACEHOLDER, Interpreter
from poorenv.errors import EnvError
from poorenv.lock.lockfile import Lock, LockedPackage, LockInterpreter
from poorenv.plan.actions import (
    ClearEnv,
    CreateEnv,
    InstallInterpreter,
    InstallPackages,
    MakeLinks,
    MirrorTree,
    Refuse,
    RemovePackages,
    WriteFiles,
    WriteState,
)
from poorenv.plan.layout import PYVENV_CFG_TEXT, build_layout
from poorenv.plan.planner import desired_record, marker_for, plan, text_file_paths
from poorenv.state.env import Entry, EnvState, MirrorState
from poorenv.state.scheme import Unsafe
from poorenv.state.site import Distribution, SitePackages
from tests.fakes import fake_base

ENV = Path("/work/project/.poorenv")
BASE_FILES = frozenset({"os.py", "json/__init__.py", "json/__pycache__/__init__.cpython-312.pyc"})
BASE_DIRS = frozenset({"json", "json/__pycache__"})


def mirrors(
    base: Interpreter, env_entries: dict[str, Entry] | None = None
) -> dict[str, MirrorState]:
    stdlib = MirrorState(BASE_FILES, BASE_DIRS, env_entries or {})
    return {"stdlib": stdlib, "include": MirrorState(frozenset({"Python.h"}), frozenset(), {
        "Python.h": Entry("link", target=f"{base.include}/Python.h")})}  # fmt: skip


def installed(versions: dict[str, str]) -> SitePackages:
    """A site-packages snapshot holding `versions` (normalised names), as the reader makes it."""
    site = ENV / "lib" / "python3.12" / "site-packages"
    dists = {
        name: Distribution(canonicalize_name(name), version, site / f"{name}-{version}.dist-info",
                           site)
        for name, version in versions.items()
    }  # fmt: skip
    return SitePackages((site,), dists)


HASH = "sha256:" + "c" * 64
PIP = LockedPackage("pip", "24.0", (HASH,))


def a_lock(*packages: LockedPackage, base: Interpreter | None = None) -> Lock:
    interp = LockInterpreter.of(base or fake_base())
    return Lock("sha256:" + "0" * 64, interp, packages or (PIP,))


def synced_state(base: Interpreter, lock: Lock | None = None) -> EnvState:
    """What the reader would see in an env fully synced with `base`."""
    layout = build_layout(ENV, base)
    entries = {
        layout.exe: Entry("file", size=base.executable_size, mtime_ns=base.executable_mtime_ns),
        **{p: Entry("link", target=t) for p, t in layout.symlinks},
        **{p: Entry("dir") for p in layout.site_dirs},
    }
    from poorenv.plan.planner import _text_files

    texts = dict(_text_files(layout))
    env_mirror = {rel: Entry("link", target=f"{base.stdlib}/{rel}") for rel in BASE_FILES}
    env_mirror.update({d: Entry("dir") for d in BASE_DIRS})
    return EnvState(
        path=ENV,
        exists=True,
        is_dir=True,
        empty=False,
        marker=marker_for(base),
        record=desired_record(base, layout, lock or a_lock()),
        entries=entries,
        texts=texts,
        mirrors=mirrors(base, env_mirror),
        site=installed({p.name: p.version for p in (lock or a_lock()).packages}),
    )


def kinds(actions: object) -> list[str]:
    return [a.kind for a in actions]  # type: ignore[attr-defined]


def test_new_env_plan_builds_everything_and_writes_state_last() -> None:
    base = fake_base()
    layout = build_layout(ENV, base)
    result = plan(layout, base, EnvState(path=ENV, exists=False, mirrors=mirrors(base)), a_lock())
    assert kinds(result.actions) == [
        "create-env", "install-interpreter", "mirror", "mirror", "make-dirs", "make-links",
        "write-files", "install-packages", "write-state",
    ]  # fmt: skip
    mirror = result.actions[2]
    assert isinstance(mirror, MirrorTree)
    assert mirror.add == tuple(sorted(BASE_FILES))
    assert isinstance(result.actions[1], InstallInterpreter)
    assert result.actions[1].dest == ENV / "bin" / "python3.12"
    assert all(a.reason for a in result.actions)


def test_synced_env_plans_nothing() -> None:
    base = fake_base()
    result = plan(build_layout(ENV, base), base, synced_state(base), a_lock())
    assert result.is_empty()
    assert "nothing to do" in result.render()


def test_a_missing_or_unreadable_record_is_named() -> None:
    base = fake_base()
    state = dataclasses.replace(synced_state(base), record=None)  # e.g. nested too deeply
    result = plan(build_layout(ENV, base), base, state, a_lock())
    assert kinds(result.actions) == ["write-state"]
    assert result.reasons == ["state record missing or unreadable"]
    stale = dataclasses.replace(
        synced_state(base), record=desired_record(base, build_layout(ENV, base), None)
    )
    assert plan(build_layout(ENV, base), base, stale, a_lock()).reasons == [
        "state record out of date"
    ]


def test_plan_is_json_serialisable() -> None:
    base = fake_base()
    layout = build_layout(ENV, base)
    result = plan(layout, base, EnvState(path=ENV, exists=False, mirrors=mirrors(base)), None)
    data = json.loads(json.dumps(result.to_json()))
    assert data["in_sync"] is False
    assert data["actions"][0] == {
        "action": "create-env", "summary": f"create env {ENV}", "reason": "new env",
        "path": str(ENV), "marker": marker_for(base),
    }  # fmt: skip


def test_missing_stale_and_stray_links() -> None:
    base = fake_base()
    state = synced_state(base)
    env = dict(state.mirrors["stdlib"].env)
    del env["os.py"]
    env["json/__init__.py"] = Entry("link", target="/elsewhere/json/__init__.py")
    env["stray.py"] = Entry("link", target="/etc/hostname")
    env["json/__pycache__/own.cpython-312.pyc"] = Entry("file")  # the env's own bytecode
    env["json/__pycache__/__init__.cpython-312.pyc"] = Entry("file")  # rewritten by Python
    env["olddir"] = Entry("dir")
    env["olddir/x.py"] = Entry("link", target="/x")
    changed = dataclasses.replace(state, mirrors={**state.mirrors, "stdlib": MirrorState(
        BASE_FILES, BASE_DIRS, env)})  # fmt: skip
    result = plan(build_layout(ENV, base), base, changed, a_lock())
    mirror = result.actions[0]
    assert isinstance(mirror, MirrorTree)
    assert mirror.add == ("os.py",)
    assert mirror.replace == ("json/__init__.py",)
    assert mirror.remove == ("olddir", "stray.py")
    assert mirror.reason == "1 missing; 1 stale; 2 not in the base"
    assert isinstance(result.actions[-1], WriteState)


def test_moved_base_relinks_and_says_why() -> None:
    old = fake_base()
    new = fake_base(
        executable="/new/py312/bin/python3.12",
        stdlib="/new/py312/lib/python3.12",
        platstdlib="/new/py312/lib/python3.12",
        include="/new/py312/include/python3.12",
        platinclude="/new/py312/include/python3.12",
        executable_mtime_ns=2,
    )
    result = plan(build_layout(ENV, new), new, synced_state(old), a_lock())
    assert kinds(result.actions) == ["install-interpreter", "mirror", "mirror", "write-state"]
    assert all("base moved" in a.reason for a in result.actions[:3])
    assert not any(isinstance(a, (ClearEnv, InstallPackages)) for a in result.actions)


def test_patched_base_same_path_reinstalls_interpreter() -> None:
    old = fake_base()
    new = fake_base(version="3.12.2", executable_size=17700)
    result = plan(build_layout(ENV, new), new, synced_state(old), a_lock())
    assert isinstance(result.actions[0], InstallInterpreter)
    assert result.actions[0].reason == "base upgraded: 3.12.1 -> 3.12.2"


def test_abi_change_clears_the_env() -> None:
    old = fake_base()
    new = fake_base(version="3.13.0", soabi="cpython-313-x86_64-linux-gnu")
    result = plan(build_layout(ENV, new), new, synced_state(old), a_lock())
    assert isinstance(result.actions[0], ClearEnv)
    assert "ABI changed" in result.actions[0].reason
    install = next(a for a in result.actions if isinstance(a, InstallPackages))
    assert [c.why for c in install.changes] == ["missing"]


def test_foreign_directory_is_refused() -> None:
    base = fake_base()
    foreign = EnvState(path=ENV, exists=True, is_dir=True, empty=False, mirrors=mirrors(base))
    with pytest.raises(EnvError, match="not made by poorenv"):
        plan(build_layout(ENV, base), base, foreign, None)


def test_empty_directory_is_adopted() -> None:
    base = fake_base()
    empty = EnvState(path=ENV, exists=True, is_dir=True, empty=True, mirrors=mirrors(base))
    result = plan(build_layout(ENV, base), base, empty, None)
    assert isinstance(result.actions[0], CreateEnv)


def test_edited_pyvenv_cfg_and_wrong_link_are_rewritten() -> None:
    base = fake_base()
    state = synced_state(base)
    layout = build_layout(ENV, base)
    texts = {**state.texts, layout.pyvenv_cfg: "home = /usr/bin\n"}
    entries = {**state.entries, ENV / "bin" / "python": Entry("link", target="/usr/bin/python3")}
    result = plan(layout, base, dataclasses.replace(state, texts=texts, entries=entries), a_lock())
    writes = [a for a in result.actions if isinstance(a, WriteFiles)]
    links = [a for a in result.actions if isinstance(a, MakeLinks)]
    assert writes[0].files == ((layout.pyvenv_cfg, PYVENV_CFG_TEXT),)
    assert links[0].links == ((ENV / "bin" / "python", "python3.12"),)


def test_package_changes_each_say_why() -> None:
    base = fake_base()
    pins = [("flask", "3.0.0"), ("six", "1.0"), ("click", "8.1.7")]
    old = a_lock(PIP, *(LockedPackage(name, version, (HASH,)) for name, version in pins))
    state = dataclasses.replace(
        synced_state(base, old), site=installed({"pip": "24.0", "flask": "3.0.0", "six": "1.0",
                                                "click": "8.1.7", "extra": "1.0"}))  # fmt: skip
    other = "sha256:" + "d" * 64
    new = a_lock(LockedPackage("pip", "24.0", (other,)), LockedPackage("flask", "3.1.0", (HASH,)),
                 LockedPackage("click", "8.0.0", (HASH,)), LockedPackage("attrs", "23.1", (HASH,)),
                 LockedPackage("six", "1.0", (HASH,)))  # fmt: skip
    result = plan(build_layout(ENV, base), base, state, new)
    install = next(a for a in result.actions if isinstance(a, InstallPackages))
    remove = next(a for a in result.actions if isinstance(a, RemovePackages))
    whys = {c.name: (c.old, c.new, c.why) for c in install.changes}
    assert whys == {
        "pip": ("24.0", "24.0", "hashes changed"),
        "flask": ("3.0.0", "3.1.0", "upgrade"),
        "click": ("8.1.7", "8.0.0", "downgrade"),
        "attrs": (None, "23.1", "missing"),
    }
    assert install.reinstall
    assert remove.names == ("extra",)
    assert all("--hash=" in line for line in install.requirements)


def test_without_a_lock_packages_are_left_alone_and_the_problem_is_told() -> None:
    base = fake_base()
    state = dataclasses.replace(synced_state(base), site=installed({"pip": "24.0", "x": "1"}))
    result = plan(build_layout(ENV, base), base, state, None, "poorenv.lock is missing")
    assert result.is_empty()
    assert not result.in_sync
    assert result.reasons == ["poorenv.lock is missing"]


def test_debian_scheme_links_local_bin_and_free_threaded_names() -> None:
    debian = fake_base(prefix_paths={**fake_base().prefix_paths,
        "purelib": f"{PLACEHOLDER}/local/lib/python3.12/dist-packages",
        "platlib": f"{PLACEHOLDER}/local/lib/python3.12/dist-packages",
        "scripts": f"{PLACEHOLDER}/local/bin"})  # fmt: skip
    layout = build_layout(ENV, debian)
    assert layout.scripts_link == (ENV / "local" / "bin", "../bin")
    assert layout.site_dirs == (ENV / "local/lib/python3.12/dist-packages",)
    assert build_layout(ENV, fake_base(abiflags="t")).exe == ENV / "bin" / "python3.12t"
    assert ENV / "bin" / "activate" in text_file_paths(layout)


def test_a_changed_prompt_rewrites_the_activation_scripts_only() -> None:
    base = fake_base()
    state = synced_state(base)  # its scripts show the default prompt, the env directory's name
    layout = build_layout(ENV, base, prompt="web shop")
    result = plan(layout, base, state, a_lock())
    assert kinds(result.actions) == ["write-files", "write-state"]
    writes = result.actions[0]
    assert isinstance(writes, WriteFiles)
    assert [path.name for path, _ in writes.files] == ["activate", "activate.fish", "activate.csh"]
    assert all("web shop" in text and "VIRTUAL_ENV" in text for _, text in writes.files)
    assert "write activate, activate.fish, activate.csh" in result.render()
    assert build_layout(ENV, base).prompt == ".poorenv"


# --- a sealed env --------------------------------------------------------------------------------


def test_an_env_directory_leading_outside_rebuilds_the_env() -> None:
    base = fake_base()
    site = ENV / "lib" / "python3.12" / "site-packages"
    state = dataclasses.replace(synced_state(base), links_out=((site, "/elsewhere/sp"),))
    result = plan(build_layout(ENV, base), base, state, a_lock())
    clear = result.actions[0]
    assert isinstance(clear, ClearEnv)
    assert clear.reason == f"{site} is a link leading outside the env (to /elsewhere/sp)"
    assert "install-packages" in kinds(result.actions)  # everything again, into real dirs
    assert f"clear env {ENV} (site-packages rebuilt from scratch): {clear.reason}" in result.reasons


def test_the_layout_names_every_env_directory_a_link_may_not_replace() -> None:
    layout = build_layout(ENV, fake_base())
    assert layout.sealed_dirs == (
        ENV / "bin", ENV / "lib", ENV / "lib/python3.12", ENV / "lib/python3.12/site-packages",
        ENV / "include", ENV / "include/python3.12",
    )  # fmt: skip


def unsafe_state(base: Interpreter, lock: Lock, *unsafe: Unsafe) -> EnvState:
    state = synced_state(base, lock)
    site = installed({"pip": "24.0", "six": "1.0", "old": "1.0", "evil": "1.0"})
    return dataclasses.replace(state, site=site, unsafe=unsafe)


ESCAPE = Unsafe("evil 1.0", "../../x", "/x", "leads outside the env", "evil")
UNLISTED = Unsafe("old 1.0", "/s/old.egg-info", "", "old.egg-info lists no files", "old")
LINK = Unsafe("/s/link", "/s/link", "/o", "leads outside the env")


def test_what_leads_outside_is_refused_first_whatever_the_plan_does_with_it() -> None:
    base = fake_base()
    six = LockedPackage("six", "1.0", (HASH,))
    lock = a_lock(
        PIP, six, LockedPackage("evil", "1.0", (HASH,)), LockedPackage("old", "1.0", (HASH,))
    )
    result = plan(
        build_layout(ENV, base), base, unsafe_state(base, lock, ESCAPE, UNLISTED, LINK), lock
    )
    refusals = [a for a in result.actions if isinstance(a, Refuse)]
    assert result.actions[: len(refusals)] == tuple(refusals)
    assert [(r.message, r.doing) for r in refusals] == [
        (ESCAPE.describe(), "sync while it is installed"),
        (LINK.describe(), "sync while it is there"),
    ]  # old is left alone: that its files cannot be listed does not matter
    assert not result.in_sync
    assert (
        "refuse: evil 1.0: RECORD entry ../../x leads outside the env (/x): sync refuses"
        " to sync while it is installed" in result.reasons
    )


@pytest.mark.parametrize(("old", "doing"), [(None, "remove it"), ("2.0", "replace it")])
def test_a_distribution_to_remove_or_replace_is_refused_when_its_files_are_unsafe(
    old: str | None, doing: str
) -> None:
    base = fake_base()
    pins = [PIP, LockedPackage("six", "1.0", (HASH,)), LockedPackage("evil", "1.0", (HASH,))]
    if old is not None:
        pins.append(LockedPackage("old", old, (HASH,)))
    lock = a_lock(*pins)
    result = plan(build_layout(ENV, base), base, unsafe_state(base, lock, ESCAPE, UNLISTED), lock)
    refusals = [(a.message, a.doing) for a in result.actions if isinstance(a, Refuse)]
    assert refusals == [
        (ESCAPE.describe(), "sync while it is installed"),
        (UNLISTED.describe(), doing),
    ]
    escape = dataclasses.replace(ESCAPE, name="old")
    result = plan(build_layout(ENV, base), base, unsafe_state(base, lock, escape), lock)
    assert [a.doing for a in result.actions if isinstance(a, Refuse)] == [doing]


def test_a_fresh_env_refuses_nothing() -> None:
    base = fake_base()
    new = fake_base(version="3.13.0", soabi="cpython-313-x86_64-linux-gnu")
    state = dataclasses.replace(synced_state(base), unsafe=(ESCAPE, LINK))
    result = plan(build_layout(ENV, new), new, state, a_lock())
    assert not any(isinstance(a, Refuse) for a in result.actions)


def test_an_activation_script_that_is_a_link_is_written_again() -> None:
    base = fake_base()
    state = synced_state(base)
    activate = ENV / "bin" / "activate"
    state = dataclasses.replace(state, entries={**state.entries, activate: Entry("link", "/o/a")})
    result = plan(build_layout(ENV, base), base, state, a_lock())
    [write] = [a for a in result.actions if isinstance(a, WriteFiles)]
    assert [path for path, _ in write.files] == [activate]
