"""Seeding pip, setuptools and wheel from an installed image in poorenv's cache.

pip installing its own wheel (and setuptools') into a new env spends a second unpacking,
compiling and recording ~1,500 files that are the same in every env of that Python. As
virtualenv does from its app-data, the seed step keeps each seed wheel unpacked and compiled
once per X.Y (an image: `seed/<impl>-<X.Y>/images-2/<name>-<version>-<sha256>`), and places it
into a new env through the `EnvDir`: hard links of the image's read-only files where the
file modes are enforced (an edit in the env is refused, so neither the cache nor another env
can change), copies as root (whom no mode stops; bytecode, which Python only ever replaces by
rename, stays linked) or across filesystems. The console scripts,
INSTALLER, REQUESTED and RECORD are written per env, as pip writes them (the bytecode listed
with its hash and size, as apply/bytecode.py lists what it compiles).

Only what the pip installer would install from scratch is seeded: a locked pin without
markers, of a pure wheel (no `.data`), whose wheel matches one of the lock's sha256 hashes
(found in the seed cache, else fetched once with `pip download --require-hashes`). Anything
else, or any failure while making an image, is left to the installer.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv import cache, paths
from poorenv._run import ToolError, run
from poorenv.apply import pipwheel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from poorenv.discover.interpreter import Interpreter
    from poorenv.envdir import EnvDir

log = logging.getLogger(__name__)

SEEDABLE = frozenset({"pip", "setuptools", "wheel"})
IMAGE_FORMAT = 2  # 2: checked-hash bytecode, listed with its hash
MANIFEST = "manifest.json"  # in an image: written last, before the rename that publishes it
# Run by the env's interpreter on an image's tree: the bytecode as apply/bytecode.py makes it,
# the same bytes wherever it is made (PEP 552 checked hash, not the source's mtime; the file name
# below the site dir; PYTHONHASHSEED=0 set by the caller), on every core (fork: `-c` defines the
# function). A module that does not compile is skipped, as pip skips it.
_COMPILE = """
import multiprocessing, os, py_compile, sys
from concurrent.futures import ProcessPoolExecutor
root = sys.argv[1]
def one(path):
    try:
        py_compile.compile(path, dfile=os.path.relpath(path, root), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except (py_compile.PyCompileError, OSError):
        pass
files = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names if f.endswith(".py")]
workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
context = multiprocessing.get_context("fork")
with ProcessPoolExecutor(workers, mp_context=context) as pool:
    list(pool.map(one, files, chunksize=32))
"""
_LINE = re.compile(r"^([a-z0-9][a-z0-9._-]*)==([^\s;\\]+) \\")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Image:
    """A seed wheel unpacked and compiled in the cache."""

    root: Path  # the image directory; its files are below root / "tree"
    name: str
    version: str
    dist_info: str  # "pip-24.0.dist-info"
    rows: tuple[tuple[str, str, str], ...]  # RECORD rows of the tree's files (bytecode: no hash)
    scripts: tuple[tuple[str, str], ...]  # console_scripts: (name, "module:attr")

    @property
    def tops(self) -> frozenset[str]:
        return frozenset(row[0].split("/", 1)[0] for row in self.rows)


def seedable(line: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(name, version, sha256 hex digests) of a hash-pinned line the seed step may place."""
    match = _LINE.match(line)
    if match is None or match.group(1) not in SEEDABLE:
        return None
    digests = tuple(_HASH.findall(line))
    return (match.group(1), match.group(2), digests) if digests else None


def image_dir(base: Interpreter) -> Path:
    """Where the images for `base`'s X.Y are (the name changes with what an image holds)."""
    return pipwheel.wheel_dir(base) / f"images-{IMAGE_FORMAT}"


