"""The installers that carry out poorenv's package actions: pip (default) and uv.

Both are driven by poorenv's plan: they get exactly the hash-pinned lines to install, with
`--no-deps`, or exactly the names to remove. pip runs from its cached wheel inside the env's
interpreter; uv is the binary of the `uv` package (`pip install poorenv[uv]`), pointed at the
env's interpreter with `--python` (it then needs no `--system`: the env is its own prefix).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from poorenv import paths
from poorenv.apply import pipwheel
from poorenv.errors import ApplyError

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

log = logging.getLogger(__name__)


class InstallerError(ApplyError):
    """The installer failed; the message says why in one line."""


class Installer(Protocol):
    """What the applier needs of a package installer. It writes nothing itself but what the
    tool installs: RECORD rewrites are returned, and the applier writes them."""

    name: str

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        """Install the hash-pinned `requirements`; returns RECORD files to rewrite."""
        ...

    def uninstall(self, names: Sequence[str]) -> None:
        """Uninstall the distributions `names`."""
        ...


@dataclass
class _Tool:
    """pip (from its cached wheel) or uv, run in the env's interpreter."""

    name: str
    python: Path  # the env's interpreter
    base: Interpreter
    index_args: tuple[str, ...] = ()  # pip's index options from [index]; may hold credentials
    uv: str | None = None  # the uv binary, for name == "uv"

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="poorenv-install-") as tmp:
            listing = Path(tmp, "requirements.txt")
            listing.write_text("\n".join(requirements) + "\n", encoding="utf-8")
            result = self._install(listing, reinstall)
        if result.returncode != 0:
            raise _failure("installing packages", result.stderr)
        if self.uv:
            return {}  # uv, like `uv pip sync`, leaves bytecode to Python
        from poorenv.apply.bytecode import compile_distributions

        env_paths = self.base.env_paths(self.python.parent.parent)
        sites = [Path(env_paths["purelib"]), Path(env_paths["platlib"])]
        names = [line.split("==", 1)[0].strip() for line in requirements]
        return compile_distributions(self.python, sites, names, self.base.cache_tag)

    def _install(self, requirements: Path, reinstall: bool) -> subprocess.CompletedProcess[str]:
        if self.uv:
            cmd = [
                self.uv, "pip", "install", "--python", str(self.python), "--require-hashes",
                "--no-deps", *(["--reinstall"] if reinstall else []), *self.index_args,
                "-r", str(requirements),
            ]  # fmt: skip
            return _run(cmd)
        args = [
            # --no-compile: poorenv compiles afterwards, on every core (bytecode.py).
            "install", "--require-hashes", "--no-deps", "--no-compile", "--no-warn-script-location",
            "--no-warn-conflicts", "--root-user-action=ignore",
            *(["--force-reinstall"] if reinstall else []), *self.index_args,
            "-r", str(requirements),
        ]  # fmt: skip
        return pipwheel.run_pip(self.python, self.base, args)

    def uninstall(self, names: Sequence[str]) -> None:
        if self.uv:
            result = _run([self.uv, "pip", "uninstall", "--python", str(self.python), *names])
        else:
            args = ["uninstall", "--yes", "--root-user-action=ignore", *names]
            result = pipwheel.run_pip(self.python, self.base, args)
        if result.returncode != 0:
            raise _failure("removing packages", result.stderr)


def make_installer(
    name: str, python: Path, base: Interpreter, index_args: Sequence[str] = ()
) -> Installer:
    """The installer called `name` for the env whose interpreter is `python`; a clear error
    (before anything changes) if it is missing."""
    if name != "uv":
        return _Tool(name, python, base, tuple(index_args))
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ApplyError(
            'installer "uv": the uv package is not installed beside poorenv',
            hint="pip install 'poorenv[uv]', or use installer = \"pip\"",
        ) from None
    return _Tool(name, python, base, tuple(index_args), uv=str(find_uv_bin()))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    log.info("running %s", " ".join(cmd))
    return subprocess.run(
        cmd, capture_output=True, text=True, check=False, env=paths.clean_environ()
    )


def _failure(what: str, stderr: str) -> InstallerError:
    """One line for what pip or uv said went wrong."""
    import errno
    import re

    from poorenv.errors import os_hint
    from poorenv.lock.lockfile import redact

    text = redact(stderr)
    log.debug("the installer said:\n%s", text)
    if "DO NOT MATCH THE HASHES" in text or "Hash mismatch" in text:
        culprits = [
            line.strip().split(" from ")[0]
            for line in text.splitlines()
            if line.startswith("    ") and "==" in line
        ] + re.findall(r"Hash mismatch for `([^`]+)`", text)
        named = f" for {', '.join(dict.fromkeys(culprits))}" if culprits else ""
        return InstallerError(
            f"{what}: hash mismatch{named}: the downloaded file matches no hash in poorenv.lock;"
            " nothing was installed",
            hint="if the lock was edited by hand, run `poorenv lock` again; otherwise the index"
            " serves another file than the one locked",
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "error:", "Caused by:"))]
    detail = (errors or lines or ["the installer failed"])[-1]
    for prefix in ("ERROR: ", "error: ", "Caused by: "):
        detail = detail.removeprefix(prefix)
    hint = "--debug shows the installer's output"
    if "[Errno 28]" in detail or "No space left" in detail:
        hint = os_hint(OSError(errno.ENOSPC, "")) or hint
    elif any(s in detail for s in ("[Errno 30]", "[Errno 13]", "Read-only", "ermission denied")):
        hint = os_hint(OSError(errno.EROFS, "")) or hint
    return InstallerError(f"{what}: {detail}", hint=hint)
