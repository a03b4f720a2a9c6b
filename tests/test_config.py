from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from poorenv.config import (
    DEFAULT_SEED,
    find_config,
    init_config,
    load_config,
    loads_toml,
    parse_config,
    render_config,
)
from poorenv.errors import ConfigError
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "poorenv.schema.json").read_text())
FILE = Path("/project/poorenv.toml")


def schema_errors(data: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [e.message for e in validator.iter_errors(data)]


VALID: list[dict[str, Any]] = [
    {"env": {"python": "3.12"}},
    {"env": {"python": "3.12"}, "deploy": {}},
    {"env": {"python": "3.12"}, "deploy": {"keep": 2, "smoke": ["python", "-c", "import app"],
     "reload": ["apachectl", "graceful"], "user": "www-data", "app": "app.wsgi"}},
    {"env": {"python": ">=3.10,<3.13", "path": "envs/web", "seed": []}},
    {"env": {"python": "/usr/bin/python3.11", "seed": ["pip"]}},
    {"env": {"python": "3.12", "prompt": "my app (web) $x \u00e9"}},
    {"env": {"python": "3.12", "resolver": "uv"}, "lock": {"pythons": ["3.9", "3.13", "3.8"]}},
    {"env": {"python": "3.12", "resolver": "pip-tools"}, "lock": {}},
    {
        "env": {"python": "3.12.1"},
        "requirements": {"packages": ["flask>=3", "requests[socks]; python_version < '4'"],
                         "files": ["requirements.in"], "constraints": ["c.txt"]},
        "index": {"url": "https://example.invalid/simple", "extra-urls": [],
                  "find-links": ["wheels"], "no-index": False},
    },
]  # fmt: skip

# (document, words the parser's message must contain)
INVALID: list[tuple[dict[str, Any], str]] = [
    ({}, "[env]: missing table"),
    ({"env": {"python": "3.12"}, "deploy": {"keep": 1}}, "[deploy] keep: expected an integer >= 2"),
    ({"env": {"python": "3.12"}, "deploy": {"keep": True}}, "keep: expected an integer >= 2"),
    ({"env": {"python": "3.12"}, "deploy": {"keep": "3"}}, "keep: expected an integer >= 2"),
    ({"env": {"python": "3.12"}, "deploy": {"reload": "apachectl graceful"}},
     "[deploy] reload: expected an array of strings"),
    ({"env": {"python": "3.12"}, "deploy": {"smoke": [""]}}, "[deploy] smoke: an empty string"),
    ({"env": {"python": "3.12"}, "deploy": {"reloda": []}}, "did you mean 'reload'"),
    ({"env": {"python": "3.12"}, "deploy": {"user": ""}}, "[deploy] user: must not be empty"),
    ({"env": {"python": "3.12"}, "deploy": []}, "deploy: expected a table, got an array"),
    ({"env": {}}, "[env] python: missing"),
    ({"env": {"python": ""}}, "[env] python: must not be empty"),
    ({"env": {"python": "  "}}, "[env] python: must not be empty"),
    ({"env": {"python": 3.12}}, "[env] python: expected a string, got a float"),
    ({"env": {"python": "3.12", "pyhton": "x"}}, "[env] pyhton: unknown key"),
    ({"env": {"python": "3.12", "path": ""}}, "[env] path: must not be empty"),
    ({"env": {"python": "3.12", "path": 1}}, "[env] path: expected a string, got an integer"),
    ({"env": {"python": "3.12", "seed": "pip"}}, "[env] seed: expected an array of strings"),
    ({"env": {"python": "3.12", "seed": ["wheel"]}}, "unknown seed tool 'wheel'"),
    ({"env": {"python": "3.12", "seed": ["pip", "pip"]}}, "'pip' is listed twice"),
    ({"env": {"python": "3.12"}, "requirement": {}}, "requirement: unknown table"),
    ({"env": {"python": "3.12"}, "requirements": {"packages": [1]}}, "found an integer"),
    ({"env": {"python": "3.12"}, "requirements": {"files": [""]}}, "empty string"),
    ({"env": {"python": "3.12"}, "requirements": {"pakages": []}}, "did you mean 'packages'"),
    ({"env": {"python": "3.12"}, "index": {"no-index": "yes"}}, "expected true or false"),
    ({"env": {"python": "3.12"}, "index": {"url": ["a"]}}, "expected a string, got an array"),
    ({"env": "3.12"}, "env: expected a table, got a string"),
    ({"env": {"python": "3.12", "prompt": ""}}, "[env] prompt: must not be empty"),
    ({"env": {"python": "3.12", "prompt": " "}}, "[env] prompt: must not be empty"),
    ({"env": {"python": "3.12", "prompt": 1}}, "[env] prompt: expected a string, got an integer"),
    ({"env": {"python": "3.12", "prompt": "a\nb"}}, "prompt: contains '\\n': a prompt is one line"),
    ({"env": {"python": "3.12", "prompt": "app\n"}}, "[env] prompt: contains '\\n'"),
    ({"env": {"python": "3.12", "prompt": "a\x1b[31m"}}, "[env] prompt: contains '\\x1b'"),
    ({"env": {"python": "3.12", "prompt": "a\u2028b"}}, "without control characters"),
    ({"env": {"python": "3.12", "path": "a\x00b"}},
     "[env] path: 'a\\x00b' contains the control character U+0000"),
    ({"env": {"python": "/usr/bin/py\x00"}}, "[env] python: '/usr/bin/py\\x00' contains"),
    ({"env": {"python": "3.12"}, "index": {"find-links": ["w\nx"]}},
     "[index] find-links: 'w\\nx' contains the control character U+000A"),
    ({"env": {"python": "3.12"}, "requirements": {"files": ["r\x7f"]}}, "U+007F"),
    ({"env": {"python": "3.12", "resolver": "pip"}}, "[env] resolver: unknown resolver 'pip'"),
    ({"env": {"python": "3.12"}, "lock": {"pythons": ["3.7"]}},
     "[lock] pythons: '3.7' is not an X.Y version of CPython 3.8 or newer"),
    ({"env": {"python": "3.12"}, "lock": {"pythons": ["3.12.1"]}}, "not an X.Y version"),
    ({"env": {"python": "3.12"}, "lock": {"pythons": ["3.08"]}}, "not an X.Y version"),
    ({"env": {"python": "3.12"}, "lock": {"pythons": ["3.9", "3.9"]}}, "'3.9' is listed twice"),
    ({"env": {"python": "3.12"}, "lock": {"pythons": "3.9"}}, "[lock] pythons: expected an array"),
    ({"env": {"python": "3.12"}, "lock": {"python": ["3.9"]}}, "did you mean 'pythons'"),
]  # fmt: skip


@pytest.mark.parametrize("data", VALID)
def test_valid_documents_pass_the_parser_and_the_schema(data: dict[str, Any]) -> None:
    assert schema_errors(data) == []
    config = parse_config(data, FILE)
    assert config.file == FILE


@pytest.mark.parametrize(("data", "words"), INVALID, ids=[w for _, w in INVALID])
def test_invalid_documents_fail_the_parser_and_the_schema(data: dict[str, Any], words: str) -> None:
    assert schema_errors(data), "the schema accepts what the parser refuses"
    with pytest.raises(ConfigError) as info:
        parse_config(data, FILE)
    assert words in f"{info.value.message} {info.value.hint}"
    assert info.value.message.startswith(str(FILE))


def test_requirements_are_checked_beyond_the_schema() -> None:
    data = {"env": {"python": "3.12"}, "requirements": {"packages": ["flask >>= 3"]}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, FILE)
    assert "[requirements] packages: invalid requirement 'flask >>= 3'" in info.value.message


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("alpha @ https://example.invalid/alpha-1.0.tar.gz", "alpha @ URL: poorenv.lock pins"),
        ("alpha==${VERSION}", "pip would expand ${...}"),
        ('alpha; os_name == "a#b"', "holds '#'"),
        (".", "a path or URL"),
    ],
)
def test_packages_obey_the_rules_of_requirements_files(spec: str, words: str) -> None:
    data = {"env": {"python": "3.12"}, "requirements": {"packages": [spec]}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, FILE)
    assert f"[requirements] packages: invalid requirement {spec!r}: {words}" in info.value.message


