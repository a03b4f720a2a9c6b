"""`poorenv pack -o FILE`: the current generation (or the env) as one archive for other hosts.

What is shipped is the env's own files, not its layout (see `deploy/archive.py`): the site
dirs whole, every other file a distribution's RECORD lists (console scripts, data files), the
project files (poorenv.toml, the lock, the requirements files they read) and the manifest with
the base's fingerprint. Only an env that matches its lock and whose every installed file
matches its RECORD hash is packed: a host that unpacks it can prove it runs what was packed.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from poorenv import __version__
from poorenv.deploy.archive import (
    ENV,
    MANIFEST,
    PROJECT,
    Manifest,
    base_facts,
    manifest_bytes,
    member_mode,
)
from poorenv.errors import PoorenvError
from poorenv.redact import redact

if TYPE_CHECKING:
    from poorenv.lock.lockfile import Lock
    from poorenv.project import Project
    from poorenv.report import Reporter


class PackError(PoorenvError):
    """The env cannot be packed as it is."""


@dataclass(frozen=True)
class Packed:
    output: Path
    manifest: Manifest
    bytes: int  # the archive's size
    sha256: str


def pack(project: Project, output: Path, reporter: Reporter | None = None) -> Packed:
    """Write the archive of `project`'s env (with [deploy]: the current generation) to
    `output`, atomically."""
    import hashlib

    from poorenv._fs import atomic_stream
    from poorenv.envlock import env_lock
    from poorenv.report import Reporter

    reporter = reporter or Reporter()
    with env_lock(project.lock_key, reporter):
        lock = _usable_lock(project)
        entries, site_dirs = _env_entries(project)
        files = _project_files(project)
        size = sum(os.lstat(path).st_size for _, path in entries if _is_file(path))
        manifest = Manifest(
            base_facts(project.base),
            lock.content_hash,
            os.path.realpath(project.env),
            site_dirs,
            tuple(sorted(files)),
            f"poorenv {__version__}",
            _generation(project),
            len(entries),
            size,
        )
        with reporter.step(f"packing {len(entries)} files and directories"):
            try:
                with atomic_stream(output) as raw:
                    write_archive(raw, manifest, files, entries)
            except OSError as exc:
                from poorenv.errors import os_hint

                raise PackError(
                    f"{output}: cannot write: {exc.strerror}", hint=os_hint(exc, str(output))
                ) from None
    digest = hashlib.sha256()
    with open(output, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return Packed(output, manifest, os.path.getsize(output), "sha256:" + digest.hexdigest())


def _usable_lock(project: Project) -> Lock:
    """The lock, when the env is what it describes: the lock fresh, the env in sync with it,
    every installed file matching its RECORD hash, and no editable project (its source is
    not in the env)."""
    from poorenv.lock.lockfile import require_lock
    from poorenv.state.site import SitePackages
    from poorenv.state.verify import verify

    status = project.lock_status()
    lock = status.lock or require_lock(project.lock_path)
    if status.problem:
        raise PackError(status.problem, hint="run `poorenv sync` (or `deploy`), then pack")
    if lock.project is not None and lock.project.build:
        raise PackError(
            f"{project.lock_path}: installs the project {lock.project.name} itself, editable:"
            " its source is not in the env; refusing to pack it",
            hint="pack an env whose lock names only packages (build the project as a wheel)",
        )
    plan = project.plan(status)
    if not plan.in_sync:
        raise PackError(
            f"{project.env}: not in sync with {project.lock_path} ({plan.reasons[0]})",
            hint="run `poorenv sync` (or `deploy`), then pack",
        )
    verified = verify(SitePackages.read(project.layout.site_dirs), project.layout.scheme)
    if not verified.ok:
        raise PackError(
            f"{project.env}: {verified.mismatches[0].describe()}; refusing to pack it",
            hint="`poorenv check --verify` lists what differs; reinstall from the lock"
            " (`poorenv doctor` says how), then pack",
        )
    return lock


def write_archive(
    raw: BinaryIO, manifest: Manifest, files: dict[str, bytes], entries: list[tuple[str, str]]
) -> None:
    """The archive: manifest, project files, env entries (relative name, path), in that order,
    each sorted; mtime 0, owner 0/0, modes 0644/0755; gzip without a name or time."""
    import gzip
    import io

    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [
            (MANIFEST, manifest_bytes(manifest)),
            *((PROJECT + n, files[n]) for n in sorted(files)),
        ]:
            info = _info(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for relative, path in sorted(entries):
            mode = os.lstat(path).st_mode
            info = _info(ENV + relative)
            if stat.S_ISDIR(mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            else:
                with open(path, "rb") as handle:
                    info.size = os.fstat(handle.fileno()).st_size
                    info.mode = member_mode(mode)
                    tar.addfile(info, handle)


def _info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
    return info


def _is_file(path: str) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _env_entries(project: Project) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """(name relative to the env, path) of everything shipped, and the site dirs (relative).

    The site dirs whole; every other file a RECORD lists, under its real path (a script
    listed through a link of the layout, Debian's local/bin, is shipped as bin/SCRIPT). A link
    shipped must stay inside the env; anything but files, directories and links is refused."""
    from poorenv.state.site import SitePackages

    layout = project.layout
    env = os.path.realpath(project.env)
    site = SitePackages.read(layout.site_dirs)
    tops = [os.path.realpath(d) for d in site.dirs]
    paths = dict.fromkeys(os.path.realpath(os.path.dirname(p)) + os.sep + os.path.basename(p)
                          for p in site.tree())  # fmt: skip
    bounds = layout.scheme.bounds()
    for dist in site:
        for path in dist.files(layout.scheme, bounds):
            real = os.path.realpath(path)
            if not any(real.startswith(top + os.sep) for top in tops) and os.path.isfile(real):
                paths[real] = None
    for top in tops:
        paths[top] = None
    entries = []
    for path in paths:
        if not path.startswith(env + os.sep):
            raise PackError(f"{path}: outside the env {env}; refusing to pack it")
        relative = os.path.relpath(path, env).replace(os.sep, "/")
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            inside = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if os.path.isabs(target) or not inside.startswith(env + os.sep):
                raise PackError(
                    f"{path}: a link leading out of the env (to {target}); refusing to pack it",
                    hint="run `poorenv doctor`: packages must not link out of the env",
                )
        elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise PackError(f"{path}: not a file, directory or link; refusing to pack it")
        entries.append((relative, path))
    site_dirs = tuple(os.path.relpath(t, env).replace(os.sep, "/") for t in tops)
    return sorted(entries), site_dirs


def _project_files(project: Project) -> dict[str, bytes]:
    """poorenv.toml, the lock and the input files, by name relative to the project directory;
    each must lie in it (the receiving host writes them there)."""
    from poorenv._fs import read_regular

    config = project.config
    root = os.path.realpath(config.project_dir)
    found: dict[str, bytes] = {}
    for path in [config.file, project.lock_path, *project.input_files()]:
        real = os.path.realpath(path)
        if not real.startswith(root + os.sep):
            raise PackError(
                f"{path}: outside the project directory {root}; refusing to pack it",
                hint="an archive carries the project's files relative to its directory",
            )
        try:
            data = read_regular(Path(real))
        except OSError as exc:
            raise PackError(f"{path}: cannot read: {exc.strerror}") from None
        text = data.decode("utf-8", "replace")
        if redact(text) != text:  # a URL with user:password@: an archive goes to many hosts
            raise PackError(
                f"{path}: holds an index URL with credentials; refusing to pack it",
                hint="give the credentials to pip by its own configuration or PIP_INDEX_URL,"
                " not in the project's files",
            )
        found[os.path.relpath(real, root).replace(os.sep, "/")] = data
    return found


def _generation(project: Project) -> int | None:
    from poorenv.deploy.generations import Generations

    if project.config.deploy is None:
        return None
    current = Generations(project.config.served_path).current()
    return current.number if current else None
