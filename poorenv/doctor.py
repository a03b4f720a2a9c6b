"""`poorenv doctor`: audit an env for what `check` does not look at, and say how to fix it.

`check` compares the env with the plan (cheap: names, links, versions). The doctor looks deeper
and reads only: links that dangle or leave the env and the base (a directory link or a link in
site-packages may not even lead into the base), the interpreter against the base, what the
env's python really puts on sys.path (run as the user runs it, and as a server runs it: the
base executable with PYTHONHOME=ENV), `.pth` files that run code and that no distribution
installed, installed files against their RECORD hashes, RECORD entries that leave the env, and
distributions against the lock.
"""

from __future__ import annotations

import filecmp
import json
import os
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from poorenv._run import ToolError, run
from poorenv.discover.interpreter import Interpreter
from poorenv.lock.lockfile import Lock
from poorenv.ownership import is_env
from poorenv.plan.layout import Layout
from poorenv.state.record import built_elsewhere
from poorenv.state.scheme import Bounds, Scheme, Unsafe
from poorenv.state.site import Distribution, SitePackages
from poorenv.state.verify import verify_distribution

SYNC = "run `poorenv sync`"
REBUILD = "run `poorenv remove && poorenv sync` to reinstall from the lock"
UNSEAL = (
    "poorenv refuses to remove or upgrade it (pip or uv would delete that path);"
    " run `poorenv remove && poorenv sync` (remove follows no RECORD and no link), and drop"
    " the package from poorenv.toml if its own wheel lists the path"
)

_PATH_PROBE = (
    "import json, os, site, sys; print(json.dumps({'prefix': sys.prefix, 'path': sys.path,"
    " 'user_site': site.getusersitepackages(), 'user_site_enabled': bool(site.ENABLE_USER_SITE),"
    " 'pythonpath': os.environ.get('PYTHONPATH', '')}))"
)


@dataclass(frozen=True)
class Problem:
    kind: str  # dangling-link, link-outside, interpreter, sys-path, user-site, modified-file, ...
    message: str
    fix: str
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    env: Path
    problems: tuple[Problem, ...]
    checked: tuple[str, ...]  # what was looked at

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "env": str(self.env),
            "healthy": self.healthy,
            "checked": list(self.checked),
            "problems": [p.to_json() for p in self.problems],
        }

    def render(self) -> str:
        if self.healthy:
            return f"{self.env}: healthy ({', '.join(self.checked)} checked)"
        lines = [f"{self.env}: {len(self.problems)} problem(s)"]
        for p in self.problems:
            lines.append(f"  {p.kind}: {p.message}")
            lines.append(f"    fix: {p.fix}")
        return "\n".join(lines)


def examine(
    layout: Layout, base: Interpreter, lock: Lock | None, site: SitePackages | None = None
) -> Report:
    """Audit the env of `layout`; `site` is a snapshot of its site-packages, read when None."""
    env = layout.env
    if not env.is_dir() or not is_env(env):
        problem = Problem("no-env", f"{env} is not a poorenv env (no marker)", SYNC, str(env))
        return Report(env, (problem,), ())
    problems: list[Problem] = []
    bounds = layout.scheme.bounds()
    problems += _links(layout, base, bounds)
    problems += _location(env)
    problems += _interpreter(layout, base)
    if site is None:
        site = SitePackages.read(layout.site_dirs)
    problems += _sys_path(layout, base, _editable_pths(site))
    problems += _pth_code(site)
    problems += _records(site, layout.scheme, bounds)
    if lock is not None:  # the resolution for the env's Python, the packages its markers want
        from poorenv.plan.planner import applicable

        chosen = lock.select(base)
        lock = applicable(chosen, base) if chosen is not None else None
    problems += _distributions(site, lock)
    checked = (
        "links", "interpreter", "sys.path", ".pth files", "RECORD hashes and paths",
        "distributions",
    )  # fmt: skip
    return Report(env, tuple(problems), checked)


def _location(env: Path) -> Iterator[Problem]:
    """A moved or copied env not yet repaired: its scripts name the interpreter at the old path."""
    built = built_elsewhere(env)
    if built is not None:
        message = f"env built at {built.path}, now at {os.path.realpath(env)}"
        yield Problem("moved", f"{message}: its scripts name the interpreter there", SYNC, str(env))


# --- links ---------------------------------------------------------------------------------------


