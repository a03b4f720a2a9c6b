"""Re-record the interpreter fixtures of tests/test_discover.py from this machine.

Run from the repository root, with poorenv importable (the project's venv):

    .venv/bin/python tests/data/interpreters/record.py

It runs poorenv's probe (poorenv/_data/probe.py, with the arguments and environment
`interpreter._run_probe` gives it) once in each interpreter -- pyenv's 3.7 and newer in
$PYENV_ROOT/versions (default ~/.pyenv), Debian's /usr/bin/python3.11, and a venv made from
pyenv's 3.12 -- and writes <name>.json next to this file:

- "probe": the probe's output, as is;
- "files": what discovery sees of it on disk: `python3` and `python3.N` in its bin dir;
- "pyenv_root": for pyenv's versions, the root they were found under.

An interpreter this machine lacks keeps its old fixture. Commit the changed files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from poorenv import paths
from poorenv.discover import places
from poorenv.discover.interpreter import PROBE

HERE = Path(__file__).parent
DEBIAN = Path("/usr/bin/python3.11")
_NAME = re.compile(r"^python3(\.\d+)?$")


def probe_output(executable: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(executable), "-I", "-S", str(PROBE)],
        capture_output=True, text=True, timeout=60, check=True, env=paths.clean_environ(),
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def files_of(executable: Path) -> list[str]:
    bin_dir = executable.parent
    return sorted(str(p) for p in bin_dir.iterdir() if _NAME.match(p.name) and p.exists())


def record(name: str, executable: Path, **extra: str) -> None:
    fixture: dict[str, Any] = {"name": name, **extra, "files": files_of(executable)}
    fixture["probe"] = probe_output(executable)
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(fixture, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{path}: {fixture['probe']['version']} ({executable})")


def pyenv_versions() -> list[tuple[tuple[int, ...], Path]]:
    versions = Path(places.pyenv_versions())
    found = []
    for entry in versions.iterdir() if versions.is_dir() else ():
        if re.match(r"^\d+\.\d+\.\d+$", entry.name) and (entry / "bin" / "python3").exists():
            version = tuple(int(p) for p in entry.name.split("."))
            if version >= (3, 7):
                found.append((version, entry))
    return sorted(found)


def main() -> int:
    root = places.pyenv_root()
    versions = pyenv_versions()
    for version, entry in versions:
        exe = entry / "bin" / f"python{version[0]}.{version[1]}"
        record(f"pyenv-{entry.name}", exe, pyenv_root=root)
    if DEBIAN.exists():
        record("debian-3.11", DEBIAN)
    base_312 = [entry for version, entry in versions if version[:2] == (3, 12)]
    if base_312:
        # A fixed place, so that re-recording changes nothing when nothing changed.
        where = Path(tempfile.gettempdir()) / "poorenv-record" / "venv"
        shutil.rmtree(where.parent, ignore_errors=True)
        subprocess.run(
            [str(base_312[-1] / "bin" / "python3.12"), "-m", "venv", "--without-pip", str(where)],
            check=True,
        )  # fmt: skip
        try:
            record(f"venv-{base_312[-1].name}", where / "bin" / "python3.12")
        finally:
            shutil.rmtree(where.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
