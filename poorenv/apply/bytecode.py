"""Compile installed distributions' bytecode on every core, and record it as pip would.

pip compiles one file after another while it installs. poorenv installs with pip's
`--no-compile` (uv without UV_COMPILE_BYTECODE) and then compiles the new distributions' modules
with py_compile in the env's own interpreter, one process per core. The `.pyc` files are added
to each distribution's RECORD with their hash and size (as pip records the bytecode it
compiles), so that uninstalling removes them too and `check --verify` proves them. The new
RECORD texts go back through the installer to the applier, the only writer.

RECORD is not trusted: only modules that `Distribution.files` checked to lie inside the env
are compiled, and only when the `__pycache__` file they would write does too; a distribution
with a listed file leading outside is refused (`UnsafeDistribution`) before anything is
compiled. A RECORD gains only the `.pyc` files the compiler reports it wrote.

The bytecode is the same bytes wherever the same lock is synced on the same base: hash-based
(PEP 552), with a file name relative to the site dir (see _COMPILE).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from poorenv._run import run
from poorenv.paths import clean_environ
from poorenv.state.scheme import Scheme, Unsafe
from poorenv.state.site import Distribution, SitePackages, UnsafeDistribution, record_hash

# Run by the env's interpreter, with the site dirs as arguments; file names on stdin, each ended
# by a NUL (a file name may hold a line break, never a NUL). On stdout, one NUL-ended record per
# file: "ok PATH" when it was compiled, "full ERRNO PYC" when its .pyc could not be written for
# want of space (a full disk, a quota, a file-size limit: the caller fails the sync); a module
# that does not compile is skipped, as pip skips it. (`compileall -j` parallelises directories
# only: a list of files given with -i is compiled one after another.)
#
# The bytecode is reproducible (PEP 552): a checked hash-based .pyc holds the source's hash, not
# its mtime, and its file name (`dfile`) is the module's path below its site dir, not the env's
# absolute path (the import system replaces a loaded code object's file name by the real one, so
# tracebacks name the file where it is). Checked, not unchecked: Python still rereads and hashes
# the source on import, so an edited module is recompiled, never silently shadowed by stale
# bytecode; it is also the mode py_compile itself picks under SOURCE_DATE_EPOCH. The caller sets
# PYTHONHASHSEED=0: up to 3.10, marshal writes a frozenset constant (`x in {"a", "b"}`) in
# iteration order, which hash randomisation would vary. The workers are forked explicitly: from
# Python 3.14 the default start method is forkserver, whose workers cannot find functions that
# `-c` defined.
#
# importlib's _write_atomic ignores a short write (CPython up to 3.13.0 at least): on a nearly
# full disk or at a file-size limit it renames a truncated .pyc into place, and importing the
# module then fails with "EOFError: marshal data too short". It is replaced by one that writes
# everything or raises.
_COMPILE = """
import errno, importlib.util, multiprocessing, os, py_compile, sys
import importlib._bootstrap_external as bootstrap
from concurrent.futures import ProcessPoolExecutor
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
SITES = [os.path.join(site, "") for site in sys.argv[1:]]
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
def dfile(path):
    for site in SITES:
        if path.startswith(site):
            return path[len(site):]
    return os.path.basename(path)
def one(path):
    try:
        py_compile.compile(
            path, dfile=dfile(path), doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except py_compile.PyCompileError:
        return ""
    except OSError as exc:
        if exc.errno in FULL:
            return "full {} {}".format(exc.errno, importlib.util.cache_from_source(path))
        return ""
    return "ok " + path
files = [f for f in sys.stdin.read().split("\\0") if f]
workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
if workers > 1 and len(files) > 50 and "fork" in multiprocessing.get_all_start_methods():
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=fork) as pool:
        done = list(pool.map(one, files, chunksize=16))
else:
    done = list(map(one, files))
