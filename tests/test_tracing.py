"""The write tracer itself must see writes, or the "nothing outside the env" tests prove nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests import tracing


@pytest.mark.skipif(not tracing.available(), reason="strace is not installed")
def test_tracer_sees_relative_absolute_and_child_writes(tmp_path: Path) -> None:
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    code = (
        "import os, subprocess\n"
        f"open({str(outside / 'abs.txt')!r}, 'w').write('x')\n"
        "os.chdir('../outside'); open('rel.txt', 'w').write('x')\n"
        "os.rename('rel.txt', 'moved.txt')\n"
        "os.symlink('/etc/hostname', 'link')\n"
        "subprocess.run(['touch', 'child.txt'], check=True)\n"
        # Through a descriptor of the directory, as EnvDir.tree writes.
        "fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\n"
        "os.chdir('../inside'); open('ok.txt', 'w').write('x')\n"
        "os.mkdir('fd-dir', dir_fd=fd)\n"
        "os.link('ok.txt', 'fd-hard', dst_dir_fd=fd)\n"
        "os.symlink('ok.txt', 'fd-link', dir_fd=fd)\n"
        "os.close(os.open('fd-file', os.O_WRONLY | os.O_CREAT, dir_fd=fd))\n"
    )
    result, written = tracing.traced_writes(
        [sys.executable, "-c", code], inside, os.environ, tmp_path / "log"
    )
    assert result.returncode == 0, result.stderr
    bad = tracing.outside(written, [inside])
    expected = {"abs.txt", "rel.txt", "moved.txt", "link", "child.txt"}
    expected |= {"fd-dir", "fd-hard", "fd-link", "fd-file"}
    assert {Path(p).name for p in bad} == expected
    assert str(inside / "ok.txt") in written


def test_parse_joins_unfinished_calls() -> None:
    log = (
        '10 openat(AT_FDCWD</w>, "a", O_WRONLY|O_CREAT <unfinished ...>\n'
        "11 clone(child_stack=NULL) = 12\n"
        "10 <... openat resumed>, 0666) = 3</w/a>\n"
        '12 mkdir("d", 0777) = 0\n'
        '12 unlinkat(5</x>, "gone", 0) = 0\n'
        '10 openat(AT_FDCWD</w>, "r", O_RDONLY) = 4</w/r>\n'
        '10 unlink("/failed") = -1 ENOENT (No such file or directory)\n'
    )
    assert tracing.parse(log, "/w") == {"/w/a", "/w/d", "/x/gone"}


def test_parse_puts_a_hard_link_in_its_new_directory() -> None:
    log = '10 linkat(AT_FDCWD</w>, "/base/os.py", 5</env/lib>, "os.py", 0) = 0\n'
    assert tracing.parse(log, "/w") == {"/env/lib/os.py"}