def test_defaults_and_paths_relative_to_the_file() -> None:
    config = parse_config(
        {"env": {"python": " 3.12 "}, "requirements": {"files": ["req.in"]}}, FILE
    )
    assert config.python == "3.12"
    assert config.env_path == Path("/project/.poorenv")
    assert config.seed == DEFAULT_SEED
    assert config.requirement_files == (Path("/project/req.in"),)


def test_deploy_keeps_the_env_path_as_the_link_it_will_be(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "gen").mkdir()
    (tmp_path / "real" / ".env").symlink_to("../gen")  # the link to the current generation
    file = tmp_path / "real" / "poorenv.toml"
    data = {"env": {"python": "3.12", "path": ".env"}, "deploy": {"app": "app.wsgi"}}
    config = parse_config(data, file)
    assert config.deploy is not None and config.deploy.keep == 3
    assert config.deploy.app == tmp_path / "real" / "app.wsgi"
    assert config.env_path == tmp_path / "gen"  # where it leads: plan, check, sync --in-place
    assert config.served_path == tmp_path / "real" / ".env"  # what servers and `run` name
    plain = parse_config({"env": {"python": "3.12", "path": ".env"}}, file)
    assert plain.deploy is None and plain.served_path == plain.env_path == tmp_path / "gen"


