"""Compile installed distributions' bytecode on every core, and record it as pip would.

pip compiles one file after another while it installs. poorenv installs with `--no-compile`
and then compiles the new distributions' modules with compileall in the env's own
interpreter, one process per core. The `.pyc` files are added to each distribution's RECORD
(without hash, as pip records them), so that uninstalling removes them too. The new RECORD
texts go back through the pip installer to the applier, the only writer.

RECORD is not trusted: only modules that `Distribution.files` checked to lie inside the env
are compiled, and only when the `__pycache__` file they would write does too; a distribution
with a listed file leading outside is refused (`UnsafeDistribution`) before anything is
compiled. A RECORD gains only the `.pyc` files the compiler reports it wrote.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from poorenv._run import run
from poorenv.state.scheme import Scheme, Unsafe
from poorenv.state.site import Distribution, SitePackages, UnsafeDistribution

# Run by the env's interpreter; file names on stdin, the ones compiled on stdout, each ended by
# a NUL (a file name may hold a line break, never a NUL).
# (`compileall -j` parallelises directories only: a list of files given with -i is compiled one
# after another.)
_COMPILE = """
import compileall, os, sys
from concurrent.futures import ProcessPoolExecutor
def one(path):
    return compileall.compile_file(path, quiet=2, force=True)
files = [f for f in sys.stdin.read().split("\\0") if f]
workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
if workers > 1 and len(files) > 50:
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(one, files, chunksize=16))
else:
    done = list(map(one, files))
sys.stdout.write("".join(f + "\\0" for f, ok in zip(files, done) if ok))
sys.exit(0 if all(done) else 1)
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
    text, with the bytecode listed). The caller writes them."""
    found = _records(distributions, scheme, cache_tag)
    modules = {source: pyc for _, _, _, sources in found for source, pyc in sources.items()}
    if not modules:
        return {}
    listing = "".join(f"{source}\0" for source in modules)
    # check=False: a module that does not compile is no failure (pip shrugs too); _run logs it.
    result = run(
        [str(python), "-c", _COMPILE], what="compiling bytecode", input=listing, check=False
    )
    compiled = set(result.stdout.split("\0"))
    updates: dict[Path, str] = {}
    for site, record, rows, sources in found:
        listed = {row[0] for row in rows if row}
        added = []
        for source, pyc in sources.items():
            if source in compiled and pyc not in listed and (site / pyc).is_file():
                added.append([pyc, "", ""])  # as pip records bytecode: no hash
                listed.add(pyc)
        if added:
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows + added)
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