def _links(layout: Layout, base: Interpreter, bounds: Bounds) -> Iterator[Problem]:
    env = str(layout.env)
    allowed = [env, *{base.stdlib, base.platstdlib, base.include, base.platinclude}]
    if base.libdir:
        allowed.append(base.libdir)
    site = {str(p) for p in layout.site_dirs}
    for directory, dirs, files in os.walk(env):
        if directory in site:
            dirs[:] = []  # links in site-packages: below
            continue
        for name in (*dirs, *files):
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            target = os.path.normpath(os.path.join(directory, os.readlink(path)))
            if not os.path.exists(path):
                yield Problem("dangling-link", f"{path} -> {target}: target missing", SYNC, path)
            elif os.path.isdir(path) and not bounds.inside(os.path.realpath(path)):
                message = f"{path} -> {target}: a directory link leading outside the env"
                yield Problem("link-outside", message + _THROUGH, SYNC, path)
            elif not any(target == root or target.startswith(root + os.sep) for root in allowed):
                yield Problem(
                    "link-outside", f"{path} -> {target}: outside the env and the base", SYNC, path
                )
    for link, real in bounds.links_out(layout.site_dirs):
        message = f"{link} -> {real}: a link in site-packages leading outside the env"
        fix = f"delete the link {link}, or run `poorenv remove && poorenv sync`"
        yield Problem("link-outside", message + _THROUGH, fix, link)


_THROUGH = " (an install, uninstall or compile would reach through it)"


# --- interpreter ---------------------------------------------------------------------------------


def _interpreter(layout: Layout, base: Interpreter) -> Iterator[Problem]:
    exe = layout.exe
    try:
        mine, theirs = exe.stat(), os.stat(base.executable)
    except OSError as exc:
        yield Problem("interpreter", f"{exe}: {exc.strerror}", SYNC, str(exe))
        return
    same = (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) or filecmp.cmp(
        exe, base.executable, shallow=False
    )
    if not same:
        yield Problem(
            "interpreter",
            f"{exe} differs from the base executable {base.executable} (replaced or upgraded)",
            SYNC,
            str(exe),
        )


# --- sys.path ------------------------------------------------------------------------------------


def _editable_pths(site: SitePackages) -> set[str]:
    """The .pth files that editable installs (the project itself) list: the directories they
    put on sys.path are the point of an editable install."""
    editable = site.editables()
    return {
        os.path.normpath(path)
        for dist in site.select(editable)
        for _, path in dist.listed()[1]
        if path.endswith(".pth")
    }


def _sys_path(
    layout: Layout, base: Interpreter, editable: Collection[str] = ()
) -> Iterator[Problem]:
    env = str(layout.env)
    runs = [
        (f"{layout.exe}", [str(layout.exe)], dict(os.environ)),
        (
            f"PYTHONHOME={env} {base.executable}",
            [base.executable],
            {**os.environ, "PYTHONHOME": env},
        ),
    ]
    seen: set[str] = set()
    for how, argv, environ in runs:
        facts = _probe_path(argv, environ)
        if facts is None:
            yield Problem("sys-path", f"{how} does not start", SYNC)
            continue
        if facts["prefix"] != env:
            yield Problem("sys-path", f"{how}: sys.prefix is {facts['prefix']}, not the env", SYNC)
        added = _pth_entries(facts["path"])
        for entry in facts["path"]:
            if not entry or entry == env or entry.startswith(env + os.sep) or entry in seen:
                continue
            if entry in added and os.path.normpath(added[entry]) in editable:
                continue
            seen.add(entry)
            why, fix = _why_on_path(entry, facts, added)
            yield Problem("sys-path", f"{how}: {entry} is on sys.path ({why})", fix, entry)
        if facts["user_site_enabled"] and facts["user_site"] in facts["path"]:
            for pth in _pth_files(facts["user_site"]):
                yield Problem(
                    "user-site",
                    f"{how}: {pth} in the user site runs at every start",
                    f"delete {pth}, or set PYTHONNOUSERSITE=1 where PYTHONHOME is used",
                    pth,
                )


def _why_on_path(entry: str, facts: dict[str, Any], added: dict[str, str]) -> tuple[str, str]:
    """Where a sys.path entry from outside the env comes from, and how to get rid of it."""
    pythonpath = [p for p in facts["pythonpath"].split(os.pathsep) if p]
    if entry in pythonpath or os.path.abspath(entry) in pythonpath:
        return "from PYTHONPATH", "unset PYTHONPATH where the env is used"
    if entry == facts["user_site"]:
        return "the user site", (
            "set PYTHONNOUSERSITE=1 where PYTHONHOME is used, or empty that directory"
        )
    if entry in added:
        return f"added by {added[entry]}", f"delete {added[entry]}"
    if "site-packages" in entry or "dist-packages" in entry:
        return "another installation's packages", SYNC
    return "outside the env", SYNC


