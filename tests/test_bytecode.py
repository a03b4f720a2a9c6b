"""bytecode: compile just-installed distributions (found through state.site), list the .pyc."""

from __future__ import annotations

import csv
import importlib.util
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from poorenv import _run
from poorenv.apply.bytecode import _COMPILE, compile_distributions


def test_the_named_distributions_are_compiled_and_their_bytecode_recorded(tmp_path: Path) -> None:
    tag = sys.implementation.cache_tag
    for name, version in (("Pkg_One", "1.0"), ("other", "2.0")):
        module = name.lower()
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text("x = 1\n", encoding="utf-8")
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "RECORD").write_text(
            f"{module}/__init__.py,sha256=abc,6\n{info.name}/RECORD,,\n", encoding="utf-8"
        )
    updates = compile_distributions(Path(sys.executable), [tmp_path], ["pkg-one"], tag)
    record = tmp_path / "Pkg_One-1.0.dist-info" / "RECORD"
    assert list(updates) == [record]  # "other" was not asked for
    pyc = f"pkg_one/__pycache__/__init__.{tag}.pyc"
    assert (tmp_path / pyc).is_file()
    assert not (tmp_path / "other" / "__pycache__").exists()
    assert list(csv.reader(updates[record].splitlines())) == [
        ["pkg_one/__init__.py", "sha256=abc", "6"],
        ["Pkg_One-1.0.dist-info/RECORD", "", ""],
        [pyc, "", ""],
    ]


def test_a_pyc_that_does_not_fit_is_reported_never_truncated(tmp_path: Path) -> None:
    """Under a file-size limit (or on a nearly full disk) importlib's own writer renames a
    truncated .pyc into place; the compile run writes all of it or nothing, and says so."""
    source = tmp_path / "big.py"
    source.write_text("DATA = [" + "0," * 20_000 + "]\n")
    small = tmp_path / "small.py"
    small.write_text("x = 1\n")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # the .pyc is ~100 kB

    done = subprocess.run(
        [sys.executable, "-c", _COMPILE], input=f"{source}\n{small}\n", capture_output=True,
        text=True, check=True, preexec_fn=limit,
    )  # fmt: skip
    pyc = importlib.util.cache_from_source(str(source))
    assert done.stdout.split() == ["27", pyc]
    assert not os.path.exists(pyc)
    written = Path(importlib.util.cache_from_source(str(small)))
    assert os.listdir(written.parent) == [written.name]


def test_compile_bytecode_raises_what_did_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mod.py").write_text("x = 1\n")
    info = tmp_path / "mod-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("mod.py,,\n")
    pyc = str(tmp_path / "__pycache__" / "mod.cpython-312.pyc")

    def spawn(argv: list[str], *rest: object) -> _run.Result:
        return _run.Result(tuple(argv), 0, f"28 {pyc}\n", "")

    monkeypatch.setattr(_run, "_spawn", spawn)
    with pytest.raises(OSError) as raised:
        compile_distributions(Path(sys.executable), [tmp_path], ["mod"], "cpython-312")
    assert (raised.value.errno, raised.value.filename) == (28, pyc)