def find_image(base: Interpreter, name: str, version: str, digests: Sequence[str]) -> Image | None:
    """The cached image of `name`==`version` from a wheel with one of `digests`, if usable."""
    for digest in digests:
        root = image_dir(base) / f"{name}-{version}-{digest}"
        if not (root / MANIFEST).is_file() or not cache.trusted(root, tree=True):
            continue
        try:
            data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
            return Image(
                root, name, version, str(data["dist_info"]),
                tuple((str(a), str(b), str(c)) for a, b, c in data["rows"]),
                tuple((str(a), str(b)) for a, b in data["scripts"]),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def image_for(
    base: Interpreter, python: Path, line: str, index_env: Mapping[str, str]
) -> Image | None:
    """The image for the pin `line`, made now when missing; None when it cannot be."""
    pin = seedable(line)
    if pin is None:
        return None
    name, version, digests = pin
    found = find_image(base, name, version, digests)
    if found is not None:
        return found
    try:
        wheel, digest = _wheel(base, name, version, digests, line, index_env)
        if wheel is None:
            return None
        _build(python, wheel, image_dir(base) / f"{name}-{version}-{digest}", name, version)
    except (OSError, ValueError, KeyError, ToolError, configparser.Error) as exc:
        log.debug("seed image of %s %s: %s", name, version, exc)
        return None
    except Exception as exc:  # zipfile.BadZipFile, zipfile.LargeZipFile: left to the installer
        if type(exc).__module__ != "zipfile":
            raise
        log.debug("seed image of %s %s: %s", name, version, exc)
        return None
    return find_image(base, name, version, digests)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _wheel(
    base: Interpreter,
    name: str,
    version: str,
    digests: Sequence[str],
    line: str,
    index_env: Mapping[str, str],
) -> tuple[Path | None, str]:
    """A wheel of the pin in the seed cache whose sha256 the lock accepts; fetched when none."""
    directory = pipwheel.wheel_dir(base)
    for attempt in range(2):
        for candidate in sorted(directory.glob(f"{name}-{version}-*.whl")):
            digest = _sha256(candidate)
            if digest in digests and cache.trusted(candidate):
                return candidate, digest
        if attempt:
            break
        with cache.private():
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".download-", dir=directory) as tmp:
                listing = Path(tmp) / "seed.txt"
                listing.write_text(line + "\n", encoding="utf-8")
                cmd = [
                    sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                    "--no-deps", "--only-binary=:all:", "--require-hashes", "--python-version",
                    base.xy, "--dest", os.path.join(tmp, "out"), "-r", str(listing),
                ]  # fmt: skip
                # cwd: `-m pip` puts the working directory first on sys.path (a planted pip/)
                result = run(cmd, what=f"fetching {name}", env={**os.environ, **index_env},
                             cwd=tmp, check=False)  # fmt: skip
                out = os.path.join(tmp, "out")
                if result.returncode != 0 or not os.path.isdir(out):
                    return None, ""
                for wheel in os.listdir(out):
                    if wheel.endswith(".whl"):
                        os.replace(os.path.join(out, wheel), directory / wheel)
    return None, ""


