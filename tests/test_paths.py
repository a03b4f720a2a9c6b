"""paths: the one TOML and JSON loaders, resolve(), and the error for an unusable cache."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from poorenv import paths

DEEP = 100_000


@pytest.mark.parametrize(
    ("load", "text"),
    [
        (paths.loads_toml, "x = " + "[" * DEEP + "]" * DEEP),
        (paths.loads_toml, "x = " + "{a = " * DEEP + "1" + "}" * DEEP),
        (paths.loads_json, "[" * DEEP + "]" * DEEP),
        (paths.loads_json, '{"a": ' * DEEP + "1" + "}" * DEEP),
    ],
    ids=["toml arrays", "toml tables", "json arrays", "json objects"],
)
def test_nesting_too_deep_is_a_value_error(load: object, text: str) -> None:
    with pytest.raises(ValueError, match=r"^nested too deeply$"):
        load(text)  # type: ignore[operator]


def test_the_loaders_keep_their_other_errors_and_answers() -> None:
    assert paths.loads_toml("a = [[1]]") == {"a": [[1]]}
    assert paths.loads_json(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(ValueError, match="Expecting value"):
        paths.loads_json("[")
    with pytest.raises(ValueError, match="utf-8"):
        paths.loads_json(b'"\xff"')
    with pytest.raises(ValueError, match="Invalid"):
        paths.loads_toml("a = ")


def test_resolve_reports_a_loop_as_eloop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError) as info:
        paths.resolve(tmp_path / "a" / "env")
    assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        paths.resolve(tmp_path / "a")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert paths.resolve(tmp_path / "link" / "new") == tmp_path / "real" / "new"
    assert paths.resolve(tmp_path / "dangling") == tmp_path / "dangling"


def test_an_unusable_cache_names_the_cache_and_the_way_out() -> None:
    error = paths.unusable_cache(NotADirectoryError(20, "Not a directory"), "the env's lock")
    assert error.message == (
        f"poorenv's cache {paths.cache_dir()}: cannot keep the env's lock there: Not a directory"
    )
    assert error.hint == "set POORENV_CACHE_DIR (or XDG_CACHE_HOME) to a directory you can write"


JSON_DOCUMENTS = [
    '{"a": [1, 2.5, null, true, false, "x\\u00e9\\n"], "b": {}}', "  [] \n", "-0", "1e400",
    "[NaN, Infinity, -Infinity]", '"\\ud800"', '{"a": 1, "a": 2}', "\ufeff{}", "{} x", "", " ",
    "[1,]", "{'a': 1}", '"\x01"', "[1] [2]", "00",
]  # fmt: skip


@pytest.mark.parametrize("text", JSON_DOCUMENTS)
def test_loads_json_answers_and_fails_as_json_loads_does(text: str) -> None:
    """loads_json skips the json package for a UTF-8 document; its answers and its errors stay
    json.loads's, for str and for bytes in any encoding json.loads detects."""
    import json

    for given in (text, text.encode("utf-8"), text.encode("utf-16"), text.encode("utf-32-le")):
        try:
            expected: object = json.loads(given)
        except ValueError as exc:
            expected = (type(exc), str(exc))
        try:
            got: object = paths.loads_json(given)
        except ValueError as exc:
            got = (type(exc), str(exc))
        assert repr(got) == repr(expected), given
