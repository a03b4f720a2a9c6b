"""lock.grammar: what each field of poorenv.lock may hold, that a pin cannot be made of anything
else, and that schemas/poorenv-lock.schema.json states the same patterns."""

from __future__ import annotations

import json
from typing import Any, Callable

import jsonschema
import pytest

from poorenv.lock import grammar
from poorenv.lock.grammar import FieldError
from poorenv.lock.lockfile import LockedPackage, LockInterpreter
from tests.conftest import HERE, ROOT

HEX = "0123456789abcdef" * 8
SCHEMA = json.loads((ROOT / "schemas" / "poorenv-lock.schema.json").read_text())
PACKAGE = SCHEMA["properties"]["package"]["items"]["properties"]
INTERPRETER = SCHEMA["properties"]["interpreter"]["properties"]

NAMES_OK = ["flask", "zope-interface", "a", "a1-b2", "0x"]
NAMES_BAD = [
    ("Flask", "not in normal form (expected 'flask')"),
    ("zope.interface", "not in normal form (expected 'zope-interface')"),
    ("zope_interface", "not in normal form"),
    ("flask\n--find-links /tmp/x", "not a package name: 'flask\\n--find-links /tmp/x'"),
    ("fl ask", "not a package name"),
    ("-r", "not a package name"),
    ("flask;", "not a package name"),
    ("", "not a package name"),
]
VERSIONS_OK = [
    "1.0",
    "0",
    "1!2.0",
    "1.0a1",
    "1.0rc0",
    "1.0.post1",
    "1.0.dev0",
    "1.0+abc.1",
    "2024.1",
]
VERSIONS_BAD = [
    ("1.0 --index-url x", "not a PEP 440 version: '1.0 --index-url x'"),
    ("1.0\n--no-index", "not a PEP 440 version"),
    ("1.0; python_version", "not a PEP 440 version"),
    ("1.0.*", "not a PEP 440 version"),
    ("", "not a PEP 440 version"),
    ("v1.0", "not in normal form (expected '1.0')"),
    ("1.0-1", "not in normal form (expected '1.0.post1')"),
    ("01.0", "not in normal form (expected '1.0')"),
    ("1.0+abc.01", "not in normal form (expected '1.0+abc.1')"),
    ("1.0.0-RC1", "not in normal form (expected '1.0.0rc1')"),
]
MARKERS_OK = [
    'python_version < "3.11"',
    'sys_platform == "win32" and platform_machine == "AMD64"',
    '(python_version >= "3.8" or implementation_name == "pypy") and os_name != "nt"',
]
MARKERS_BAD = [
    ('python_version < "3.11"\n-r /etc/passwd', "printable ASCII"),
    ('python_version < "3.11" \\', "printable ASCII"),
    ('os_name == "a # b"', "printable ASCII without '#'"),
    ('os_name == "${HOME}"', "printable ASCII"),
    ('os_name == "\x1b[2J"', "'os_name == \"\\x1b[2J\"'"),
    ('os_name == "\u202e"', "printable ASCII"),
    ("", "empty"),
    ("python_version<'3.11'", "not in normal form (expected 'python_version < \"3.11\"')"),
    ('python_version >= "3" and', "not PEP 508 markers"),
    ('python_version >= "3" --index-url x', "not PEP 508 markers"),
    ('python_version >= "3"; os_name', "not PEP 508 markers"),
]
HASHES_OK = [f"sha256:{HEX[:64]}", f"sha384:{HEX[:96]}", f"sha512:{HEX}"]
HASHES_BAD = [
    (f"sha256:{HEX[:63]}", "not a sha256 hash (64 lowercase hex digits)"),
    (f"sha256:{HEX[:65]}", "not a sha256 hash"),
    (f"sha256:{HEX[:64].upper()}", "not a sha256 hash"),
    (f"sha512:{HEX[:64]}", "not a sha512 hash (128 lowercase hex digits)"),
    (f"sha256:{HEX[:64]} --index-url x", "not a sha256 hash"),
    (f"sha256={HEX[:64]}", "not a sha256, sha384 or sha512 hash"),
    (f"md5:{HEX[:32]}", "not a sha256, sha384 or sha512 hash"),
    ("", "not a sha256, sha384 or sha512 hash"),
]
# Real values: every interpreter the tests record, and what other builds and systems report.
RECORDED = [
    json.loads(p.read_text())["probe"] for p in (HERE / "data" / "interpreters").glob("*.json")
]
INTERPRETER_OK: dict[str, list[str]] = {
    "implementation": ["cpython", "pypy", "graalpy"]
    + [p["implementation"] for p in RECORDED],
    "python": ["3.8", "3.13", "3.100"] + [".".join(p["version"].split(".")[:2]) for p in RECORDED],
    "version": ["3.13.0", "3.12.10"] + [p["version"] for p in RECORDED],
    "abi": ["cpython-313t-x86_64-linux-gnu", "cpython-312-darwin", "cp313-win_amd64",
            "cpython-3.12-win-amd64", "pypy310-pp73-x86_64-linux-gnu",
            "cpython-312-arm-linux-gnueabihf"] + [p["soabi"] for p in RECORDED if "soabi" in p],
    "platform": ["macosx-11.0-arm64", "macosx-10.9-universal2", "win-amd64", "win32",
                 "freebsd-14.0-RELEASE-p3-amd64", "linux-aarch64", "mingw_x86_64_ucrt"]
    + [p["platform"] for p in RECORDED if "platform" in p],
}  # fmt: skip
INTERPRETER_BAD: dict[str, list[str]] = {
    "implementation": ["CPython", "cpython\n--no-index", "", "c python"],
    "python": ["3", "3.12.1", "3.12\n-r x", "three.twelve", ""],
    "version": ["3.12", "3.12.1rc1", "3.12.1\n", ""],
    "abi": ["cpython-312 x86_64", "-r", "cpython\n--find-links /tmp/x", ""],
    "platform": ["linux-x86_64\n--index-url x", "linux x86_64", "linux-x86_64 #", "-x", ""],
}
CREATED_BY_OK = ["poorenv 0.1.0", "poorenv 1.0 (ünïcode)", ""]
CREATED_BY_BAD = ["poorenv\n--no-index", "poorenv\r", "\x1b[31mred", "a\u2028b", "a\x85b", "a\x00"]


