"""One lock for several Pythons, without resolving: the format-2 TOML (round trip, schema,
grammar of every field, content hash over every resolution), choosing the env's resolution,
staleness when `[env] python` moves among the listed X.Y, and markers in the planner."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from poorenv.config import Config, loads_toml, parse_config
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import LockError
from poorenv.lock.inputs import input_hash, stale_reason
from poorenv.lock.lockfile import (
    Lock,
    LockedPackage,
    LockInterpreter,
    Resolution,
    read_lock,
    write_lock,
)
from poorenv.plan.actions import InstallPackages, RemovePackages
from poorenv.plan.planner import applicable, desired_record, package_actions, plan
from tests.conftest import ROOT
from tests.fakes import fake_base
from tests.test_plan import synced_state

H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64
SCHEMA = json.loads((ROOT / "schemas" / "poorenv-lock.schema.json").read_text())


def base_of(xy: str) -> Interpreter:
    minor = xy.split(".")[1]
    return fake_base(
        executable=f"/opt/py{minor}/bin/python{xy}",
        version=f"{xy}.1",
        cache_tag=f"cpython-3{minor}",
        soabi=f"cpython-3{minor}-x86_64-linux-gnu",
    )


SIX = LockedPackage("six", "1.17.0", (H1,))
TOMLI = LockedPackage("tomli", "2.0.1", (H2,), 'python_version < "3.11"')
WIN = LockedPackage("colorama", "0.4.6", (H1,), 'sys_platform == "win32"')


def multi_lock() -> Lock:
    """A lock for 3.12 (the env's) and 3.9, as the resolver returns it: about the env's own."""
    return Lock(
        "sha256:" + "0" * 64,
        LockInterpreter.of(base_of("3.12")),
        (SIX,),
        others=(Resolution(LockInterpreter.of(base_of("3.9")), (SIX, TOMLI)),),
    )


def config(tmp_path: Path, python: str = "3.12", pythons: tuple[str, ...] = ("3.9",)) -> Config:
    data: dict[str, Any] = {"env": {"python": python, "seed": []}}
    if pythons:
        data["lock"] = {"pythons": list(pythons)}
    return parse_config(data, tmp_path / "poorenv.toml")


# --- the format ------------------------------------------------------------------------------


def test_a_multi_python_lock_round_trips_as_format_2(tmp_path: Path) -> None:
    lock = multi_lock()
    path = tmp_path / "poorenv.lock"
    write_lock(path, lock)
    text = path.read_text()
    data = loads_toml(text)
    assert data["version"] == 2
    assert "interpreter" not in data and "package" not in data
    assert [r["interpreter"]["python"] for r in data["resolution"]] == ["3.9", "3.12"]
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    again = read_lock(path)
    assert again is not None
    assert again.version == 2
    assert again.resolutions == lock.resolutions
    assert again.content_hash == lock.content_hash
    write_lock(path, again)  # read about the first resolution, written the same
    assert path.read_text() == text


def test_a_lock_for_one_python_keeps_format_1(tmp_path: Path) -> None:
    lock = dataclasses.replace(multi_lock(), others=())
    path = tmp_path / "poorenv.lock"
    write_lock(path, lock)
    data = loads_toml(path.read_text())
    assert data["version"] == 1 and "resolution" not in data
    assert data["interpreter"]["python"] == "3.12"
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


def test_the_schema_keeps_the_two_formats_apart() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    two = loads_toml(multi_lock().to_toml())
    one = loads_toml(dataclasses.replace(multi_lock(), others=()).to_toml())
    assert validator.is_valid(two) and validator.is_valid(one)
    assert not validator.is_valid({**two, "version": 1})
    assert not validator.is_valid({**one, "version": 2})
    assert not validator.is_valid({**two, "interpreter": one["interpreter"]})
    assert not validator.is_valid({**two, "resolution": []})
    bad = json.loads(json.dumps(two))
    bad["resolution"][1]["package"][0]["version"] = "1.0 --index-url x"
    assert not validator.is_valid(bad)


def test_the_content_hash_covers_every_resolution_whichever_is_chosen() -> None:
    lock = multi_lock()
    chosen = lock.select(base_of("3.9"))
    assert chosen is not None and chosen.interpreter.python == "3.9"
    assert chosen.content_hash == lock.content_hash
    assert chosen.to_toml() == lock.to_toml()
    other = Resolution(lock.others[0].interpreter, (SIX,))  # 3.9 without tomli
    assert dataclasses.replace(lock, others=(other,)).content_hash != lock.content_hash
    single = dataclasses.replace(lock, others=())
    assert single.content_hash != lock.content_hash


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace('"2.0.1"', '"2.0.2"'), "content-hash does not match"),
        (lambda t: t.replace('"2.0.1"', '"2.0.1 --no-index"'),
         "resolution[0] package[1] (tomli) version: not a PEP 440 version"),
        (lambda t: t.replace('python = "3.9"', 'python = "3.9\\n-r x"'),
         "resolution[0] [interpreter] python: does not look like"),
        (lambda t: t.replace('python = "3.9"', 'python = "3.12"').replace(
            'version = "3.9.1"', 'version = "3.12.1"').replace("cpython-39", "cpython-312"),
         "resolution[1] [interpreter]: the same as resolution[0]'s"),
        (lambda t: t.replace("[resolution.interpreter]", "[resolution.interp]", 1),
         "resolution[0] [interpreter]: missing"),
        (lambda t: t.replace("version = 2", "version = 1"), "[interpreter]: missing"),
        (lambda t: t.replace("version = 2", "version = 2\nextra = 1"), "'extra': unknown key"),
        (lambda t: t[: t.index("[[resolution]]")], "resolution: missing"),
        (lambda t: t.replace('name = "six"', 'name = "tomli"', 2),
         "(tomli) name: listed twice"),
    ],
)  # fmt: skip
def test_every_field_of_a_format_2_lock_is_read_by_its_grammar(
    tmp_path: Path, edit: Any, words: str
) -> None:
    path = tmp_path / "poorenv.lock"
    write_lock(path, multi_lock())
    path.write_text(edit(path.read_text()))
    with pytest.raises(LockError) as info:
        read_lock(path)
    assert words in info.value.message
    assert str(path) in info.value.message


# --- choosing, staleness ---------------------------------------------------------------------


def test_select_chooses_by_implementation_x_y_and_abi() -> None:
    lock = multi_lock()
    for xy in ("3.9", "3.12"):
        chosen = lock.select(base_of(xy))
        assert chosen is not None and chosen.interpreter.python == xy
        assert len(chosen.resolutions) == 2
    assert lock.select(base_of("3.11")) is None
    free_threaded = dataclasses.replace(base_of("3.12"), soabi="cpython-312t-x86_64-linux-gnu")
    assert lock.select(free_threaded) is None


def test_moving_python_among_the_listed_keeps_the_lock_fresh(tmp_path: Path) -> None:
    on_312 = config(tmp_path, "3.12", ("3.9", "3.12"))
    on_39 = config(tmp_path, "3.9", ("3.9", "3.12"))
    assert input_hash(on_312) == input_hash(on_39)
    lock = dataclasses.replace(multi_lock(), input_hash=input_hash(on_312))
    assert stale_reason(lock, on_312, base_of("3.12")) is None
    assert stale_reason(lock, on_39, base_of("3.9")) is None
    assert stale_reason(lock, config(tmp_path, ">=3.9", ("3.12", "3.9")), base_of("3.9")) is None


def test_an_unlisted_python_is_named(tmp_path: Path) -> None:
    on_311 = config(tmp_path, "3.11", ("3.9", "3.12"))
    lock = dataclasses.replace(multi_lock(), input_hash=input_hash(on_311))
    assert stale_reason(lock, on_311, base_of("3.11")) == (
        "poorenv.lock has no resolution for the env's Python: it holds cpython 3.9,"
        " cpython 3.12; the env's base is cpython 3.11 (cpython-311-x86_64-linux-gnu)"
    )


def test_the_list_of_pythons_is_an_input(tmp_path: Path) -> None:
    listed = input_hash(config(tmp_path, "3.12", ("3.9",)))
    assert listed != input_hash(config(tmp_path, "3.12", ("3.9", "3.13")))
    assert listed != input_hash(config(tmp_path, "3.12", ()))
    # without [lock] pythons the python request stays an input, as before
    assert input_hash(config(tmp_path, "3.12", ())) != input_hash(config(tmp_path, "3.11", ()))


# --- markers -----------------------------------------------------------------------------------


def test_a_package_whose_markers_are_false_is_not_wanted() -> None:
    lock = Lock("sha256:" + "0" * 64, LockInterpreter.of(base_of("3.12")), (SIX, TOMLI, WIN))
    assert [p.name for p in applicable(lock, base_of("3.12")).packages] == ["six"]
    on_39 = dataclasses.replace(lock, interpreter=LockInterpreter.of(base_of("3.9")))
    assert [p.name for p in applicable(on_39, base_of("3.9")).packages] == ["six", "tomli"]
    windows = dataclasses.replace(base_of("3.12"), platform="win-amd64")
    assert [p.name for p in applicable(lock, windows).packages] == ["six", "colorama"]
    probed = dataclasses.replace(
        base_of("3.12"), markers={**base_of("3.12").marker_environment(), "sys_platform": "win32"}
    )
    assert [p.name for p in applicable(lock, probed).packages] == ["six", "colorama"]


def test_the_planner_neither_installs_nor_misses_a_package_whose_markers_are_false() -> None:
    base = base_of("3.12")
    lock = Lock("sha256:" + "0" * 64, LockInterpreter.of(base), (SIX, TOMLI))
    state = synced_state(base, Lock(lock.input_hash, lock.interpreter, (SIX,)))
    assert plan(_layout(base), base, state, lock).is_empty()
    assert set(desired_record(base, _layout(base), applicable(lock, base)).packages) == {"six"}
    # the same lock on 3.9: tomli's markers hold, so it is installed
    base_39 = base_of("3.9")
    lock_39 = dataclasses.replace(lock, interpreter=LockInterpreter.of(base_39))
    state_39 = synced_state(base_39, Lock(lock.input_hash, lock_39.interpreter, (SIX,)))
    actions = plan(_layout(base_39), base_39, state_39, lock_39).actions
    installs = [a for a in actions if isinstance(a, InstallPackages)]
    assert [c.name for a in installs for c in a.changes] == ["tomli"]
    # without the planner's filter, package_actions alone would call tomli missing on 3.12
    raw = package_actions(lock, {"six": "1.17.0"}, {})
    assert [type(a) for a in raw] == [InstallPackages]
    assert not any(isinstance(a, RemovePackages) for a in raw)


def _layout(base: Interpreter) -> Any:
    from poorenv.plan.layout import build_layout
    from tests.test_plan import ENV

    return build_layout(ENV, base)


def test_the_probe_reports_the_marker_environment_packaging_would() -> None:
    from packaging.markers import default_environment

    from poorenv.discover.interpreter import probe
    from tests.offline import HERE_PYTHON

    facts = probe(HERE_PYTHON)
    assert facts.marker_environment() == {**default_environment()}
    derived = dataclasses.replace(facts, markers={}).marker_environment()
    for key in ("python_version", "sys_platform", "os_name", "implementation_name"):
        assert derived[key] == default_environment()[key], key  # what the facts tell


def test_lock_changes_of_other_pythons_are_prefixed_or_said_to_be_the_same() -> None:
    from poorenv.cli.output import lock_change_lines

    new = multi_lock()  # 3.12: six; 3.9: six, tomli
    assert lock_change_lines(None, new) == [
        "+ six 1.17.0",
        "3.9: + six 1.17.0",
        "3.9: + tomli 2.0.1",
    ]
    old = dataclasses.replace(new, packages=(), others=(Resolution(new.others[0].interpreter, ()),))
    both_six = dataclasses.replace(new, others=(Resolution(new.others[0].interpreter, (SIX,)),))
    assert lock_change_lines(old, both_six) == ["+ six 1.17.0", "3.9: the same changes"]
    assert lock_change_lines(new.select(base_of("3.9")), new) == []  # read about another one


def test_a_multi_python_lock_with_the_project_itself_round_trips(tmp_path: Path) -> None:
    from poorenv.lock.localproject import LockedProject

    lock = dataclasses.replace(multi_lock(), project=LockedProject("app", "."))
    path = tmp_path / "poorenv.lock"
    write_lock(path, lock)
    data = loads_toml(path.read_text())
    assert data["version"] == 2 and data["project"] == {
        "name": "app", "path": ".", "editable": True, "build": True,
    }  # fmt: skip
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    again = read_lock(path)
    assert again is not None and again.project == lock.project
    assert again.resolutions == lock.resolutions
    chosen = again.select(base_of("3.9"))
    assert chosen is not None and chosen.project == lock.project
    assert dataclasses.replace(lock, project=None).content_hash != lock.content_hash
