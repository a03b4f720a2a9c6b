"""The last resort (cli/crash.py): a bug is one `internal error` line and a saved report."""

from __future__ import annotations

import argparse
import re
import stat
from pathlib import Path

import pytest

from poorenv import paths
from poorenv.cli import commands
from poorenv.cli.main import main


def boom(args: argparse.Namespace) -> int:
    raise RuntimeError("boom at https://user:secret@example.invalid/simple\nsecond line")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setattr(paths, "cache_dir", lambda: where)
    monkeypatch.setattr(commands, "cmd_plan", boom)
    return where


def test_a_bug_is_one_line_and_a_private_report(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-v"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0] == "error: internal error: RuntimeError: boom at https://***@example.invalid/simple"
    )
    assert len(err) == 2
    found = re.fullmatch(r"hint: this is a bug in poorenv; the report is in (\S+) \(.*", err[1])
    assert found, err[1]
    report = Path(found.group(1))
    assert report.parent == cache / "reports"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = report.read_text()
    assert "argv: ['poorenv', 'plan', '-v']" in text
    assert "Traceback (most recent call last):" in text
    assert 'raise RuntimeError("boom at' in text
    assert "secret" not in text


def test_without_a_cache_the_report_goes_to_the_temp_dir(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    cache.parent.mkdir(exist_ok=True)
    cache.write_text("a file where the cache should be")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert f"the report is in {tmp_path}/poorenv-crash-" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback_instead(cache: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "plan"])
    assert not cache.exists()