def schema_accepts(schema: dict[str, Any], value: object) -> bool:
    return bool(jsonschema.Draft202012Validator(schema).is_valid(value))


@pytest.mark.parametrize(
    ("check", "schema", "good", "bad"),
    [
        (grammar.name_problem, PACKAGE["name"], NAMES_OK, NAMES_BAD),
        (grammar.version_problem, PACKAGE["version"], VERSIONS_OK, VERSIONS_BAD),
        (grammar.markers_problem, PACKAGE["markers"], MARKERS_OK, MARKERS_BAD),
        (grammar.hash_problem, PACKAGE["hashes"]["items"], HASHES_OK, HASHES_BAD),
    ],
    ids=["name", "version", "markers", "hash"],
)
def test_each_package_field_has_its_grammar(
    check: Callable[[str], str | None],
    schema: dict[str, Any],
    good: list[str],
    bad: list[tuple[str, str]],
) -> None:
    for value in good:
        assert check(value) is None, value
        assert schema_accepts(schema, value), value
    for value, words in bad:
        problem = check(value)
        assert problem is not None, value
        assert words in problem, (value, problem)
        assert "\n" not in problem and "\x1b" not in problem  # one line, quoted safely


def test_the_schema_refuses_what_its_patterns_can_see() -> None:
    """Normal forms and the marker grammar are `packaging`'s to judge; every other refusal is
    the schema's too."""
    normal_form = {"v1.0", "01.0", "1.0+abc.01", "1.0.0-RC1", "1.0-1"}  # they parse
    for value, _ in VERSIONS_BAD:
        if value not in normal_form:
            assert not schema_accepts(PACKAGE["version"], value), value
    for value, _ in NAMES_BAD:
        assert not schema_accepts(PACKAGE["name"], value), value
    for value, _ in HASHES_BAD:
        assert not schema_accepts(PACKAGE["hashes"]["items"], value), value
    for value, words in MARKERS_BAD:
        if "printable ASCII" in words or value == "":
            assert not schema_accepts(PACKAGE["markers"], value), value


