"""bytecode: compile just-installed distributions (found through state.site), list the .pyc."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from poorenv.apply.bytecode import compile_distributions
from poorenv.state.scheme import Scheme


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
    scheme = Scheme.of(tmp_path, {"purelib": str(tmp_path)})
    updates = compile_distributions(Path(sys.executable), scheme, ["pkg-one"], tag)
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
