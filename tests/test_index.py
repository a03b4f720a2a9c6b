"""poorenv.index: `[index]` as pip's, pip-compile's and uv's environment variables, one place."""

from __future__ import annotations

from pathlib import Path

from poorenv.config import IndexConfig
from poorenv.index import index_environ, uv_flags

SECRET_URL = "https://alice:s3cret@example.invalid/simple"  # noqa: S105 - a fake one


def test_no_index_table_sets_nothing(tmp_path: Path) -> None:
    assert index_environ(IndexConfig(), tmp_path) == {}  # pip's and uv's own configuration
    assert uv_flags({}) == []


def test_every_key_reaches_both_tools(tmp_path: Path) -> None:
    index = IndexConfig(
        url=SECRET_URL,
        extra_urls=("https://example.invalid/a", "https://bob:pw@example.invalid/b"),
        find_links=("wheels", "https://example.invalid/links/"),
        no_index=True,
    )
    wheels = (tmp_path / "wheels").resolve().as_uri()
    assert index_environ(index, tmp_path) == {
        "PIP_INDEX_URL": SECRET_URL,
        "UV_DEFAULT_INDEX": SECRET_URL,
        "PIP_EXTRA_INDEX_URL": "https://example.invalid/a https://bob:pw@example.invalid/b",
        "UV_INDEX": "https://example.invalid/a https://bob:pw@example.invalid/b",
        "PIP_FIND_LINKS": f"{wheels} https://example.invalid/links/",
        "UV_FIND_LINKS": f"{wheels},https://example.invalid/links/",
        "PIP_NO_INDEX": "1",
        "UV_NO_INDEX": "1",
    }
    assert uv_flags(index_environ(index, tmp_path)) == ["--no-index"]  # uv reads no variable


def test_a_local_path_survives_the_separators(tmp_path: Path) -> None:
    """pip splits its lists at whitespace, uv its find-links at commas."""
    index = IndexConfig(find_links=("my wheels,v2",))
    env = index_environ(index, tmp_path)
    assert env["PIP_FIND_LINKS"].endswith("/my%20wheels%2Cv2")
    assert env["UV_FIND_LINKS"].endswith("/my%20wheels%2Cv2")
    assert " " not in env["PIP_FIND_LINKS"] and "," not in env["UV_FIND_LINKS"]


def test_a_comma_in_a_url_is_encoded_for_uv_only(tmp_path: Path) -> None:
    env = index_environ(IndexConfig(find_links=("https://u:a,b@example.invalid/x",)), tmp_path)
    assert env["PIP_FIND_LINKS"] == "https://u:a,b@example.invalid/x"
    assert env["UV_FIND_LINKS"] == "https://u:a%2Cb@example.invalid/x"  # one item, not two
