"""What an env directory must contain for a given base interpreter: a pure description.

Nothing here touches the disk. See shared/design/layout.md for why each piece is as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from poorenv.discover.interpreter import Interpreter
from poorenv.paths import MARKER, STATE, STATE_DIR, UNFINISHED
from poorenv.state.scheme import Scheme

__all__ = [
    "MARKER",
    "STATE",
    "STATE_DIR",
    "UNFINISHED",
    "Layout",
    "Mirror",
    "build_layout",
    "optimized_bytecode",
    "state_dir",
]
PYVENV_CFG_TEXT = "include-system-site-packages = false\n"

# Left out of the stdlib mirror (top level only): packages of the base, the base's
# "externally managed" marker, and the test suite.
MIRROR_EXCLUDES = frozenset({"site-packages", "dist-packages", "EXTERNALLY-MANAGED", "test"})
BYTECODE_DIR = "__pycache__"


def optimized_bytecode(name: str) -> bool:
    """Bytecode for `python -O`/`-OO` (`X.cpython-312.opt-1.pyc`): left out of the mirror.
    Two thirds of the base's bytecode, rarely read; the env's interpreter writes its own in
    the env's `__pycache__` when it is."""
    return ".opt-" in name and name.endswith(".pyc")


@dataclass(frozen=True)
class Mirror:
    """A base directory reproduced in the env as real directories and per-file symlinks."""

    name: str  # "stdlib", "include", ...
    source: Path
    dest: Path
    excludes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Layout:
    """The env's shape for one base interpreter."""

    env: Path
    exe: Path  # ENV/bin/python3.12: a hard link or copy of the base executable
    exe_links: tuple[tuple[Path, str], ...]  # (ENV/bin/python, "python3.12"), ...
    mirrors: tuple[Mirror, ...]
    library_links: tuple[tuple[Path, str], ...]  # libpython, when the base finds it via $ORIGIN
    site_dirs: tuple[Path, ...]  # purelib, platlib: created empty
    scripts_link: tuple[Path, str] | None  # Debian: ENV/local/bin -> ../bin
    pyvenv_cfg: Path
    prompt: str  # the name activation shows
    scheme: Scheme  # where installers put files, and where a package's files may lie

    @property
    def sealed_dirs(self) -> tuple[Path, ...]:
        """The env's own directories that must be real directories inside it (each with its
        parents): bin, lib, lib/pythonX.Y, site-packages, include... A link there that leads
        outside would take the installer's writes and deletes with it."""
        tops = (self.exe.parent, *self.site_dirs, *(m.dest for m in self.mirrors))
        found: dict[Path, None] = {}
        for top in (*tops, *self.scheme.scripts):
            if top == self.env or self.env not in top.parents:
                continue
            for part in reversed(top.relative_to(self.env).parents):
                if part != Path():
                    found[self.env / part] = None
            found[top] = None
        return tuple(found)

    @property
    def symlinks(self) -> tuple[tuple[Path, str], ...]:
        extra = (self.scripts_link,) if self.scripts_link else ()
        return (*self.exe_links, *self.library_links, *extra)


def state_dir(env: Path) -> Path:
    return env / STATE_DIR


def build_layout(
    env: Path, base: Interpreter, library_files: tuple[str, ...] = (), prompt: str | None = None
) -> Layout:
    """The layout of `env` built on `base`. `library_files` are the base's libpython files;
    `prompt` is the name its activation shows (default: the env directory's)."""
    paths = base.env_paths(env)
    bin_dir = env / "bin"
    exe = bin_dir / base.exe_name
    exe_links = tuple((bin_dir / name, base.exe_name) for name in ("python", "python3"))

    mirrors = [Mirror("stdlib", Path(base.stdlib), Path(paths["stdlib"]), MIRROR_EXCLUDES)]
    if base.platstdlib != base.stdlib:
        mirrors.append(Mirror("platstdlib", Path(base.platstdlib), Path(paths["platstdlib"])))
    mirrors.append(Mirror("include", Path(base.include), Path(paths["include"])))
    if base.platinclude != base.include:
        mirrors.append(Mirror("platinclude", Path(base.platinclude), Path(paths["platinclude"])))

    library_links: tuple[tuple[Path, str], ...] = ()
    if base.shared and base.origin_rpath:
        library_links = tuple(
            (env / "lib" / name, str(Path(base.libdir) / name)) for name in library_files
        )

    site_dirs = tuple(dict.fromkeys(Path(paths[key]) for key in ("purelib", "platlib")))
    scripts = Path(paths["scripts"])
    scripts_link = None
    if scripts != bin_dir:
        scripts_link = (scripts, os.path.relpath(bin_dir, scripts.parent))
    return Layout(
        env=env,
        exe=exe,
        exe_links=exe_links,
        mirrors=tuple(mirrors),
        library_links=library_links,
        site_dirs=site_dirs,
        scripts_link=scripts_link,
        pyvenv_cfg=env / "pyvenv.cfg",
        prompt=env.name if prompt is None else prompt,
        scheme=Scheme.of(env, paths),
    )
