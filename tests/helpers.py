"""Helpers shared by the end-to-end tests: run poorenv and the env's python as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def poorenv(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`poorenv ARGS` in `cwd`, as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "poorenv", *args],
        cwd=cwd,
        env=dict(env if env is not None else os.environ),
        capture_output=True,
        text=True,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def python_facts(python: Path, *flags: str, env: Mapping[str, str] | None = None) -> Any:
    code = (
        "import json, site, sys; print(json.dumps({'prefix': sys.prefix, 'base_prefix':"
        " sys.base_prefix, 'exec_prefix': sys.exec_prefix, 'path': sys.path,"
        " 'user_site': site.ENABLE_USER_SITE, 'executable': sys.executable}))"
    )
    result = subprocess.run(
        [str(python), *flags, "-c", code],
        env=dict(env) if env is not None else {},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def manifest(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under `root` with its kind and link target or size and mtime."""
    out: dict[str, tuple[str, str]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            st = path.lstat()
            if path.is_symlink():
                out[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                out[str(path)] = ("dir", "")
            else:
                out[str(path)] = ("file", f"{st.st_size}:{st.st_mtime_ns}")
    return out
