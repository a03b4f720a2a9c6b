"""Moved and copied envs: script headers, RECORD lines, the record's location, the planner's
`Relocate`, the applier's repair and the stamp's identity. Plain values and tmp_path."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from poorenv.apply.applier import Applier
from poorenv.envdir import EnvDir
from poorenv.plan.actions import Relocate, WriteState
from poorenv.plan.layout import build_layout
from poorenv.plan.planner import plan
from poorenv.plan.relocate import interpreter_of, moved, record_hash, rewrite_record
from poorenv.report import Reporter
from poorenv.state import fastpath
from poorenv.state.record import EnvRecord, Location, built_elsewhere
from poorenv.state.scheme import Scheme
from tests.fakes import fake_base
from tests.test_plan import ENV, a_lock, kinds, synced_state

OLD = "/old/place/.poorenv"
BODY = b"import sys\nfrom tool import main\nsys.exit(main())\n"
SCRIPT = f"#!{OLD}/bin/python3.12\n".encode() + BODY
TRAMPOLINE = (
    b"#!/bin/sh\n'''exec' \"/old/with space/.poorenv/bin/python3.12\" \"$0\" \"$@\"\n' '''\n" + BODY
)


# --- script headers ------------------------------------------------------------------------------


def test_both_header_forms_name_their_interpreter() -> None:
    assert interpreter_of(SCRIPT) == f"{OLD}/bin/python3.12"
    assert interpreter_of(TRAMPOLINE) == "/old/with space/.poorenv/bin/python3.12"
    assert interpreter_of(b"#!/usr/bin/env python3\n" + BODY) is None
    assert interpreter_of(b"#!/bin/sh\necho hello\n") is None
    assert interpreter_of(BODY) is None


def test_a_moved_script_names_the_new_env_and_keeps_its_body() -> None:
    new = moved(SCRIPT, OLD, "/new/.poorenv")
    assert new == b"#!/new/.poorenv/bin/python3.12\n" + BODY
    assert moved(SCRIPT, "/elsewhere/.poorenv", "/new/.poorenv") is None
    assert moved(SCRIPT, "/old/place/.poore", "/new/.poorenv") is None  # a prefix, not the env


def test_a_path_with_a_space_gets_the_trampoline_and_back() -> None:
    there = moved(SCRIPT, OLD, "/new/with space/.poorenv")
    assert there == TRAMPOLINE.replace(b"/old/", b"/new/")
    back = moved(there, "/new/with space/.poorenv", OLD)
    assert back == SCRIPT
    long = "/x" * 70 + "/.poorenv"
    assert cast(bytes, moved(SCRIPT, OLD, long)).startswith(b"#!/bin/sh\n'''exec' \"/x/x")
    assert moved(TRAMPOLINE, "/old/with space/.poorenv", "/short") == (
        b"#!/short/bin/python3.12\n" + BODY
    )


def test_record_lines_of_the_rewritten_files_only() -> None:
    site = "/env/lib/python3.12/site-packages"
    text = (
        "tool/__init__.py,sha256=abc,3\n../../../bin/tool,sha256=old,10\n"
        "tool-1.0.dist-info/RECORD,,\n"
    )
    new = rewrite_record(text, site, {"/env/bin/tool": b"new body"})
    rows = list(csv.reader(io.StringIO(cast(str, new))))
    assert rows == [
        ["tool/__init__.py", "sha256=abc", "3"],
        ["../../../bin/tool", record_hash(b"new body"), "8"],
        ["tool-1.0.dist-info/RECORD", "", ""],
    ]
    assert rewrite_record(text, site, {"/env/bin/other": b"x"}) is None


# --- the record ----------------------------------------------------------------------------------


def a_record(location: Location | None) -> EnvRecord:
    from poorenv.state.record import BaseFingerprint

    return EnvRecord(BaseFingerprint.of(fake_base()), "python3.12").at(location)


def test_the_location_round_trips_and_an_old_record_has_none() -> None:
    record = a_record(Location(OLD, 2049, 77))
    data = json.loads(json.dumps(record.to_json()))
    assert data["format"] == 2 and data["location"] == {"path": OLD, "dev": 2049, "ino": 77}
    assert EnvRecord.from_json(data) == record
    old = {k: v for k, v in data.items() if k != "location"}
    old["format"] = 1
    read = EnvRecord.from_json(old)
    assert read is not None and read.location is None and read.format == 1
    assert read != a_record(None)  # so the next sync writes it again, with its location
    damaged = {**data, "location": {"path": OLD, "dev": "x"}}
    assert cast(EnvRecord, EnvRecord.from_json(damaged)).location is None


def test_a_location_change_names_both_directories() -> None:
    built = Location(OLD, 1, 2)
    assert built.change_to(built) is None
    assert built.change_to(Location("/new/.poorenv", 1, 2)) == (
        f"env built at {OLD}, now at /new/.poorenv"
    )
    assert "replaced" in str(built.change_to(Location(OLD, 1, 3)))


def test_location_of_a_directory(tmp_path: Path) -> None:
    st = os.stat(tmp_path)
    assert Location.of(tmp_path) == Location(os.path.realpath(tmp_path), st.st_dev, st.st_ino)


def test_built_elsewhere_reads_the_record_of_an_env(tmp_path: Path) -> None:
    env = tmp_path / "copy" / ".poorenv"
    (env / ".poorenv").mkdir(parents=True)
    assert built_elsewhere(env) is None  # no record
    state = env / ".poorenv" / "state.json"
    state.write_text(json.dumps(a_record(None).to_json()))
    assert built_elsewhere(env) is None  # location unknown
    state.write_text(json.dumps(a_record(Location.of(env)).to_json()))
    assert built_elsewhere(env) is None  # built here
    state.write_text(json.dumps(a_record(Location(OLD, 1, 2)).to_json()))
    assert built_elsewhere(env) == Location(OLD, 1, 2)


# --- the planner ---------------------------------------------------------------------------------


def moved_state(built: Location, now: Location, scripts: dict[Path, str]) -> Any:
    base = fake_base()
    state = synced_state(base)
    record = cast(EnvRecord, state.record).at(built)
    return dataclasses.replace(state, record=record, location=now, scripts=scripts)


def test_a_moved_env_relocates_the_scripts_naming_its_old_path() -> None:
    base = fake_base()
    now = Location(str(ENV), 1, 2)
    scripts = {
        ENV / "bin" / "tool": f"{OLD}/bin/python3.12",
        ENV / "bin" / "other": "/usr/bin/python3",  # not the env's: left alone
        ENV / "bin" / "done": f"{ENV}/bin/python3.12",  # already repaired
    }
    result = plan(build_layout(ENV, base), base, moved_state(Location(OLD, 1, 2), now, scripts),
                  a_lock())  # fmt: skip
    assert kinds(result.actions) == ["relocate", "write-state"]
    relocate = result.actions[0]
    assert relocate == Relocate(
        f"env built at {OLD}, now at {ENV}", Path(OLD), ENV, (ENV / "bin" / "tool",)
    )
    assert f"env built at {OLD}, now at {ENV}" in result.reasons[0]
    written = result.actions[-1]
    assert isinstance(written, WriteState) and written.state.location == now
    assert relocate.to_json()["action"] == "relocate"


def test_a_second_move_relocates_from_the_recorded_path() -> None:
    base = fake_base()
    first = Location("/first/.poorenv", 1, 2)
    scripts = {ENV / "bin" / "tool": "/first/.poorenv/bin/python3.12"}
    state = moved_state(first, Location(str(ENV), 1, 2), scripts)
    result = plan(build_layout(ENV, base), base, state, a_lock())
    assert isinstance(result.actions[0], Relocate)
    assert result.actions[0].old == Path("/first/.poorenv")
    assert result.actions[0].files == (ENV / "bin" / "tool",)


def test_same_path_another_directory_only_rewrites_the_record() -> None:
    base = fake_base()
    state = moved_state(Location(str(ENV), 1, 2), Location(str(ENV), 1, 3), {})
    result = plan(build_layout(ENV, base), base, state, a_lock())
    assert kinds(result.actions) == ["write-state"]
    assert "replaced since it was built" in result.reasons[0]


def test_an_unknown_location_is_recorded_without_a_relocation() -> None:
    base = fake_base()
    state = synced_state(base)  # record.location None: a format-1 record
    now = Location(str(ENV), 1, 2)
    result = plan(build_layout(ENV, base), base, dataclasses.replace(state, location=now),
                  a_lock())  # fmt: skip
    assert kinds(result.actions) == ["write-state"]
    assert result.reasons == ["state record out of date"]
    again = dataclasses.replace(state, record=cast(EnvRecord, state.record).at(now), location=now)
    assert plan(build_layout(ENV, base), base, again, a_lock()).is_empty()


# --- the applier ---------------------------------------------------------------------------------


def test_the_applier_rewrites_scripts_and_their_record_keeping_modes(tmp_path: Path) -> None:
    env = tmp_path / "new" / ".poorenv"
    site = env / "lib" / "python3.12" / "site-packages"
    info = site / "tool-1.0.dist-info"
    info.mkdir(parents=True)
    (env / "bin").mkdir()
    tool, plain = env / "bin" / "tool", env / "bin" / "plain"
    tool.write_bytes(SCRIPT)
    tool.chmod(0o750)
    plain.write_bytes(b"#!/usr/bin/python3\n")
    (info / "RECORD").write_text(
        f"../../../bin/tool,{record_hash(SCRIPT)},{len(SCRIPT)}\ntool/__init__.py,sha256=x,1\n"
    )
    scheme = Scheme(env, site_dirs=(site,), scripts=(env / "bin",))
    applier = Applier(EnvDir(env), cast(Any, None), Reporter(), scheme=scheme)
    action = Relocate("moved", Path(OLD), env, (tool, plain))
    applier._relocate(action)
    expected = f"#!{env}/bin/python3.12\n".encode() + BODY
    assert tool.read_bytes() == expected
    assert tool.stat().st_mode & 0o7777 == 0o750
    assert plain.read_bytes() == b"#!/usr/bin/python3\n"
    assert (info / "RECORD").read_text().splitlines() == [
        f"../../../bin/tool,{record_hash(expected)},{len(expected)}",
        "tool/__init__.py,sha256=x,1",
    ]
    applier._relocate(action)  # done again (an interrupted repair): nothing changes
    assert tool.read_bytes() == expected


# --- the stamp -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["copy", "replaced"])
def test_a_stamp_answers_only_for_its_own_directory(tmp_path: Path, how: str) -> None:
    env = tmp_path / "project" / ".poorenv"
    env.mkdir(parents=True)
    stamp = json.loads(json.dumps(fastpath.take([], env, "3.12", True, "")))
    assert fastpath.matches(stamp, "3.12", "", str(env))
    assert fastpath.matches(stamp, "3.12", "")
    if how == "copy":
        copy = tmp_path / "copy" / ".poorenv"
        copy.mkdir(parents=True)
        assert not fastpath.matches(stamp, "3.12", "", str(copy))
        assert fastpath.matches(stamp, "3.12", "", str(env))
    else:  # another directory at the same path (a restored cache): another inode
        keep = tmp_path / "keep"
        keep.mkdir()  # holds the old inode, so the new directory cannot reuse it
        os.rename(env, keep / "old")
        env.mkdir()
        assert not fastpath.matches(stamp, "3.12", "", str(env))
    no_identity = {k: v for k, v in stamp.items() if k != "env"}
    assert not fastpath.matches(no_identity, "3.12", "")
