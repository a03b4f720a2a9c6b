"""Compile installed distributions' bytecode on every core, and record it as pip would.

pip compiles one file after another while it installs. poorenv installs with `--no-compile`
and then compiles the new distributions' modules with compileall in the env's own
interpreter, one process per core. The `.pyc` files are added to each distribution's RECORD
(without hash, as pip records them), so that uninstalling removes them too. The new RECORD
texts go back through the pip installer to the applier, the only writer.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from poorenv._run import run
from poorenv.state.site import Distribution, SitePackages

# Run by the env's interpreter; file names on stdin. (`compileall -j` parallelises directories
# only: a list of files given with -i is compiled one after another.) A module that does not
# compile is skipped, as pip skips it; a .pyc that cannot be written for want of space (a full
# disk, a quota, a file-size limit) is printed as "errno path", and the caller fails the sync.
# importlib's _write_atomic ignores a short write (CPython up to 3.13.0 at least): on a nearly
# full disk or at a file-size limit it renames a truncated .pyc into place, and importing the
# module then fails with "EOFError: marshal data too short". It is replaced by one that writes
# everything or raises.
_COMPILE = """
import errno, importlib.util, os, py_compile, sys
import importlib._bootstrap_external as bootstrap
from concurrent.futures import ProcessPoolExecutor
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
def write_atomic(path, data, mode=0o666):
    tmp = "{}.{}".format(path, id(path))
    fd = os.open(tmp, os.O_EXCL | os.O_CREAT | os.O_WRONLY, mode & 0o666)
    try:
        with open(fd, "wb") as handle:  # buffered: a short write is retried, or raises
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
bootstrap._write_atomic = write_atomic
def one(path):
    try:
        py_compile.compile(path, doraise=True)
    except py_compile.PyCompileError:
        pass
    except OSError as exc:
        if exc.errno in FULL:
            return f"{exc.errno} {importlib.util.cache_from_source(path)}"
    return ""
files = [f for f in sys.stdin.read().splitlines() if f]
workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
if workers > 1 and len(files) > 50:
    with ProcessPoolExecutor(workers) as pool:
        failed = [line for line in pool.map(one, files, chunksize=16) if line]
else:
    failed = [line for line in map(one, files) if line]
print("\\n".join(failed))
"""


def compile_distributions(
    python: Path, site_dirs: Iterable[Path], names: Iterable[str], cache_tag: str
) -> dict[Path, str]:
    """Compile the modules of the distributions `names`, just installed into `site_dirs` (read
    afresh, through `state.site`); returns the RECORD files to rewrite. The caller writes them."""
    return compile_bytecode(python, SitePackages.read(site_dirs).select(names), cache_tag)


def compile_bytecode(
    python: Path, distributions: Iterable[Distribution], cache_tag: str
) -> dict[Path, str]:
    """Compile the modules of `distributions`; returns the RECORD files to rewrite (path -> new
    text, with the bytecode listed). The caller writes them.

    Raises OSError (ENOSPC, EDQUOT or EFBIG, naming the .pyc) when bytecode could not be
    written for want of space: the env is then not what a sync promises.
    """
    found = _records(distributions)
    modules = [
        _pyc_of(site, row[0], cache_tag)
        for site, _, rows in found
        for row in rows
        if row and row[0].endswith(".py")
    ]
    if not modules:
        return {}
    listing = "".join(f"{source}\n" for source, _ in modules)
    # check=False: a module that does not compile is no failure (pip shrugs too); _run logs it.
    done = run([str(python), "-c", _COMPILE], what="compiling bytecode", input=listing, check=False)
    for line in done.stdout.splitlines():
        number, _, path = line.partition(" ")
        if number.isdigit() and path:  # no space for bytecode: the sync has not finished
            raise OSError(int(number), os.strerror(int(number)), path)
    updates: dict[Path, str] = {}
    for site, record, rows in found:
        listed = {row[0] for row in rows if row}
        added = []
        for row in rows:
            if row and row[0].endswith(".py"):
                _, pyc = _pyc_of(site, row[0], cache_tag)
                if pyc not in listed and (site / pyc).is_file():
                    added.append([pyc, "", ""])  # as pip records bytecode: no hash
                    listed.add(pyc)
        if added:
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows + added)
            updates[record] = out.getvalue()
    return updates


def _records(distributions: Iterable[Distribution]) -> list[tuple[Path, Path, list[list[str]]]]:
    """(site dir, RECORD, its rows) of each distribution that has a readable RECORD."""
    found = [(dist.site, dist.record, dist.record_rows()) for dist in distributions]
    return [(site, record, rows) for site, record, rows in found if rows]


def _pyc_of(site: Path, module: str, cache_tag: str) -> tuple[str, str]:
    """A RECORD path of a module -> (its absolute path, its bytecode's RECORD path)."""
    source = os.path.normpath(site / module)
    directory, name = os.path.split(source)
    pyc = os.path.join(directory, "__pycache__", f"{name[:-3]}.{cache_tag}.pyc")
    return source, os.path.relpath(pyc, site)