sys.stdout.write("".join(line + "\\0" for line in done if line))
"""


def compile_distributions(
    python: Path, scheme: Scheme, names: Iterable[str], cache_tag: str
) -> dict[Path, str]:
    """Compile the modules of the distributions `names`, just installed into the scheme's site
    dirs (read afresh, through `state.site`); returns the RECORD files to rewrite. The caller
    writes them. Raises UnsafeDistribution (nothing compiled) for a RECORD leading outside."""
    found = SitePackages.read(scheme.site_dirs).select(names)
    return compile_bytecode(python, found, cache_tag, scheme)


def compile_bytecode(
    python: Path, distributions: Iterable[Distribution], cache_tag: str, scheme: Scheme
) -> dict[Path, str]:
    """Compile the modules of `distributions`; returns the RECORD files to rewrite (path -> new
    text, with the bytecode listed). The caller writes them.

    Raises OSError (ENOSPC, EDQUOT or EFBIG, naming the .pyc) when bytecode could not be
    written for want of space: the env is then not what a sync promises.
    """
    found = _records(distributions, scheme, cache_tag)
    modules = {source: pyc for _, _, _, sources in found for source, pyc in sources.items()}
    if not modules:
        return {}
    listing = "".join(f"{source}\0" for source in modules)
    sites = list(dict.fromkeys(str(site) for site, _, _, _ in found))
    # check=False: a module that does not compile is no failure (pip shrugs too); _run logs it.
    result = run(
        [str(python), "-c", _COMPILE, *sites],
        what="compiling bytecode",
        input=listing,
        check=False,
        env=clean_environ(PYTHONHASHSEED="0"),
    )
    compiled = set()
    for line in result.stdout.split("\0"):
        kind, _, rest = line.partition(" ")
        if kind == "ok":
            compiled.add(rest)
        elif kind == "full":  # no space for bytecode: the sync has not finished
            number, _, pyc = rest.partition(" ")
            if number.isdigit():
                raise OSError(int(number), os.strerror(int(number)), pyc)
    updates: dict[Path, str] = {}
    for site, record, rows, sources in found:
        # Listed with hash and size, as pip records the bytecode it compiles: `check --verify`
        # then proves the bytecode too (it is the same bytes on every host).
        hashed = {}
        for source, pyc in sources.items():
            if source in compiled:
                digest = record_hash(site / pyc)
                if digest is not None:
                    hashed[pyc] = [pyc, *digest]
        if not hashed:
            continue
        new = [hashed.pop(row[0], row) if row else row for row in rows]  # listed before
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(new + list(hashed.values()))
        updates[record] = out.getvalue()
    return updates


def _records(
    distributions: Iterable[Distribution], scheme: Scheme, cache_tag: str
) -> list[tuple[Path, Path, list[list[str]], dict[str, str]]]:
    """(site dir, RECORD, its rows, {module: its bytecode's RECORD path}) of each distribution
    with a readable RECORD; every distribution's files checked first, modules and bytecode."""
    bounds = scheme.bounds()
    found = []
    for dist in distributions:
        if dist.legacy:
            continue  # installers write .dist-info; an egg-info has no RECORD to add to
        modules = [path for path in dist.files(scheme, bounds) if path.endswith(".py")]
        sources: dict[str, str] = {}
        for source in modules:
            pyc = _pyc_of(source, cache_tag)
            bad = bounds.check(pyc)
            if bad is not None:
                rel = os.path.relpath(pyc, dist.site)
                raise UnsafeDistribution(Unsafe(dist.label, rel, bad[1], bad[0], dist.name))
            sources[source] = os.path.relpath(pyc, dist.site)
        rows = dist.record_rows()
        if rows:
            found.append((dist.site, dist.record, rows, sources))
    return found


def _pyc_of(source: str, cache_tag: str) -> str:
    """A module's absolute path -> its bytecode's, as compileall writes it."""
    directory, name = os.path.split(source)
    return os.path.join(directory, "__pycache__", f"{name[:-3]}.{cache_tag}.pyc")