def _build(python: Path, wheel: Path, target: Path, name: str, version: str) -> None:
    """Unpack and compile `wheel` into the image `target` (atomically, by rename)."""
    import zipfile

    with cache.private():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".image-", dir=target.parent))
        try:
            tree = tmp / "tree"
            with zipfile.ZipFile(wheel) as archive:
                members = archive.namelist()
                infos = {m.split("/", 1)[0] for m in members if "/" in m}
                dist_info = [d for d in infos if d.endswith(".dist-info")]
                if len(dist_info) != 1 or any(d.endswith(".data") for d in infos):
                    raise ValueError(f"{wheel.name}: not a pure wheel")
                wheel_meta = archive.read(f"{dist_info[0]}/WHEEL").decode("utf-8")
                if "root-is-purelib: true" not in wheel_meta.lower():
                    raise ValueError(f"{wheel.name}: not a pure wheel")
                archive.extractall(tree)  # member names are sanitised by zipfile
                entry_points = f"{dist_info[0]}/entry_points.txt"
                points = archive.read(entry_points).decode() if entry_points in members else ""
            record = f"{dist_info[0]}/RECORD"
            os.unlink(tree / record)  # each env gets its own
            run([str(python), "-c", _COMPILE, str(tree)], what=f"compiling {name}",
                env=paths.clean_environ(PYTHONHASHSEED="0"), check=False)  # fmt: skip
            rows = []
            for directory, _dirs, files in os.walk(tree):
                for file in files:
                    path = os.path.join(directory, file)
                    rel = os.path.relpath(path, tree)
                    data = Path(path).read_bytes()
                    rows.append((rel, record_hash(data), str(len(data))))
                    os.chmod(path, 0o444)  # hard-linked into envs: never to be edited
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(points)
            section = "console_scripts"
            scripts = parser.items(section) if parser.has_section(section) else []
            manifest = {"dist_info": dist_info[0], "rows": sorted(rows), "scripts": scripts}
            (tmp / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / MANIFEST).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def console_scripts(scripts: Sequence[tuple[str, str]], xy: str) -> list[tuple[str, str]]:
    """The scripts pip makes of `console_scripts`: pip and easy_install get the names of the
    env's version (pip, pip3, pipX.Y), as pip itself names them, instead of the wheel's."""
    out: dict[str, str] = {}
    for name, spec in scripts:
        if re.fullmatch(r"pip(\d+(\.\d+)?)?", name):
            if name == "pip":
                major = xy.partition(".")[0]
                out.update({"pip": spec, f"pip{major}": spec, f"pip{xy}": spec})
        elif re.fullmatch(r"easy_install(-\d+\.\d+)?", name):
            if name == "easy_install":
                out.update({"easy_install": spec, f"easy_install-{xy}": spec})
        else:
            out[name] = spec
    return sorted(out.items())


def script_text(spec: str, header: bytes) -> bytes:
    module, _, attr = spec.split("[", 1)[0].strip().partition(":")
    attr = attr.strip() or "main"
    body = (
        "# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
        f"from {module.strip()} import {attr.split('.')[0]}\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        f"    sys.exit({attr}())\n"
    )
    return header + body.encode("utf-8")


def place(env: EnvDir, image: Image, site: Path, bin_dir: Path, python: Path, xy: str) -> None:
    """Put `image` into the env's `site` dir and its scripts into `bin_dir` (for `python`)."""
    from poorenv.plan.relocate import script_header

    tree = image.root / "tree"
    # File modes stop an edit of a shared file, but not root's: root gets copies, bytecode
    # too (a `chown -R` of the env would follow a hard link into the cache: envtree.may_share).
    hard = os.geteuid() != 0
    linkable = True
    with env.tree(site) as writer:
        for rel, _, _ in image.rows:
            source = os.fspath(tree / rel)
            placed = None
            if linkable and hard:
                try:
                    placed = writer.hard_link(source, rel)
                except OSError:
                    linkable = False  # another filesystem: copies
            if placed is None:
                placed = writer.copy(source, rel)
            if not placed:
                raise FileExistsError(f"{site / rel}: already there")
    rows = [list(row) for row in image.rows]
    header = script_header(str(python))
    for name, spec in console_scripts(image.scripts, xy):
        data = script_text(spec, header)
        env.write_text(bin_dir / name, data, 0o755)
        rows.append([os.path.relpath(bin_dir / name, site), record_hash(data), str(len(data))])
    for name, text in (("INSTALLER", "pip\n"), ("REQUESTED", "")):
        env.write_text(site / image.dist_info / name, text)
        rows.append([f"{image.dist_info}/{name}", record_hash(text.encode()), str(len(text))])
    rows.append([f"{image.dist_info}/RECORD", "", ""])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    env.write_text(site / image.dist_info / "RECORD", out.getvalue())
