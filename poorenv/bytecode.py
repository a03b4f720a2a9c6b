"""Compile installed distributions' bytecode on every core, and record it as pip would.

pip compiles one file after another while it installs. poorenv installs with `--no-compile`
and then compiles the new distributions' modules with compileall in the env's own
interpreter, one process per core. The `.pyc` files are added to each distribution's RECORD
(without hash, as pip records them), so that uninstalling removes them too.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from poorenv import paths
from poorenv.state import normalize

log = logging.getLogger(__name__)

# Run by the env's interpreter; file names on stdin. (`compileall -j` parallelises directories
# only: a list of files given with -i is compiled one after another.)
_COMPILE = """
import compileall, os, sys
from concurrent.futures import ProcessPoolExecutor
def one(path):
    return compileall.compile_file(path, quiet=2, force=True)
files = [f for f in sys.stdin.read().splitlines() if f]
workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
if workers > 1 and len(files) > 50:
    with ProcessPoolExecutor(workers) as pool:
        ok = all(pool.map(one, files, chunksize=16))
else:
    ok = all(map(one, files))
sys.exit(0 if ok else 1)
"""


def compile_distributions(
    python: Path, site_dirs: Iterable[Path], names: Iterable[str], cache_tag: str
) -> None:
    """Compile the modules of the distributions `names` and add their bytecode to RECORD."""
    wanted = {normalize(n) for n in names}
    records: list[tuple[Path, Path]] = []  # (site dir, RECORD)
    for site in dict.fromkeys(site_dirs):
        try:
            entries = os.listdir(site)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info") and normalize(entry.split("-", 1)[0]) in wanted:
                record = site / entry / "RECORD"
                if record.is_file():
                    records.append((site, record))
    sources: dict[Path, list[tuple[Path, str]]] = {}  # RECORD -> [(source, its pyc row path)]
    for site, record in records:
        for row in _rows(record):
            if not row or not row[0].endswith(".py"):
                continue
            source = Path(os.path.normpath(site / row[0]))
            pyc = source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc"
            rel = os.path.relpath(pyc, site)
            sources.setdefault(record, []).append((source, rel))
    if not sources:
        return
    listing = "\n".join(str(s) for pairs in sources.values() for s, _ in pairs) + "\n"
    result = subprocess.run(
        [str(python), "-c", _COMPILE],
        input=listing, capture_output=True, text=True, check=False, env=paths.clean_environ(),
    )  # fmt: skip
    if result.returncode != 0:  # a module that does not compile: pip shrugs too
        log.debug("compileall said:\n%s", result.stdout + result.stderr)
    for site, record in records:
        _add_rows(site, record, sources.get(record, []))


def _rows(record: Path) -> list[list[str]]:
    with record.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _add_rows(site: Path, record: Path, pairs: list[tuple[Path, str]]) -> None:
    rows = _rows(record)
    listed = {row[0] for row in rows if row}
    added = False
    for _, rel in pairs:
        pyc = site / rel
        if rel in listed or not pyc.is_file():
            continue
        rows.append([rel, "", ""])  # as pip records bytecode: it is rewritten whenever stale
        listed.add(rel)
        added = True
    if not added:
        return
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    tmp = record.with_name(".RECORD.poorenv-tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    os.replace(tmp, record)