def test_hashes_are_unique_in_the_schema_and_the_pin() -> None:
    twice = [HASHES_OK[0], HASHES_OK[0]]
    assert not schema_accepts(
        SCHEMA["properties"]["package"]["items"]["properties"]["hashes"], twice
    )
    with pytest.raises(FieldError, match="hashes: a hash is listed twice"):
        LockedPackage("a", "1.0", tuple(twice))


@pytest.mark.parametrize("field", list(INTERPRETER_OK))
def test_interpreter_fields_admit_real_interpreters_and_nothing_else(field: str) -> None:
    for value in INTERPRETER_OK[field]:
        assert grammar.interpreter_problem(field, value) is None, value
        assert schema_accepts(INTERPRETER[field], value), value
    for value in INTERPRETER_BAD[field]:
        problem = grammar.interpreter_problem(field, value)
        assert problem is not None and f"interpreter's {field}" in problem, value
        assert "\n" not in problem
        if not value.endswith("\n"):
            assert not schema_accepts(INTERPRETER[field], value), value


def test_created_by_is_text_without_control_characters() -> None:
    schema = SCHEMA["properties"]["created-by"]
    for value in CREATED_BY_OK:
        assert grammar.text_problem(value) is None
        assert schema_accepts(schema, value)
    for value in CREATED_BY_BAD:
        assert "control character" in (grammar.text_problem(value) or ""), value
        assert not schema_accepts(schema, value), value


@pytest.mark.parametrize("key", ["input-hash", "content-hash"])
def test_lock_hashes_are_sha256(key: str) -> None:
    schema = SCHEMA["properties"][key]
    assert grammar.sha256_problem(f"sha256:{HEX[:64]}") is None
    assert schema_accepts(schema, f"sha256:{HEX[:64]}")
    for value in [f"sha512:{HEX}", f"sha256:{HEX[:64]}\n", "sha256:", f"sha256:{HEX[:64]} x"]:
        assert grammar.sha256_problem(value), value
        if not value.endswith("\n"):
            assert not schema_accepts(schema, value), value


def test_a_pin_cannot_be_made_of_a_bad_field() -> None:
    good = {"name": "flask", "version": "3.0.0", "hashes": (HASHES_OK[0],), "markers": None}
    for field, value in [
        ("name", "flask\n--find-links /tmp/x"),
        ("version", "3.0.0 --index-url x"),
        ("markers", 'python_version >= "3"\n--no-index'),
        ("hashes", (f"sha256:{HEX[:64]}\n-r /etc/passwd",)),
        ("hashes", ()),
    ]:
        with pytest.raises(FieldError) as info:
            LockedPackage(**{**good, field: value})  # type: ignore[arg-type]
        assert info.value.field == field
    interpreter = {"implementation": "cpython", "python": "3.12", "version": "3.12.1",
                   "abi": "cpython-312-x86_64-linux-gnu", "platform": "linux-x86_64"}  # fmt: skip
    LockInterpreter(**interpreter)
    with pytest.raises(FieldError) as info:
        LockInterpreter(**{**interpreter, "platform": "linux\n--index-url http://x.invalid"})
    assert info.value.field == "platform"


def test_the_requirement_line_is_made_of_checked_values_only() -> None:
    pin = LockedPackage("flask", "3.0.0", tuple(HASHES_OK[:2]), 'python_version >= "3.8"')
    line = pin.requirement()
    assert line == (
        f'flask==3.0.0 ; python_version >= "3.8" \\\n    --hash={HASHES_OK[0]} \\\n'
        f"    --hash={HASHES_OK[1]}"
    )
    physical = line.split("\n")
    assert all(p.endswith(" \\") for p in physical[:-1])  # one logical line for pip
    assert not any(
        p.lstrip().startswith("-") and not p.lstrip().startswith("--hash=") for p in physical
    )


def test_shown_quotes_safely_and_cuts_long_values() -> None:
    assert grammar.shown("a\nb") == "'a\\nb'"
    assert grammar.shown("\x1b[31m") == "'\\x1b[31m'"
    assert grammar.shown("x" * 100) == "'" + "x" * 60 + "'..."
