"""The installers that carry out poorenv's package actions: pip (default) and uv.

Both are driven by poorenv's plan: they get exactly the hash-pinned lines to install, with
`--no-deps`, or exactly the names to remove. pip runs from its cached wheel inside the env's
interpreter; uv is the binary of the `uv` package (`pip install poorenv[uv]`), pointed at the
env's interpreter with `--python` (it then needs no `--system`: the env is its own prefix).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv import paths
from poorenv.apply import pipwheel
from poorenv.errors import ApplyError

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Installer:
    name: str
    python: Path  # the env's interpreter
    base: Interpreter
    uv: str | None = None  # the uv binary, for name == "uv"

    @property
    def leaves_bytecode_to_poorenv(self) -> bool:
        """pip runs with --no-compile and poorenv compiles on every core afterwards; uv, like
        `uv pip sync`, leaves bytecode to Python."""
        return self.uv is None

    def install(
        self, requirements: Path, reinstall: bool, index_args: tuple[str, ...]
    ) -> subprocess.CompletedProcess[str]:
        if self.uv:
            cmd = [
                self.uv, "pip", "install", "--python", str(self.python), "--require-hashes",
                "--no-deps", *(["--reinstall"] if reinstall else []), *index_args,
                "-r", str(requirements),
            ]  # fmt: skip
            return _run(cmd)
        args = [
            # --no-compile: poorenv compiles afterwards, on every core (bytecode.py).
            "install", "--require-hashes", "--no-deps", "--no-compile", "--no-warn-script-location",
            "--no-warn-conflicts", "--root-user-action=ignore",
            *(["--force-reinstall"] if reinstall else []), *index_args, "-r", str(requirements),
        ]  # fmt: skip
        return pipwheel.run_pip(self.python, self.base, args)

    def uninstall(self, names: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        if self.uv:
            return _run([self.uv, "pip", "uninstall", "--python", str(self.python), *names])
        args = ["uninstall", "--yes", "--root-user-action=ignore", *names]
        return pipwheel.run_pip(self.python, self.base, args)


def get_installer(name: str, python: Path, base: Interpreter) -> Installer:
    """The installer called `name`; a clear error (before anything changes) if it is missing."""
    if name != "uv":
        return Installer(name, python, base)
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ApplyError(
            'installer "uv": the uv package is not installed beside poorenv',
            hint="pip install 'poorenv[uv]', or use installer = \"pip\"",
        ) from None
    return Installer(name, python, base, uv=str(find_uv_bin()))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    log.info("running %s", " ".join(cmd))
    return subprocess.run(
        cmd, capture_output=True, text=True, check=False, env=paths.clean_environ()
    )
