"""pipwheel.find_wheels: the newest wheel of each seed tool, by real version order."""

from __future__ import annotations

from pathlib import Path

from poorenv.apply.pipwheel import find_wheels


def wheels(directory: Path, *names: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")
    return directory


def test_newest_by_version_order_not_text_order(tmp_path: Path) -> None:
    found = find_wheels(
        wheels(
            tmp_path,
            "pip-23.9-py3-none-any.whl",
            "pip-23.10-py3-none-any.whl",
            "pip-23.2.1-py3-none-any.whl",
            "setuptools-69.0.3-py3-none-any.whl",
            "setuptools-9.1-py3-none-any.whl",
        ),
        ("pip", "setuptools"),
    )
    assert found == {
        "pip": tmp_path / "pip-23.10-py3-none-any.whl",
        "setuptools": tmp_path / "setuptools-69.0.3-py3-none-any.whl",
    }


def test_a_release_candidate_comes_before_its_release(tmp_path: Path) -> None:
    directory = wheels(tmp_path, "pip-24.1rc1-py3-none-any.whl", "pip-24.0-py3-none-any.whl")
    assert find_wheels(directory, ("pip",)) == {"pip": tmp_path / "pip-24.1rc1-py3-none-any.whl"}
    wheels(directory, "pip-24.1-py3-none-any.whl")
    assert find_wheels(directory, ("pip",)) == {"pip": tmp_path / "pip-24.1-py3-none-any.whl"}


def test_junk_names_and_other_tools_are_skipped(tmp_path: Path) -> None:
    directory = wheels(
        tmp_path,
        "pip.whl",
        "pip-latest-py3-none-any.whl",
        "pip-99.0.whl",
        "pip-99.0-py3-none-any.whl.part",
        "pip-99.0.tar.gz",
        "wheel-0.42.0-py3-none-any.whl",
        "pip-22.0-py3-none-any.whl",
    )
    assert find_wheels(directory, ("pip", "setuptools")) == {
        "pip": tmp_path / "pip-22.0-py3-none-any.whl"
    }


def test_no_directory_no_wheels(tmp_path: Path) -> None:
    assert find_wheels(tmp_path / "missing", ("pip",)) == {}
