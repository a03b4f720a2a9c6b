"""poorenv._fs: whole-file writes are atomic and leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from poorenv import _fs


def test_writes_text_and_bytes(tmp_path: Path) -> None:
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    target = tmp_path / "f.json"
    _fs.atomic_write(target, "{}\n")
    assert target.read_text() == "{}\n"
    _fs.atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["f.json"]


def test_mode_is_set_before_the_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    _fs.atomic_write(target, "x", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    target = tmp_path / "lock"
    target.write_text("old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_fs.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        _fs.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["lock"]


def test_temporaries_of_dead_writers_are_cleaned_not_those_of_live_ones(tmp_path: Path) -> None:
    target = tmp_path / "poorenv.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".poorenv.lock.{dead}{_fs.TMP_SUFFIX}"
    live = tmp_path / f".poorenv.lock.{os.getppid()}{_fs.TMP_SUFFIX}"
    other = tmp_path / f".other.{dead}{_fs.TMP_SUFFIX}"
    for path in (stale, live, other):
        path.write_text("half")
    _fs.atomic_write(target, "whole")
    assert not stale.exists()
    assert live.exists() and other.exists()
    assert target.read_text() == "whole"


def test_a_symlink_planted_as_the_temporary_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    env = tmp_path / "env"
    env.mkdir()
    (env / f".state.json.{os.getpid()}{_fs.TMP_SUFFIX}").symlink_to(outside)
    _fs.atomic_write(env / "state.json", "{}")
    assert outside.read_text() == "keep"
    assert (env / "state.json").read_text() == "{}"
    assert not (env / "state.json").is_symlink()


def test_read_regular_reads_a_file_and_never_a_link(tmp_path: Path) -> None:
    import errno

    (tmp_path / "file").write_bytes(b"data")
    assert _fs.read_regular(tmp_path / "file") == b"data"
    (tmp_path / "link").symlink_to(tmp_path / "file")
    with pytest.raises(OSError) as info:
        _fs.read_regular(tmp_path / "link")
    assert info.value.errno == errno.ELOOP
    os.mkfifo(tmp_path / "fifo")  # a FIFO would block a plain read for ever
    (tmp_path / "dir").mkdir()
    for name in ("fifo", "dir"):
        with pytest.raises(OSError, match="not a regular file"):
            _fs.read_regular(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        _fs.read_regular(tmp_path / "missing")


def test_a_write_that_cannot_start_reports_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only filesystem the temporary cannot be made, and unlinking what is not there
    fails too: the first error is the one raised."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    def cannot_unlink(*args: object, **kwargs: object) -> None:
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(os, "unlink", cannot_unlink)
    with pytest.raises(OSError) as info:
        _fs.atomic_write(tmp_path / "x", "text")
    assert info.value.errno == 30
    assert info.value.strerror == "Read-only file system"


def test_a_failed_write_names_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")  # as a full disk says it: no file name

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "d" / "state.json"
    target.parent.mkdir()
    with pytest.raises(OSError) as info:
        _fs.atomic_write(target, "{}")
    assert (info.value.errno, info.value.filename) == (28, str(target))
    assert os.listdir(target.parent) == []


def test_a_refused_write_names_the_file_not_its_temporary(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    (directory / f".f.{os.getpid()}{_fs.TMP_SUFFIX}").mkdir()  # in the temporary's way
    with pytest.raises(IsADirectoryError) as info:
        _fs.atomic_write(directory / "f", "x")
    assert info.value.filename == str(directory / "f")


def test_a_stream_replaces_the_file_only_when_it_ends_well(tmp_path: Path) -> None:
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    target = tmp_path / "env.tar.gz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), _fs.atomic_stream(target) as handle:
        handle.write(b"half")
        raise RuntimeError("the archive failed half-way")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["env.tar.gz"]
    with _fs.atomic_stream(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["env.tar.gz"]


def test_write_new_never_replaces_a_file_or_follows_a_link(tmp_path: Path) -> None:
    import io

    (tmp_path / "there").write_text("mine")
    (tmp_path / "link").symlink_to(tmp_path / "there")
    for name in ("there", "link"):
        with pytest.raises(FileExistsError):
            _fs.write_new(str(tmp_path / name), io.BytesIO(b"x"), 0o644)
    assert (tmp_path / "there").read_text() == "mine"
    _fs.write_new(str(tmp_path / "new"), io.BytesIO(b"data"), 0o755)
    assert (tmp_path / "new").read_bytes() == b"data"
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o755
