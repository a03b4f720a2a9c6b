"""The no-op stamp's content, without building an env (tests/test_fastpath.py builds real ones):
state.json is cached and shared by CI, so the stamp keeps poorenv.toml's text without its
credentials, and still notices every other change."""

from __future__ import annotations

import json
from pathlib import Path

from poorenv.state import fastpath

CONFIG = """\
[env]
python = "3.12"
[index]
url = "https://alice:s3cret@example.invalid/simple"
extra-urls = ["https://tok@example.invalid/extra"]
"""


def stamp_of(tmp_path: Path, text: str = CONFIG) -> dict[str, object]:
    env = tmp_path / "env"
    env.mkdir(exist_ok=True)
    config = tmp_path / "poorenv.toml"
    config.write_text(text)
    return fastpath.take([str(config)], env, "3.12", True, text)


def test_the_stamp_keeps_no_credential(tmp_path: Path) -> None:
    stamp = stamp_of(tmp_path)
    blob = json.dumps(stamp)
    assert "s3cret" not in blob and "alice" not in blob and "tok@" not in blob
    assert "https://***@example.invalid/simple" in blob  # the rest of the text is kept
    assert fastpath.matches(stamp, "3.12", CONFIG)


def test_the_redacted_stamp_still_notices_a_changed_config(tmp_path: Path) -> None:
    stamp = stamp_of(tmp_path)
    other_host = CONFIG.replace("example.invalid/simple", "other.invalid/simple")
    assert not fastpath.matches(stamp, "3.12", other_host)
    assert not fastpath.matches(stamp, "3.12", CONFIG + "no-index = true\n")
    # A new password alone changes no input of the env (nor the lock's input hash).
    assert fastpath.matches(stamp, "3.12", CONFIG.replace("s3cret", "rotated"))


def test_a_stamp_of_the_old_format_takes_the_slow_path_once(tmp_path: Path) -> None:
    stamp = stamp_of(tmp_path)
    old = {**stamp, "format": 2, "config": CONFIG}  # format 2 kept the whole text
    assert not fastpath.matches(old, "3.12", CONFIG)


def test_a_path_in_a_value_needs_no_toml_parser_a_path_key_does() -> None:
    may = fastpath._may_set_path
    keys = ['[env]\npath = "e"', '[env]\n"path"="e"', "env = { path\t= 'e' }", "env.path = 'e'",
            '[env]\n"pa\\u0074h" = "e"', "[env]\npath   \t  = 'e'"]  # fmt: skip
    values = ['[env]\npython = "/home/me/xpath/bin/python3"', 'files = ["path", "a/path.in"]',
              "[index]\nfind-links = ['/srv/wt-fastpath/wheels']", ""]  # fmt: skip
    assert [t for t in keys if not may(t)] == []
    assert [t for t in values if may(t)] == []