def test_the_prompt_is_the_setting_else_the_project_directory() -> None:
    assert parse_config({"env": {"python": "3.12"}}, FILE).env_prompt == "project"
    named = parse_config({"env": {"python": "3.12", "prompt": "web app"}}, FILE)
    assert (named.prompt, named.env_prompt) == ("web app", "web app")
    at_root = parse_config({"env": {"python": "3.12", "path": "/srv/env"}}, Path("/poorenv.toml"))
    assert at_root.env_prompt == "env"


def test_typo_suggestion_is_a_hint() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"env": {"python": "3.12", "seeds": []}}, FILE)
    assert info.value.hint == "did you mean 'seed'?"


def test_malformed_toml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "poorenv.toml"
    path.write_text('[env]\npython = "3.12\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message
    assert "line 2" in info.value.message


def test_find_config_walks_up(tmp_path: Path) -> None:
    (tmp_path / "poorenv.toml").write_text('[env]\npython = "3.12"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "poorenv.toml"


def test_find_config_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config(tmp_path)
    assert "poorenv init" in (info.value.hint or "")


def test_rendered_config_is_valid_and_carries_the_schema_comment() -> None:
    text = render_config("3.12", ("flask>=3",))
    assert text.startswith("#:schema ")
    data = loads_toml(text)
    assert schema_errors(data) == []
    assert parse_config(data, FILE).packages == ("flask>=3",)


def test_examples_validate_against_the_schema() -> None:
    files = sorted((ROOT / "examples").rglob("poorenv.toml"))
    assert files
    for file in files:
        data = loads_toml(file.read_text())
        assert schema_errors(data) == [], file
        parse_config(data, file)


@pytest.mark.parametrize("what", ["loop", "dangling", "directory"])
def test_a_poorenv_toml_that_is_no_file_stops_the_search(tmp_path: Path, what: str) -> None:
    """Skipping it would silently take a parent's poorenv.toml instead."""
    (tmp_path / "poorenv.toml").write_text('[env]\npython = "3.12"\n')
    here = tmp_path / "project" / "poorenv.toml"
    here.parent.mkdir()
    if what == "loop":
        here.symlink_to("other")
        (here.parent / "other").symlink_to("poorenv.toml")
    elif what == "dangling":
        here.symlink_to("nothing")
    else:
        here.mkdir()
    words = {
        "loop": "cannot read: Too many levels of symbolic links",
        "dangling": "a symbolic link to nothing",
        "directory": "not a regular file",
    }[what]
    with pytest.raises(ConfigError) as info:
        find_config(here.parent)
    assert info.value.message == f"{here}: {words}"


def test_a_path_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    project = tmp_path / os.fsdecode(b"proj\xff")
    project.mkdir()
    (project / "poorenv.toml").write_text('[env]\npython = "3.12"\n')
    with pytest.raises(ConfigError) as info:
        load_config(project / "poorenv.toml")
    assert (
        info.value.message == f"project directory {tmp_path}/proj\\xff: its name is not valid UTF-8"
    )
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "poorenv.toml").write_text(
        '[env]\npython = "3.12"\npath = "../proj\\u00ff"\n'
    )
    assert load_config(tmp_path / "ok" / "poorenv.toml").env_path == tmp_path / "proj\xff"
    (tmp_path / "link").symlink_to(project)  # a UTF-8 name that leads to one that is not
    (tmp_path / "ok" / "poorenv.toml").write_text('[env]\npython = "3.12"\npath = "../link/env"\n')
    with pytest.raises(
        ConfigError, match=r"env path .*/proj\\xff/env: its name is not valid UTF-8"
    ):
        load_config(tmp_path / "ok" / "poorenv.toml")


def test_an_env_path_that_loops_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "env").symlink_to("env2")
    (tmp_path / "env2").symlink_to("env")
    with pytest.raises(ConfigError) as info:
        parse_config({"env": {"python": "3.12", "path": "env/x"}}, tmp_path / "poorenv.toml")
    assert info.value.message == (
        f"{tmp_path / 'poorenv.toml'}: [env] path: {tmp_path / 'env' / 'x'}:"
        " Too many levels of symbolic links"
    )


def test_init_where_it_cannot_write_is_one_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_open = builtins.open

    def read_only(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "x":
            raise OSError(30, "Read-only file system")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    with pytest.raises(ConfigError) as info:
        init_config(tmp_path, "3.12")
    assert info.value.message == f"{tmp_path / 'poorenv.toml'}: cannot write: Read-only file system"
    assert info.value.hint == "the project directory must be writable by you"
