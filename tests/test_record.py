"""poorenv.state.record: state.json as a typed value."""

from __future__ import annotations

import dataclasses
import json

import pytest

from poorenv.state.record import BaseFingerprint, EnvRecord, PackageRecord, Unfinished
from tests.fakes import fake_base


def a_record() -> EnvRecord:
    base = BaseFingerprint.of(fake_base())
    return EnvRecord(base, "python3.12", {"pip": PackageRecord("24.0", "ab" * 8)})


def test_round_trip_through_json() -> None:
    record = a_record()
    assert EnvRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("base"),
        lambda d: d.update(format=99),
        lambda d: d.update(packages=["pip"]),
        lambda d: d["base"].update(size="big"),
        lambda d: d["packages"]["pip"].pop("hashes"),
    ],
)
def test_a_damaged_record_is_no_record(damage: object) -> None:
    data = a_record().to_json()
    damage(data)  # type: ignore[operator]
    assert EnvRecord.from_json(data) is None


def test_from_json_of_nothing() -> None:
    assert EnvRecord.from_json(None) is None
    assert EnvRecord.from_json({}) is None


def test_base_change_names_what_changed() -> None:
    old = BaseFingerprint.of(fake_base())
    assert old.change_to(old) is None
    moved = dataclasses.replace(old, executable="/new/python3.12")
    assert old.change_to(moved) == "base moved: /opt/py312/bin/python3.12 -> /new/python3.12"
    upgraded = dataclasses.replace(old, version="3.12.2")
    assert old.change_to(upgraded) == "base upgraded: 3.12.1 -> 3.12.2"
    assert old.change_to(dataclasses.replace(old, size=1)) == "base executable replaced"


def test_the_unfinished_note_round_trips_and_merges() -> None:
    note = Unfinished(frozenset({"six", "pip"}), ("/env/site/six.py",))
    data = json.loads(json.dumps(note.to_json()))
    assert data == {"format": 1, "packages": ["pip", "six"], "files": ["/env/site/six.py"]}
    assert Unfinished.from_json(data) == note
    assert "six" in note and "flask" not in note
    merged = note | Unfinished(frozenset({"flask"}), ("/env/site/a.py",))
    assert merged.names == {"six", "pip", "flask"}
    assert merged.files == ("/env/site/a.py", "/env/site/six.py")
    assert not merged.everything


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"format": 2, "packages": []},
        {"format": 1},
        {"format": 1, "packages": "six"},
        {"format": 1, "packages": ["six", 1]},
        {"format": 1, "packages": [], "files": [None]},
    ],
)
def test_a_damaged_note_trusts_no_package(data: object) -> None:
    note = Unfinished.from_json(data)  # type: ignore[arg-type]
    assert note.everything
    assert "anything" in note