def _probe_path(argv: list[str], environ: dict[str, str]) -> dict[str, Any] | None:
    try:
        out = run([*argv, "-c", _PATH_PROBE], what="sys.path probe", env=environ, timeout=60)
        data: dict[str, Any] = json.loads(out.stdout)
    except (ToolError, ValueError):
        return None
    return data


def _pth_files(directory: str) -> list[str]:
    try:
        return sorted(
            os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".pth")
        )
    except OSError:
        return []


def _pth_entries(path: list[str]) -> dict[str, str]:
    """sys.path entries that a .pth file in a directory on sys.path adds -> that .pth file."""
    added: dict[str, str] = {}
    for directory in path:
        for pth in _pth_files(directory):
            for raw in _read_lines(pth):
                line = raw.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    added.setdefault(os.path.normpath(os.path.join(directory, line)), pth)
    return added


# --- installed files -----------------------------------------------------------------------------


def _records(site: SitePackages, scheme: Scheme, bounds: Bounds | None = None) -> Iterator[Problem]:
    bounds = bounds or scheme.bounds()
    for dist in site:
        problems = dist.problems(scheme, bounds)
        yield from (_unsafe(dist, problem) for problem in problems)
        if not dist.legacy:
            outside = {p.path for p in problems}
            yield from _check_record(dist, outside)


def _unsafe(dist: Distribution, problem: Unsafe) -> Problem:
    if not problem.sealing:
        fix = "poorenv will not remove it; `poorenv remove && poorenv sync` rebuilds the env"
        return Problem("unlisted-files", problem.describe(), fix, str(dist.dist_info))
    return Problem("record-outside", problem.describe(), UNSEAL, problem.where)


def _check_record(dist: Distribution, skip: Collection[str] = ()) -> Iterator[Problem]:
    for mismatch in verify_distribution(dist, skip):
        if mismatch.kind == "missing":
            yield Problem("missing-file", mismatch.describe(), REBUILD, mismatch.path)
        elif mismatch.kind == "modified":
            yield Problem("modified-file", mismatch.describe(), REBUILD, mismatch.path)


def _pth_code(site: SitePackages) -> Iterator[Problem]:
    """`.pth` files in the site dirs that run code at every start (an `import` line) and that
    no installed distribution lists: planted, not installed. (A listed one is checked against
    its RECORD hash like any module of its package.)"""
    owned: set[str] = set()
    for dist in site:
        owned.update(os.path.normpath(path) for _, path in dist.listed()[1])
    for directory in site.dirs:
        for pth in _pth_files(str(directory)):
            if os.path.normpath(pth) in owned:
                continue
            code = [line for line in _read_lines(pth) if line.startswith(("import ", "import\t"))]
            if code:
                shown = code[0] if len(code[0]) <= 60 else code[0][:57] + "..."
                yield Problem(
                    "pth-code",
                    f"{pth} runs code at every start of the env's python: {shown}",
                    f"delete {pth}: no installed distribution lists it",
                    pth,
                )


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


# --- distributions -------------------------------------------------------------------------------


def _distributions(site: SitePackages, lock: Lock | None) -> Iterator[Problem]:
    """What the planner would install or remove, as problems (one comparison, the planner's)."""
    from poorenv.plan.actions import InstallPackages, RemovePackages
    from poorenv.plan.planner import package_actions

    installed = site.versions()
    for path in site.broken:
        yield Problem("broken-install", f"{path}: an interrupted install", SYNC, str(path))
    if lock is None:
        yield Problem("no-lock", "no poorenv.lock to compare the distributions with", SYNC)
        return
    for action in package_actions(lock, installed, {}):
        if isinstance(action, RemovePackages):
            for name in action.names:
                message = f"{name} {installed[name]} is not in the lock"
                yield Problem("extra-distribution", message, SYNC)
        elif isinstance(action, InstallPackages):
            for change in action.changes:
                if change.old is None:
                    message = f"{change.name} {change.new} is not installed"
                    yield Problem("missing-distribution", message, SYNC)
                else:
                    message = f"{change.name} {change.old} is installed, the lock says {change.new}"
                    yield Problem("version", message, SYNC)
